import dgl
import numpy as np
import pandas as pd
import torch

from pinsage_dgl import BOARD, CONTAINS, PIN, SAVED_TO, PinBoardGraph
from pinsage_dgl.graph import build_graph
from pinsage_dgl.history import BoardHistories


def timed_graph(saves: list[tuple[int, int, float]], num_pins: int, num_boards: int):
    pins, boards = torch.tensor([(p, b) for p, b, _ in saves], dtype=torch.int32).T
    graph = dgl.heterograph(
        {SAVED_TO: (pins, boards), CONTAINS: (boards, pins)},
        num_nodes_dict={PIN: num_pins, BOARD: num_boards},
        idtype=torch.int32,
    )
    graph.edges[SAVED_TO].data["timestamp"] = torch.tensor([t for _, _, t in saves])
    return PinBoardGraph(graph, np.arange(num_pins), np.arange(num_boards))


def test_histories_are_time_ordered_with_shared_ages_for_ties_in_int32():
    # edges: 0 (pin 3, board 1, t=5), 1 (pin 0, board 0, t=2), 2 (pin 2, board 1, t=1),
    #        3 (pin 1, board 0, t=2), 4 (pin 4, board 1, t=9)
    saves = [(3, 1, 5.0), (0, 0, 2.0), (2, 1, 1.0), (1, 0, 2.0), (4, 1, 9.0)]
    histories = BoardHistories(timed_graph(saves, 5, 2))
    assert histories.indptr.tolist() == [0, 2, 5]
    assert histories.order.tolist() == [1, 3, 2, 0, 4]  # by board, time, then edge id
    assert histories.pins.tolist() == [0, 1, 2, 3, 4]
    assert histories.tie_end.tolist() == [1, 1, 2, 3, 4]  # pins 0 and 1 saved together
    # per-save arrays in the graph's id type: half the memory of int64
    assert {histories.order.dtype, histories.pins.dtype, histories.tie_end.dtype} == {torch.int32}
    history = histories(torch.tensor([1, 0]))
    assert history.rows.tolist() == [0, 0, 0, 1, 1]
    assert history.pins.tolist() == [2, 3, 4, 0, 1]
    assert history.pins.dtype == torch.int64  # what models and metrics index with
    assert history.age.tolist() == [2, 1, 0, 0, 0]


def test_known_pairs_come_after_every_training_save():
    saves = [(0, 0, 3.0), (1, 0, 1.0)]
    histories = BoardHistories(timed_graph(saves, 3, 1), known=torch.tensor([[0, 2]]))
    history = histories(torch.tensor([0]))
    assert history.pins.tolist() == [1, 0, 2]
    assert history.age.tolist() == [2, 1, 0]


def test_histories_are_time_ordered_and_known_pins_come_last(two_boards_graph):
    graph = two_boards_graph
    x, y = graph.board_index(["x", "y"]).tolist()
    known = torch.tensor([[y, int(graph.pin_index([4])[0])]])
    history = BoardHistories(graph, known)(torch.tensor([x, y]))
    ids = graph.pin_ids[history.pins.numpy()].tolist()
    assert list(zip(history.rows.tolist(), ids, history.age.tolist(), strict=True)) == [
        (0, 0, 2), (0, 1, 1), (0, 2, 0), (1, 3, 2), (1, 1, 1), (1, 4, 0),
    ]  # fmt: skip
    assert graph.pin_ids[history.latest().numpy()].tolist() == [2, 4]


def test_pins_saved_at_one_time_share_an_age():
    # board x saves p0, then p1 and p2 at once, then p3; board y has no timestamps
    table = pd.DataFrame(
        {"pin": [0, 1, 2, 3, 4, 5], "board": ["x"] * 4 + ["y"] * 2, "ts": [10, 20, 20, 30, 0, 0]}
    )
    graph = build_graph(table, timestamp_col="ts")
    history = BoardHistories(graph)(graph.board_index(["x", "y"]))
    ids = graph.pin_ids[history.pins.numpy()].tolist()
    assert list(zip(ids, history.age.tolist(), strict=True)) == [
        (0, 3), (1, 1), (2, 1), (3, 0), (4, 0), (5, 0),
    ]  # fmt: skip
    # the latest pin is the last in order (file order breaks ties)
    assert graph.pin_ids[history.latest().numpy()].tolist() == [3, 5]


def test_histories_built_a_few_boards_at_a_time_equal_those_built_at_once(monkeypatch):
    import pinsage_dgl.history as history_module

    generator = torch.Generator().manual_seed(1)
    saves = [
        (int(p), int(b), float(t))
        for p, b, t in zip(
            torch.randint(30, (200,), generator=generator),
            torch.randint(12, (200,), generator=generator),
            torch.randint(5, (200,), generator=generator),  # many ties
            strict=True,
        )
    ]
    graph = timed_graph(saves, 30, 12)
    whole = BoardHistories(graph)
    monkeypatch.setattr(history_module, "CHUNK", 7)  # chunks of whole boards
    chunked = BoardHistories(graph)
    for name in ("indptr", "order", "pins", "tie_end"):
        assert torch.equal(getattr(whole, name), getattr(chunked, name)), name
    # by board, then time, then edge id, as one lexicographic sort says
    boards = torch.tensor([b for _, b, _ in saves])
    times = torch.tensor([t for _, _, t in saves])
    by_time = torch.argsort(times, stable=True)
    expected = by_time[torch.argsort(boards[by_time], stable=True)]
    assert whole.order.tolist() == expected.tolist()
