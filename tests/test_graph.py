import numpy as np
import pandas as pd
import pytest
import torch

from pinsage_dgl import BOARD, PIN, SAVED_TO, PinBoardGraph, build_graph
from pinsage_dgl.graph import GraphInputError


def test_build_graph_counts_and_id_maps(tiny_table):
    g = build_graph(tiny_table, timestamp_col="ts")
    assert g.num_pins == 4 and g.num_boards == 2
    assert list(g.pin_ids) == ["a", "b", "c", "d"]
    assert g.graph.num_edges(SAVED_TO) == 6
    pins, boards = g.graph.edges(etype=SAVED_TO)
    # each edge maps back to a row of the table
    rows = {
        (g.pin_ids[p], g.board_ids[b]) for p, b in zip(pins.tolist(), boards.tolist(), strict=True)
    }
    assert rows == set(zip(tiny_table.pin, tiny_table.board, strict=True))
    assert g.pin_index(["d", "a"]).tolist() == [3, 0]
    assert g.board_index("b2").tolist() == [1]
    # both directions hold the same edges in the same order
    b2, p2 = g.graph.edges(etype=(BOARD, "contains", PIN))
    assert torch.equal(p2, pins) and torch.equal(b2, boards)


def test_integer_ids_and_duplicate_rows_merge():
    table = pd.DataFrame({"pin": [10, 10, 20], "board": [1, 1, 1], "w": [1.0, 2.0, 1.0]})
    g = build_graph(table, weight_col="w")
    assert g.pin_ids.dtype == np.int64
    assert g.graph.num_edges(SAVED_TO) == 2
    assert sorted(g.graph.edges[SAVED_TO].data["weight"].tolist()) == [1.0, 3.0]
    with pytest.raises(KeyError, match="unknown pin id 30"):
        g.pin_index([30])


def test_pin_features_encoded_with_defaults_for_missing_rows(tiny_table):
    feats = pd.DataFrame({"pin": ["a", "b"], "x": [1.0, 3.0], "t": ["Red shoes", "red hat"]})
    g = build_graph(
        tiny_table,
        pin_features=feats,
        pin_feature_columns={"x": "numeric", "t": "text"},
        pin_title_col="t",
    )
    x = g.graph.nodes[PIN].data["x"].squeeze(1)
    assert x[:2].tolist() == pytest.approx([-0.7071, 0.7071], abs=1e-4)  # standardised
    assert x[2:].tolist() == [0.0, 0.0]  # pins c, d have no row: the mean
    vocab = g.pin_spec.columns[1].vocab
    assert vocab == ["hat", "red", "shoes"]
    tokens = g.graph.nodes[PIN].data["t"]
    assert tokens[0, :2].tolist() == [2, 3] and tokens[1, :2].tolist() == [2, 1]
    assert tokens[2].sum() == 0
    assert list(g.pin_titles) == ["Red shoes", "red hat", "c", "d"]


def test_extra_pins_become_isolated_nodes(tiny_table):
    g = build_graph(tiny_table, extra_pins=["z"])
    assert g.num_pins == 5 and g.graph.out_degrees(g.pin_index("z"), etype=SAVED_TO).item() == 0


def test_save_load_round_trip(tmp_path, tiny_table):
    feats = pd.DataFrame({"pin": ["a", "c"], "g": ["x|y", "y"], "k": ["u", "v"]})
    g = build_graph(
        tiny_table,
        timestamp_col="ts",
        pin_features=feats,
        pin_feature_columns={"g": "tags", "k": "categorical"},
        pin_title_col="k",
    )
    g.save(tmp_path / "graph")
    g.save(tmp_path / "graph")  # overwriting an existing save works
    h = PinBoardGraph.load(tmp_path / "graph")
    assert list(h.pin_ids) == list(g.pin_ids) and list(h.board_ids) == list(g.board_ids)
    assert h.pin_spec == g.pin_spec and list(h.pin_titles) == list(g.pin_titles)
    for key in g.graph.nodes[PIN].data:
        assert torch.equal(h.graph.nodes[PIN].data[key], g.graph.nodes[PIN].data[key])
    for key in g.graph.edges[SAVED_TO].data:
        assert torch.equal(h.graph.edges[SAVED_TO].data[key], g.graph.edges[SAVED_TO].data[key])
    assert [p.name for p in tmp_path.iterdir()] == ["graph"]  # no temporary left behind


