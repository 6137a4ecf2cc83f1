import pandas as pd
import torch

from pinsage_dgl import SAVED_TO, build_graph, leave_latest_out
from pinsage_dgl.split import fold_validation


def test_latest_is_test_next_is_val_and_removed_from_training(tiny_table):
    g = build_graph(tiny_table, timestamp_col="ts")
    split = leave_latest_out(g)
    named = lambda pairs: sorted((g.board_ids[b], g.pin_ids[p]) for b, p in pairs.tolist())  # noqa: E731
    assert named(split.test) == [("b1", "c"), ("b2", "d")]
    assert named(split.val) == [("b1", "b"), ("b2", "b")]
    train = split.train.graph
    assert train.num_edges(SAVED_TO) == 2 and train.num_nodes("pin") == 4
    pins, boards = train.edges(etype=SAVED_TO)
    assert sorted(zip(boards.tolist(), pins.tolist(), strict=True)) == [(0, 0), (1, 0)]


def test_small_boards_keep_a_training_pin_and_untimed_split_is_seeded():
    table = pd.DataFrame({"pin": [1, 2, 3, 1, 1, 2, 3, 4], "board": [1, 1, 2, 3, 4, 4, 4, 4]})
    g = build_graph(table)
    splits = [leave_latest_out(g, seed=s) for s in (0, 0, 1, 2, 3)]
    assert torch.equal(splits[0].test, splits[1].test)  # same seed, same split
    assert len({tuple(s.test[:, 1].tolist()) for s in splits}) > 1  # seeds differ
    # board 1 (two pins): test only; boards 2 and 3 (one pin): nothing; board 4: both
    assert sorted(splits[0].test[:, 0].tolist()) == [0, 3]
    assert splits[0].val[:, 0].tolist() == [3]


def test_folding_validation_trains_on_every_pin_but_the_test_pins(tiny_table):
    g = build_graph(tiny_table, timestamp_col="ts")
    split = leave_latest_out(g)
    folded = fold_validation(g, split)
    assert torch.equal(folded.test, split.test) and torch.equal(folded.val, split.val)
    train = folded.train.graph
    pins, boards = train.edges(etype=SAVED_TO)
    named = sorted(
        (g.board_ids[b], g.pin_ids[p]) for b, p in zip(boards.tolist(), pins.tolist(), strict=True)
    )
    assert named == [("b1", "a"), ("b1", "b"), ("b2", "a"), ("b2", "b")]
    # the validation saves keep their timestamps (b was saved at time 2 on both boards)
    ts = train.edges[SAVED_TO].data["timestamp"][pins == g.pin_index(["b"])[0]]
    assert ts.tolist() == [2, 2]
    assert train.num_edges("contains") == 4
