"""Popularity: every board gets the pins saved to the most boards in training."""

from __future__ import annotations

import torch

from pinsage_dgl.graph import SAVED_TO, PinBoardGraph


class Popularity:
    """Scores each pin by its number of training boards (the same for every query)."""

    def __init__(self, train: PinBoardGraph) -> None:
        self.pin_scores = train.graph.out_degrees(etype=SAVED_TO).float()

    def score(self, num_queries: int) -> torch.Tensor:
        """``[num_queries, num_pins]`` scores."""
        return self.pin_scores.unsqueeze(0).expand(num_queries, -1)
