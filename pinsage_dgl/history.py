"""What each board already holds: its known pins in time order, and their ages.

The input of every board query (training, evaluation, serving) and the mask of every
board's ranking; below sampling, the model's board pooling and evaluation, which all read
it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pinsage_dgl.csr import CHUNK, group_by, whole_groups
from pinsage_dgl.graph import SAVED_TO, PinBoardGraph

__all__ = ["BoardHistories", "History", "last_of_ties"]


@dataclass
class History:
    """Known pins of a batch of boards, oldest first within each board.

    Attributes
    ----------
    rows : torch.Tensor
        ``[M]`` batch row of each known pin.
    pins : torch.Tensor
        ``[M]`` the pins.
    age : torch.Tensor
        ``[M]`` how many of the board's known pins were saved strictly later: 0 for its
        latest pin (and for every pin that shares the latest timestamp), 1 for the one
        before, ... Pins saved at one time share an age, so a table without timestamps
        (all equal) gives every pin age 0 rather than an age from file order.
    boards : torch.Tensor
        ``[B]`` the board of each row.
    """

    rows: torch.Tensor
    pins: torch.Tensor
    age: torch.Tensor
    boards: torch.Tensor

    @property
    def num_boards(self) -> int:
        return len(self.boards)

    def to(self, device: torch.device | str) -> History:
        """The same history with its tensors on ``device``."""
        return History(*(t.to(device) for t in (self.rows, self.pins, self.age, self.boards)))

    @property
    def seen(self) -> torch.Tensor:
        """``[2, M]`` (row, pin): what a board's ranking masks."""
        return torch.stack([self.rows, self.pins])

    def of_rows(self, rows: torch.Tensor) -> History:
        """The history of the given rows alone, renumbered ``0 .. len(rows) - 1`` in
        their order (e.g. one row per distinct board of a batch)."""
        renumbered = torch.full((self.num_boards,), -1, dtype=torch.int64)
        renumbered[rows.cpu()] = torch.arange(len(rows))
        new_rows = renumbered[self.rows.cpu()]
        kept = torch.nonzero(new_rows >= 0).squeeze(1)
        kept = kept[torch.argsort(new_rows[kept], stable=True)]  # grouped, oldest first
        device = self.rows.device
        return History(
            new_rows[kept].to(device),
            self.pins[kept.to(device)],
            self.age[kept.to(device)],
            self.boards[rows.to(self.boards.device)],
        )

    def latest(self) -> torch.Tensor:
        """``[B]`` each board's latest pin, the last in its order (``-1`` for none)."""
        latest = torch.full((self.num_boards,), -1, dtype=torch.int64)
        if len(self.rows):
            last = torch.ones(len(self.rows), dtype=torch.bool)
            last[:-1] = self.rows[1:] != self.rows[:-1]  # rows are grouped, oldest first
            latest[self.rows[last]] = self.pins[last]
        return latest


class BoardHistories:
    """Every board's known pins in time order (CSR), the input of board queries.

    Parameters
    ----------
    graph : PinBoardGraph
        The training graph; its ``saved_to`` edges and their timestamps give the order
        (ties keep edge order).
    known : torch.Tensor, optional
        ``[m, 2]`` (board, pin) pairs known at evaluation time after all training edges
        (e.g. validation pins while testing).
    """

    def __init__(self, graph: PinBoardGraph, known: torch.Tensor | None = None) -> None:
        edges = graph.graph.edges[SAVED_TO]
        pins, boards = graph.graph.edges(etype=SAVED_TO)  # views in the graph's id type
        time = edges.data["timestamp"]
        if known is not None and len(known):
            boards = torch.cat([boards.long(), known[:, 0]])
            pins = torch.cat([pins.long(), known[:, 1]])
            time = torch.cat([time, torch.full((len(known),), float("inf"), dtype=time.dtype)])
        #: pins of the graph (the width of a board's ranking)
        self.num_pins = graph.num_pins
        # by board (a counting sort, in edge order within a board), then each run of whole
        # boards by time: per-save arrays in int32 where they fit, temporaries per chunk
        self.indptr, order = group_by(boards, graph.num_boards)
        #: sorted position -> the last position saved at the same time on the same board
        self.tie_end = torch.empty(len(order), dtype=order.dtype)
        for start, end in whole_groups(self.indptr, CHUNK):
            positions = order[start:end].long()
            chunk_boards = boards[positions]
            chunk_time = time[positions].double()
            by_time = torch.argsort(chunk_time, stable=True)
            by_time = by_time[torch.argsort(chunk_boards[by_time], stable=True)]
            order[start:end] = positions[by_time].to(order.dtype)
            ties = last_of_ties(chunk_boards[by_time], chunk_time[by_time])
            self.tie_end[start:end] = (ties + start).to(order.dtype)
        #: sorted position -> index into the training edges (then ``known``)
        self.order = order
        self.pins = torch.index_select(pins, 0, order)  # int32 positions: no int64 copy

    def __call__(self, boards: torch.Tensor) -> History:
        """The :class:`History` of ``boards`` (rows in the given order)."""
        starts, ends = self.indptr[boards], self.indptr[boards + 1]
        lengths = ends - starts
        rows = torch.repeat_interleave(torch.arange(len(boards)), lengths)
        first = torch.repeat_interleave(torch.cumsum(lengths, 0) - lengths, lengths)
        offsets = torch.arange(int(lengths.sum())) - first
        positions = torch.repeat_interleave(starts, lengths) + offsets
        age = ends[rows] - 1 - self.tie_end[positions]
        return History(rows, self.pins[positions].long(), age, boards)


def last_of_ties(boards: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
    """For sorted ``(board, time)`` rows, the position of the last row of each one's run of
    equal ``(board, time)``: ``end - 1 - last_of_ties`` counts the board's rows saved
    strictly later.

    >>> last_of_ties(torch.tensor([0, 0, 0, 1]), torch.tensor([1.0, 1.0, 2.0, 0.0])).tolist()
    [1, 1, 2, 3]
    """
    n = len(boards)
    if n == 0:
        return torch.zeros(0, dtype=torch.int64)
    last = torch.ones(n, dtype=torch.bool)
    last[:-1] = (boards[1:] != boards[:-1]) | (time[1:] != time[:-1])
    ends = torch.nonzero(last).squeeze(1)
    run = torch.cumsum(last.long(), 0) - last.long()  # run index of each row
    return ends[run]
