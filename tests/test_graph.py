import dgl
import numpy as np
import pandas as pd
import pytest
import torch

from pinsage_dgl import BOARD, CONTAINS, PIN, SAVED_TO, PinBoardGraph, build_graph
from pinsage_dgl.graph import GraphInputError, SavedPairs


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
    assert tokens.dtype == torch.int32  # codes: half the memory of int64
    assert list(g.pin_titles) == ["Red shoes", "red hat", "c", "d"]


def test_extra_pins_become_isolated_nodes(tiny_table):
    g = build_graph(tiny_table, extra_pins=["z"])
    assert (
        g.num_pins == 5
        and g.graph.out_degrees(g.graph_ids(g.pin_index("z")), etype=SAVED_TO).item() == 0
    )


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


def test_pins_with_features_and_no_save_are_kept_as_cold_start_pins(tiny_table, caplog):
    feats = pd.DataFrame({"pin": ["a", "zz", "b", "c", "d"], "x": [1.0, 2.0, 3.0, 4.0, 5.0]})
    g = build_graph(tiny_table, pin_features=feats, pin_feature_columns={"x": "numeric"})
    assert list(g.pin_ids) == ["a", "b", "c", "d", "zz"]
    assert g.graph.out_degrees(g.pin_index("zz").item(), etype=SAVED_TO) == 0
    x = g.graph.nodes[PIN].data["x"].squeeze(1)
    # standardised over the table's five rows (sample deviation): zz keeps its own value
    assert x.tolist() == pytest.approx(((np.array([1, 3, 4, 5, 2]) - 3) / np.sqrt(2.5)).tolist())
    assert "1 pin with features but no save in interactions (the first: 'zz')" in caplog.text


def test_pins_without_features_are_counted_or_refused(tiny_table, caplog):
    feats = pd.DataFrame({"pin": ["a", "c"], "x": [1.0, 2.0]})
    build_graph(tiny_table, pin_features=feats)
    assert "no row for 2 pins of the 4 (the first: 'b'): default features" in caplog.text
    with pytest.raises(GraphInputError, match=r"no row for 2 pins of the 4 \(the first: 'b'\)"):
        build_graph(tiny_table, pin_features=feats, require_pin_features=True)
    caplog.clear()
    every = pd.DataFrame({"pin": ["a", "b", "c", "d"], "x": [1.0, 2.0, 3.0, 4.0]})
    build_graph(tiny_table, pin_features=every, require_pin_features=True)
    assert caplog.text == ""


def test_feature_ids_follow_the_interactions_ids_however_written(caplog):
    table = pd.DataFrame({"pin": [27, 27, 3], "board": ["u", "v", "v"]})
    # a feature table written with float ids (a column that once had a missing value)
    feats = pd.DataFrame({"pin": [27.0, 3.0], "x": [1.0, 2.0]})
    g = build_graph(table, pin_features=feats)
    assert g.pin_ids.tolist() == [3, 27]
    # pin 3's row (x = 2) and pin 27's (x = 1), standardised
    assert g.graph.nodes[PIN].data["x"].ravel().tolist() == pytest.approx([0.7071, -0.7071], 1e-4)
    assert "2 ids written as 27.0 and the like are read as the integers they hold (27)" in (
        caplog.text
    )
    # and with text ids: " 27" and "027" are the pin 27
    feats = pd.DataFrame({"pin": [" 27", "003"], "x": [1.0, 2.0]})
    g = build_graph(table, pin_features=feats)
    assert g.pin_ids.tolist() == [3, 27] and g.num_pins == 2


def test_boards_with_features_and_no_save_are_ignored(tiny_table, caplog):
    boards = pd.DataFrame({"board": ["b2", "b9"], "kind": ["wedding", "garden"]})
    g = build_graph(tiny_table, board_features=boards)
    assert g.num_boards == 2
    assert "1 row for boards with no save (the first: 'b9') ignored" in caplog.text
    # the ignored row shapes nothing: "garden" is not in the vocabulary
    assert g.board_spec.columns[0].vocab == ["wedding"]


