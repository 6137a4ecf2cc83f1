"""LightningDataModules: each owns graph building, the split and the loaders."""

from datamodules.base import PinSageDataModule
from datamodules.lightgcn import LightGCNDataModule, read_lightgcn, read_user_item_lists
from datamodules.movielens import MovieLensDataModule, read_movielens
from datamodules.ncf import NCFDataModule, read_ncf
from datamodules.synthetic import SyntheticDataModule, make_synthetic, write_synthetic
from datamodules.table import GraphDataModule, TableDataModule

__all__ = [
    "GraphDataModule",
    "LightGCNDataModule",
    "MovieLensDataModule",
    "NCFDataModule",
    "PinSageDataModule",
    "SyntheticDataModule",
    "TableDataModule",
    "make_synthetic",
    "read_lightgcn",
    "read_movielens",
    "read_ncf",
    "read_user_item_lists",
    "write_synthetic",
]
