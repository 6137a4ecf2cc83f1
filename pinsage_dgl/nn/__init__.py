"""Neural network layers and the PinSage model (no Lightning here)."""

from pinsage_dgl.nn.board_query import POOLINGS, BoardQuery, recency_weights
from pinsage_dgl.nn.feature_encoder import FeatureEncoder
from pinsage_dgl.nn.margin_loss import max_margin_loss
from pinsage_dgl.nn.pinsage import LAYER_COMBINATIONS, LOSSES, PinSage
from pinsage_dgl.nn.pinsage_conv import PinSageConv
from pinsage_dgl.nn.popularity_prior import PopularityPrior
from pinsage_dgl.nn.softmax_loss import SampledSoftmaxLoss

__all__ = [
    "LAYER_COMBINATIONS",
    "LOSSES",
    "POOLINGS",
    "BoardQuery",
    "FeatureEncoder",
    "PinSage",
    "PinSageConv",
    "PopularityPrior",
    "SampledSoftmaxLoss",
    "max_margin_loss",
    "recency_weights",
]
