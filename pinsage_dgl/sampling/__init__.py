"""Random-walk importance neighbourhoods, blocks and minibatches."""

from pinsage_dgl.sampling.blocks import block_from_neighbors
from pinsage_dgl.sampling.neighbors import importance_neighbors
from pinsage_dgl.sampling.pairs import (
    HeldOutCollator,
    PairCollator,
    seed_worker,
    trainable_edges,
)
from pinsage_dgl.sampling.sampler import ImportanceSampler

__all__ = [
    "HeldOutCollator",
    "ImportanceSampler",
    "PairCollator",
    "block_from_neighbors",
    "importance_neighbors",
    "seed_worker",
    "trainable_edges",
]
