"""Interactions table → DGL heterograph of pins and boards, with raw-id maps and features.

The graph has node types ``pin`` and ``board`` and both edge directions,
``("pin", "saved_to", "board")`` and ``("board", "contains", "pin")``. Edge ``i`` of one
direction is edge ``i`` of the other, so an edge split applies to both by id.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dgl
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import torch

from pinsage_dgl.features import FeatureError, FeatureSpec, infer_spec
from pinsage_dgl.io import InputError
from pinsage_dgl.tables import (
    Columns,
    codes,
    column_names,
    factorize,
    ids,
    is_numeric,
    null_mask,
    numbers,
    read_columns,
    release_freed_memory,
    returned_memory,
    strings,
    table_format,
    to_arrow,
)

PIN, BOARD = "pin", "board"
SAVED_TO = (PIN, "saved_to", BOARD)
CONTAINS = (BOARD, "contains", PIN)
FORMAT_VERSION = 1
MAX_WEIGHT = float(np.finfo(np.float32).max)  # weights are stored as float32


class GraphInputError(InputError):
    """An interactions or feature table that cannot become a graph; names column and row."""


@dataclass
class PinBoardGraph:
    """A pin/board heterograph with the raw ids of its nodes and its feature encodings.

    Attributes
    ----------
    graph : dgl.DGLGraph
        Node types ``pin``/``board``; edges ``saved_to`` and ``contains`` with edge data
        ``timestamp`` (float64) and ``weight`` (float32). Pin features live in
        ``graph.nodes["pin"].data`` under their column names.
    pin_ids, board_ids : numpy.ndarray
        Raw id of each node, indexed by node id (int64 or str).
    pin_spec, board_spec : FeatureSpec
        How the feature columns were encoded.
    pin_titles : numpy.ndarray, optional
        A display string per pin (e.g. a movie title), for recommendations.
    """

    graph: dgl.DGLGraph
    pin_ids: np.ndarray
    board_ids: np.ndarray
    pin_spec: FeatureSpec = field(default_factory=FeatureSpec)
    board_spec: FeatureSpec = field(default_factory=FeatureSpec)
    pin_titles: np.ndarray | None = None

    @property
    def num_pins(self) -> int:
        return self.graph.num_nodes(PIN)

    @property
    def walk_weights(self) -> str | None:
        """The edge feature that weighs random-walk steps (``"weight"``: a step follows
        an edge with probability proportional to its weight), or None where every save
        weighs the same (uniform steps, DGL's faster path)."""
        weight = self.graph.edges[SAVED_TO].data.get("weight")
        if weight is None or len(weight) == 0 or bool((weight == weight[0]).all()):
            return None
        return "weight"

    @property
    def num_boards(self) -> int:
        return self.graph.num_nodes(BOARD)

    def saves(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Pin and board of every save (``saved_to`` edge), in edge id order, as int64.

        The graph stores ids as int32 where they fit (half the memory); code that computes
        with ids (keys such as ``board * num_pins + pin``, indexing) takes them from here.
        """
        pins, boards = self.graph.edges(etype=SAVED_TO)
        return pins.long(), boards.long()

    def graph_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """Node or edge ids in the graph's id type, as DGL's functions require."""
        return ids.to(self.graph.idtype)

    @property
    def pin_features(self) -> dict[str, torch.Tensor]:
        """Encoded pin features, one tensor per feature column."""
        return {c.name: self.graph.nodes[PIN].data[c.name] for c in self.pin_spec.columns}

    def pin_index(self, raw_ids: Any) -> torch.Tensor:
        """Node ids of raw pin ids; raises ``KeyError`` naming the first unknown id."""
        return _lookup(self.pin_ids, raw_ids, "pin")

    def board_index(self, raw_ids: Any) -> torch.Tensor:
        """Node ids of raw board ids; raises ``KeyError`` naming the first unknown id."""
        return _lookup(self.board_ids, raw_ids, "board")

    def with_graph(self, graph: dgl.DGLGraph) -> PinBoardGraph:
        """The same nodes, ids and features over another edge set (e.g. the training edges)."""
        return PinBoardGraph(
            graph, self.pin_ids, self.board_ids, self.pin_spec, self.board_spec, self.pin_titles
        )

    def save(self, path: str | os.PathLike) -> None:
        """Write to directory ``path`` atomically (a temporary directory renamed when complete)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            dgl.save_graphs(str(tmp / "graph.bin"), [self.graph])
            arrays = {"pin_ids": self.pin_ids, "board_ids": self.board_ids}
            if self.pin_titles is not None:
                arrays["pin_titles"] = self.pin_titles.astype(str)
            np.savez(tmp / "ids.npz", **arrays)
            meta = {
                "format_version": FORMAT_VERSION,
                "pin_spec": self.pin_spec.to_dict(),
                "board_spec": self.board_spec.to_dict(),
            }
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
            if path.exists():
                old = path.with_name(f".{path.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                path.rename(old)
                tmp.rename(path)
                shutil.rmtree(old)
            else:
                tmp.rename(path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    @staticmethod
    def num_pins_saved(path: str | os.PathLike) -> int:
        """Pins of the graph saved at ``path`` (:meth:`save`), from the header of its id
        array: without loading the graph or the ids."""
        ids = Path(path) / "ids.npz"
        if not ids.exists():
            raise FileNotFoundError(f"{path}: not a saved PinBoardGraph (no ids.npz)")
        with zipfile.ZipFile(ids) as archive, archive.open("pin_ids.npy") as f:
            version = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _, _ = read_header(f)
        return int(shape[0])

    @classmethod
    def load(cls, path: str | os.PathLike) -> PinBoardGraph:
        """Read a directory written by :meth:`save`."""
        path = Path(path)
        meta_file = path / "meta.json"
        if not meta_file.exists():
            raise FileNotFoundError(f"{path}: not a saved PinBoardGraph (no meta.json)")
        meta = json.loads(meta_file.read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{meta_file}: format_version {meta.get('format_version')!r}, "
                f"this version reads {FORMAT_VERSION}"
            )
        try:
            graphs, _ = dgl.load_graphs(str(path / "graph.bin"))
            with np.load(path / "ids.npz", allow_pickle=False) as ids:
                titles = ids["pin_titles"] if "pin_titles" in ids.files else None
                pin_ids, board_ids = ids["pin_ids"], ids["board_ids"]
        except Exception as err:  # DGL, zip and npy errors all mean a damaged save
            raise GraphInputError(f"{path}: damaged or truncated saved graph ({err})") from err
        graph = graphs[0]
        if (graph.num_nodes(PIN), graph.num_nodes(BOARD)) != (len(pin_ids), len(board_ids)):
            raise GraphInputError(
                f"{path}: graph.bin has {graph.num_nodes(PIN)} pins and "
                f"{graph.num_nodes(BOARD)} boards, ids.npz {len(pin_ids)} and {len(board_ids)}"
            )
        return cls(
            graph,
            pin_ids,
            board_ids,
            FeatureSpec.from_dict(meta["pin_spec"]),
            FeatureSpec.from_dict(meta["board_spec"]),
            titles,
        )


def _lookup(known: np.ndarray, raw_ids: Any, kind: str) -> torch.Tensor:
    raw = np.atleast_1d(np.asarray(raw_ids))
    if known.dtype.kind in "iu" and raw.dtype.kind not in "iu":
        try:
            raw = raw.astype(np.int64)
        except ValueError as err:
            raise KeyError(f"unknown {kind} id(s): {raw_ids!r} (ids are integers)") from err
    elif known.dtype.kind == "U":
        raw = raw.astype(str)
    index = pd.Index(known).get_indexer(raw)
    if (index < 0).any():
        raise KeyError(f"unknown {kind} id {raw[np.flatnonzero(index < 0)[0]]!r}")
    return torch.from_numpy(index.astype(np.int64))


def read_table(source: pd.DataFrame | str | os.PathLike, **read_kwargs: Any) -> pd.DataFrame:
    """A DataFrame as is, or a Parquet / CSV / TSV file read into one."""
    if isinstance(source, pd.DataFrame):
        return source
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"table not found: {path}")
    fmt = table_format(path, GraphInputError)
    if fmt == "parquet":
        return pd.read_parquet(path, **read_kwargs)
    return pd.read_csv(path, sep=fmt, **read_kwargs)


@dataclass
class Saves:
    """The checked columns of an interactions table, one entry per row (repeats not yet
    merged): Arrow ``pin`` and ``board`` ids, float64 ``timestamp`` and ``weight`` (None
    where the table has no such column), and the table itself for messages."""

    pin: Any
    board: Any
    timestamp: np.ndarray | None
    weight: np.ndarray | None
    table: Columns


def read_saves(
    source: pd.DataFrame | str | os.PathLike,
    pin_col: str = "pin",
    board_col: str = "board",
    timestamp_col: str | None = None,
    weight_col: str | None = None,
    name: str = "interactions",
) -> Saves:
    """Read and check the id, timestamp and weight columns of an interactions table.

    Only these columns are read from a file (by Arrow; no Python object per row).

    Raises
    ------
    GraphInputError
        Naming the table (its file, or ``name`` for a DataFrame), the column and the first
        row at fault, for a missing column, a null id, a non-numeric timestamp, a negative,
        non-finite or too large weight, or an empty table.
    """
    wanted = [c for c in (pin_col, board_col, timestamp_col, weight_col) if c is not None]
    table = read_columns(source, list(dict.fromkeys(wanted)), name, GraphInputError)
    if len(table) == 0:
        raise GraphInputError(f"{table.name}: the interactions table is empty")
    for col in (pin_col, board_col):
        null = null_mask(table.column(col))
        if null.any():
            raise GraphInputError(f"{table.name}: null id in column {col!r} at {table.first(null)}")
    timestamp = weight = None
    if timestamp_col is not None:
        values = table.column(timestamp_col)
        timestamp = numbers(values)
        if timestamp_col not in (pin_col, board_col):  # the raw column is numbers now
            table.data = table.data.drop_columns([timestamp_col])
        bad = ~np.isfinite(timestamp)
        if bad.any() and pa.types.is_timestamp(values.type):
            raise GraphInputError(
                f"{table.name}: missing timestamp in column {timestamp_col!r} at {table.first(bad)}"
            )
        if bad.any():
            raise GraphInputError(
                f"{table.name}: column {timestamp_col!r} needs numeric timestamps; bad value "
                f"at {table.first(bad)}"
            )
    if weight_col is not None:
        weight = numbers(table.column(weight_col))
        # stored as float32 (DGL's walk probabilities): larger values would become inf
        bad = ~np.isfinite(weight) | (weight < 0) | (weight > MAX_WEIGHT)
        if bad.any():
            raise GraphInputError(
                f"{table.name}: column {weight_col!r} needs finite non-negative weights up "
                f"to {MAX_WEIGHT:.3g}; bad value at {table.first(bad)}"
            )
    pins, boards = table.column(pin_col), table.column(board_col)
    # the raw timestamp and weight columns are numbers now: let them go (rows in messages
    # are read again from the DataFrame or the file)
    table.data = table.data.select([])
    return Saves(pins, boards, timestamp, weight, table)


def build_graph(
    interactions: pd.DataFrame | str | os.PathLike,
    pin_col: str = "pin",
    board_col: str = "board",
    timestamp_col: str | None = None,
    weight_col: str | None = None,
    pin_features: pd.DataFrame | str | os.PathLike | None = None,
    pin_feature_columns: dict[str, str] | None = None,
    pin_title_col: str | None = None,
    board_features: pd.DataFrame | str | os.PathLike | None = None,
    board_feature_columns: dict[str, str] | None = None,
    pin_spec: FeatureSpec | None = None,
    extra_pins: Any = None,
) -> PinBoardGraph:
    """Build a :class:`PinBoardGraph` from an interactions table.

    Columnar from the reader to the graph: a file's columns are read by Arrow, ids become
    int32 codes in Arrow's hash kernels, repeated pairs are found by one sort of a key per
    save, and the graph stores node and edge ids as int32 where they fit (DGL's
    ``idtype``). Peak memory is a few tens of bytes per save (see ``benchmarks/scale.py``).

    Parameters
    ----------
    interactions : DataFrame or path
        One row per (pin, board) interaction; Parquet, CSV or TSV when a path.
        Repeated (pin, board) pairs become one edge with the summed weight and the
        latest timestamp; edges keep the order of each pair's first row.
    pin_col, board_col : str
        Id columns (integers or strings). Node ids number the distinct ids in sorted order.
    timestamp_col, weight_col : str, optional
        Numeric (or datetime) timestamps; non-negative finite weights (default 1), up to
        float32's largest. Random walks (importance neighbourhoods, hard negatives,
        Pixie) step along a save with probability proportional to its weight.
    pin_features : DataFrame or path, optional
        One row per pin, with a ``pin_col`` column; pins without a row get default features.
    pin_feature_columns : dict, optional
        Feature column → kind (``numeric``, ``categorical``, ``text``, ``tags``); by default
        inferred from dtypes (see :func:`pinsage_dgl.features.infer_spec`).
    pin_title_col : str, optional
        Column of ``pin_features`` used as a display title.
    board_features, board_feature_columns
        The same for boards (id column ``board_col``).
    pin_spec : FeatureSpec, optional
        Encode pin features with an existing spec instead of fitting one.
    extra_pins : array-like, optional
        Raw ids of pins to include even if no interaction names them (isolated nodes,
        e.g. candidates of an evaluation that never occur in training).

    Raises
    ------
    GraphInputError
        Naming the column and an example row, for a missing column, a null id, a
        non-numeric timestamp, a negative or non-finite weight, an empty table, or
        features for pins that are not in the interactions.
    """
    with returned_memory():
        saves = read_saves(interactions, pin_col, board_col, timestamp_col, weight_col)
        name = saves.table.name
        extra = None
        if extra_pins is not None:
            extra = to_arrow(np.asarray(extra_pins))
            if extra.null_count:
                raise GraphInputError(f"{name}: extra_pins contains a null id")
        # each raw id column goes as soon as its codes exist
        pin, pin_ids = factorize(saves.pin, extra)
        saves.pin = None
        board, board_ids = factorize(saves.board)
        saves.board = None
        timestamp, weight = saves.timestamp, saves.weight
        del saves
    pin, board, timestamp, weight = _merge_repeats(pin, board, timestamp, weight, len(pin_ids))
    release_freed_memory()
    if weight is not None and (weight > MAX_WEIGHT).any():
        first = int(np.flatnonzero(weight > MAX_WEIGHT)[0])
        raise GraphInputError(
            f"{name}: column {weight_col!r}: the saves of pin {pin_ids[pin[first]]!r} to "
            f"board {board_ids[board[first]]!r} sum to {weight[first]:.3g}, above "
            f"{MAX_WEIGHT:.3g}"
        )
    num_edges = len(pin)
    idtype = torch.int32 if max(len(pin_ids), len(board_ids), num_edges) < 2**31 else torch.int64
    id_dtype = np.int32 if idtype == torch.int32 else np.int64
    src = torch.from_numpy(np.require(pin.astype(id_dtype, copy=False), requirements="W"))
    dst = torch.from_numpy(np.require(board.astype(id_dtype, copy=False), requirements="W"))
    del pin, board
    g = dgl.heterograph(
        {SAVED_TO: (src, dst), CONTAINS: (dst, src)},
        num_nodes_dict={PIN: len(pin_ids), BOARD: len(board_ids)},
        idtype=idtype,
    )
    del src, dst
    # both directions share one tensor per feature: edge i is edge i of the other direction
    edge_data = {
        "timestamp": torch.from_numpy(np.require(timestamp, requirements="W"))
        if timestamp is not None
        else torch.zeros(num_edges, dtype=torch.float64),
        "weight": torch.from_numpy(weight.astype(np.float32))
        if weight is not None
        else torch.ones(num_edges),
    }
    for etype in (SAVED_TO, CONTAINS):
        g.edges[etype].data.update(edge_data)

    result = PinBoardGraph(g, pin_ids, board_ids)
    with returned_memory():
        if pin_features is not None:
            feats, spec, titles = _node_features(
                pin_features, pin_col, pin_ids, "pin", pin_feature_columns, pin_title_col, pin_spec
            )
            g.nodes[PIN].data.update(feats)
            result.pin_spec, result.pin_titles = spec, titles
        if board_features is not None:
            feats, spec, _ = _node_features(
                board_features, board_col, board_ids, "board", board_feature_columns, None, None
            )
            g.nodes[BOARD].data.update(feats)
            result.board_spec = spec
    return result


def _merge_repeats(
    pin: np.ndarray,
    board: np.ndarray,
    timestamp: np.ndarray | None,
    weight: np.ndarray | None,
    num_pins: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """One save per (pin, board) pair, in the order of each pair's first row: the latest
    timestamp and the summed weight (a count where there are no weights; None stays None
    where no pair repeats)."""
    key = board.astype(np.int64) * num_pins + pin
    key.sort()  # in place: the check costs one key per save
    repeats = bool((key[1:] == key[:-1]).any())
    del key
    if not repeats:
        return pin, board, timestamp, weight
    key = board.astype(np.int64) * num_pins + pin
    order = np.argsort(key, kind="stable")  # a pair's rows stay in table order
    key = key[order]
    starts = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
    del key
    first_rows = order[starts]
    by_first = np.argsort(first_rows, kind="stable")
    rows = first_rows[by_first]
    if timestamp is not None:
        timestamp = np.maximum.reduceat(timestamp[order], starts)[by_first]
    if weight is None:
        weight = np.diff(np.append(starts, len(order))).astype(np.float64)[by_first]
    else:  # summed in table order, as a running sum over the pair's rows
        weight = np.add.reduceat(weight[order], starts)[by_first]
    return pin[rows], board[rows], timestamp, weight


def _node_features(
    source: pd.DataFrame | str | os.PathLike,
    id_col: str,
    node_ids: np.ndarray,
    kind: str,
    columns: dict[str, str] | None,
    title_col: str | None,
    spec: FeatureSpec | None,
) -> tuple[dict[str, torch.Tensor], FeatureSpec, np.ndarray | None]:
    name = f"{kind} feature table"
    present = column_names(source, GraphInputError)
    if id_col not in present:
        label = name if isinstance(source, pd.DataFrame) else str(source)
        raise GraphInputError(f"{label}: missing id column {id_col!r}; columns present: {present}")
    # only the columns used; a missing feature column is named by the spec
    used = [c.name for c in spec.columns] if spec is not None else list(columns or present)
    wanted = [c for c in dict.fromkeys([id_col, *used, title_col]) if c in present]
    # the ids now; a Parquet file's feature columns one at a time, as they are encoded
    table = read_columns(source, wanted, name, GraphInputError, now=[id_col])
    raw = table.column(id_col)
    null = null_mask(raw)
    if null.any():
        raise GraphInputError(f"{table.name}: null id in column {id_col!r} at {table.first(null)}")
    index = codes(ids(raw), pa.array(node_ids))
    unknown = index < 0
    if unknown.any():
        first = int(np.flatnonzero(unknown)[0])
        raise GraphInputError(
            f"{table.name}: features for a {kind} that is not in the interactions, "
            f"{id_col}={raw[first].as_py()!r} at {table.row(first)}"
        )
    order = np.argsort(index, kind="stable")
    repeated = order[1:][index[order][1:] == index[order][:-1]]  # every row after the first
    if len(repeated):
        raise GraphInputError(
            f"{table.name}: duplicated {kind} id at {table.row(int(repeated.min()))}"
        )
    if columns is None:
        columns = {
            c: ("numeric" if is_numeric(table.column(c)) else "categorical")
            for c in table.names
            if c not in (id_col, title_col)
        }
    try:
        spec = spec if spec is not None else infer_spec(table, columns, source=table.name)
        encoded = spec.encode(table, source=table.name)
    except FeatureError as err:
        raise GraphInputError(str(err)) from err
    if len(index) == len(node_ids) and np.array_equal(index, np.arange(len(index))):
        feats = encoded  # a row per node, in node order (e.g. a table sorted by id)
    else:
        feats = spec.defaults(len(node_ids))
        rows = torch.from_numpy(index)
        for key, value in encoded.items():
            feats[key][rows] = value
    titles = None
    if title_col is not None:
        titles = node_ids.astype(str).astype(object)
        titles[index] = pc.fill_null(strings(table.column(title_col)), "nan").to_numpy()
        titles = titles.astype(str)
    return feats, spec, titles


class SavedPairs:
    """Which (board, pin) pairs are training saves.

    One CSR of each board's pins, sorted by pin, in the graph's id type (4 bytes per save
    where ids are int32): :meth:`of_boards` reads a board's row, membership is a binary
    search within it. Built on first use, so a sampler that never asks costs nothing.
    """

    def __init__(self, graph: PinBoardGraph) -> None:
        self.graph = graph
        self._csr: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def csr(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``indptr`` (``[B + 1]``, int64) and ``pins`` (``[E]``, the graph's id type):
        board ``b``'s pins are ``pins[indptr[b]:indptr[b + 1]]``, ascending."""
        if self._csr is None:
            pins, boards = self.graph.graph.edges(etype=SAVED_TO)  # views, no copy
            num_pins = self.graph.num_pins
            # by board, then pin: one sort of a key per save
            keys = torch.sort(boards.long() * num_pins + pins).values
            indptr = torch.zeros(self.graph.num_boards + 1, dtype=torch.int64)
            indptr[1:] = torch.cumsum(torch.bincount(boards, minlength=len(indptr) - 1), 0)
            self._csr = (indptr, (keys % num_pins).to(pins.dtype))
        return self._csr

    def __call__(self, boards: torch.Tensor, pins: torch.Tensor) -> torch.Tensor:
        """Whether each board holds each pin (elementwise, broadcasting)."""
        boards, pins = torch.broadcast_tensors(boards, pins)
        shape = boards.shape
        boards, pins = boards.reshape(-1).long(), pins.reshape(-1).long()
        indptr, board_pins = self.csr
        if len(board_pins) == 0:
            return torch.zeros(shape, dtype=torch.bool)
        # binary search of each pin in its board's sorted row: lo ends at the first >= pin
        lo, hi = indptr[boards], indptr[boards + 1]
        end = hi.clone()
        last = len(board_pins) - 1
        while bool((searching := lo < hi).any()):
            mid = (lo + hi) // 2
            below = searching & (board_pins[mid.clamp(max=last)] < pins)
            lo = torch.where(below, mid + 1, lo)
            hi = torch.where(searching & ~below, mid, hi)
        return ((lo < end) & (board_pins[lo.clamp(max=last)] == pins)).view(shape)

    def of_boards(self, boards: torch.Tensor) -> torch.Tensor:
        """``[2, M]`` (row, pin), int64: every pin that board ``boards[row]`` holds (in pin
        order within a row)."""
        indptr, pins = self.csr
        starts, sizes = indptr[boards], indptr[boards + 1] - indptr[boards]
        rows = torch.repeat_interleave(torch.arange(len(boards)), sizes)
        offsets = torch.arange(len(rows)) - torch.repeat_interleave(
            torch.cumsum(sizes, 0) - sizes, sizes
        )
        return torch.stack([rows, pins[starts[rows] + offsets].long()])
