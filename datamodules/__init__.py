"""LightningDataModules: each owns graph building, the split and the loaders."""

from datamodules.base import PinSageDataModule
from datamodules.movielens import MovieLensDataModule, read_movielens
from datamodules.ncf import NCFDataModule, read_ncf
from datamodules.synthetic import SyntheticDataModule, make_synthetic, write_synthetic
from datamodules.table import GraphDataModule, TableDataModule

__all__ = [
    "GraphDataModule",
    "MovieLensDataModule",
    "NCFDataModule",
    "PinSageDataModule",
    "SyntheticDataModule",
    "TableDataModule",
    "make_synthetic",
    "read_movielens",
    "read_ncf",
    "write_synthetic",
]
