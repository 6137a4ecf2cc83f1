"""The graph's one-hop walk term alone: PinSage's importance graph as a recommender."""

from __future__ import annotations

import torch

from pinsage_dgl.graph import PinBoardGraph
from pinsage_dgl.history import History
from pinsage_dgl.sampling.walk_scores import WalkScores


class OneHopWalk:
    r"""Scores by the exact one-hop pin→board→pin walk from the query's pins.

    A board scores pin :math:`i` by :math:`\sum_{j \in b} W_{ji}` with
    :math:`W = D_p^{-1} R D_b^{-1} R^\top` (:class:`~pinsage_dgl.sampling.WalkScores`,
    scaled so each board's best pin scores 1): the term that PinSage's scorer adds to its
    embeddings (``walk_weight``), here on its own, so a table shows what the embeddings
    add. It is P³α of Cooper et al. (2014) with α = 1, and what Pixie's walks
    (:class:`~pinsage_dgl.baselines.PixieWalks`) estimate by sampling at one hop.

    Parameters
    ----------
    train : PinBoardGraph
        The training graph.
    top : int, optional
        Next pins kept per pin (``None`` keeps all).
    """

    def __init__(self, train: PinBoardGraph, top: int | None = 200) -> None:
        self.walk = WalkScores(train, top)

    def score_pins(self, pins: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.walk.score_pins(pins).toarray())

    def score_boards(self, history: History) -> torch.Tensor:
        return torch.from_numpy(self.walk.score_boards(history).toarray())
