"""Pin and board feature tables → tensors, with a spec that re-encodes new rows the same way.

Four kinds of column:

- ``numeric``: a float per row, standardised with the training table's mean and std;
- ``categorical``: a value per row → an integer code (0 is "unknown/missing");
- ``text``: free text → lower-cased word tokens → ids, padded with 0 to ``max_len``;
- ``tags``: a separator-joined list (e.g. MovieLens genres ``"Comedy|Drama"``) → ids.

The :class:`FeatureSpec` records vocabularies and statistics, so a cold-start pin given only
its features is encoded exactly as the pins seen at build time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import torch

from pinsage_dgl.io import InputError
from pinsage_dgl.tables import Columns, codes, is_numeric, numbers, read_columns, strings

FEATURE_KINDS = ("numeric", "categorical", "text", "tags")
#: rows tokenised and looked up at a time: bounds the temporary memory of a large table
ENCODE_ROWS = 1 << 18
#: categorical and token codes: int32 (a vocabulary never nears 2³¹ words), half the
#: memory of int64 (1.7 GiB for 16 tokens of 28.6M pins); embedding layers take either
CODE_DTYPE = torch.int32
#: what separates text tokens: anything but letters, digits, ``_`` and apostrophes
_SEPARATOR_RE = r"[^\pL\pN_']+"


class FeatureError(InputError):
    """A feature table that cannot be encoded; the message names the column and a row."""


@dataclass
class ColumnSpec:
    """How one feature column is encoded.

    Parameters
    ----------
    name : str
        Column name in the feature table (and key of the encoded tensor).
    kind : str
        One of ``numeric``, ``categorical``, ``text``, ``tags``.
    vocab : list of str
        Known values (categorical) or tokens (text, tags); code ``i + 1`` is ``vocab[i]``.
    mean, std : float
        Standardisation statistics of a numeric column.
    max_len : int
        Token slots of a text or tags column.
    separator : str
        Separator of a tags column.
    """

    name: str
    kind: str
    vocab: list[str] = field(default_factory=list)
    mean: float = 0.0
    std: float = 1.0
    max_len: int = 0
    separator: str = "|"

    @property
    def cardinality(self) -> int:
        """Number of codes, including 0 for unknown/padding."""
        return len(self.vocab) + 1


@dataclass
class FeatureSpec:
    """The encoding of every feature column of one node type."""

    columns: list[ColumnSpec] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON/YAML serialisable, stored in checkpoints)."""
        return {"columns": [asdict(c) for c in self.columns]}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> FeatureSpec:
        """Inverse of :meth:`to_dict`; ``None`` gives an empty spec."""
        if not data:
            return cls()
        return cls(columns=[ColumnSpec(**c) for c in data["columns"]])

    def __len__(self) -> int:
        return len(self.columns)

    def encode(
        self, table: pd.DataFrame | Columns, source: str = "feature table"
    ) -> dict[str, torch.Tensor]:
        """Encode the rows of ``table`` with this spec's vocabularies and statistics.

        Unknown categories and tokens map to 0; a missing numeric value is an error.
        Columnar: strings are tokenised and looked up in Arrow's kernels, not row by row.
        """
        table = _as_columns(table, source)
        out: dict[str, torch.Tensor] = {}
        for col in self.columns:
            if col.name not in table.names:
                raise FeatureError(
                    f"{source}: missing feature column {col.name!r}; columns present: {table.names}"
                )
            values = table.column(col.name)
            if col.kind == "numeric":
                out[col.name] = _encode_numeric(values, col, table, source)
                continue
            vocab = pa.array(col.vocab, type=pa.string())
            if col.kind == "categorical":
                out[col.name] = torch.empty(len(values), dtype=CODE_DTYPE)
            else:
                out[col.name] = torch.zeros(len(values), col.max_len, dtype=CODE_DTYPE)
            for start, part in _row_slices(values):
                rows = out[col.name][start : start + len(part)]
                if col.kind == "categorical":  # absent and missing: -1 + 1 = 0
                    rows.copy_(torch.from_numpy(codes(strings(part), vocab) + 1))
                else:
                    row, tokens = _tokens(part, col)
                    _pad(row, codes(tokens, vocab) + 1, rows)
        return out

    def defaults(self, num_rows: int) -> dict[str, torch.Tensor]:
        """Encoded features of rows with no entry in the table (mean / unknown / no tokens)."""
        out: dict[str, torch.Tensor] = {}
        for col in self.columns:
            if col.kind == "numeric":
                out[col.name] = torch.zeros(num_rows, 1)
            elif col.kind == "categorical":
                out[col.name] = torch.zeros(num_rows, dtype=CODE_DTYPE)
            else:
                out[col.name] = torch.zeros(num_rows, col.max_len, dtype=CODE_DTYPE)
        return out


def _as_columns(table: pd.DataFrame | Columns, source: str) -> Columns:
    if isinstance(table, Columns):
        return table
    return read_columns(table, name=source, error=FeatureError)


