"""Tables read column by column: Parquet, CSV and TSV files or DataFrames → Arrow columns.

A graph of hundreds of millions of saves is built without a Python object per row: only
the columns asked for are read, ids and strings stay in Arrow buffers, and the functions
here turn columns into integer codes, numbers and strings in Arrow's and numpy's compiled
kernels. Errors name the table (its file), the column and the first row at fault, with
that row's values as pandas shows them.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pinsage_dgl.io import InputError, counted, notice

_DELIMITERS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
_PARQUET = (".parquet", ".pq")
# compressions both Arrow and pandas read from a CSV/TSV file's name
_COMPRESSED = (".gz", ".bz2", ".zst")


@contextlib.contextmanager
def returned_memory() -> Iterator[None]:
    """Allocate Arrow's buffers with the system allocator inside the block.

    Arrow's default pool (mimalloc or jemalloc) keeps what it frees for its own later use.
    A graph build frees each raw column as soon as it is coded, and that memory must serve
    the numpy and torch arrays that follow: at 10⁸ saves, gigabytes of peak memory.
    """
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(previous)
        release_freed_memory()


def release_freed_memory() -> None:
    """Give the pages of freed heap memory back to the operating system (glibc only).

    Arrow's column chunks (megabytes each) come from the heap, not from their own mappings,
    and glibc keeps the heap pages they leave: at 10⁸ saves, gigabytes of resident memory
    nothing uses. ``malloc_trim`` returns them; elsewhere this does nothing.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


def table_format(path: Path, error: type[InputError] = InputError) -> str:
    """``"parquet"`` or the delimiter of a CSV/TSV file (plain, or compressed as
    ``.csv.gz``, ``.csv.bz2``, ``.csv.zst``), from the file's suffixes."""
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes.pop()
    suffix = suffixes[-1] if suffixes else ""
    if suffix in _PARQUET and len(suffixes) == len(path.suffixes[-2:]):
        return "parquet"
    if suffix in _DELIMITERS:
        return _DELIMITERS[suffix]
    raise error(
        f"{path}: unknown table format {''.join(path.suffixes[-2:]) or path.name!r}; use "
        f".parquet, .csv or .tsv (CSV/TSV also compressed: {', '.join(_COMPRESSED)})"
    )


@dataclass
class Columns:
    """Some columns of a table as Arrow, and how to show one of the table's rows.

    Attributes
    ----------
    name : str
        The table in messages: its file, or a name for a DataFrame.
    data : pyarrow.Table
        The columns read.
    frame : pandas.DataFrame, optional
        The DataFrame given (its index labels rows in messages).
    path : pathlib.Path, optional
        The file read (its rows are re-read, whole, for a message).
    deferred : tuple of str
        Columns of a Parquet file read only when asked for, and not kept: a wide feature
        table is then never in memory whole.
    """

    name: str
    data: pa.Table
    frame: pd.DataFrame | None = None
    path: Path | None = None
    deferred: tuple[str, ...] = ()

    def __len__(self) -> int:
        return self.data.num_rows

    @property
    def names(self) -> list[str]:
        """Every column this table can give (read or deferred)."""
        return [*self.data.column_names, *self.deferred]

    def column(self, name: str) -> pa.ChunkedArray:
        if name in self.deferred:
            return _read_parquet(self.path, [name]).column(name)
        return self.data.column(name)

    def label(self, position: int) -> Any:
        """The row's label: its DataFrame index label, or its 0-based data row in a file."""
        return self.frame.index[position] if self.frame is not None else position

    def row(self, position: int) -> str:
        """``row <label>: {column: value, ...}`` with every column of the table's row."""
        if self.frame is not None:
            values = self.frame.iloc[position].to_dict()
        elif self.path is not None:
            values = _file_row(self.path, position)
        else:
            values = self.data.slice(position, 1).to_pylist()[0]
        return f"row {self.label(position)!r}: {values}"

    def first(self, mask: np.ndarray) -> str:
        """:meth:`row` of the first row where ``mask`` is true."""
        return self.row(int(np.flatnonzero(mask)[0]))


