"""Baselines scored by the same evaluation harness as PinSage (:mod:`pinsage_dgl.evaluation`)."""

from pinsage_dgl.baselines.ease import EASE
from pinsage_dgl.baselines.itemknn import ItemKNN
from pinsage_dgl.baselines.mf import FactorModel, LightGCN, MatrixFactorization
from pinsage_dgl.baselines.pixie import PixieWalks
from pinsage_dgl.baselines.popularity import Popularity

__all__ = [
    "EASE",
    "FactorModel",
    "ItemKNN",
    "LightGCN",
    "MatrixFactorization",
    "PixieWalks",
    "Popularity",
]
