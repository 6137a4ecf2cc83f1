"""Baselines scored by the same evaluation harness as PinSage (:mod:`pinsage_dgl.evaluation`)."""

from pinsage_dgl.baselines.ease import EASE
from pinsage_dgl.baselines.itemknn import ItemKNN
from pinsage_dgl.baselines.mf import FactorModel, LightGCN, MatrixFactorization
from pinsage_dgl.baselines.pixie import PixieWalks
from pinsage_dgl.baselines.popularity import Popularity
from pinsage_dgl.baselines.walk import OneHopWalk

__all__ = [
    "EASE",
    "FactorModel",
    "ItemKNN",
    "LightGCN",
    "MatrixFactorization",
    "OneHopWalk",
    "PixieWalks",
    "Popularity",
]