def _file_row(path: Path, position: int) -> dict[str, Any]:
    """One row of a file, every column, as pandas reads it (for an error message)."""
    fmt = table_format(path)
    if fmt == "parquet":
        file = pq.ParquetFile(path)
        for group in range(file.num_row_groups):
            rows = file.metadata.row_group(group).num_rows
            if position < rows:
                return file.read_row_group(group).slice(position, 1).to_pandas().iloc[0].to_dict()
            position -= rows
        raise IndexError(position)
    rows = pd.read_csv(path, sep=fmt, skiprows=range(1, position + 1), nrows=1)
    return rows.iloc[0].to_dict()


def read_columns(
    source: pd.DataFrame | str | os.PathLike,
    columns: Sequence[str] | None = None,
    name: str = "table",
    error: type[InputError] = InputError,
    now: Sequence[str] | None = None,
) -> Columns:
    """The ``columns`` (default: all) of a DataFrame or a Parquet / CSV / TSV file.

    Files are read by Arrow, only the columns asked for. A CSV column whose values do not
    all parse as one type is read as strings (as pandas would give mixed values). With
    ``now``, a Parquet file's other columns are read one at a time, when used
    (:attr:`Columns.deferred`).

    Raises
    ------
    FileNotFoundError
        For a path that does not exist.
    InputError
        (``error``) naming the table and the columns present, for a missing column; or
        the file, for an unknown format or a file Arrow cannot parse.
    """
    present = column_names(source, error)
    for col in columns or []:
        if col not in present:
            label = name if isinstance(source, pd.DataFrame) else str(source)
            raise error(f"{label}: missing column {col!r}; columns present: {present}")
    names = present if columns is None else list(columns)
    if isinstance(source, pd.DataFrame):
        data = pa.table({c: to_arrow(source[c]) for c in names})
        return Columns(name, data, frame=source)
    path = Path(source)
    fmt = table_format(path, error)
    try:
        if fmt == "parquet" and now is not None:
            later = tuple(c for c in names if c not in now)
            loaded = [c for c in names if c in now]
            return Columns(str(path), _read_parquet(path, loaded), path=path, deferred=later)
        if fmt == "parquet":
            data = _read_parquet(path, names)
        else:
            data = _read_csv(path, pacsv.ParseOptions(delimiter=fmt), names)
    except pa.ArrowException as err:
        raise error(f"{path}: cannot be read as a {path.suffix} table ({err})") from err
    return Columns(str(path), data, path=path)


def _read_parquet(path: Path, columns: list[str]) -> pa.Table:
    # one thread, no read-ahead: the decoder's buffers stay small beside the data
    return pq.read_table(path, columns=columns, pre_buffer=False, use_threads=False)


def column_names(
    source: pd.DataFrame | str | os.PathLike, error: type[InputError] = InputError
) -> list[str]:
    """The columns of a DataFrame, or of a file from its schema or header (rows unread)."""
    if isinstance(source, pd.DataFrame):
        return [str(c) for c in source.columns]
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"table not found: {path}")
    fmt = table_format(path, error)
    try:
        if fmt == "parquet":
            schema = pq.read_schema(path)
            # pandas stores a DataFrame's index as columns; they are not the table's
            index = (schema.pandas_metadata or {}).get("index_columns", [])
            return [c for c in schema.names if c not in index]
        with pacsv.open_csv(path, parse_options=pacsv.ParseOptions(delimiter=fmt)) as reader:
            return list(reader.schema.names)
    except pa.ArrowException as err:
        raise error(f"{path}: cannot be read as a {path.suffix} table ({err})") from err


def _read_csv(path: Path, parse: pacsv.ParseOptions, columns: list[str]) -> pa.Table:
    def read(**types: Any) -> pa.Table:
        convert = pacsv.ConvertOptions(
            include_columns=columns,
            strings_can_be_null=True,  # empty and "NA"-like fields are missing, as in pandas
            **types,
        )
        return pacsv.read_csv(path, parse_options=parse, convert_options=convert)

    try:
        return read()
    except pa.ArrowInvalid as err:
        if "conversion error" not in str(err):
            raise
    # a column typed from its first rows met a later value of another type: read strings
    # (ids become strings, as pandas gives mixed values; numbers are parsed row by row)
    return read(column_types=dict.fromkeys(columns, pa.string()))


