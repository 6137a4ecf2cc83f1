"""Property-based: graphs built from arbitrary small tables keep counts and id maps
consistent."""

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from pinsage_dgl.graph import CONTAINS, SAVED_TO, build_graph

pin_ids = st.one_of(st.integers(-5, 30), st.text("abcxyz", min_size=1, max_size=3))
rows = st.lists(
    st.tuples(pin_ids, st.integers(0, 6), st.floats(0, 10), st.integers(0, 100)),
    min_size=1,
    max_size=40,
)


def read_as_ids(values: pd.Series) -> pd.Series:
    """``values`` under the id policy of :func:`pinsage_dgl.tables.ids`, written out for
    these tables (integers, or text without spaces)."""
    if values.dtype == object and values.str.fullmatch(r"[+-]?[0-9]+").all():
        return values.astype("int64")
    return values


@settings(max_examples=60, deadline=None)
@given(rows=rows, as_text=st.booleans())
def test_counts_and_id_maps_are_consistent(rows, as_text):
    table = pd.DataFrame(rows, columns=["pin", "board", "weight", "ts"])
    if as_text or table["pin"].map(type).nunique() > 1:
        table["pin"] = table["pin"].astype(str)  # mixed types are given as text
    graph = build_graph(table, weight_col="weight", timestamp_col="ts")
    # the ids as the one id policy reads them: text that is all whole numbers is those numbers
    looked_up = table["pin"]
    table["pin"] = read_as_ids(table["pin"])
    pairs = table.groupby(["pin", "board"]).agg(weight=("weight", "sum"), ts=("ts", "max"))

    assert graph.num_pins == table["pin"].nunique()
    assert graph.num_boards == table["board"].nunique()
    g = graph.graph
    assert g.num_edges(SAVED_TO) == g.num_edges(CONTAINS) == len(pairs)
    # raw id → node → raw id is the identity
    assert list(graph.pin_ids[graph.pin_index(looked_up).numpy()]) == list(table["pin"])
    assert list(graph.board_ids[graph.board_index(table["board"]).numpy()]) == list(table["board"])
    # every edge is one distinct (pin, board) pair, with the summed weight and latest time
    src, dst = g.edges(etype=SAVED_TO)
    edges = (
        pd.DataFrame(
            {
                "pin": graph.pin_ids[src.numpy()],
                "board": graph.board_ids[dst.numpy()],
                "weight": g.edges[SAVED_TO].data["weight"].numpy(),
                "ts": g.edges[SAVED_TO].data["timestamp"].numpy(),
            }
        )
        .set_index(["pin", "board"])
        .sort_index()
    )
    expected = pairs.sort_index()
    assert list(edges.index) == list(expected.index)
    assert (abs(edges["weight"] - expected["weight"]) < 1e-3).all()
    assert (edges["ts"] == expected["ts"]).all()
    # the reverse edges mirror the forward ones
    back_src, back_dst = g.edges(etype=CONTAINS)
    forward = sorted(zip(src.tolist(), dst.tolist(), strict=True))
    assert sorted(zip(back_dst.tolist(), back_src.tolist(), strict=True)) == forward
