"""The LightGCN layout (train.txt / test.txt of `user item item ...` lines) and its split."""

import warnings
from collections import Counter

import pytest
import torch

from datamodules import LightGCNDataModule, read_user_item_lists
from pinsage_dgl import SAVED_TO
from pinsage_dgl.graph import GraphInputError
from tests.conftest import real_data


def write(directory, train: str, test: str):
    (directory / "train.txt").write_text(train)
    (directory / "test.txt").write_text(test)
    return str(directory)


def named(dm, pairs: torch.Tensor) -> list[tuple[int, int]]:
    g = dm.graph
    return sorted((int(g.board_ids[b]), int(g.pin_ids[p])) for b, p in pairs.tolist())


def test_lines_become_pairs_blank_lines_and_users_without_items_hold_nothing(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("0 5 6 7\n\n1\n2 5\n")
    table = read_user_item_lists(path)
    assert list(zip(table["board"], table["pin"], strict=True)) == [
        (0, 5),
        (0, 6),
        (0, 7),
        (2, 5),
    ]
    assert str(table["pin"].dtype) == "int64"


def test_a_repeated_pair_counts_once_with_a_warning(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("0 5 5 6 5\n")
    with pytest.warns(UserWarning, match="2 repeated"):
        table = read_user_item_lists(path)
    assert sorted(table["pin"]) == [5, 6]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0 1 2\n1 3 x4\n", r"train\.txt, line 2: 'x4' is not an integer id"),
        ("0 1 2\n1 3 4.0\n", r"line 2: '4\.0' is not an integer id"),
        ("0 1 -2\n", r"line 1: negative id -2"),
        ("0 1\n1 2\n0 3\n", r"line 3: user 0 already has line 1"),
        ("\n\n", r"no users"),
    ],
)
def test_a_bad_file_names_its_line_and_token(tmp_path, text, message):
    path = tmp_path / "train.txt"
    path.write_text(text)
    with pytest.raises(GraphInputError, match=message) as error:
        read_user_item_lists(path)
    assert str(path) in str(error.value)


def test_a_missing_file_is_named(tmp_path):
    (tmp_path / "train.txt").write_text("0 1 2\n")
    dm = LightGCNDataModule(str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"test\.txt"):
        dm.graph  # noqa: B018


def test_the_test_file_is_the_test_split_and_validation_is_a_share_of_training(tmp_path):
    train = "0 " + " ".join(str(i) for i in range(10)) + "\n1 0 1\n2 3\n"
    path = write(tmp_path, train, "0 10 11\n1 12\n2 4\n")
    dm = LightGCNDataModule(path, val_share=0.2, seed=0)
    assert named(dm, dm.split.test) == [(0, 10), (0, 11), (1, 12), (2, 4)]
    val = named(dm, dm.split.val)
    # user 0: 2 of its 10 training items; user 1: one of two; user 2 keeps its only item
    assert Counter(board for board, _ in val) == {0: 2, 1: 1}
    assert all(pin < 10 for board, pin in val if board == 0)
    train_graph = dm.split.train.graph
    assert train_graph.num_edges(SAVED_TO) == 13 - 3
    pins, boards = train_graph.edges(etype=SAVED_TO)
    g = dm.graph
    kept = {(int(g.board_ids[b]), int(g.pin_ids[p])) for p, b in zip(pins, boards, strict=True)}
    assert not kept & set(val) and not kept & set(named(dm, dm.split.test))
    # every item of either file is a pin: 0-9 and the test-only 10, 11, 12
    assert dm.num_pins == 13 and dm.num_boards == 3


def test_the_split_is_seeded(tmp_path):
    train = "".join(f"{u} " + " ".join(str(i) for i in range(u, u + 8)) + "\n" for u in range(6))
    path = write(tmp_path, train, "".join(f"{u} {u + 20}\n" for u in range(6)))
    a, b = LightGCNDataModule(path, seed=0), LightGCNDataModule(path, seed=0)
    other = LightGCNDataModule(path, seed=1)
    assert torch.equal(a.split.val, b.split.val)
    assert not torch.equal(a.split.val, other.split.val)
    # folding validation back trains on the whole training file
    folded = LightGCNDataModule(path, seed=0, fold_validation=True)
    assert folded.split.train.graph.num_edges(SAVED_TO) == 6 * 8


def test_a_pair_in_both_files_is_a_test_pair_with_a_warning(tmp_path):
    path = write(tmp_path, "0 1 2 3\n1 1 2\n", "0 3 4\n")
    dm = LightGCNDataModule(path)
    with pytest.warns(UserWarning, match="1 \\(user, item\\) pairs are in train.txt and test.txt"):
        test = named(dm, dm.split.test)
    assert test == [(0, 3), (0, 4)]
    assert dm.graph.graph.num_edges(SAVED_TO) == 6


def test_val_share_outside_the_open_unit_interval_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"val_share must be in \(0, 1\), got 1\.0"):
        LightGCNDataModule(str(tmp_path), val_share=1.0)


@pytest.mark.realdata
def test_gowalla_has_the_published_counts():
    path = real_data("gowalla")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the published files have no repeats or overlaps
        dm = LightGCNDataModule(str(path), seed=0)
        g, split = dm.graph, dm.split
    assert (g.num_boards, g.num_pins) == (29_858, 40_981)
    assert len(split.test) == 217_242
    assert g.graph.num_edges(SAVED_TO) == 810_128 + 217_242
    # about a fifth of the training file is validation, every user keeps training items
    assert 0.19 < len(split.val) / 810_128 < 0.21
    degrees = split.train.graph.in_degrees(etype=SAVED_TO)
    assert int((degrees == 0).sum()) == 0