def to_arrow(values: Any) -> pa.ChunkedArray:
    """A DataFrame column (or any array-like) as Arrow; values of mixed types as their
    strings."""
    values = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
    try:
        array = pa.Array.from_pandas(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        array = _pandas_strings(values)
    return pa.chunked_array([array])


def _pandas_strings(values: pd.Series) -> pa.Array:
    """``str(value)`` of every present value (as pandas' ``astype(str)``), nulls kept."""
    missing = values.isna().to_numpy()
    return pa.array(values.astype(str).to_numpy(dtype=object), type=pa.string(), mask=missing)


def null_mask(values: pa.ChunkedArray) -> np.ndarray:
    """Where ``values`` is null (and, in float columns, NaN, as pandas counts it)."""
    missing = pc.is_null(values, nan_is_null=True)
    return missing.to_numpy(zero_copy_only=False)


def is_numeric(values: pa.ChunkedArray) -> bool:
    """Whether the column holds numbers (integers, floats, decimals or booleans)."""
    t = values.type
    return (
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_decimal(t)
        or (pa.types.is_boolean(t))
    )


def numbers(values: pa.ChunkedArray) -> np.ndarray:
    """float64 values; NaN where missing or not a number. Timestamps are seconds since
    the epoch; strings are parsed as pandas' ``to_numeric`` parses them."""
    t = values.type
    if pa.types.is_timestamp(t):
        scale = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}[t.unit]
        ticks = values.cast(pa.int64()).to_numpy(zero_copy_only=False)
        return ticks.astype(np.float64) / scale
    if is_numeric(values):
        return to_numpy(values, np.float64, missing=np.nan)
    parsed = pd.to_numeric(pd.Series(values.to_numpy(zero_copy_only=False)), errors="coerce")
    return parsed.to_numpy(dtype=np.float64, na_value=np.nan)


def to_numpy(values: pa.ChunkedArray, dtype: Any, missing: Any = None) -> np.ndarray:
    """One numpy array of ``dtype`` filled chunk by chunk (no concatenated copy of the
    column on the way); nulls become ``missing``."""
    out = np.empty(len(values), dtype=dtype)
    start = 0
    for chunk in values.chunks:
        stop = start + len(chunk)
        if chunk.null_count:
            out[start:stop] = pc.fill_null(chunk.cast(pa.from_numpy_dtype(out.dtype)), missing)
        else:
            out[start:stop] = chunk.to_numpy(zero_copy_only=False)
        start = stop
    return out


