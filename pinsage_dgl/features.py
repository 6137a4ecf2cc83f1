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

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from pinsage_dgl.io import InputError

FEATURE_KINDS = ("numeric", "categorical", "text", "tags")
_TOKEN_RE = re.compile(r"[\w']+")


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

    def encode(self, table: pd.DataFrame, source: str = "feature table") -> dict[str, torch.Tensor]:
        """Encode the rows of ``table`` with this spec's vocabularies and statistics.

        Unknown categories and tokens map to 0; a missing numeric value is an error.
        """
        out: dict[str, torch.Tensor] = {}
        for col in self.columns:
            if col.name not in table.columns:
                raise FeatureError(
                    f"{source}: missing feature column {col.name!r}; "
                    f"columns present: {list(table.columns)}"
                )
            values = table[col.name]
            if col.kind == "numeric":
                out[col.name] = _encode_numeric(values, col, source)
            elif col.kind == "categorical":
                index = {v: i + 1 for i, v in enumerate(col.vocab)}
                codes = [index.get(str(v), 0) if not _is_missing(v) else 0 for v in values]
                out[col.name] = torch.tensor(codes, dtype=torch.int64)
            else:
                index = {v: i + 1 for i, v in enumerate(col.vocab)}
                rows = [[index.get(t, 0) for t in _tokens(v, col)] for v in values]
                out[col.name] = _pad(rows, col.max_len)
        return out

    def defaults(self, num_rows: int) -> dict[str, torch.Tensor]:
        """Encoded features of rows with no entry in the table (mean / unknown / no tokens)."""
        out: dict[str, torch.Tensor] = {}
        for col in self.columns:
            if col.kind == "numeric":
                out[col.name] = torch.zeros(num_rows, 1)
            elif col.kind == "categorical":
                out[col.name] = torch.zeros(num_rows, dtype=torch.int64)
            else:
                out[col.name] = torch.zeros(num_rows, col.max_len, dtype=torch.int64)
        return out


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _tokens(value: Any, col: ColumnSpec) -> list[str]:
    if _is_missing(value):
        return []
    if col.kind == "tags":
        return [t.strip() for t in str(value).split(col.separator) if t.strip()]
    return _TOKEN_RE.findall(str(value).lower())


def _pad(rows: list[list[int]], max_len: int) -> torch.Tensor:
    out = torch.zeros(len(rows), max_len, dtype=torch.int64)
    for i, row in enumerate(rows):
        row = row[:max_len]
        if row:
            out[i, : len(row)] = torch.tensor(row, dtype=torch.int64)
    return out


def _encode_numeric(values: pd.Series, col: ColumnSpec, source: str) -> torch.Tensor:
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() | ~np.isfinite(numbers.to_numpy(dtype=np.float64, na_value=np.nan))
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy())[0])
        raise FeatureError(
            f"{source}: numeric feature column {col.name!r} has a missing, non-numeric or "
            f"non-finite value {values.iloc[pos]!r} at row {values.index[pos]!r}"
        )
    standard = (numbers.to_numpy(dtype=np.float32) - col.mean) / col.std
    return torch.from_numpy(standard.astype(np.float32)).unsqueeze(1)


def infer_spec(
    table: pd.DataFrame,
    columns: dict[str, str] | None = None,
    id_column: str | None = None,
    max_len: int = 16,
    min_count: int = 1,
    source: str = "feature table",
) -> FeatureSpec:
    """Fit a :class:`FeatureSpec` on a feature table.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per node.
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
    """
    if columns is None:
        columns = {
            c: ("numeric" if pd.api.types.is_numeric_dtype(table[c]) else "categorical")
            for c in table.columns
            if c != id_column
        }
    specs: list[ColumnSpec] = []
    for name, kind in columns.items():
        if kind not in FEATURE_KINDS:
            raise FeatureError(
                f"feature column {name!r}: unknown kind {kind!r}; expected one of {FEATURE_KINDS}"
            )
        if name not in table.columns:
            raise FeatureError(
                f"{source}: feature column {name!r} is not in the table; "
                f"columns present: {list(table.columns)}"
            )
        col = ColumnSpec(name=name, kind=kind)
        values = table[name]
        if kind == "numeric":
            probe = ColumnSpec(name=name, kind=kind)
            numbers = _encode_numeric(values, probe, source).squeeze(1).double()
            col.mean = float(numbers.mean()) if len(numbers) else 0.0
            std = float(numbers.std()) if len(numbers) > 1 else 1.0
            col.std = std if std > 0 else 1.0
        elif kind == "categorical":
            counts = values.dropna().astype(str).value_counts()
            col.vocab = sorted(counts[counts >= min_count].index)
        else:
            col.separator = "|"
            col.max_len = max_len
            counts: dict[str, int] = {}
            for v in values:
                for t in _tokens(v, col):
                    counts[t] = counts.get(t, 0) + 1
            col.vocab = sorted(t for t, n in counts.items() if n >= min_count)
        specs.append(col)
    return FeatureSpec(columns=specs)
