import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import torch

from pinsage_dgl import features
from pinsage_dgl.features import ColumnSpec, FeatureSpec, infer_spec
from pinsage_dgl.io import InputError
from pinsage_dgl.tables import column_names, factorize, ids, numbers, read_columns, strings

TEXTS = [
    "Red shoes, RED hat!",
    "it's naïve_café 12½ — Straße",
    None,
    "",
    "   ",
    "one two three four five six seven eight nine ten",  # longer than max_len
    float("nan"),
    "ÉCOLE école",
    "tab\tand\nnewline",
]
TAGS = ["Comedy|Drama", " Comedy | |Sci-Fi ", None, "", "|", "Drama"]


def row_wise(spec: FeatureSpec, table: pd.DataFrame) -> dict[str, torch.Tensor]:
    """The encoding as first written, one row at a time in Python (the reference)."""

    def missing(v):
        return v is None or (isinstance(v, float) and np.isnan(v))

    def tokens(v, col):
        if missing(v):
            return []
        if col.kind == "tags":
            return [t.strip() for t in str(v).split(col.separator) if t.strip()]
        return re.findall(r"[\w']+", str(v).lower())

    out = {}
    for col in spec.columns:
        index = {v: i + 1 for i, v in enumerate(col.vocab)}
        values = table[col.name]
        if col.kind == "categorical":
            out[col.name] = torch.tensor(
                [0 if missing(v) else index.get(str(v), 0) for v in values]
            )
        else:
            rows = torch.zeros(len(values), col.max_len, dtype=torch.int64)
            for i, v in enumerate(values):
                codes = [index.get(t, 0) for t in tokens(v, col)][: col.max_len]
                rows[i, : len(codes)] = torch.tensor(codes, dtype=torch.int64)
            out[col.name] = rows
    return out


@pytest.mark.parametrize("encode_rows", [1 << 18, 2])  # one slice; slices of two rows
def test_text_tags_and_categories_encode_as_the_row_wise_definition(
    tmp_path, monkeypatch, encode_rows
):
    monkeypatch.setattr(features, "ENCODE_ROWS", encode_rows)
    fit = pd.DataFrame(
        {
            "t": TEXTS,
            "g": TAGS + ["Horror"] * 3,
            "c": ["x", None, "y", 1, 2.5, True, "x", "z", float("nan")],
            "n": [1, 2, 3, 4, 5, 6, 7, 8, 9],
        }
    )
    spec = infer_spec(fit, {"t": "text", "g": "tags", "c": "categorical"}, max_len=4)
    t, g, c = spec.columns
    assert t.vocab == sorted(
        {w for v in TEXTS if isinstance(v, str) for w in re.findall(r"[\w']+", v.lower())}
    )
    assert g.vocab == ["Comedy", "Drama", "Horror", "Sci-Fi"]
    assert c.vocab == ["1", "2.5", "True", "x", "y", "z"]  # str() of each value, as pandas shows
    new = fit.assign(
        t=fit["t"].iloc[::-1].to_numpy(), c=["y", "unseen", None, 1, 3, True, "z", "x", "q"]
    )
    got, want = spec.encode(new), row_wise(spec, new)
    for key in want:
        assert torch.equal(got[key], want[key]), key
    # the same from a file, read by Arrow
    new.assign(c=new["c"].astype(str)).to_parquet(tmp_path / "new.parquet")  # one type
    encoded = spec.encode(read_columns(tmp_path / "new.parquet"))
    for key in ("t", "g"):
        assert torch.equal(encoded[key], want[key]), key


def test_numeric_features_are_standardised_and_a_bad_value_names_its_row(tmp_path):
    spec = infer_spec(pd.DataFrame({"x": [1.0, 3.0]}), {"x": "numeric"})
    assert (spec.columns[0].mean, spec.columns[0].std) == pytest.approx((2.0, 2**0.5))
    frame = pd.DataFrame({"x": [2.0, 4.0, float("nan")]}, index=[10, 11, 12])
    with pytest.raises(InputError, match=r"'x' has a missing.* nan at row 12"):
        spec.encode(frame, "f.csv")
    frame.iloc[:2].to_csv(tmp_path / "f.csv", index=False)
    assert spec.encode(read_columns(tmp_path / "f.csv"))["x"].squeeze(1).tolist() == (
        pytest.approx([0.0, 2 / 2**0.5])
    )


