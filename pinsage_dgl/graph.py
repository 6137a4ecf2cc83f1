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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dgl
import numpy as np
import pandas as pd
import torch

from pinsage_dgl.features import FeatureError, FeatureSpec, infer_spec
from pinsage_dgl.io import InputError

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
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path, **read_kwargs)
    if suffix in (".tsv", ".tab"):
        return pd.read_csv(path, sep="\t", **read_kwargs)
    if suffix == ".csv":
        return pd.read_csv(path, **read_kwargs)
    raise GraphInputError(f"{path}: unknown table format {suffix!r}; use .parquet, .csv or .tsv")


def _example_row(table: pd.DataFrame, mask: np.ndarray) -> str:
    pos = int(np.flatnonzero(mask)[0])
    return f"row {table.index[pos]!r}: {table.iloc[pos].to_dict()}"


def _ids(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_integer_dtype(values):
        return values.to_numpy(dtype=np.int64)
    return values.astype(str).to_numpy(dtype=str)


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

    Parameters
    ----------
    interactions : DataFrame or path
        One row per (pin, board) interaction; Parquet, CSV or TSV when a path.
        Repeated (pin, board) pairs become one edge with the summed weight and the
        latest timestamp.
    pin_col, board_col : str
        Id columns (integers or strings).
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
    source = interactions if not isinstance(interactions, pd.DataFrame) else "interactions"
    table = read_table(interactions)
    frame = interaction_frame(table, source, pin_col, board_col, timestamp_col, weight_col)
    frame = (
        frame.groupby(["pin", "board"], sort=False, as_index=False)
        .agg(timestamp=("timestamp", "max"), weight=("weight", "sum"))
        .reset_index(drop=True)
    )
    overflow = frame["weight"].to_numpy() > MAX_WEIGHT
    if overflow.any():
        first = frame[overflow].iloc[0]
        raise GraphInputError(
            f"{source}: column {weight_col!r}: the saves of pin {first['pin']!r} to board "
            f"{first['board']!r} sum to {first['weight']:.3g}, above {MAX_WEIGHT:.3g}"
        )

    all_pins = frame["pin"]
    if extra_pins is not None:
        extra = pd.Series(np.asarray(extra_pins))
        if extra.isna().any():
            raise GraphInputError(f"{source}: extra_pins contains a null id")
        all_pins = pd.concat([all_pins, extra.astype(all_pins.dtype, errors="ignore")])
    pin_ids = _ids(pd.Series(pd.unique(all_pins)).sort_values(ignore_index=True))
    pin_codes = pd.Index(pin_ids).get_indexer(_ids(frame["pin"]))
    board_codes, board_ids = pd.factorize(frame["board"], sort=True)
    board_ids = _ids(pd.Series(board_ids))
    src = torch.from_numpy(pin_codes.astype(np.int64))
    dst = torch.from_numpy(board_codes.astype(np.int64))
    g = dgl.heterograph(
        {SAVED_TO: (src, dst), CONTAINS: (dst, src)},
        num_nodes_dict={PIN: len(pin_ids), BOARD: len(board_ids)},
    )
    for etype in (SAVED_TO, CONTAINS):
        g.edges[etype].data["timestamp"] = torch.from_numpy(frame["timestamp"].to_numpy(np.float64))
        g.edges[etype].data["weight"] = torch.from_numpy(frame["weight"].to_numpy(np.float32))

    result = PinBoardGraph(g, pin_ids, board_ids)
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


def interaction_frame(
    table: pd.DataFrame,
    source: Any,
    pin_col: str = "pin",
    board_col: str = "board",
    timestamp_col: str | None = None,
    weight_col: str | None = None,
) -> pd.DataFrame:
    """The checked ``pin``, ``board``, ``timestamp`` and ``weight`` columns of an
    interactions ``table`` (one row per row; repeats not yet merged).

    Raises
    ------
    GraphInputError
        Naming ``source`` (the file), the column and an example row, for a missing column,
        a null id, a non-numeric timestamp, a negative, non-finite or too large weight, or
        an empty table.
    """
    if len(table) == 0:
        raise GraphInputError(f"{source}: the interactions table is empty")
    for col in (pin_col, board_col, timestamp_col, weight_col):
        if col is not None and col not in table.columns:
            raise GraphInputError(
                f"{source}: missing column {col!r}; columns present: {list(table.columns)}"
            )
    for col in (pin_col, board_col):
        null = table[col].isna().to_numpy()
        if null.any():
            raise GraphInputError(
                f"{source}: null id in column {col!r} at {_example_row(table, null)}"
            )

    frame = pd.DataFrame({"pin": table[pin_col], "board": table[board_col]})
    if timestamp_col is not None:
        frame["timestamp"] = _timestamps(table, timestamp_col, source)
    else:
        frame["timestamp"] = 0.0
    if weight_col is not None:
        weight = pd.to_numeric(table[weight_col], errors="coerce").to_numpy(dtype=np.float64)
        # stored as float32 (DGL's walk probabilities): larger values would become inf
        bad = ~np.isfinite(weight) | (weight < 0) | (weight > MAX_WEIGHT)
        if bad.any():
            raise GraphInputError(
                f"{source}: column {weight_col!r} needs finite non-negative weights up to "
                f"{MAX_WEIGHT:.3g}; bad value at {_example_row(table, bad)}"
            )
        frame["weight"] = weight
    else:
        frame["weight"] = 1.0
    return frame


def _timestamps(table: pd.DataFrame, col: str, source: Any) -> np.ndarray:
    values = table[col]
    if pd.api.types.is_datetime64_any_dtype(values):
        if values.isna().any():
            raise GraphInputError(
                f"{source}: missing timestamp in column {col!r} at "
                f"{_example_row(table, values.isna().to_numpy())}"
            )
        return values.astype("int64").to_numpy(dtype=np.float64) / 1e9
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(numbers)
    if bad.any():
        raise GraphInputError(
            f"{source}: column {col!r} needs numeric timestamps; bad value at "
            f"{_example_row(table, bad)}"
        )
    return numbers


def _node_features(
    source: pd.DataFrame | str | os.PathLike,
    id_col: str,
    node_ids: np.ndarray,
    kind: str,
    columns: dict[str, str] | None,
    title_col: str | None,
    spec: FeatureSpec | None,
) -> tuple[dict[str, torch.Tensor], FeatureSpec, np.ndarray | None]:
    name = source if not isinstance(source, pd.DataFrame) else f"{kind} feature table"
    table = read_table(source)
    if id_col not in table.columns:
        raise GraphInputError(
            f"{name}: missing id column {id_col!r}; columns present: {list(table.columns)}"
        )
    null = table[id_col].isna().to_numpy()
    if null.any():
        raise GraphInputError(
            f"{name}: null id in column {id_col!r} at {_example_row(table, null)}"
        )
    raw = (
        _ids(table[id_col]) if node_ids.dtype.kind != "U" else table[id_col].astype(str).to_numpy()
    )
    index = pd.Index(node_ids).get_indexer(raw)
    unknown = index < 0
    if unknown.any():
        raise GraphInputError(
            f"{name}: features for a {kind} that is not in the interactions, "
            f"{id_col}={raw[np.flatnonzero(unknown)[0]]!r} at {_example_row(table, unknown)}"
        )
    dup = pd.Series(index).duplicated().to_numpy()
    if dup.any():
        raise GraphInputError(f"{name}: duplicated {kind} id at {_example_row(table, dup)}")
    if columns is None:
        columns = {
            c: ("numeric" if pd.api.types.is_numeric_dtype(table[c]) else "categorical")
            for c in table.columns
            if c not in (id_col, title_col)
        }
    try:
        spec = spec if spec is not None else infer_spec(table, columns, source=str(name))
        encoded = spec.encode(table, source=str(name))
    except FeatureError as err:
        raise GraphInputError(str(err)) from err
    feats = spec.defaults(len(node_ids))
    rows = torch.from_numpy(index.astype(np.int64))
    for key, value in encoded.items():
        feats[key][rows] = value
    titles = None
    if title_col is not None:
        titles = np.asarray([str(v) for v in node_ids], dtype=object)
        titles[index] = table[title_col].astype(str).to_numpy()
        titles = titles.astype(str)
    return feats, spec, titles


class SavedPairs:
    """Which (board, pin) pairs are training saves.

    Membership by binary search over one sorted int64 key per edge, and each board's pins
    (CSR); both built lazily, so a sampler that never asks costs nothing.
    """

    def __init__(self, graph: PinBoardGraph) -> None:
        self.graph = graph
        self._keys: torch.Tensor | None = None
        self._csr: tuple[torch.Tensor, torch.Tensor] | None = None

    def __call__(self, boards: torch.Tensor, pins: torch.Tensor) -> torch.Tensor:
        """Whether each board holds each pin (elementwise, broadcasting)."""
        num_pins = self.graph.num_pins
        if self._keys is None:
            edge_pins, edge_boards = self.graph.graph.edges(etype=SAVED_TO)
            self._keys = torch.sort(edge_boards * num_pins + edge_pins).values
        if len(self._keys) == 0:
            return torch.zeros(torch.broadcast_shapes(boards.shape, pins.shape), dtype=torch.bool)
        keys = boards * num_pins + pins
        found = torch.searchsorted(self._keys, keys).clamp(max=len(self._keys) - 1)
        return self._keys[found] == keys

    def of_boards(self, boards: torch.Tensor) -> torch.Tensor:
        """``[2, M]`` (row, pin): every pin that board ``boards[row]`` holds."""
        if self._csr is None:
            edge_pins, edge_boards = self.graph.graph.edges(etype=SAVED_TO)
            order = torch.argsort(edge_boards, stable=True)
            indptr = torch.zeros(self.graph.num_boards + 1, dtype=torch.int64)
            indptr[1:] = torch.cumsum(torch.bincount(edge_boards, minlength=len(indptr) - 1), 0)
            self._csr = (indptr, edge_pins[order])
        indptr, pins = self._csr
        starts, sizes = indptr[boards], indptr[boards + 1] - indptr[boards]
        rows = torch.repeat_interleave(torch.arange(len(boards)), sizes)
        offsets = torch.arange(len(rows)) - torch.repeat_interleave(
            torch.cumsum(sizes, 0) - sizes, sizes
        )
        return torch.stack([rows, pins[starts[rows] + offsets]])
