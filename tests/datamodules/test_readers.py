"""One test per real-data reader, on ../shared/data (skipped with a reason where absent)."""

import pandas as pd
import pytest
import torch

from datamodules import MovieLensDataModule, NCFDataModule, SyntheticDataModule, TableDataModule
from datamodules.ncf import read_ncf
from pinsage_dgl import SAVED_TO
from tests.conftest import real_data

pytestmark = pytest.mark.realdata


def test_movielens_100k():
    dm = MovieLensDataModule(str(real_data("movielens-100k")))
    g = dm.graph
    assert (g.num_pins, g.num_boards, g.graph.num_edges(SAVED_TO)) == (1682, 943, 100_000)
    assert g.pin_titles[g.pin_index(1)[0]] == "Toy Story (1995)"
    toy = {c.name: g.pin_features[c.name][g.pin_index(1)[0]] for c in g.pin_spec.columns}
    genres = g.pin_spec.columns[1]
    assert {genres.vocab[i - 1] for i in toy["genres"].tolist() if i} == {
        "Animation",
        "Children's",
        "Comedy",
    }
    # every user with >= 3 ratings gives one test and one validation pin, removed from training
    assert len(dm.split.test) == len(dm.split.val) == 943
    assert dm.split.train.graph.num_edges(SAVED_TO) == 100_000 - 2 * 943


def test_movielens_1m_without_timestamps_uses_seeded_random_split():
    path = str(real_data("movielens-1m"))
    a, b = MovieLensDataModule(path, seed=0), MovieLensDataModule(path, seed=1)
    assert (a.graph.num_pins, a.graph.num_boards) == (3706, 6040)
    assert a.graph.graph.num_edges(SAVED_TO) == 1_000_209
    assert torch.equal(a.split.test, MovieLensDataModule(path, seed=0).split.test)
    assert not torch.equal(a.split.test, b.split.test)


def test_ncf_split_candidates_and_features():
    path = real_data("ncf-movielens-1m")
    real_data("movielens-1m")
    train, test, negatives = read_ncf(path)
    assert (len(train), len(test), negatives.shape) == (994_169, 6040, (6040, 99))
    dm = NCFDataModule(str(path))
    cand, split, g = dm.test_candidates, dm.split, dm.graph
    assert cand.shape == (6040, 100) and torch.equal(cand[:, 0], split.test[:, 1])
    # the first user's test item and negatives, by raw id
    row = int((g.board_ids[split.test[:, 0]] == 0).nonzero()[0][0])
    assert g.pin_ids[cand[row, 0]] == 25 and list(g.pin_ids[cand[row, 1:4]]) == [1064, 174, 2791]
    assert split.train.graph.num_edges(SAVED_TO) == 994_169 - 6040
    assert g.pin_titles[g.pin_index(0)[0]] == "One Flew Over the Cuckoo's Nest (1975)"


def test_table_module_with_given_test_file(tmp_path):
    train = pd.DataFrame(
        {"u": [1, 1, 1, 2, 2, 2], "i": ["x", "y", "z", "x", "y", "w"], "t": [5, 1, 2, 1, 2, 3]}
    )
    test = pd.DataFrame({"u": [1, 2], "i": ["w", "z"], "t": [0, 0]})
    train.to_csv(tmp_path / "train.csv", index=False)
    test.to_parquet(tmp_path / "test.parquet")
    dm = TableDataModule(
        str(tmp_path / "train.csv"),
        pin_col="i",
        board_col="u",
        timestamp_col="t",
        test_interactions=str(tmp_path / "test.parquet"),
    )
    g = dm.graph
    held = sorted((g.board_ids[b], g.pin_ids[p]) for b, p in dm.split.test.tolist())
    assert held == [(1, "w"), (2, "z")]  # given test rows, though their timestamps are older
    val = sorted((g.board_ids[b], g.pin_ids[p]) for b, p in dm.split.val.tolist())
    assert val == [(1, "x"), (2, "w")]  # latest training row of each board