def test_factorize_sorts_ids_and_codes_each_value():
    codes, uniques = factorize(pa.chunked_array([[30, 10, 30], [20]]))
    assert uniques.tolist() == [10, 20, 30] and codes.tolist() == [2, 0, 2, 1]
    assert codes.dtype == np.int32
    codes, uniques = factorize(pa.chunked_array([["b", "a"]]), pa.chunked_array([["c", "a"]]))
    assert uniques.tolist() == ["a", "b", "c"] and codes.tolist() == [1, 0]


def test_values_of_other_types_become_strings_and_numbers_as_pandas_shows_them():
    assert strings(pa.chunked_array([[1.0, None, 2.5]])).to_pylist() == ["1.0", None, "2.5"]
    assert strings(pa.chunked_array([[True, False]])).to_pylist() == ["True", "False"]
    parsed = numbers(pa.chunked_array([["1", "x", None, "2e3"]]))
    assert np.array_equal(parsed, [1.0, np.nan, np.nan, 2000.0], equal_nan=True)
    stamps = pd.Series(pd.to_datetime(["1970-01-01 00:00:01", "1970-01-02 00:00:00"]))
    assert numbers(read_columns(stamps.to_frame("t")).column("t")).tolist() == [1.0, 86400.0]


def test_only_the_asked_columns_are_read_and_a_missing_one_is_named(tmp_path):
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}, index=[5, 6])
    frame.to_parquet(tmp_path / "t.parquet")  # with its index as a column
    assert column_names(tmp_path / "t.parquet") == ["a", "b"]
    assert read_columns(tmp_path / "t.parquet", ["b"]).data.column_names == ["b"]
    with pytest.raises(InputError, match=r"t\.parquet: missing column 'c'; columns present"):
        read_columns(tmp_path / "t.parquet", ["a", "c"])
    (tmp_path / "t.xlsx").write_text("x")
    with pytest.raises(InputError, match=r"t\.xlsx: unknown table format '\.xlsx'"):
        read_columns(tmp_path / "t.xlsx")


def test_a_csv_column_of_mixed_values_is_read_as_text(tmp_path):
    # Arrow types a column from its first rows; a later text value makes it all text
    lines = ["pin,board"] + [f"{i},{i % 3}" for i in range(5000)] + ["p-x,1"]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    table = read_columns(tmp_path / "t.csv", ["pin", "board"])
    assert table.column("pin").type == pa.string() and table.column("pin")[-1].as_py() == "p-x"
    assert table.row(5000) == "row 5000: {'pin': 'p-x', 'board': 1}"


def test_a_row_of_a_file_is_shown_with_all_its_columns(tmp_path):
    frame = pd.DataFrame({"pin": ["a", "b", "c"], "board": ["x", None, "y"], "n": [1, 2, 3]})
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_parquet(tmp_path / "t.parquet", row_group_size=2)
    for name in ("t.csv", "t.parquet"):
        table = read_columns(tmp_path / name, ["board"])
        assert table.row(1) == "row 1: {'pin': 'b', 'board': " + (
            "nan, 'n': 2}" if name == "t.csv" else "None, 'n': 2}"
        )
        assert table.row(2).startswith("row 2: {'pin': 'c'")


def test_encoding_a_spec_needs_its_columns():
    spec = FeatureSpec([ColumnSpec("t", "text", vocab=["a"], max_len=2)])
    with pytest.raises(InputError, match="missing feature column 't'"):
        spec.encode(pd.DataFrame({"u": ["a"]}), "new.csv")


def test_deferred_parquet_columns_are_read_when_used(tmp_path):
    pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}).to_parquet(tmp_path / "t.parquet")
    table = read_columns(tmp_path / "t.parquet", ["a", "b"], now=["a"])
    assert table.data.column_names == ["a"] and table.deferred == ("b",)
    assert table.names == ["a", "b"] and table.column("b").to_pylist() == ["x", "y"]
    spec = infer_spec(table, {"b": "categorical"})
    assert spec.encode(table)["b"].tolist() == [1, 2]


# --- one id policy for every writer's id column -------------------------------------------
def _write(frame: pd.DataFrame, path, form: str) -> object:
    """``frame`` as ``form``: a DataFrame, or a file written as pandas/Arrow writers do."""
    if form == "frame":
        return frame
    target = path / f"t.{form}"
    if form.startswith("csv"):
        frame.to_csv(target, index=False)
    else:
        frame.to_parquet(target, index=False)
    return target


