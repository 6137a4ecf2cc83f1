"""Training tasks and their minibatches: collators that run in DataLoader workers."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from pinsage_dgl.csr import CHUNK
from pinsage_dgl.graph import CONTAINS, SAVED_TO, PinBoardGraph, SavedPairs
from pinsage_dgl.history import BoardHistories, History
from pinsage_dgl.sampling.batch import TrainingBatch
from pinsage_dgl.sampling.negatives import HardNegativeSampler, Negatives
from pinsage_dgl.sampling.sampler import ImportanceSampler
from pinsage_dgl.sampling.walks import random_walk


def trainable_edges(graph: PinBoardGraph) -> torch.Tensor:
    """``saved_to`` edge ids whose board holds at least two pins (so a positive exists), in
    the graph's id type (int32 where ids fit: one of these per save is kept all training)."""
    boards = graph.graph.edges(etype=SAVED_TO)[1]  # the graph's id type: no int64 copy
    has_positive = torch.bincount(boards, minlength=graph.num_boards) >= 2
    # a chunk at a time: a whole-graph nonzero would hold an int64 copy of every save
    parts = [
        (torch.nonzero(has_positive[boards[start : start + CHUNK]]).squeeze(1) + start).to(
            boards.dtype
        )
        for start in range(0, len(boards), CHUNK)
    ]
    return torch.cat(parts) if parts else torch.zeros(0, dtype=boards.dtype)


TASKS = ("boards", "pairs", "halves")
HISTORIES = ("random", "earlier")


@dataclass(frozen=True)
class Task:
    """What a training query is: the one set of these settings and their defaults, shared
    by the collators, the datamodules and the CLI (``--data.init_args.task.kind pairs``).

    Attributes
    ----------
    kind : str
        ``"boards"`` (default): board queries, up to ``max_history`` of a board's pins →
        one of its pins (:class:`BoardCollator`; the task of the leave-latest-out
        protocols); ``"pairs"``: co-saved pin pairs, query pin → positive pin (the paper's
        item-to-item task, :class:`PairCollator`); ``"halves"``: each board's pins split at
        random in two, each half's query → every pin of the other half
        (:class:`HalvesCollator`: an epoch is a pass over boards, not saves, and costs a
        fraction of the ``boards`` task's; softmax loss only).
    max_history : int
        Pins drawn from a board to make its query (``kind="boards"``; at most that many of
        a half with ``"halves"``).
    history : str
        Which of its pins make a board's query (``kind="boards"``): ``"random"`` (drawn
        uniformly from the board's other pins) or ``"earlier"`` (the pins it saved just
        before the positive, as evaluation asks for its latest pins). ``random`` is the
        default: it needs no timestamps (without them "earlier" would be file order);
        which wins depends on the data (``benchmarks/results/experiments.md``), so the
        tuner searches it.
    """

    kind: str = "boards"
    max_history: int = 50
    history: str = "random"

    def __post_init__(self) -> None:
        if self.kind not in TASKS:
            raise ValueError(f"Task: kind must be one of {TASKS}, got {self.kind!r}")
        if self.max_history < 1:
            raise ValueError(f"Task: max_history must be >= 1, got {self.max_history}")
        if self.history not in HISTORIES:
            raise ValueError(f"Task: history must be one of {HISTORIES}, got {self.history!r}")
        if self.kind == "halves" and self.history != "random":
            raise ValueError("Task: kind 'halves' splits each board at random: history 'random'")

    @property
    def pins_per_query(self) -> int:
        """Most pins a query and its positive bring into a minibatch."""
        return self.max_history + 1 if self.kind == "boards" else 2

    def collator(
        self,
        sampler: ImportanceSampler,
        negatives: Negatives,
        hard_negatives: HardNegativeSampler | None = None,
        full_graph: bool = False,
    ) -> PairCollator:
        """The training collator of this task (see :class:`BoardCollator`,
        :class:`PairCollator`)."""
        if self.kind == "boards":
            return BoardCollator(sampler, negatives, hard_negatives, self, full_graph)
        if self.kind == "halves":
            return HalvesCollator(sampler, negatives, hard_negatives, self, full_graph)
        return PairCollator(sampler, negatives, hard_negatives, full_graph)


