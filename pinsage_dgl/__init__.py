"""pinsage-dgl: PinSage (Ying et al., KDD 2018) on DGL, with Lightning training under ``lit/``."""

from pinsage_dgl.features import ColumnSpec, FeatureSpec, infer_spec
from pinsage_dgl.graph import BOARD, CONTAINS, PIN, SAVED_TO, PinBoardGraph, build_graph
from pinsage_dgl.split import EdgeSplit, leave_latest_out, split_by_edges

__version__ = "0.1.0"
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