ID_FORMS = {
    "int64": [27, 3, 27],
    "int32": np.array([27, 3, 27], dtype=np.int32),
    "uint64": np.array([27, 3, 27], dtype=np.uint64),
    # an integer column with a missing value elsewhere is written as floats
    "float": [27.0, 3.0, 27.0],
    "text": ["27", "3", "27"],
    "spaced text": [" 27", "3 ", "27"],
    "zero-padded text": ["027", "003", "27"],
    "text with .0": ["27.0", "3.0", "27"],
    "categorical": pd.Categorical([27, 3, 27]),
}


@pytest.mark.parametrize("form", ["frame", "csv", "csv.gz", "parquet"])
@pytest.mark.parametrize("written", list(ID_FORMS))
def test_the_same_ids_give_the_same_pins_however_written(tmp_path, written, form):
    from pinsage_dgl import build_graph

    frame = pd.DataFrame({"pin": ID_FORMS[written], "board": ["u", "v", "v"]})
    graph = build_graph(_write(frame, tmp_path, form))
    assert graph.pin_ids.dtype == np.int64 and graph.pin_ids.tolist() == [3, 27]
    assert graph.num_boards == 2 and graph.graph.num_edges("saved_to") == 3
    # a raw id is looked up under the same policy, however it is given
    assert graph.pin_index([27, "27", " 27", 27.0, "027"]).tolist() == [1] * 5


def test_text_ids_lose_surrounding_spaces_and_the_change_is_said(tmp_path, caplog):
    from pinsage_dgl import build_graph

    frame = pd.DataFrame({"pin": [" p41", "p41", "p7", "p7 "], "board": [1, 2, 1, 2]})
    graph = build_graph(_write(frame, tmp_path, "csv"))
    assert graph.pin_ids.tolist() == ["p41", "p7"] and graph.num_pins == 2
    assert f"{tmp_path / 't.csv'}: column 'pin': 2 ids had spaces around them, removed " in (
        caplog.text
    )
    assert graph.pin_index([" p7", "p41"]).tolist() == [1, 0]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([27.5, 3.0], "ids must be integers or text, not 27.5"),
        ([float("inf")], "ids must be integers or text, not inf"),
        ([1e19], "ids must be integers or text, not 1e\\+19"),
        (["p1", "   "], "an id is only whitespace: '   '"),
    ],
)
def test_ids_that_are_no_id_are_refused_naming_the_column(values, message):
    with pytest.raises(InputError, match=f"f.csv: column 'pin': {message}"):
        ids(pa.chunked_array([values]), "f.csv: column 'pin'")


def test_ids_other_than_numbers_and_text():
    # text of whole numbers beyond int64 stays text; dates and booleans are their strings
    assert ids(pa.chunked_array([["27", "9" * 25]])).to_pylist() == ["27", "9" * 25]
    assert ids(pa.chunked_array([[True, False]])).to_pylist() == ["True", "False"]
    dates = pd.Series(pd.to_datetime(["2024-01-02"]))
    assert ids(pa.chunked_array([pa.Array.from_pandas(dates)])).to_pylist() == ["2024-01-02"]
    # nulls stay null (callers refuse them, naming the row)
    assert ids(pa.chunked_array([[27.0, None]])).to_pylist() == [27, None]
    assert ids(pa.chunked_array([pa.array(["a", "b"]).dictionary_encode()])).to_pylist() == [
        "a",
        "b",
    ]


def test_csv_compressed_tables_are_read_and_other_suffixes_named(tmp_path):
    frame = pd.DataFrame({"pin": ["a", "b"], "board": [1, 2]})
    for suffix in (".csv.gz", ".tsv.bz2"):
        target = tmp_path / f"t{suffix}"
        frame.to_csv(target, index=False, sep="," if ".csv" in suffix else "\t")
        assert read_columns(target).data.to_pydict() == {"pin": ["a", "b"], "board": [1, 2]}
    (tmp_path / "t.parquet.gz").write_bytes(b"")
    with pytest.raises(InputError, match=r"t\.parquet\.gz: unknown table format '\.parquet\.gz'"):
        read_columns(tmp_path / "t.parquet.gz")
