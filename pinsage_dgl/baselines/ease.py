"""EASE (Steck, WWW 2019): a closed-form linear item-to-item model."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from pinsage_dgl.graph import PinBoardGraph
from pinsage_dgl.history import History


class EASE:
    r"""Embarrassingly shallow autoencoder: item weights in closed form.

    .. math::
        \hat B = \arg\min_B \lVert X - X B \rVert_F^2 + \lambda \lVert B \rVert_F^2
        \ \text{s.t.}\ \mathrm{diag}(B) = 0, \qquad
        \hat B_{ij} = -\frac{P_{ij}}{P_{jj}} \ (i \ne j), \quad P = (X^\top X + \lambda I)^{-1}

    with X the board × pin matrix of training saves. A board scores pins by
    :math:`x_b \hat B`, a pin by its row of :math:`\hat B`. One ``[P, P]`` inverse by
    Cholesky: memory ``8 P²`` bytes at the peak and time cubic in the number of pins
    (seconds at a few thousand pins, minutes and 13 GB at 41,000).

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
        pins, boards = train.saves()
        self.num_pins, self.num_boards = train.num_pins, train.num_boards
        # X^T X from the sparse saves (X itself is never dense); repeated saves count once
        x = sp.csr_matrix(
            (np.ones(len(pins), dtype=np.float32), (boards.numpy(), pins.numpy())),
            shape=(train.num_boards, train.num_pins),
        )
        x.sum_duplicates()
        x.data[:] = 1.0
        gram = torch.from_numpy((x.T @ x).toarray())
        gram.diagonal().add_(l2)
        # in place where possible: the peak is two [P, P] matrices
        factor = torch.linalg.cholesky(gram)
        del gram
        weights = torch.cholesky_inverse(factor)
        del factor
        scale = -weights.diagonal().clone()
        weights.div_(scale)
        weights.diagonal().zero_()
        self.weights = weights

    def score_pins(self, pins: torch.Tensor) -> torch.Tensor:
        return self.weights[pins]

    def score_boards(self, history: History) -> torch.Tensor:
        # a sparse x_b: the cost is the board's pins times P, not B times P²
        keys = torch.unique(history.rows * self.num_pins + history.pins)
        member = torch.sparse_coo_tensor(
            torch.stack([keys // self.num_pins, keys % self.num_pins]),
            torch.ones(len(keys)),
            (history.num_boards, self.num_pins),
        )
        return torch.sparse.mm(member, self.weights)
