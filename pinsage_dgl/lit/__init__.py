"""Lightning modules and callbacks.

With :mod:`pinsage_dgl.cli`, the only parts of pinsage_dgl that import Lightning (an
import-linter contract in ``pyproject.toml`` keeps it so): the rest of the library works
without it.
"""

from pinsage_dgl.lit.callbacks import HardNegativeCurriculum, NeighborTableRefresh
from pinsage_dgl.lit.module import PinSageModule

__all__ = ["HardNegativeCurriculum", "NeighborTableRefresh", "PinSageModule"]
