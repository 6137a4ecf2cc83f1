"""Neural network layers and the PinSage model (no Lightning here)."""

from pinsage_dgl.nn.board_query import POOLINGS, BoardQuery, recency_weights
from pinsage_dgl.nn.feature_encoder import FeatureEncoder
from pinsage_dgl.nn.losses import LOSSES, make_loss, register_loss
from pinsage_dgl.nn.margin_loss import MaxMarginLoss, max_margin_loss
from pinsage_dgl.nn.pinsage import LAYER_COMBINATIONS, PinSage
from pinsage_dgl.nn.pinsage_conv import PinSageConv
from pinsage_dgl.nn.popularity_prior import PopularityPrior
from pinsage_dgl.nn.softmax_loss import SampledSoftmaxLoss
from pinsage_dgl.nn.training_loss import LossInputs, LossSettings, TrainingLoss

__all__ = [
    "LAYER_COMBINATIONS",
    "LOSSES",
    "POOLINGS",
    "BoardQuery",
    "FeatureEncoder",
    "LossInputs",
    "LossSettings",
    "MaxMarginLoss",
    "PinSage",
    "PinSageConv",
    "PopularityPrior",
    "SampledSoftmaxLoss",
    "TrainingLoss",
    "make_loss",
    "max_margin_loss",
    "recency_weights",
    "register_loss",
]