def test_given_test_file_holds_out_every_row_even_without_timestamps(tmp_path):
    train = pd.DataFrame({"u": [1, 1, 1, 2, 2, 2], "i": ["x", "y", "z", "x", "y", "w"]})
    # board 2 has two test rows; (2, x) is also a training row: it is held out
    test = pd.DataFrame({"u": [1, 2, 2], "i": ["w", "z", "x"]})
    train.to_csv(tmp_path / "train.csv", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    dm = TableDataModule(
        str(tmp_path / "train.csv"),
        pin_col="i",
        board_col="u",
        test_interactions=str(tmp_path / "test.csv"),
    )
    g = dm.graph
    held = sorted((g.board_ids[b], g.pin_ids[p]) for b, p in dm.split.test.tolist())
    assert held == [(1, "w"), (2, "x"), (2, "z")]
    train_pairs = dm.split.train.graph.edges(etype="saved_to")
    assert dm.split.train.graph.num_edges("saved_to") == 6 + 3 - 1 - 3 - len(dm.split.val)
    assert (g.pin_index(["x"])[0], g.board_index([2])[0]) not in set(
        zip(*(t.tolist() for t in train_pairs), strict=True)
    )


def test_table_files_read_as_build_graph_reads_them(tmp_path, caplog):
    """ISO dates order saves in a CSV with or without a test file (as build_graph reads
    them in Python), and ids written differently in the two files are the same pins."""
    train = pd.DataFrame(
        {
            "u": [1, 1, 1, 2, 2, 2],
            "i": [10, 11, 12, 10, 11, 13],
            "t": [
                "2024-01-05",
                "2024-01-01",
                "2024-01-02",
                "2024-01-01",
                "2024-01-02",
                "2024-01-03",
            ],
        }
    )
    train.to_csv(tmp_path / "train.csv", index=False)
    # the test file's ids as floats and padded text: the training file's boards and pins
    test = pd.DataFrame({"u": [1.0, 2.0], "i": ["013", " 12"], "t": ["2024-01-09", "2024-01-09"]})
    test.to_csv(tmp_path / "test.csv", index=False)
    columns = {"pin_col": "i", "board_col": "u", "timestamp_col": "t"}
    alone = TableDataModule(str(tmp_path / "train.csv"), **columns)
    with_test = TableDataModule(
        str(tmp_path / "train.csv"), test_interactions=str(tmp_path / "test.csv"), **columns
    )
    for dm in (alone, with_test):
        assert dm.graph.pin_ids.tolist() == [10, 11, 12, 13]
        assert dm.graph.board_ids.tolist() == [1, 2]
    g = alone.graph  # board 1's latest is pin 10 (Jan 5), board 2's pin 13 (Jan 3)
    held = sorted((g.board_ids[b], g.pin_ids[p]) for b, p in alone.split.test.tolist())
    assert held == [(1, 10), (2, 13)]
    g = with_test.graph
    held = sorted((g.board_ids[b], g.pin_ids[p]) for b, p in with_test.split.test.tolist())
    assert held == [(1, 13), (2, 12)]
    val = sorted((g.board_ids[b], g.pin_ids[p]) for b, p in with_test.split.val.tolist())
    assert val == [(1, 10), (2, 13)]  # the latest training row of each board, by date
    assert f"{tmp_path / 'test.csv'}: column 'u': 2 ids written as 1.0" in caplog.text


def test_synthetic_is_seeded_and_has_planted_structure():
    a, b = (
        SyntheticDataModule(num_pins=500, num_boards=200, seed=3),
        SyntheticDataModule(num_pins=500, num_boards=200, seed=3),
    )
    assert torch.equal(a.split.test, b.split.test)
    pins = a.pin_table.set_index("pin")
    g = a.graph
    # most boards' pins share one or two clusters (of 80; noise pins and tiny boards dilute)
    pins_of = lambda board: g.pin_ids[g.graph.successors(board, etype="contains").numpy()]  # noqa: E731
    clusters_per_board = [
        pins.loc[pins_of(b), "cluster"].value_counts().iloc[:2].sum() / len(pins_of(b))
        for b in range(g.num_boards)
    ]
    assert sum(clusters_per_board) / len(clusters_per_board) > 0.75


def test_graph_module_reads_a_saved_graph(tmp_path):
    from datamodules import GraphDataModule

    source = SyntheticDataModule(num_pins=300, num_boards=100, num_topics=3)
    source.graph.save(tmp_path / "g")
    loaded = GraphDataModule(str(tmp_path / "g"))
    assert torch.equal(loaded.split.test, source.split.test)
    assert loaded.feature_spec == source.feature_spec
