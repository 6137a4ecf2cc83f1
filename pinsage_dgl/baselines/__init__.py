"""Baselines scored by the same evaluation harness as PinSage (:mod:`pinsage_dgl.evaluation`)."""

from pinsage_dgl.baselines.itemknn import ItemKNN
from pinsage_dgl.baselines.mf import MatrixFactorization
from pinsage_dgl.baselines.pixie import PixieWalks
from pinsage_dgl.baselines.popularity import Popularity

__all__ = ["ItemKNN", "MatrixFactorization", "PixieWalks", "Popularity"]