class PairCollator:
    """Edge ids → a training minibatch of (query, positive, negatives).

    For each edge (q, b) the positive is a random other pin of board b (a co-save, one
    pin→board→pin walk step). Random negatives are uniform pins: one pool of
    ``negatives.num_random`` shared by every query of the batch (the paper's choice: cheap,
    and large), or that many per query (``negatives.shared=False``). With a
    :class:`HardNegativeSampler`, each query also gets its current number of hard negatives.

    Returns a :class:`~pinsage_dgl.sampling.TrainingBatch` with ``query`` pins, whose
    ``positive_log_q`` is B times each positive's share of training edges and
    ``negative_log_q`` log N/P (the uniform pool). Pins are given as positions among the
    output nodes of ``blocks`` (with ``blocks`` and ``inputs``, see
    :class:`ImportanceSampler`) or, with ``full_graph``, as pin ids: the model then embeds
    every pin once per layer from the sampler's neighbour table.

    Attributes
    ----------
    trainable_edges : torch.Tensor
        :func:`trainable_edges` of the sampler's graph (the saves a training pair can
        start from), computed once here for the positives' shares and kept for the loader.
    """

    def __init__(
        self,
        sampler: ImportanceSampler,
        negatives: Negatives = Negatives(),
        hard_negatives: HardNegativeSampler | None = None,
        full_graph: bool = False,
    ) -> None:
        self.sampler = sampler
        self.num_negatives = negatives.num_random
        self.shared_negatives = negatives.shared
        self.hard_negatives = hard_negatives
        self.full_graph = full_graph
        graph = sampler.graph
        # each save's pin and board: views of the graph's own arrays (its id type), no copy
        pins, boards = graph.graph.edges(etype=SAVED_TO)
        self.edge_pins, self.edge_boards = pins, boards
        self.holds = SavedPairs(graph)
        self.trainable_edges = trainable = trainable_edges(graph)
        trainable_pins = torch.index_select(pins, 0, trainable)  # no int64 copy of the ids
        share = torch.bincount(trainable_pins, minlength=graph.num_pins).double()
        del trainable_pins
        self.log_share = (share / max(len(trainable), 1)).log().float()

    @property
    def full_graph(self) -> bool:
        """Whether batches carry pin ids for whole-graph steps (``True``) or DGL blocks."""
        return self._full_graph

    @full_graph.setter
    def full_graph(self, value: bool) -> None:
        if value and self.sampler.table is None and self.sampler.num_layers > 0:
            raise ValueError("full_graph training needs the sampler's neighbour table")
        self._full_graph = value

    def positives(self, query: torch.Tensor, boards: torch.Tensor) -> torch.Tensor:
        """A random pin of each board other than the query (``-1`` if none was drawn)."""
        graph = self.sampler.graph
        positive = torch.full_like(query, -1)
        todo = torch.arange(len(query))
        for _ in range(8):  # boards have >= 2 pins, so a few redraws almost surely suffice
            traces = random_walk(graph.graph, boards[todo], metapath=[CONTAINS[1]])
            drawn = traces[:, 1].long()
            ok = drawn != query[todo]
            positive[todo[ok]] = drawn[ok]
            todo = todo[~ok]
            if len(todo) == 0:
                break
        return positive

    def random_negatives(self, num_queries: int) -> torch.Tensor:
        """Uniform random pins: ``[N]`` shared by the batch, or ``[num_queries, N]``."""
        shape = (
            (self.num_negatives,) if self.shared_negatives else (num_queries, self.num_negatives)
        )
        return torch.randint(self.sampler.graph.num_pins, shape)

    def __call__(self, edge_ids: list[int] | torch.Tensor) -> TrainingBatch:
        edge_ids = torch.as_tensor(edge_ids, dtype=torch.int64)
        query = self.edge_pins[edge_ids].long()
        boards = self.edge_boards[edge_ids].long()
        positive = self.positives(query, boards)
        keep = positive >= 0
        edge_ids, query, positive, boards = (
            edge_ids[keep],
            query[keep],
            positive[keep],
            boards[keep],
        )
        negatives = self.random_negatives(len(query))
        if self.hard_negatives is not None:
            hard = self.hard_negatives(query, positive, boards)
        else:
            hard = torch.empty(len(query), 0, dtype=torch.int64)
        return self.make_batch(edge_ids, query, positive, negatives, hard, boards)

    def make_batch(
        self,
        edge_ids: torch.Tensor,
        query: torch.Tensor,
        positive: torch.Tensor,
        negatives: torch.Tensor,
        hard_negatives: torch.Tensor,
        boards: torch.Tensor,
        history: History | None = None,
        positive_rows: torch.Tensor | None = None,
    ) -> TrainingBatch:
        """The minibatch of given pin ids and each row's board (see class docstring); with
        ``history`` (whose pins are ``query``) the queries are those boards' pins; with
        ``positive_rows``, each positive's row (several per row)."""
        num_pins, size = self.sampler.graph.num_pins, len(boards)  # one in-batch draw a row
        mask = self.holds.of_boards(boards)
        positive_log_q = self.log_share[positive] + math.log(max(size, 1))
        blocks = inputs = None
        if not self.full_graph:  # pin ids → positions among the blocks' output pins
            parts = [query, positive, negatives.reshape(-1), hard_negatives.reshape(-1)]
            seeds, local = torch.unique(torch.cat(parts), return_inverse=True)
            query, positive, flat_negatives, flat_hard = torch.split(local, [len(p) for p in parts])
            negatives = flat_negatives.view(negatives.shape)
            hard_negatives = flat_hard.view(hard_negatives.shape)
            mask = _positions(mask, seeds)
            blocks = self.sampler.sample_blocks(seeds)
            inputs = self.sampler.input_features(blocks, seeds)
        if history is not None:
            history = History(history.rows, query, history.age, history.boards)
        return TrainingBatch(
            edge_ids=edge_ids,
            positive=positive,
            negatives=negatives,
            hard_negatives=hard_negatives,
            mask=mask,
            boards=boards,
            positive_log_q=positive_log_q,
            negative_log_q=torch.tensor(math.log(self.num_negatives / num_pins)),
            query=None if history is not None else query,
            history=history,
            blocks=blocks,
            inputs=inputs,
            positive_rows=positive_rows,
        )


