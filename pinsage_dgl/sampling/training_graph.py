"""The training graph and its samplers: the data side's one interface to training."""

from __future__ import annotations

import torch

from pinsage_dgl.graph import SAVED_TO, PinBoardGraph
from pinsage_dgl.sampling.negatives import HardNegativeSampler, Negatives
from pinsage_dgl.sampling.sampler import ImportanceSampler
from pinsage_dgl.sampling.walk_scores import WalkScores


class TrainingGraph:
    """The training graph with the samplers that draw from it.

    What the Lightning module, its callbacks and the benchmarks read from the data side,
    through this small interface only: the neighbour table that training and whole-graph
    inference share (:meth:`inference_inputs`, :meth:`refresh_neighbors`), the pins'
    popularity (:meth:`pin_saves`), the one-hop walk term of scoring (:meth:`walk_scores`)
    and the hard-negative count a curriculum sets
    (:attr:`hard_negatives_per_query`).

    Parameters
    ----------
    graph : PinBoardGraph
        The training graph (held-out edges removed).
    sampler : ImportanceSampler
        Its importance sampler, with the one neighbour table if it keeps one.
    negatives : Negatives
        The hard-negative settings of its :class:`HardNegativeSampler` (built on first use).
    """

    def __init__(
        self,
        graph: PinBoardGraph,
        sampler: ImportanceSampler,
        negatives: Negatives = Negatives(),
    ) -> None:
        if sampler.graph.num_pins != graph.num_pins:
            raise ValueError(
                f"TrainingGraph: the sampler walks a graph of {sampler.graph.num_pins} pins, "
                f"the training graph has {graph.num_pins}"
            )
        self.graph = graph
        self.sampler = sampler
        self.negatives = negatives
        self._hard_negatives: HardNegativeSampler | None = None
        self._walk_scores: dict[int | None, WalkScores] = {}

    @property
    def hard_negatives(self) -> HardNegativeSampler:
        """The hard-negative sampler of training batches (built on first use)."""
        if self._hard_negatives is None:
            self._hard_negatives = HardNegativeSampler(self.graph, self.negatives)
        return self._hard_negatives

    @property
    def hard_negatives_per_query(self) -> int:
        """Hard negatives per query in the batches drawn from now on (shared memory: loader
        workers that are already running see a change)."""
        return self.hard_negatives.num_per_query

    @hard_negatives_per_query.setter
    def hard_negatives_per_query(self, count: int) -> None:
        self.hard_negatives.num_per_query = count

    def inference_inputs(
        self, progress: bool = False
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """Pin features and the whole-graph neighbour table
        (:meth:`ImportanceSampler.neighbor_table`): the inputs of
        :func:`~pinsage_dgl.inference.embed_all_pins`."""
        return self.graph.pin_features, *self.sampler.neighbor_table(progress)

    def refresh_neighbors(self, refreshes: int | None = None) -> None:
        """Re-walk the neighbour table (training and inference share it): the next one, or
        the one of refresh count ``refreshes`` (see :meth:`ImportanceSampler.refresh`)."""
        self.sampler.refresh(refreshes)

    @property
    def neighbor_refreshes(self) -> int:
        """How many times the neighbour table was re-walked."""
        return self.sampler.refreshes

    def pin_saves(self) -> torch.Tensor:
        """``[P]`` saves of each pin in the training graph (a popularity prior's counts)."""
        return self.graph.graph.out_degrees(etype=SAVED_TO).float()

    def walk_scores(self, top: int | None = None) -> WalkScores:
        """The graph's one-hop walk term (:class:`WalkScores`, each pin's ``top`` next pins;
        built on first use, then kept)."""
        if top not in self._walk_scores:
            self._walk_scores[top] = WalkScores(self.graph, top)
        return self._walk_scores[top]