def test_ignored_board_rows_do_not_move_the_standardisation(tiny_table):
    boards = pd.DataFrame({"board": ["b1", "b2", "b9"], "size": [1.0, 3.0, 1000.0]})
    g = build_graph(tiny_table, board_features=boards)
    size = g.board_spec.columns[0]
    assert (size.mean, size.std) == (2.0, pytest.approx(2**0.5))  # of b1 and b2 alone
    assert g.graph.nodes[BOARD].data["size"].squeeze(1).tolist() == pytest.approx(
        [-(0.5**0.5), 0.5**0.5]
    )


def test_repeated_saves_are_merged_and_said(caplog):
    table = pd.DataFrame({"pin": [1, 2, 1, 1], "board": [5, 5, 5, 6]})
    g = build_graph(table)
    assert g.graph.edges[SAVED_TO].data["weight"].tolist() == [2.0, 1.0, 1.0]
    assert (
        "interactions: 1 row repeated the (pin, board) pair of an earlier row: each pair is "
        "one save, weighted in the random walks by its number of rows"
    ) in caplog.text
    caplog.clear()
    build_graph(table.drop_duplicates())
    assert caplog.text == ""


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


# --- the columnar build equals the row-wise definition ------------------------------------
def reference_graph(table, timestamp_col=None, weight_col=None, extra_pins=None):
    """The graph as pandas defines it, row-wise (the builder before it went columnar):
    pairs in order of first appearance, latest timestamp, summed weight, sorted id maps."""

    def as_ids(values):
        values = pd.Series(values)
        if pd.api.types.is_integer_dtype(values):
            return values.to_numpy(dtype=np.int64)
        return values.astype(str).to_numpy(dtype=str)

    frame = pd.DataFrame(
        {
            "pin": table["pin"],
            "board": table["board"],
            "timestamp": table[timestamp_col].astype(float) if timestamp_col else 0.0,
            "weight": table[weight_col].astype(float) if weight_col else 1.0,
        }
    )
    frame = frame.groupby(["pin", "board"], sort=False, as_index=False).agg(
        timestamp=("timestamp", "max"), weight=("weight", "sum")
    )
    all_pins = frame["pin"]
    if extra_pins is not None:
        extra = pd.Series(np.asarray(extra_pins))
        all_pins = pd.concat([all_pins, extra.astype(all_pins.dtype, errors="ignore")])
    pin_ids = as_ids(pd.Series(pd.unique(all_pins)).sort_values(ignore_index=True))
    board_codes, board_ids = pd.factorize(frame["board"], sort=True)
    pin_codes = pd.Index(pin_ids).get_indexer(as_ids(frame["pin"]))
    return {
        "pin_ids": pin_ids,
        "board_ids": as_ids(board_ids),
        "pins": pin_codes,
        "boards": board_codes,
        "timestamp": frame["timestamp"].to_numpy(np.float64),
        "weight": frame["weight"].to_numpy(np.float32),
    }


def random_table(seed, string_ids, repeats):
    rng = np.random.default_rng(seed)
    n = 300
    pins = rng.integers(0, 60, size=n) * 7 - 100  # negative, sparse ids
    boards = rng.integers(0, 25, size=n)
    if not repeats:
        keys = np.unique(boards * 1000 + pins + 100)
        rng.shuffle(keys)
        boards, pins = keys // 1000, keys % 1000 - 100
    table = pd.DataFrame(
        {
            "pin": [f"p{p}" for p in pins] if string_ids else pins,
            "board": [f"b{b}" for b in boards] if string_ids else boards,
            "ts": rng.integers(0, 50, size=len(pins)),
            "w": rng.random(len(pins)) * 3,
            "other": "unused",
        }
    )
    return table


