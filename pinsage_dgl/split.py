"""Hold out each board's latest pins for validation and test; train on the rest."""

from __future__ import annotations

from dataclasses import dataclass

import dgl
import numpy as np
import torch

from pinsage_dgl.graph import BOARD, CONTAINS, SAVED_TO, PinBoardGraph


@dataclass
class EdgeSplit:
    """Training graph and held-out (board, pin) pairs.

    Attributes
    ----------
    train : PinBoardGraph
        All nodes and features, training edges only.
    val, test : torch.Tensor
        ``[n, 2]`` int64 (board node id, pin node id) of held-out interactions.
    """

    train: PinBoardGraph
    val: torch.Tensor
    test: torch.Tensor


def leave_latest_out(graph: PinBoardGraph, seed: int = 0) -> EdgeSplit:
    """Per board: latest pin → test, next latest → validation, the rest → training.

    Order is by edge timestamp; ties (and tables without timestamps) are broken by a
    seeded random key, so the held-out pin of an untimed board is a seeded random pin.
    A board keeps at least one training pin: boards with two pins give only a test pin,
    boards with one pin give nothing.
    """
    g = graph.graph
    boards = graph.saves()[1].numpy()
    timestamp = g.edges[SAVED_TO].data["timestamp"].numpy()
    tiebreak = np.random.default_rng(seed).random(len(boards))
    order = np.lexsort((tiebreak, timestamp, boards))
    sorted_boards = boards[order]
    degree = np.bincount(boards, minlength=g.num_nodes(BOARD))
    group_end = np.cumsum(degree)[sorted_boards]
    from_end = group_end - np.arange(len(order)) - 1
    deg = degree[sorted_boards]
    test_eids = order[(from_end == 0) & (deg >= 2)]
    val_eids = order[(from_end == 1) & (deg >= 3)]
    return split_by_edges(graph, torch.from_numpy(test_eids), torch.from_numpy(val_eids))


def given_test_out(
    graph: PinBoardGraph,
    test_eids: torch.Tensor,
    seed: int = 0,
    val_share: float | None = None,
) -> EdgeSplit:
    """All given ``test_eids`` → test; per board the latest other pins → validation.

    For data that comes with its own test file: every test interaction is held out (a
    board may have several, as full-ranking protocols expect). A board keeps at least
    one training pin, so validation takes pins only from boards with two or more
    non-test pins, the latest by timestamp (ties broken by a seeded random key, so an
    untimed board gives seeded random pins).

    Parameters
    ----------
    graph : PinBoardGraph
        Every save, the test ones included.
    test_eids : torch.Tensor
        ``saved_to`` edge ids of the test saves.
    seed : int
        Seeds the tie-breaking key.
    val_share : float, optional
        Share of each board's non-test pins held out for validation, rounded, at least
        one and at most all but one (full-ranking validation that resembles a test file
        holding several pins per board). Default: one pin per board.
    """
    if val_share is not None and not 0.0 < val_share < 1.0:
        raise ValueError(f"given_test_out: val_share must be in (0, 1), got {val_share}")
    g = graph.graph
    boards = graph.saves()[1].numpy()
    is_test = np.zeros(len(boards), dtype=bool)
    is_test[test_eids.numpy()] = True
    rest = np.flatnonzero(~is_test)
    timestamp = g.edges[SAVED_TO].data["timestamp"].numpy()[rest]
    tiebreak = np.random.default_rng(seed).random(len(rest))
    order = rest[np.lexsort((tiebreak, timestamp, boards[rest]))]
    degree = np.bincount(boards[rest], minlength=g.num_nodes(BOARD))
    if val_share is None:
        held = np.minimum(degree - 1, 1)
    else:
        held = np.clip(np.rint(val_share * degree), 1, np.maximum(degree - 1, 0))
    sorted_boards = boards[order]
    from_end = np.cumsum(degree)[sorted_boards] - 1 - np.arange(len(order))
    val_eids = order[from_end < held[sorted_boards]]
    return split_by_edges(graph, test_eids, torch.from_numpy(val_eids))


def split_by_edges(
    graph: PinBoardGraph, test_eids: torch.Tensor, val_eids: torch.Tensor | None = None
) -> EdgeSplit:
    """Remove the given ``saved_to`` edge ids (both directions) from the training graph."""
    g = graph.graph
    val_eids = torch.empty(0, dtype=torch.int64) if val_eids is None else val_eids.long()
    test_eids = test_eids.long()
    pins, boards = graph.saves()
    held = graph.graph_ids(torch.cat([test_eids, val_eids]))
    train = dgl.remove_edges(g, held, etype=SAVED_TO)
    train = dgl.remove_edges(train, held, etype=CONTAINS)
    for etype in (SAVED_TO, CONTAINS):
        train.edges[etype].data.pop(dgl.EID, None)

    def pairs(eids: torch.Tensor) -> torch.Tensor:
        return torch.stack([boards[eids], pins[eids]], dim=1)

    return EdgeSplit(graph.with_graph(train), pairs(val_eids), pairs(test_eids))


def fold_validation(graph: PinBoardGraph, split: EdgeSplit) -> EdgeSplit:
    """The same split with its validation pins moved back into training.

    After settings are chosen on validation, the final model trains on every pin but the
    test pins, as published protocols train on the whole training file. The validation
    edges return with their own timestamps and weights (the training graph is ``graph``
    without the test edges); ``val`` keeps its pairs, which are no longer held out.
    """
    if len(split.test) == 0:
        return EdgeSplit(graph, split.val, split.test)
    boards, pins = split.test[:, 0], split.test[:, 1]
    test_eids = graph.graph.edge_ids(
        graph.graph_ids(pins), graph.graph_ids(boards), etype=SAVED_TO
    ).long()
    folded = split_by_edges(graph, test_eids)
    return EdgeSplit(folded.train, split.val, split.test)
