"""EASE (Steck, WWW 2019): a closed-form linear item-to-item model."""

from __future__ import annotations

import torch

from pinsage_dgl.evaluation import History
from pinsage_dgl.graph import SAVED_TO, PinBoardGraph


class EASE:
    r"""Embarrassingly shallow autoencoder: item weights in closed form.

    .. math::
        \hat B = \arg\min_B \lVert X - X B \rVert_F^2 + \lambda \lVert B \rVert_F^2
        \ \text{s.t.}\ \mathrm{diag}(B) = 0, \qquad
        \hat B_{ij} = -\frac{P_{ij}}{P_{jj}} \ (i \ne j), \quad P = (X^\top X + \lambda I)^{-1}

    with X the board × pin matrix of training saves. A board scores pins by
    :math:`x_b \hat B`, a pin by its row of :math:`\hat B`. One ``[P, P]`` inverse: memory
    ``8 P²`` bytes and time cubic in the number of pins (seconds at a few thousand pins,
    minutes at tens of thousands).

    Parameters
    ----------
    train : PinBoardGraph
        The training graph.
    l2 : float
        λ, the only setting (chosen on validation).
    """

    def __init__(self, train: PinBoardGraph, l2: float = 500.0) -> None:
        if l2 <= 0:
            raise ValueError(f"l2 must be > 0, got {l2}")
        pins, boards = train.graph.edges(etype=SAVED_TO)
        self.num_pins, self.num_boards = train.num_pins, train.num_boards
        x = torch.zeros(train.num_boards, train.num_pins)
        x[boards, pins] = 1.0
        gram = x.T @ x
        gram.diagonal().add_(l2)
        p = torch.cholesky_inverse(torch.linalg.cholesky(gram))
        del gram
        weights = p / -p.diagonal()
        weights.diagonal().zero_()
        self.weights = weights

    def score_pins(self, pins: torch.Tensor) -> torch.Tensor:
        return self.weights[pins]

    def score_boards(self, history: History) -> torch.Tensor:
        member = torch.zeros(history.num_boards, self.num_pins)
        member[history.rows, history.pins] = 1.0
        return member @ self.weights