@pytest.mark.parametrize("string_ids", [False, True])
@pytest.mark.parametrize("repeats", [False, True])
@pytest.mark.parametrize("source", ["frame", "parquet", "csv"])
def test_columnar_build_equals_the_row_wise_definition(tmp_path, string_ids, repeats, source):
    for seed in range(3):
        table = random_table(seed, string_ids, repeats)
        extra = ["zz", "p-100"] if string_ids else [999, -100]
        given = table
        if source == "parquet":
            given = tmp_path / f"t{seed}.parquet"
            table.to_parquet(given)
        elif source == "csv":
            given = tmp_path / f"t{seed}.csv"
            table.to_csv(given, index=False)
            table = pd.read_csv(given)  # the reference reads what the file holds
        got = build_graph(given, timestamp_col="ts", weight_col="w", extra_pins=extra)
        want = reference_graph(table, "ts", "w", extra)
        pins, boards = got.saves()
        assert got.pin_ids.dtype == want["pin_ids"].dtype
        assert np.array_equal(got.pin_ids, want["pin_ids"])
        assert np.array_equal(got.board_ids, want["board_ids"])
        assert np.array_equal(pins.numpy(), want["pins"])
        assert np.array_equal(boards.numpy(), want["boards"])
        data = got.graph.edges[SAVED_TO].data
        assert np.array_equal(data["timestamp"].numpy(), want["timestamp"])
        assert np.array_equal(data["weight"].numpy(), want["weight"])  # same summation order
        assert got.graph.idtype == torch.int32


def test_repeats_without_weights_count_and_without_times_stay_zero():
    table = pd.DataFrame({"pin": [3, 1, 3, 3, 1], "board": [0, 0, 0, 1, 0]})
    got = build_graph(table)
    # pairs in order of first row: (3, 0) twice, (1, 0) twice, (3, 1) once
    assert [t.tolist() for t in got.saves()] == [[1, 0, 1], [0, 0, 1]]
    assert got.graph.edges[SAVED_TO].data["weight"].tolist() == [2.0, 2.0, 1.0]
    assert got.graph.edges[SAVED_TO].data["timestamp"].tolist() == [0.0, 0.0, 0.0]


def test_integer_extra_pins_join_integer_ids_and_text_makes_every_id_text():
    table = pd.DataFrame({"pin": [5, 7], "board": [0, 0]})
    assert build_graph(table, extra_pins=["6"]).pin_ids.tolist() == [5, 6, 7]
    assert build_graph(table, extra_pins=["z"]).pin_ids.tolist() == ["5", "7", "z"]


def test_both_directions_share_their_edge_data_and_ids_are_int32(tiny_table):
    weighted = tiny_table.assign(w=[1.0, 2.0, 1.0, 1.0, 1.0, 3.0])
    g = build_graph(weighted, timestamp_col="ts", weight_col="w").graph
    assert g.idtype == torch.int32
    for key in ("timestamp", "weight"):
        assert g.edges[SAVED_TO].data[key].data_ptr() == g.edges["contains"].data[key].data_ptr()
    # saves that weigh alike (no weight column, no repeated pair) keep no column of ones
    unweighted = build_graph(tiny_table, timestamp_col="ts")
    assert "weight" not in unweighted.graph.edges[SAVED_TO].data
    assert unweighted.walk_weights is None


def small_graph(pin_board_edges: list[tuple[int, int]], num_pins: int, num_boards: int):
    pins, boards = torch.tensor(pin_board_edges, dtype=torch.int32).reshape(-1, 2).T
    graph = dgl.heterograph(
        {SAVED_TO: (pins, boards), CONTAINS: (boards, pins)},
        num_nodes_dict={PIN: num_pins, BOARD: num_boards},
        idtype=torch.int32,
    )
    graph.edges[SAVED_TO].data["timestamp"] = torch.zeros(len(pins))
    return PinBoardGraph(graph, np.arange(num_pins), np.arange(num_boards))


