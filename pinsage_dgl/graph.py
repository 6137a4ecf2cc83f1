"""Interactions table → DGL heterograph of pins and boards, with raw-id maps and features.

The graph has node types ``pin`` and ``board`` and both edge directions,
``("pin", "saved_to", "board")`` and ``("board", "contains", "pin")``. Edge ``i`` of one
direction is edge ``i`` of the other, so an edge split applies to both by id.
"""

from __future__ import annotations

import json
import os
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

from pinsage_dgl.csr import CHUNK, group_by, whole_groups
from pinsage_dgl.features import FeatureError, FeatureSpec, infer_spec
from pinsage_dgl.io import InputError, atomic_directory, counted, notice, read_meta
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
        ``timestamp`` (float64) and, where saves weigh differently (a weight column, or
        repeated pairs, counted), ``weight`` (float32). Pin features live in
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

    def node_ids(self) -> dict[str, dict[str, torch.Tensor]]:
        """The raw ids of the pins and boards as tensors alone (:func:`ids_to_tensors`):
        what a checkpoint records of the graph it was trained on."""
        return {"pins": ids_to_tensors(self.pin_ids), "boards": ids_to_tensors(self.board_ids)}

    def save(self, path: str | os.PathLike) -> None:
        """Write to directory ``path`` atomically (a temporary directory renamed when complete)."""
        with atomic_directory(path) as tmp:
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
        meta = read_meta(path, "format_version", FORMAT_VERSION, "PinBoardGraph")
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


def ids_to_tensors(raw_ids: np.ndarray) -> dict[str, torch.Tensor]:
    """Raw ids as tensors only, so a checkpoint holding them loads with ``weights_only``:
    integer ids as one int64 tensor; text as its UTF-8 bytes and each id's end offset."""
    if raw_ids.dtype.kind in "iu":
        return {"integers": torch.from_numpy(raw_ids.astype(np.int64))}
    text = pa.array(raw_ids.astype(str), type=pa.large_string())
    offsets = np.frombuffer(text.buffers()[1], np.int64)[: len(text) + 1]
    data = text.buffers()[2]
    return {
        "text_ends": torch.from_numpy(offsets[1:].copy()),
        "text_bytes": torch.from_numpy(np.frombuffer(data, np.uint8)[: offsets[-1]].copy())
        if data is not None
        else torch.zeros(0, dtype=torch.uint8),
    }


def ids_from_tensors(state: dict[str, torch.Tensor]) -> np.ndarray:
    """The raw ids :func:`ids_to_tensors` recorded (int64, or str)."""
    if "integers" in state:
        return state["integers"].numpy().astype(np.int64)
    ends = state["text_ends"].numpy().astype(np.int64)
    offsets = np.concatenate([[0], ends])
    data = state["text_bytes"].numpy().tobytes()
    text = pa.LargeStringArray.from_buffers(
        len(ends), pa.py_buffer(offsets.tobytes()), pa.py_buffer(data)
    )
    return text.to_numpy(zero_copy_only=False).astype(str)


def id_positions(wanted: np.ndarray, known: np.ndarray) -> np.ndarray:
    """int64 position in ``known`` of each of ``wanted`` (raw ids; -1 where absent)."""
    return codes(pa.chunked_array([pa.array(wanted)]), pa.array(known))


def _lookup(known: np.ndarray, raw_ids: Any, kind: str) -> torch.Tensor:
    """Node ids of ``raw_ids``, read under the id policy of :func:`~pinsage_dgl.tables.ids`
    (``" 27"``, ``"27"`` and ``27.0`` are the pin ``27``)."""
    raw = to_arrow(pd.Series(np.atleast_1d(np.asarray(raw_ids, dtype=object))))
    try:
        wanted = ids(raw, f"{kind} ids asked for")
    except InputError as err:
        raise KeyError(f"unknown {kind} id: {err}") from err
    index = codes(wanted, pa.array(known))
    if (index < 0).any():
        raise KeyError(f"unknown {kind} id {wanted[int(np.flatnonzero(index < 0)[0])].as_py()!r}")
    return torch.from_numpy(index)