def _tokens(values: pa.ChunkedArray, col: ColumnSpec) -> tuple[np.ndarray, pa.ChunkedArray]:
    """Every token of every row: its row (ascending) and the token.

    Text: lower-cased runs of word characters and apostrophes (letters, digits and ``_``,
    as Python's ``\\w`` in ``re.findall(r"[\\w']+", text.lower())``). Tags: the
    ``separator``-split values, surrounding whitespace stripped, empty ones dropped.
    A missing value has no tokens.
    """
    text = strings(values)
    if col.kind == "tags":
        pieces = pc.utf8_trim_whitespace(pc.list_flatten(pc.split_pattern(text, col.separator)))
        rows = pc.list_parent_indices(pc.split_pattern(text, col.separator))
    else:
        split = pc.split_pattern_regex(pc.utf8_lower(text), _SEPARATOR_RE)
        pieces, rows = pc.list_flatten(split), pc.list_parent_indices(split)
    keep = pc.not_equal(pc.utf8_length(pieces), 0)
    return rows.filter(keep).to_numpy(), pieces.filter(keep)


def _row_slices(values: pa.ChunkedArray) -> Iterator[tuple[int, pa.ChunkedArray]]:
    """``(first row, rows)`` of ``values`` in slices of :data:`ENCODE_ROWS` (zero-copy)."""
    for start in range(0, len(values), ENCODE_ROWS):
        yield start, values.slice(start, ENCODE_ROWS)


def _pad(rows: np.ndarray, code: np.ndarray, out: torch.Tensor) -> None:
    """Write each row's first ``max_len`` token codes into ``out`` (``[rows, max_len]``,
    zeros: the padding)."""
    num_rows, max_len = out.shape
    per_row = np.bincount(rows, minlength=num_rows)
    first = np.cumsum(per_row) - per_row  # each row's first token
    slot = np.arange(len(rows), dtype=np.int64)
    slot -= first[rows]
    fits = slot < max_len
    flat = rows[fits].astype(np.int64) * max_len + slot[fits]
    out.view(-1)[torch.from_numpy(flat)] = torch.from_numpy(code[fits]).to(out.dtype)


def _encode_numeric(
    values: pa.ChunkedArray, col: ColumnSpec, table: Columns, source: str
) -> torch.Tensor:
    numbers_ = numbers(values)
    bad = ~np.isfinite(numbers_)
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise FeatureError(
            f"{source}: numeric feature column {col.name!r} has a missing, non-numeric or "
            f"non-finite value {_shown(values[pos].as_py())} at row {table.label(pos)!r}"
        )
    standard = (numbers_.astype(np.float32) - col.mean) / col.std
    return torch.from_numpy(standard.astype(np.float32)).unsqueeze(1)


def _shown(value: Any) -> str:
    """A value as the message shows it (a missing value as ``nan``, as pandas shows it)."""
    return "nan" if value is None else repr(value)


def infer_spec(
    table: pd.DataFrame | Columns,
    columns: dict[str, str] | None = None,
    id_column: str | None = None,
    max_len: int = 16,
    min_count: int = 1,
    source: str = "feature table",
    fit_rows: np.ndarray | None = None,
) -> FeatureSpec:
    """Fit a :class:`FeatureSpec` on a feature table.

    Parameters
    ----------
    table : pandas.DataFrame or Columns
        One row per node (:class:`~pinsage_dgl.tables.Columns` as a file is read).
    columns : dict, optional
        Column name → kind. By default every column except ``id_column``: numeric dtypes are
        ``numeric``, others ``categorical`` (pass ``text`` or ``tags`` explicitly).
    id_column : str, optional
        The id column, excluded from features.
    max_len : int
        Token slots of text/tags columns (longer rows are truncated).
    min_count : int
        Tokens and categories seen fewer times map to "unknown".
    source : str
        The table's name in error messages (its file).
    fit_rows : numpy.ndarray, optional
        Boolean mask of the rows the means, deviations and vocabularies are fitted on
        (e.g. those of nodes in the graph); every row by default.
    """
    table = _as_columns(table, source)
    present = table.names
    if columns is None:
        columns = {
            c: ("numeric" if is_numeric(table.column(c)) else "categorical")
            for c in present
            if c != id_column
        }
    specs: list[ColumnSpec] = []
    for name, kind in columns.items():
        if kind not in FEATURE_KINDS:
            raise FeatureError(
                f"feature column {name!r}: unknown kind {kind!r}; expected one of {FEATURE_KINDS}"
            )
        if name not in present:
            raise FeatureError(
                f"{source}: feature column {name!r} is not in the table; columns present: {present}"
            )
        col = ColumnSpec(name=name, kind=kind)
        values = table.column(name)
        if kind == "numeric":
            probe = ColumnSpec(name=name, kind=kind)
            standard = _encode_numeric(values, probe, table, source).squeeze(1).double()
            if fit_rows is not None:
                standard = standard[torch.from_numpy(fit_rows)]
            col.mean = float(standard.mean()) if len(standard) else 0.0
            std = float(standard.std()) if len(standard) > 1 else 1.0
            col.std = std if std > 0 else 1.0
        else:
            if kind != "categorical":
                col.separator = "|"
                col.max_len = max_len
            if fit_rows is not None:
                values = values.filter(pa.array(fit_rows))
            counts = []
            for _, part in _row_slices(values):
                found = strings(part) if kind == "categorical" else _tokens(part, col)[1]
                found = pc.value_counts(found.drop_null())
                counts.append(
                    pa.table({"value": found.field("values"), "count": found.field("counts")})
                )
            if counts:  # counted slice by slice, then summed per value
                total = pa.concat_tables(counts).group_by("value").aggregate([("count", "sum")])
                common = pc.greater_equal(total.column("count_sum"), min_count)
                col.vocab = sorted(total.column("value").filter(common).to_pylist())
        specs.append(col)
    return FeatureSpec(columns=specs)
