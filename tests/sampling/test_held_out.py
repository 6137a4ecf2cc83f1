import pandas as pd
import pytest
import torch

from pinsage_dgl.graph import build_graph
from pinsage_dgl.sampling import HeldOutCollator, board_batches, sample_candidates
from tests.sampling.test_pairs import small_module


def test_board_batches_keep_each_boards_pins_together():
    # board 0 holds 1 held-out pin, board 1 holds 4, board 2 holds 2 (pairs interleaved)
    pairs = torch.tensor([[1, 10], [0, 11], [2, 12], [1, 13], [1, 14], [2, 15], [1, 16]])
    batches = board_batches(pairs, batch_size=3)
    boards = [pairs[b, 0].tolist() for b in batches]
    # cut at the first board boundary at or after 3 pairs: board 1 is not split
    assert boards == [[0, 1, 1, 1, 1], [2, 2]]
    assert sorted(torch.cat(batches).tolist()) == list(range(len(pairs)))
    assert [pairs[b, 0].tolist() for b in board_batches(pairs, 100)] == [[0, 1, 1, 1, 1, 2, 2]]
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        board_batches(pairs, 0)


def test_sampled_candidates_are_the_pin_then_pins_the_board_never_saved():
    table = pd.DataFrame({"pin": [0, 1, 2, 3, 1], "board": [0, 0, 0, 1, 1]})
    graph = build_graph(table)
    boards, pins = graph.board_index([0, 1]), graph.pin_index([0, 1, 2, 3])
    pairs = torch.stack([boards, pins[[2, 3]]], 1)  # (board 0, pin 2), (board 1, pin 3)
    candidates = sample_candidates(graph, pairs, num_negatives=5, seed=3)
    assert candidates.shape == (2, 6)
    assert torch.equal(candidates[:, 0], pins[[2, 3]])
    saved = [set(pins[[0, 1, 2]].tolist()), set(pins[[1, 3]].tolist())]
    for row in range(2):
        assert not set(candidates[row, 1:].tolist()) & saved[row]
    assert torch.equal(candidates, sample_candidates(graph, pairs, num_negatives=5, seed=3))
    with pytest.raises(ValueError, match="num_negatives must be >= 1"):
        sample_candidates(graph, pairs, num_negatives=0)


def test_held_out_batch_lists_each_boards_training_pins():
    dm = small_module()
    train = dm.split.train
    batch = HeldOutCollator(train, dm.split.test)(torch.arange(5))
    for row in range(5):
        board = batch["boards"][row]
        expected = sorted(train.graph.successors(train.graph_ids(board), etype="contains").tolist())
        assert (
            sorted(batch["history"].seen[1][batch["history"].seen[0] == row].tolist()) == expected
        )
        assert batch["targets"][row].item() not in expected


def test_known_pairs_join_the_history_of_their_board():
    dm = small_module()
    train, val, test = dm.split.train, dm.split.val, dm.split.test
    row_of = {b: i for i, b in enumerate(test[:, 0].tolist())}
    board, val_pin = val[0].tolist()
    batch = HeldOutCollator(train, test, known=val)(torch.tensor([row_of[board]]))
    assert val_pin in batch["history"].seen[1].tolist()
    assert batch["targets"][0].item() not in batch["history"].seen[1].tolist()
