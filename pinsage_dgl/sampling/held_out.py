"""Held-out (board, pin) pairs as evaluation minibatches: the data side of evaluation.

:class:`HeldOutCollator` turns indices of held-out pairs into batches with each board's
known pins, :func:`board_batches` cuts the pairs so that each board's held-out pins stay in
one batch (full ranking ranks them together), and :func:`sample_candidates` draws NCF's
sampled candidates for a split that comes without them.
"""

from __future__ import annotations

import bisect

import torch

from pinsage_dgl.graph import PinBoardGraph, SavedPairs
from pinsage_dgl.history import BoardHistories

__all__ = ["HeldOutCollator", "board_batches", "sample_candidates"]


class HeldOutCollator:
    """Indices of held-out (board, pin) pairs → an evaluation minibatch.

    Returns ``boards``, ``targets`` (``[B]`` node ids), ``history`` (a
    :class:`~pinsage_dgl.history.History`: each row's board's pins known before the
    target, oldest first; they build the board's query and are masked from its
    ranking) and, when candidates are given, ``candidates`` (``[B, C]`` pin ids, the
    target first).

    Parameters
    ----------
    train : PinBoardGraph
        The training graph: its edges are every board's known pins.
    pairs : torch.Tensor
        ``[n, 2]`` (board, pin) held-out pairs to evaluate.
    candidates : torch.Tensor, optional
        ``[n, C]`` candidate pins per pair, target first (sampled-negative protocols).
    known : torch.Tensor, optional
        ``[m, 2]`` more (board, pin) pairs known at evaluation time, e.g. the validation
        pins when testing: they join the board's history (as its latest pins) instead of
        competing with the target.
    """

    def __init__(
        self,
        train: PinBoardGraph,
        pairs: torch.Tensor,
        candidates: torch.Tensor | None = None,
        known: torch.Tensor | None = None,
    ) -> None:
        self.histories = BoardHistories(train, known)
        self.pairs = pairs
        self.candidates = candidates

    def __call__(self, index: list[int] | torch.Tensor) -> dict:
        index = torch.as_tensor(index, dtype=torch.int64)
        boards, targets = self.pairs[index, 0], self.pairs[index, 1]
        batch = {"boards": boards, "targets": targets, "history": self.histories(boards)}
        if self.candidates is not None:
            batch["candidates"] = self.candidates[index]
        return batch


def sample_candidates(
    graph: PinBoardGraph, pairs: torch.Tensor, num_negatives: int = 99, seed: int = 0
) -> torch.Tensor:
    """``[n, 1 + num_negatives]`` candidates per held-out (board, pin): the pin, then
    uniform pins the board never saved in ``graph`` (NCF's protocol, for a split that has
    no candidate file, e.g. validation pins).

    Parameters
    ----------
    graph : PinBoardGraph
        A graph holding every known save (held-out ones included), so no candidate is a
        positive of its board.
    pairs : torch.Tensor
        ``[n, 2]`` (board, pin).
    """
    if num_negatives < 1:
        raise ValueError(f"num_negatives must be >= 1, got {num_negatives}")
    saved = SavedPairs(graph)
    generator = torch.Generator().manual_seed(seed)
    boards = pairs[:, 0]
    out = torch.randint(graph.num_pins, (len(pairs), num_negatives), generator=generator)
    for _ in range(100):
        bad = saved(boards[:, None], out)
        if not bad.any():
            break
        out[bad] = torch.randint(graph.num_pins, (int(bad.sum()),), generator=generator)
    else:
        raise ValueError(f"could not draw {num_negatives} unsaved pins for some boards")
    return torch.cat([pairs[:, 1:], out], 1)


def board_batches(pairs: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    """Indices of the ``[n, 2]`` (board, pin) ``pairs``, sorted by board, in batches that
    keep each board's held-out pins together (so full ranking ranks them together): each
    batch ends at the first board boundary at or after ``batch_size`` pairs."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = torch.argsort(pairs[:, 0], stable=True)
    boards = pairs[order, 0]
    cut = torch.nonzero(boards[1:] != boards[:-1]).squeeze(1) + 1
    starts = [0, *(int(c) for c in cut)]
    batches, begin = [], 0
    while begin < len(pairs):
        at = bisect.bisect_left(starts, begin + batch_size)
        end = starts[at] if at < len(starts) else len(pairs)  # > begin: begin is a start
        batches.append(order[begin:end])
        begin = end
    return batches
