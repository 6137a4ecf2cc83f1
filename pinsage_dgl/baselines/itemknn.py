"""Item-based collaborative filtering: cosine similarity of pins' board sets."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from pinsage_dgl.graph import PinBoardGraph
from pinsage_dgl.history import History
from pinsage_dgl.sampling.walk_scores import top_per_row


class ItemKNN:
    r"""Co-occurrence kNN: :math:`s(i, j) = |B_i \cap B_j| / \sqrt{|B_i| |B_j|}`.

    A pin's neighbours are the ``num_neighbors`` pins most similar to it; a board scores
    a pin by the summed similarity from the board's pins (Sarwar et al., 2001).

    Parameters
    ----------
    train : PinBoardGraph
        The training graph.
    num_neighbors : int, optional
        Similarities kept per pin (``None`` keeps all; memory grows with co-occurrences).
    """

    def __init__(self, train: PinBoardGraph, num_neighbors: int | None = 200) -> None:
        if num_neighbors is not None and num_neighbors < 1:
            raise ValueError(f"num_neighbors must be >= 1 or None, got {num_neighbors}")
        pins, boards = (t.numpy() for t in train.saves())
        self.num_pins = train.num_pins
        saves = sp.csr_matrix(
            (np.ones(len(pins), dtype=np.float32), (pins, boards)),
            shape=(train.num_pins, train.num_boards),
        )
        co = (saves @ saves.T).tocsr()
        co.setdiag(0)
        co.eliminate_zeros()
        norm = np.sqrt(np.asarray(saves.sum(1)).ravel()).clip(min=1e-12)
        co = sp.diags(1 / norm) @ co @ sp.diags(1 / norm)
        self.similarity = top_per_row(co.tocsr(), num_neighbors).astype(np.float32)

    def score_pins(self, pins: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.similarity[pins.numpy()].toarray())

    def score_boards(self, history: History) -> torch.Tensor:
        member = sp.csr_matrix(
            (np.ones(len(history.pins), dtype=np.float32), (history.rows, history.pins)),
            shape=(history.num_boards, self.num_pins),
        )
        return torch.from_numpy((member @ self.similarity).toarray())
