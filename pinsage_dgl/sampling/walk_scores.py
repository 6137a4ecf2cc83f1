"""The importance graph as a score: exact one-hop visit probabilities of PinSage's walks."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from pinsage_dgl.graph import SAVED_TO, PinBoardGraph
from pinsage_dgl.history import History


class WalkScores:
    """How likely one pin→board→pin step leads from a board's pins to each pin.

    PinSage ranks a pin's importance neighbours by the visit counts of short random walks
    (Ying et al., §3.1). With one hop and ever more walks the counts converge to the
    transition matrix

    .. math:: W = D_p^{-1} R \\, D_b^{-1} R^\\top, \\qquad W_{jj} := 0,

    where :math:`R` is the pins × boards save matrix (the graph's walk weights where it has
    them, :attr:`~pinsage_dgl.graph.PinBoardGraph.walk_weights`), :math:`D_p` and
    :math:`D_b` its row and column sums, and the diagonal is dropped as a walk never counts
    its start. A board's term is the sum of its known pins' rows, scaled so that its best
    pin scores 1 (a board of many pins weighs the same as a board of few):

    .. math:: t_b(i) = \\frac{\\sum_{j \\in b} W_{ji}}{\\max_k \\sum_{j \\in b} W_{jk}}.

    A pin queried alone is a board of one. Added to the embeddings' scores
    (:class:`~pinsage_dgl.scoring.EmbeddingScorer`'s ``walk_weight``), it brings back
    what the learned vectors smooth away: which pins the board's own pins are saved with.

    Parameters
    ----------
    graph : PinBoardGraph
        The training graph.
    top : int, optional
        Keep only each pin's ``top`` most likely next pins (ties broken by pin id), which
        bounds memory at ``top`` entries per pin; all of them by default (exact).
    chunk : int
        Pins whose rows are computed at once (bounds the peak memory of building).
    """

    def __init__(self, graph: PinBoardGraph, top: int | None = None, chunk: int = 4096) -> None:
        if top is not None and top < 1:
            raise ValueError(f"top must be >= 1 (or None for every pin), got {top}")
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {chunk}")
        self.num_pins, self.top = graph.num_pins, top
        pins, boards = (t.numpy() for t in graph.saves())
        weight = None
        if graph.walk_weights is not None:
            weight = graph.graph.edges[SAVED_TO].data[graph.walk_weights].double().numpy()
        saves = sp.csr_matrix(
            (np.ones(len(pins)) if weight is None else weight, (pins, boards)),
            shape=(graph.num_pins, graph.num_boards),
        )
        saves.sum_duplicates()
        from_pins = _rows_normalised(saves)  # pin → board
        to_pins = _rows_normalised(saves.T.tocsr())  # board → pin
        rows = []
        for start in range(0, graph.num_pins, chunk):
            block = (from_pins[start : start + chunk] @ to_pins).tocsr()
            local = np.repeat(np.arange(block.shape[0]), np.diff(block.indptr))
            block.data[block.indices == local + start] = 0.0  # W[j, j]: the walk's start
            block.eliminate_zeros()
            rows.append(top_per_row(block, top))
        self.matrix: sp.csr_matrix = sp.vstack(rows, format="csr").astype(np.float32)
        self.matrix.sort_indices()

    def score_boards(self, history: History) -> sp.csr_matrix:
        """``[B, P]`` each board's term :math:`t_b` (sparse: zero where no step leads)."""
        rows, pins = history.rows.cpu().numpy(), history.pins.cpu().numpy()
        known = sp.csr_matrix(
            (np.ones(len(pins), np.float32), (rows, pins)),
            shape=(history.num_boards, self.num_pins),
        )
        summed = (known @ self.matrix).tocsr()
        best = summed.max(axis=1).toarray().ravel()
        scale = np.divide(1.0, best, out=np.zeros_like(best), where=best > 0)
        return (sp.diags(scale.astype(np.float32)) @ summed).tocsr()

    def score_pins(self, pins: torch.Tensor) -> sp.csr_matrix:
        """``[Q, P]`` the term of each pin queried alone (a board of one)."""
        pins = torch.as_tensor(pins, dtype=torch.int64).cpu()
        positions = torch.arange(len(pins))
        return self.score_boards(History(positions, pins, torch.zeros_like(pins), positions))


def _rows_normalised(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """``matrix`` with each row divided by its sum (empty rows stay empty)."""
    sums = np.asarray(matrix.sum(axis=1)).ravel()
    scale = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)
    return (sp.diags(scale) @ matrix).tocsr()


def top_per_row(matrix: sp.csr_matrix, top: int | None) -> sp.csr_matrix:
    """Each row's ``top`` largest entries of a CSR matrix (ties broken by the lower
    column); all of them when ``top`` is None."""
    if top is None:
        return matrix
    matrix = matrix.tocsr()
    matrix.sort_indices()
    counts = np.diff(matrix.indptr)
    row = np.repeat(np.arange(matrix.shape[0]), counts)
    # by row, then value descending; lexsort's last key is the primary one, and its
    # stable sort keeps the sorted columns in order among equal values
    order = np.lexsort((-matrix.data, row))
    rank = np.arange(len(order)) - np.repeat(matrix.indptr[:-1], counts)
    keep = np.sort(order[rank < top])
    return sp.csr_matrix(
        (matrix.data[keep], (row[keep], matrix.indices[keep])), shape=matrix.shape
    ).tocsr()