def test_read_table_from_parquet_and_csv(tmp_path, tiny_table):
    tiny_table.to_parquet(tmp_path / "t.parquet")
    tiny_table.to_csv(tmp_path / "t.csv", index=False)
    for name in ("t.parquet", "t.csv"):
        assert build_graph(tmp_path / name, timestamp_col="ts").graph.num_edges(SAVED_TO) == 6


BAD_INPUTS = [
    ("empty", lambda t: t.iloc[:0], {}, "empty"),
    ("missing column", lambda t: t.drop(columns="board"), {}, "missing column 'board'"),
    (
        "null id",
        lambda t: t.assign(pin=["a", None, "c", "a", "b", "d"]),
        {},
        "null id in column 'pin'.*row 1",
    ),
    (
        "timestamp",
        lambda t: t.assign(ts=["1", "2", "soon", "1", "2", "3"]),
        {"timestamp_col": "ts"},
        "'ts'.*numeric.*soon",
    ),
    (
        "negative weight",
        lambda t: t.assign(w=[1, 1, -2, 1, 1, 1]),
        {"weight_col": "w"},
        "'w'.*non-negative.*row 2",
    ),
    (
        "inf weight",
        lambda t: t.assign(w=[1, 1, 1, float("inf"), 1, 1]),
        {"weight_col": "w"},
        "'w'.*row 3",
    ),
]


@pytest.mark.parametrize(
    ("case", "edit", "kwargs", "message"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS]
)
def test_bad_interactions_are_named(tiny_table, case, edit, kwargs, message):
    with pytest.raises(GraphInputError, match=message):
        build_graph(edit(tiny_table), **kwargs)


def test_features_for_unknown_pin_are_rejected(tiny_table):
    feats = pd.DataFrame({"pin": ["a", "zz"], "x": [1.0, 2.0]})
    with pytest.raises(GraphInputError, match="not in the interactions, pin='zz'"):
        build_graph(tiny_table, pin_features=feats)


def test_nan_numeric_feature_is_rejected(tiny_table):
    feats = pd.DataFrame({"pin": ["a", "b"], "x": [1.0, float("nan")]})
    with pytest.raises(GraphInputError, match=r"'x'.*row 1"):
        build_graph(tiny_table, pin_features=feats, pin_feature_columns={"x": "numeric"})


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.parquet"):
        build_graph(tmp_path / "nope.parquet")


def test_board_features_are_encoded(tiny_table):
    boards = pd.DataFrame({"board": ["b2"], "kind": ["wedding"]})
    g = build_graph(tiny_table, board_features=boards)
    assert g.board_spec.columns[0].kind == "categorical"
    assert g.graph.nodes[BOARD].data["kind"].tolist() == [0, 1]  # b1 unknown, b2 "wedding"


def test_damaged_saved_graph_gets_a_clear_error(tiny_table, tmp_path):
    graph = build_graph(tiny_table, timestamp_col="ts")
    graph.save(tmp_path / "g")
    data = (tmp_path / "g" / "graph.bin").read_bytes()
    (tmp_path / "g" / "graph.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(GraphInputError, match="damaged or truncated saved graph"):
        PinBoardGraph.load(tmp_path / "g")
    graph.save(tmp_path / "h")
    (tmp_path / "h" / "ids.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(GraphInputError, match="damaged or truncated"):
        PinBoardGraph.load(tmp_path / "h")