def _positions(pairs: torch.Tensor, seeds: torch.Tensor) -> torch.Tensor:
    """``[2, M']`` (row, position in the sorted ``seeds``) of the pairs whose pin is a seed
    (a pin outside the minibatch is no candidate, so it needs no mask)."""
    position = torch.searchsorted(seeds, pairs[1]).clamp(max=len(seeds) - 1)
    found = seeds[position] == pairs[1]
    return torch.stack([pairs[0][found], position[found]])


class BoardCollator(PairCollator):
    """Edge ids → a minibatch that trains board queries: (board's pins, pin, negatives).

    For each training edge (p, b) the positive is p and the query is built from up to
    ``task.max_history`` other pins of board b: with ``task.history="random"``, drawn
    uniformly with replacement among the board's pins (p itself left out, so the model must
    predict it, not recall it); with ``"earlier"``, the ``max_history`` pins the board saved
    just before p (by timestamp), so the query is what the board held when it saved p, as
    at evaluation, where each board's held-out pins are its latest (a board's first pin has
    no history and is skipped). This is the task of the leave-latest-out protocols: a
    board's query made from its pins' embeddings.

    Returns the :class:`~pinsage_dgl.sampling.TrainingBatch` of :class:`PairCollator`
    with a ``history`` instead of ``query`` pins: the history pins, the batch row each
    belongs to, and its age (how many of the board's pins (``random``), or of those
    before p (``earlier``), were saved strictly later, as at evaluation; pins saved at one
    time share an age). ``earlier`` needs timestamps: a
    training graph whose saves all share one timestamp is refused (its order would be
    file order). Hard negatives are drawn around a random history pin of each board,
    never among the board's own pins.
    """

    def __init__(
        self,
        sampler: ImportanceSampler,
        negatives: Negatives = Negatives(),
        hard_negatives: HardNegativeSampler | None = None,
        task: Task = Task(),
        full_graph: bool = False,
    ) -> None:
        super().__init__(sampler, negatives, hard_negatives, full_graph)
        self.max_history, self.history = task.max_history, task.history
        time = sampler.graph.graph.edges[SAVED_TO].data["timestamp"]
        if self.history == "earlier" and len(time) and bool((time == time[0]).all()):
            raise ValueError(
                "history='earlier' orders each board's pins by timestamp, but every save of "
                f"the training graph has timestamp {time[0].item()}: use history='random'"
            )
        # the boards' pins in time order, as evaluation sees them, and for each position
        # the last one saved at the same time (pins saved together share an age)
        histories = BoardHistories(sampler.graph)
        self.board_pins, self.indptr = histories.pins, histories.indptr
        # the mask reads the same rows: no second copy of every board's pins
        self.holds = SavedPairs(sampler.graph, rows=(self.indptr, self.board_pins))
        self.tie_end = histories.tie_end
        self.position: torch.Tensor | None = None
        if self.history == "earlier":
            # each edge's position in its board's time order
            order = histories.order
            self.position = torch.empty_like(order)
            self.position[order] = (
                torch.arange(len(order)) - self.indptr[self.edge_boards[order]]
            ).to(order.dtype)

    def __call__(self, edge_ids: list[int] | torch.Tensor) -> TrainingBatch:
        edge_ids = torch.as_tensor(edge_ids, dtype=torch.int64)
        if self.history == "earlier":
            edge_ids = edge_ids[self.position[edge_ids] > 0]  # a first save has no history
        positive, boards = self.edge_pins[edge_ids].long(), self.edge_boards[edge_ids].long()
        start = self.indptr[boards]
        if self.history == "earlier":
            before = self.position[edge_ids][:, None].long() - 1
            slot = before - torch.arange(self.max_history)
            keep = slot >= 0
            slot = start[:, None] + slot.clamp(min=0)
            history = self.board_pins[slot].long()
            age = before - (self.tie_end[slot] - start[:, None]).clamp(max=before)
        else:
            size = self.indptr[boards + 1] - start
            draws = (torch.rand(len(boards), self.max_history) * size[:, None]).long()
            slot = start[:, None] + draws
            history = self.board_pins[slot].long()
            age = size[:, None] - 1 - (self.tie_end[slot] - start[:, None])
            keep = history != positive[:, None]
        rows = torch.arange(len(boards))[:, None].expand_as(history)[keep]
        history, age = history[keep], age[keep]
        negatives = self.random_negatives(len(boards))
        hard = torch.empty(len(boards), 0, dtype=torch.int64)
        if self.hard_negatives is not None and self.hard_negatives.num_per_query > 0:
            # a query pin per board: one of its history pins (the positive if none was drawn)
            anchor = positive.clone()
            first = torch.full((len(boards),), len(rows), dtype=torch.int64)
            first.scatter_reduce_(0, rows, torch.arange(len(rows)), reduce="amin")
            has = first < len(rows)
            anchor[has] = history[first[has]]
            hard = self.hard_negatives(anchor, positive, boards)
        queries = History(rows, history, age, boards)
        return self.make_batch(edge_ids, history, positive, negatives, hard, boards, queries)


