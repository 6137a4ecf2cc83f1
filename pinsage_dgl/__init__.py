"""pinsage-dgl: PinSage (Ying et al., KDD 2018) on DGL, with Lightning training under ``lit/``.

The names below are imported on first use (PEP 562), so ``import pinsage_dgl`` and the
``pinsage`` command's help do not wait for torch and DGL.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pinsage_dgl.features import ColumnSpec, FeatureSpec, infer_spec
    from pinsage_dgl.graph import BOARD, CONTAINS, PIN, SAVED_TO, PinBoardGraph, build_graph
    from pinsage_dgl.split import EdgeSplit, leave_latest_out, split_by_edges

__version__ = "0.1.0"

_HOMES = {
    "ColumnSpec": "features",
    "FeatureSpec": "features",
    "infer_spec": "features",
    "BOARD": "graph",
    "CONTAINS": "graph",
    "PIN": "graph",
    "SAVED_TO": "graph",
    "PinBoardGraph": "graph",
    "build_graph": "graph",
    "EdgeSplit": "split",
    "leave_latest_out": "split",
    "split_by_edges": "split",
}
__all__ = [
    "BOARD",
    "CONTAINS",
    "PIN",
    "SAVED_TO",
    "ColumnSpec",
    "EdgeSplit",
    "FeatureSpec",
    "PinBoardGraph",
    "build_graph",
    "infer_spec",
    "leave_latest_out",
    "split_by_edges",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'pinsage_dgl' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"pinsage_dgl.{_HOMES[name]}"), name)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