def strings(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """The column as Arrow strings, nulls kept: strings as they are, other values as
    ``str(value)`` would show them (``1.0`` stays ``"1.0"``, ``True`` stays ``"True"``)."""
    t = values.type
    if pa.types.is_dictionary(t):
        values, t = values.cast(t.value_type), t.value_type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return values.cast(pa.string())
    if pa.types.is_integer(t):  # str() of an integer is Arrow's cast
        return values.cast(pa.string())
    return pa.chunked_array([_pandas_strings(values.to_pandas())])


# an id written as text that is a whole number: "27", "+27", "0027", "27.0"
_WHOLE_NUMBER = r"^[+-]?[0-9]+(\.0*)?$"


def ids(
    values: pa.ChunkedArray, where: str = "ids", error: type[InputError] = InputError
) -> pa.ChunkedArray:
    """An id column under the one id policy: int64 for whole numbers, strings otherwise.

    However a CSV or Parquet writer stored them, the same ids give the same pins:

    - integers are integers; floats that are all whole numbers (``27.0``, as writers store
      an integer column with a missing value) are those integers;
    - text loses its surrounding whitespace (``" p41"`` is ``"p41"``); a column of text
      that is all whole numbers (``"27"``, ``"027"``, ``"27.0"``) is those integers, as a
      CSV reader reads such a column;
    - any other value (dates, booleans) is its string.

    Each change is said in one line (:func:`~pinsage_dgl.io.notice`) naming ``where``,
    how many values it changed and an example. Nulls stay null (callers refuse them).

    Raises
    ------
    InputError
        (``error``) naming ``where`` and the value, for a number with a fraction, a
        non-finite or too large number, or an id that is only whitespace.
    """
    t = values.type
    if pa.types.is_dictionary(t):
        values, t = values.cast(t.value_type), t.value_type
    if pa.types.is_integer(t):
        return values.cast(pa.int64())
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return _whole_numbers(values, where, error, "numbers")
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        return strings(values)
    values = values.cast(pa.string())
    stripped = pc.utf8_trim_whitespace(values)
    empty = pc.fill_null(pc.equal(stripped, ""), False)
    if pc.any(empty).as_py():
        raise error(f"{where}: an id is only whitespace: {values[_first(empty)].as_py()!r}")
    changed = pc.fill_null(pc.not_equal(stripped, values), False)
    if pc.any(changed).as_py():
        first, count = _first(changed), pc.sum(changed).as_py()
        notice(
            f"{where}: {counted(count, 'id')} had spaces around them, removed "
            f"({values[first].as_py()!r} is {stripped[first].as_py()!r})"
        )
    whole = pc.match_substring_regex(stripped, _WHOLE_NUMBER)
    if len(stripped) > stripped.null_count and pc.all(whole).as_py():
        return _whole_numbers(stripped, where, error, "text")
    return stripped


def _first(mask: pa.ChunkedArray) -> int:
    return int(np.flatnonzero(mask.to_numpy(zero_copy_only=False))[0])


def _whole_numbers(
    values: pa.ChunkedArray, where: str, error: type[InputError], written_as: str
) -> pa.ChunkedArray:
    """int64 ids of numbers (or their text) that are whole; said in one line where any
    was written otherwise than its integer (``27.0``, ``027``)."""
    number = values.cast(pa.float64()) if written_as == "numbers" else None
    if number is not None:
        bad = pc.invert(
            pc.and_(
                pc.is_finite(number),
                pc.and_(pc.equal(pc.floor(number), number), pc.less(pc.abs(number), 2.0**63)),
            )
        )
        bad = pc.fill_null(bad, False)
        if pc.any(bad).as_py():
            raise error(
                f"{where}: ids must be integers or text, not {values[_first(bad)].as_py()!r}"
            )
        integers = number.cast(pa.int64())
    else:
        try:
            integers = pc.cast(pc.replace_substring_regex(values, r"^\+|\.0*$", ""), pa.int64())
        except pa.ArrowInvalid:  # beyond int64: ids that are text after all
            return values
    if number is not None:  # every id was written with a decimal point
        changed = pc.is_valid(values)
    else:
        changed = pc.fill_null(pc.not_equal(integers.cast(pa.string()), values), False)
    if pc.any(changed).as_py():
        first, count = _first(changed), pc.sum(changed).as_py()
        notice(
            f"{where}: {counted(count, 'id')} written as {values[first].as_py()!r} "
            f"and the like are read as the integers they hold ({integers[first].as_py()})"
        )
    return integers


def codes(values: pa.ChunkedArray, known: pa.Array) -> np.ndarray:
    """int64 position of each value in ``known`` (``-1`` where absent)."""
    if values.type != known.type:
        if not (pa.types.is_string(known.type) and pa.types.is_integer(values.type)):
            return np.full(len(values), -1, dtype=np.int64)
        values = values.cast(pa.string())  # integer ids of a string-keyed table
    return to_numpy(pc.index_in(values, value_set=known), np.int64, missing=-1)


def factorize(
    values: pa.ChunkedArray,
    extra: pa.ChunkedArray | None = None,
    where: str = "ids",
    error: type[InputError] = InputError,
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct ids of ``values`` (and ``extra``) and each value's code among them.

    Ids follow :func:`ids` (``where`` names the column in its messages). Integer ids
    stay integers; where ``extra`` holds ids that are not integers, every id is its string.

    Returns
    -------
    codes : numpy.ndarray
        int32 codes (int64 beyond 2³¹ distinct ids), one per value.
    uniques : numpy.ndarray
        The distinct ids in sorted order: int64, or str for string ids.
    """
    values = ids(values, where, error)
    distinct = pc.unique(values)
    if extra is not None:
        extra = ids(extra, f"{where} (extra pins)", error)
        if extra.type != values.type:
            try:  # "5" joins integer ids as 5
                extra = extra.cast(values.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                values, extra = strings(values), strings(extra)
                distinct = pc.unique(values)
        distinct = pc.unique(pa.concat_arrays([distinct, *extra.chunks]))
    distinct = distinct.take(pc.sort_indices(distinct))
    dtype = np.int32 if len(distinct) < 2**31 else np.int64
    codes_ = to_numpy(pc.index_in(values, value_set=distinct), dtype)
    uniques = distinct.to_numpy(zero_copy_only=False)
    if not pa.types.is_integer(distinct.type):
        uniques = uniques.astype(str)
    return codes_, uniques
