"""Lightning modules and callbacks (the only part of pinsage_dgl that imports Lightning)."""

from pinsage_dgl.lit.callbacks import HardNegativeCurriculum, NeighborTableRefresh
from pinsage_dgl.lit.module import PinSageModule

__all__ = ["HardNegativeCurriculum", "NeighborTableRefresh", "PinSageModule"]