class HalvesCollator(BoardCollator):
    """Board ids → a multi-positive minibatch: each board's pins split in two at random,
    each half's query scored against every pin of the other half.

    The loader batches boards (:attr:`trainable_edges` holds the boards with at least two
    pins), so an epoch visits each board once and each save is a positive exactly once, as
    in the ``boards`` task, but a board's query is embedded twice per epoch instead of once
    per save, and every positive of a query shares that query's negatives (the softmax's
    denominator is computed once per query). A board of ``n`` pins is split by a random
    order into its first ``ceil(n / 2)`` pins and the rest; a half's query is up to
    ``task.max_history`` of its pins (the first in that order: drawn without replacement),
    with their ages as in :class:`BoardCollator`.

    Returns a :class:`~pinsage_dgl.sampling.TrainingBatch` of two rows per board (its
    first half's query, then its second's), ``positive`` every pin of the other half and
    ``positive_rows`` the row of each, ascending; ``edge_ids`` are the boards. Hard
    negatives are not drawn for this task (the softmax's shared pool and in-batch
    negatives are its negatives).
    """

    def __init__(
        self,
        sampler: ImportanceSampler,
        negatives: Negatives = Negatives(),
        hard_negatives: HardNegativeSampler | None = None,
        task: Task = Task(kind="halves"),
        full_graph: bool = False,
    ) -> None:
        if negatives.num_hard > 0:
            raise ValueError(
                "task kind 'halves' draws no hard negatives: set negatives.num_hard to 0 "
                f"(got {negatives.num_hard})"
            )
        super().__init__(sampler, negatives, hard_negatives, task, full_graph)
        self.trainable_edges = torch.nonzero(self.indptr.diff() >= 2).squeeze(1)

    def __call__(self, board_ids: list[int] | torch.Tensor) -> TrainingBatch:
        if self.hard_negatives is not None and self.hard_negatives.num_per_query > 0:
            raise ValueError("task kind 'halves' draws no hard negatives (a curriculum set some)")
        boards = torch.as_tensor(board_ids, dtype=torch.int64)
        start = self.indptr[boards].long()
        size = self.indptr[boards + 1].long() - start
        if bool((size < 2).any()):
            raise ValueError("HalvesCollator: every board needs two pins to split")
        # every slot of every board, ordered at random within its board
        board_of_slot = torch.repeat_interleave(torch.arange(len(boards)), size)
        offset = torch.cumsum(size, 0) - size
        order = torch.argsort(board_of_slot + torch.rand(len(board_of_slot)).double())
        slot_offset, slot_start = offset[board_of_slot], start[board_of_slot]
        slot_size = size[board_of_slot]
        first_size = (slot_size + 1) // 2  # ceil(n / 2): the first half's pins
        rank = torch.arange(len(order)) - slot_offset  # position in its board
        slot = slot_start + (order - slot_offset)  # order keeps boards
        first_half = rank < first_size
        half = (~first_half).long()  # 0: the first half, 1: the second
        row = 2 * board_of_slot + half  # the query row this slot's half makes
        half_rank = rank - torch.where(first_half, 0, first_size)
        pins = torch.index_select(self.board_pins, 0, slot).long()
        # queries: each row's first max_history slots of its half
        in_query = half_rank < self.max_history
        age = slot_size - 1 - (self.tie_end[slot].long() - slot_start)
        history = History(row[in_query], pins[in_query], age[in_query], boards.repeat_interleave(2))
        # positives: every slot, scored by the other half's row, rows ascending
        positive_rows = 2 * board_of_slot + (1 - half)
        by_row = torch.argsort(positive_rows, stable=True)
        positive, positive_rows = pins[by_row], positive_rows[by_row]
        row_boards = history.boards
        negatives = self.random_negatives(len(row_boards))
        hard = torch.empty(len(row_boards), 0, dtype=torch.int64)
        return self.make_batch(
            boards, history.pins, positive, negatives, hard, row_boards, history, positive_rows
        )
