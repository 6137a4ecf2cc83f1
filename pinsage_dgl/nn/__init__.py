"""Neural network layers and the PinSage model (no Lightning here)."""

from pinsage_dgl.nn.feature_encoder import FeatureEncoder
from pinsage_dgl.nn.margin_loss import max_margin_loss
from pinsage_dgl.nn.pinsage import PinSage
from pinsage_dgl.nn.pinsage_conv import PinSageConv

__all__ = ["FeatureEncoder", "PinSage", "PinSageConv", "max_margin_loss"]