def read_table(source: pd.DataFrame | str | os.PathLike, **read_kwargs: Any) -> pd.DataFrame:
    """A DataFrame as is, or a Parquet / CSV / TSV file read into one."""
    if isinstance(source, pd.DataFrame):
        return source
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"table not found: {path}")
    fmt = table_format(path, GraphInputError)
    try:
        if fmt == "parquet":
            return pd.read_parquet(path, **read_kwargs)
        return pd.read_csv(path, sep=fmt, **read_kwargs)
    except (pa.ArrowException, pd.errors.ParserError, UnicodeDecodeError, EOFError) as err:
        raise GraphInputError(f"{path}: cannot be read as a {fmt} table ({err})") from err
    except OSError as err:  # gzip and the like: damaged compression
        raise GraphInputError(f"{path}: cannot be read ({err})") from err


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
    require_pin_features: bool = False,
    name: str = "interactions",
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
        Repeated (pin, board) pairs (the same save written many times) become one edge
        with the summed weight (with no weight column: the number of rows) and the latest
        timestamp, so a repeated save weighs more in the random walks; this is said in
        one line (:func:`~pinsage_dgl.io.notice`). Edges keep the order of each pair's
        first row.
    pin_col, board_col : str
        Id columns (integers or strings), read under the one id policy of
        :func:`pinsage_dgl.tables.ids` in every table (interactions, features): ids that
        are whole numbers (``27``, ``27.0``, ``"027"``) are integers, text loses surrounding
        spaces, each change said in one line. Node ids number the distinct ids in sorted
        order.
    timestamp_col, weight_col : str, optional
        Numeric (or datetime) timestamps; non-negative finite weights (default 1), up to
        float32's largest. Random walks (importance neighbourhoods, hard negatives,
        Pixie) step along a save with probability proportional to its weight.
    pin_features : DataFrame or path, optional
        One row per pin, with a ``pin_col`` column. Pins without a row get default features
        (0 for numbers, unknown for categories and text), said in one line with their
        count; pins with a row but no save join the graph as pins without saves (embedded
        from their features and recommended, as cold-start pins), said in one line too.
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
    require_pin_features : bool
        Refuse (naming the first pin) where a pin has no row in ``pin_features``, instead
        of giving it default features.
    name : str
        The interactions in messages, where they are a DataFrame (a file is named by its
        path).

    Raises
    ------
    GraphInputError
        Naming the column and an example row, for a missing column, a null id, a
        non-numeric timestamp, a negative or non-finite weight, an empty table, an id
        that is a number with a fraction, or (with ``require_pin_features``) a pin
        without features.
    """
    with returned_memory():
        saves = read_saves(interactions, pin_col, board_col, timestamp_col, weight_col, name)
        name = saves.table.name
        extra = None
        if extra_pins is not None:
            extra = to_arrow(np.asarray(extra_pins))
            if extra.null_count:
                raise GraphInputError(f"{name}: extra_pins contains a null id")
        feature_pins = None
        if pin_features is not None:  # pins with features and no save become nodes too
            feature_pins = _feature_table_ids(pin_features, pin_col, "pin")
            extra = feature_pins.ids if extra is None else _concat(extra, feature_pins.ids)
        # each raw id column goes as soon as its codes exist
        pin, pin_ids = factorize(saves.pin, extra, f"{name}: column {pin_col!r}", GraphInputError)
        saves.pin = None
        board, board_ids = factorize(
            saves.board, None, f"{name}: column {board_col!r}", GraphInputError
        )
        saves.board = None
        timestamp, weight = saves.timestamp, saves.weight
        del saves
    pin, board, timestamp, weight = _merge_repeats(
        pin, board, timestamp, weight, len(pin_ids), name
    )
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
    }
    if weight is not None:  # saves that weigh alike keep no column of ones (4 B per save)
        edge_data["weight"] = torch.from_numpy(weight.astype(np.float32))
    for etype in (SAVED_TO, CONTAINS):
        g.edges[etype].data.update(edge_data)

    result = PinBoardGraph(g, pin_ids, board_ids)
    with returned_memory():
        if pin_features is not None:
            feats, spec, titles = _node_features(
                pin_features,
                pin_col,
                pin_ids,
                "pin",
                pin_feature_columns,
                pin_title_col,
                pin_spec,
                feature_pins,
                require_pin_features,
            )
            has_save = g.out_degrees(etype=SAVED_TO).numpy() > 0
            _say_pins_without_saves(feature_pins, pin_ids, has_save, name)
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
    name: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """One save per (pin, board) pair, in the order of each pair's first row: the latest
    timestamp and the summed weight (a count where there are no weights; None stays None
    where no pair repeats). Repeats are said in one line naming the table ``name``."""
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
    notice(
        f"{name}: {counted(len(order) - len(starts), 'row')} repeated the (pin, board) pair of "
        f"an earlier row: each pair is one save, weighted in the random walks by "
        + ("its number of rows" if weight is None else "its rows' summed weights")
    )
    by_first = np.argsort(first_rows, kind="stable")
    rows = first_rows[by_first]
    if timestamp is not None:
        timestamp = np.maximum.reduceat(timestamp[order], starts)[by_first]
    if weight is None:
        weight = np.diff(np.append(starts, len(order))).astype(np.float64)[by_first]
    else:  # summed in table order, as a running sum over the pair's rows
        weight = np.add.reduceat(weight[order], starts)[by_first]
    return pin[rows], board[rows], timestamp, weight


@dataclass
class _FeatureIds:
    """The id column of a feature table, read and normalised once (:func:`ids`)."""

    table: Columns
    ids: pa.ChunkedArray


def _feature_table_ids(
    source: pd.DataFrame | str | os.PathLike, id_col: str, kind: str
) -> _FeatureIds:
    name = f"{kind} feature table"
    present = column_names(source, GraphInputError)
    if id_col not in present:
        label = name if isinstance(source, pd.DataFrame) else str(source)
        raise GraphInputError(f"{label}: missing id column {id_col!r}; columns present: {present}")
    table = read_columns(source, [id_col], name, GraphInputError)
    raw = table.column(id_col)
    null = null_mask(raw)
    if null.any():
        raise GraphInputError(f"{table.name}: null id in column {id_col!r} at {table.first(null)}")
    return _FeatureIds(table, ids(raw, f"{table.name}: column {id_col!r}", GraphInputError))


def _concat(first: pa.ChunkedArray, second: pa.ChunkedArray) -> pa.ChunkedArray:
    """Two id columns as one (as strings where their types differ)."""
    first, second = ids(first), ids(second)
    if first.type != second.type:
        first, second = strings(first), strings(second)
    return pa.chunked_array([*first.chunks, *second.chunks], type=first.type)


def _say_pins_without_saves(
    feature_pins: _FeatureIds, pin_ids: np.ndarray, has_save: np.ndarray, name: str
) -> None:
    """One line where the feature table brought pins that no save names."""
    nodes = codes(feature_pins.ids, pa.array(pin_ids))
    unsaved = ~has_save[nodes]
    if unsaved.any():
        first = pin_ids[nodes[np.flatnonzero(unsaved)[0]]]
        notice(
            f"{feature_pins.table.name}: {counted(int(unsaved.sum()), 'pin')} with features "
            f"but no save in {name} (the first: {first!r}), kept as pins without saves: "
            "embedded from their features and recommended as cold-start pins"
        )


def _node_features(
    source: pd.DataFrame | str | os.PathLike,
    id_col: str,
    node_ids: np.ndarray,
    kind: str,
    columns: dict[str, str] | None,
    title_col: str | None,
    spec: FeatureSpec | None,
    given: _FeatureIds | None = None,
    required: bool = False,
) -> tuple[dict[str, torch.Tensor], FeatureSpec, np.ndarray | None]:
    """Encoded features of every node from a feature table (``given``: its id column,
    already read). Rows of nodes not in the graph are ignored, nodes without a row get
    the defaults (or, ``required``, are refused); each said in one line."""
    given = given if given is not None else _feature_table_ids(source, id_col, kind)
    present = column_names(source, GraphInputError)
    # only the columns used; a missing feature column is named by the spec
    used = [c.name for c in spec.columns] if spec is not None else list(columns or present)
    wanted = [c for c in dict.fromkeys([id_col, *used, title_col]) if c in present]
    # the ids now; a Parquet file's feature columns one at a time, as they are encoded
    table = read_columns(source, wanted, f"{kind} feature table", GraphInputError, now=[id_col])
    index = codes(given.ids, pa.array(node_ids))
    known = index >= 0
    if not known.all():  # (pins with features are nodes: only boards get here)
        first = int(np.flatnonzero(~known)[0])
        notice(
            f"{table.name}: {counted(int((~known).sum()), 'row')} for {kind}s with no save "
            f"(the first: {given.ids[first].as_py()!r}) ignored"
        )
    order = np.argsort(index, kind="stable")
    repeated = order[1:][(index[order][1:] == index[order][:-1]) & (index[order][1:] >= 0)]
    if len(repeated):
        raise GraphInputError(
            f"{table.name}: duplicated {kind} id at {table.row(int(repeated.min()))}"
        )
    covered = np.zeros(len(node_ids), dtype=bool)
    covered[index[known]] = True
    if not covered.all():
        missing = int((~covered).sum())
        first_missing = node_ids[int(np.flatnonzero(~covered)[0])]
        if required:
            raise GraphInputError(
                f"{table.name}: no row for {counted(missing, kind)} of the "
                f"{len(node_ids):,} (the first: {first_missing!r}), and every {kind} "
                "needs features here"
            )
        notice(
            f"{table.name}: no row for {counted(missing, kind)} of the {len(node_ids):,} (the "
            f"first: {first_missing!r}): default features (0 for numbers, unknown for "
            "categories, no text)"
        )
    if columns is None:
        columns = {
            c: ("numeric" if is_numeric(table.column(c)) else "categorical")
            for c in table.names
            if c not in (id_col, title_col)
        }
    try:
        # fitted on the rows of this graph's nodes: rows ignored above shape nothing
        fit_rows = None if known.all() else known
        spec = (
            spec
            if spec is not None
            else infer_spec(table, columns, source=table.name, fit_rows=fit_rows)
        )
        encoded = spec.encode(table, source=table.name)
    except FeatureError as err:
        raise GraphInputError(str(err)) from err
    if len(index) == len(node_ids) and np.array_equal(index, np.arange(len(index))):
        feats = encoded  # a row per node, in node order (e.g. a table sorted by id)
    else:
        feats = spec.defaults(len(node_ids))
        rows = torch.from_numpy(np.flatnonzero(known))
        nodes = torch.from_numpy(index[known])
        for key, value in encoded.items():
            feats[key][nodes] = value[rows]
    titles = None
    if title_col is not None:
        titles = node_ids.astype(str).astype(object)
        shown = pc.fill_null(strings(table.column(title_col)), "nan").to_numpy(zero_copy_only=False)
        titles[index[known]] = shown[known]
        titles = titles.astype(str)
    return feats, spec, titles


class SavedPairs:
    """Which (board, pin) pairs are training saves.

    One CSR of each board's pins, sorted by pin, in the graph's id type (4 bytes per save
    where ids are int32): :meth:`of_boards` reads a board's row, membership is a binary
    search within it. Built on first use, so a sampler that never asks costs nothing.

    Parameters
    ----------
    graph : PinBoardGraph
        The graph whose saves these are.
    rows : tuple of torch.Tensor, optional
        ``(indptr, pins)`` of every board's pins in any order within a board, where the
        caller holds them already (e.g. :class:`~pinsage_dgl.history.BoardHistories`'):
        :meth:`of_boards` reads them, and the sorted CSR is built only for membership.
    """

    def __init__(
        self, graph: PinBoardGraph, rows: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> None:
        self.graph = graph
        self.rows = rows
        self._csr: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def csr(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``indptr`` (``[B + 1]``, int64) and ``pins`` (``[E]``, the graph's id type):
        board ``b``'s pins are ``pins[indptr[b]:indptr[b + 1]]``, ascending."""
        if self._csr is None:
            pins, boards = self.graph.graph.edges(etype=SAVED_TO)  # views, no copy
            indptr, order = group_by(boards, self.graph.num_boards)
            sorted_pins = torch.empty_like(pins)
            # each run of whole boards sorted by (board, pin): temporaries per chunk only
            for start, end in whole_groups(indptr, CHUNK):
                saves = order[start:end].long()
                board = boards[saves].long()
                key = (board - board[0]) * self.graph.num_pins + pins[saves]
                sorted_pins[start:end] = torch.sort(key).values % self.graph.num_pins
            del order
            self._csr = (indptr, sorted_pins)
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
        order within a row, or in the order of the ``rows`` given)."""
        indptr, pins = self.csr if self.rows is None else self.rows
        starts, sizes = indptr[boards], indptr[boards + 1] - indptr[boards]
        rows = torch.repeat_interleave(torch.arange(len(boards)), sizes)
        offsets = torch.arange(len(rows)) - torch.repeat_interleave(
            torch.cumsum(sizes, 0) - sizes, sizes
        )
        return torch.stack([rows, pins[starts[rows] + offsets].long()])
