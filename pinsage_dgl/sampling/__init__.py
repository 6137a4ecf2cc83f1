"""Random-walk importance neighbourhoods, blocks and minibatches."""

from pinsage_dgl.sampling.blocks import block_from_neighbors, computed_rows, neighbor_graph
from pinsage_dgl.sampling.loader import (
    BatchKey,
    ResumableLoader,
    SeededCollate,
    TrainingBatches,
    stream_seeds,
)
from pinsage_dgl.sampling.negatives import HardNegativeSampler, Negatives, scaled_band
from pinsage_dgl.sampling.neighbors import (
    importance_neighbors,
    ranked_visits,
    uniform_neighbors,
)
from pinsage_dgl.sampling.pairs import (
    HISTORIES,
    TASKS,
    BoardCollator,
    PairCollator,
    Task,
    trainable_edges,
)
from pinsage_dgl.sampling.sampler import NEIGHBORHOODS, ImportanceSampler, Neighborhood
from pinsage_dgl.sampling.training_graph import TrainingGraph
from pinsage_dgl.sampling.walk_scores import WalkScores

__all__ = [
    "HISTORIES",
    "NEIGHBORHOODS",
    "TASKS",
    "BatchKey",
    "BoardCollator",
    "HardNegativeSampler",
    "ImportanceSampler",
    "Negatives",
    "Neighborhood",
    "PairCollator",
    "ResumableLoader",
    "SeededCollate",
    "Task",
    "TrainingBatches",
    "TrainingGraph",
    "WalkScores",
    "block_from_neighbors",
    "computed_rows",
    "importance_neighbors",
    "neighbor_graph",
    "ranked_visits",
    "scaled_band",
    "stream_seeds",
    "trainable_edges",
    "uniform_neighbors",
]
