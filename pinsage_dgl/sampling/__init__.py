"""Random-walk importance neighbourhoods, blocks and minibatches (training and held-out)."""

from pinsage_dgl.sampling.batch import TrainingBatch
from pinsage_dgl.sampling.blocks import block_from_neighbors, computed_rows, neighbor_graph
from pinsage_dgl.sampling.held_out import HeldOutCollator, board_batches, sample_candidates
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
    HalvesCollator,
    PairCollator,
    Task,
    trainable_edges,
)
from pinsage_dgl.sampling.sampler import (
    NEIGHBORHOODS,
    ImportanceSampler,
    Neighborhood,
    NeighborWalks,
)
from pinsage_dgl.sampling.training_graph import TrainingGraph
from pinsage_dgl.sampling.walk_scores import WalkScores

__all__ = [
    "HISTORIES",
    "NEIGHBORHOODS",
    "TASKS",
    "BatchKey",
    "BoardCollator",
    "HalvesCollator",
    "HardNegativeSampler",
    "HeldOutCollator",
    "ImportanceSampler",
    "Negatives",
    "NeighborWalks",
    "Neighborhood",
    "PairCollator",
    "ResumableLoader",
    "SeededCollate",
    "Task",
    "TrainingBatch",
    "TrainingBatches",
    "TrainingGraph",
    "WalkScores",
    "block_from_neighbors",
    "board_batches",
    "computed_rows",
    "importance_neighbors",
    "neighbor_graph",
    "ranked_visits",
    "sample_candidates",
    "scaled_band",
    "stream_seeds",
    "trainable_edges",
    "uniform_neighbors",
]