def test_saved_pairs_answers_membership_and_board_rows_from_one_sorted_csr():
    # board 0 = {4, 1, 3} (saved in that order), board 1 = {}, board 2 = {0}, board 3 = {2, 4}
    graph = small_graph([(4, 0), (0, 2), (1, 0), (2, 3), (3, 0), (4, 3)], 5, 4)
    saved = SavedPairs(graph)
    indptr, pins = saved.csr
    assert indptr.tolist() == [0, 3, 3, 4, 6]
    assert pins.tolist() == [1, 3, 4, 0, 2, 4]  # ascending within each board
    assert pins.dtype == torch.int32  # the graph's id type: 4 bytes per save
    truth = {(0, 4), (0, 1), (0, 3), (2, 0), (3, 2), (3, 4)}
    boards, candidates = torch.arange(4)[:, None], torch.arange(5)[None, :]
    expected = [[(b, p) in truth for p in range(5)] for b in range(4)]
    assert saved(boards, candidates).tolist() == expected  # broadcasting [4, 1] x [1, 5]
    assert saved(torch.tensor([3, 0, 1]), torch.tensor([4, 2, 0])).tolist() == [True, False, False]
    rows, of = saved.of_boards(torch.tensor([3, 1, 0]))
    assert list(zip(rows.tolist(), of.tolist(), strict=True)) == [
        (0, 2),
        (0, 4),
        (2, 1),
        (2, 3),
        (2, 4),
    ]
    assert of.dtype == torch.int64


def test_saved_pairs_matches_a_set_on_a_random_graph_and_is_empty_without_saves():
    generator = torch.Generator().manual_seed(0)
    edges = torch.randint(40, (300, 2), generator=generator)
    edges[:, 1] %= 15
    edges = torch.unique(edges, dim=0)
    graph = small_graph([tuple(e) for e in edges.tolist()], 40, 15)
    truth = {tuple(e) for e in edges.tolist()}
    boards = torch.randint(15, (2000,), generator=generator)
    pins = torch.randint(40, (2000,), generator=generator)
    found = SavedPairs(graph)(boards, pins).tolist()
    assert found == [(p, b) in truth for b, p in zip(boards.tolist(), pins.tolist(), strict=True)]
    empty = SavedPairs(small_graph([], 3, 2))
    assert empty(torch.tensor([[0], [1]]), torch.tensor([0, 1, 2])).tolist() == [[False] * 3] * 2
    assert empty.of_boards(torch.tensor([0, 1])).shape == (2, 0)


def test_the_pin_count_of_a_saved_graph_is_read_without_loading_it(tmp_path, tiny_table):
    graph = build_graph(tiny_table)
    graph.save(tmp_path / "g")
    assert PinBoardGraph.num_pins_saved(tmp_path / "g") == graph.num_pins == 4
    with pytest.raises(FileNotFoundError, match="not a saved PinBoardGraph"):
        PinBoardGraph.num_pins_saved(tmp_path / "nothing")


def test_saved_pairs_sorted_a_few_boards_at_a_time_and_from_given_rows(monkeypatch):
    import pinsage_dgl.graph as graph_module

    generator = torch.Generator().manual_seed(2)
    edges = torch.unique(
        torch.randint(25, (150, 2), generator=generator) % torch.tensor([25, 9]), dim=0
    )
    graph = small_graph([tuple(e) for e in edges.tolist()], 25, 9)
    whole = SavedPairs(graph).csr
    monkeypatch.setattr(graph_module, "CHUNK", 4)
    chunked = SavedPairs(graph).csr
    assert torch.equal(whole[0], chunked[0]) and torch.equal(whole[1], chunked[1])
    # rows given in another order: of_boards reads them as they are, membership sorts
    indptr, pins = whole
    reversed_rows = torch.cat([pins[indptr[b] : indptr[b + 1]].flip(0) for b in range(9)])
    given = SavedPairs(graph, rows=(indptr, reversed_rows))
    rows, of = given.of_boards(torch.tensor([3, 0]))
    expected = [(0, p) for p in pins[indptr[3] : indptr[4]].flip(0).tolist()]
    expected += [(1, p) for p in pins[indptr[0] : indptr[1]].flip(0).tolist()]
    assert list(zip(rows.tolist(), of.tolist(), strict=True)) == expected
    assert given(torch.tensor([3]), pins[indptr[3] : indptr[3] + 1]).tolist() == [True]
