"""Popularity: every query gets the pins saved to the most boards in training."""

from __future__ import annotations

import torch

from pinsage_dgl.graph import SAVED_TO, PinBoardGraph
from pinsage_dgl.history import History


class Popularity:
    """Scores each pin by its number of training boards (the same for every query).

    Parameters
    ----------
    train : PinBoardGraph
        The training graph.
    """

    def __init__(self, train: PinBoardGraph) -> None:
        self.pin_scores = train.graph.out_degrees(etype=SAVED_TO).float()

    def score_pins(self, pins: torch.Tensor) -> torch.Tensor:
        """``[B, num_pins]`` scores (the query pin does not matter)."""
        return self.pin_scores.unsqueeze(0).expand(len(pins), -1)

    def score_boards(self, history: History) -> torch.Tensor:
        """``[B, num_pins]`` scores (the board does not matter)."""
        return self.pin_scores.unsqueeze(0).expand(history.num_boards, -1)
