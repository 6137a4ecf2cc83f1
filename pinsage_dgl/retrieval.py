"""Nearest-neighbour retrieval over pin embeddings: exact (torch) or faiss (flat, IVF, HNSW).

Embeddings are L2-normalised, so the inner product is the cosine and every index scores by
inner product. :class:`ExactIndex` (a matrix product and top-k, in query chunks) is the
ground truth and the right choice for small catalogues; :class:`FaissIndex` serves large
ones approximately (``ivf``: inverted lists probed ``nprobe`` at a time; ``hnsw``: a
navigable small-world graph searched with beam ``ef_search``) or exactly (``flat``).

Indexes are saved to one ``.npz`` (the faiss index serialised to bytes, plus a JSON header
with the format version and settings), written atomically and read without pickle.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np
import torch

from pinsage_dgl.formats import INDEX_KINDS
from pinsage_dgl.io import InputError, atomic_path

FORMAT = "pinsage-dgl-index"
FORMAT_VERSION = 2  # 2: the index keeps a probe of the vectors it was built from
PROBE_ROWS = 32


class IndexFileError(InputError):
    """A saved index that cannot be read: wrong format, version, or a damaged file."""


class Index:
    """Top-k search by inner product over a fixed set of item vectors.

    Subclasses implement :meth:`_search`; :meth:`search` adds exclusion (e.g. a board's
    own pins) by fetching more candidates and dropping the excluded ones. An index keeps a
    probe of the vectors it was built from (:attr:`probe`: up to 32 evenly spaced rows,
    saved with it), so :meth:`check_items` can refuse to serve another model's vectors.
    """

    kind: str

    def __init__(self, items: torch.Tensor) -> None:
        if items.dim() != 2 or len(items) == 0:
            raise ValueError(
                f"index items must be a non-empty [N, d] matrix, got {tuple(items.shape)}"
            )
        if not torch.isfinite(items).all():
            raise ValueError("index items contain NaN or infinite values")
        self.num_items, self.dim = items.shape
        self.probe = items[probe_rows(self.num_items)].detach().float().cpu().clone()

    def check_items(self, items: torch.Tensor, atol: float = 1e-4) -> None:
        """Raise ``ValueError`` unless ``items`` are the vectors this index was built from
        (same shape; the probed rows equal within ``atol``: recomputing embeddings on
        another thread count moves them by ~1e-6, another model's by far more)."""
        if (self.num_items, self.dim) != tuple(items.shape):
            raise ValueError(
                f"indexes {self.num_items} x {self.dim} vectors, but this model serves "
                f"{items.shape[0]} x {items.shape[1]}: rebuild it"
            )
        rows = probe_rows(self.num_items)
        gap = (items[rows].detach().float().cpu() - self.probe).abs().amax(dim=1)
        if bool((gap > atol).any()):
            row = int(rows[int(gap.argmax())])
            raise ValueError(
                f"was built from other vectors than this model's (row {row} differs by "
                f"{float(gap.max()):.3g}): rebuild it from this model's embeddings"
            )

    def _search(self, queries: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def search(
        self, queries: torch.Tensor, k: int = 10, exclude: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``k`` best items of each query, best first.

        Parameters
        ----------
        queries : torch.Tensor
            ``[B, d]``.
        k : int
            Items per query (at most the number indexed).
        exclude : torch.Tensor, optional
            ``[2, M]`` (query row, item) pairs never to return.

        Returns
        -------
        scores, ids : torch.Tensor
            ``[B, k]`` each; where fewer than ``k`` items qualify, ids are ``-1`` and
            scores ``-inf``.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        queries = torch.as_tensor(queries, dtype=torch.float32)
        if queries.dim() != 2 or queries.shape[1] != self.dim:
            raise ValueError(
                f"queries must be [B, {self.dim}] to match the index, got {tuple(queries.shape)}"
            )
        if exclude is None or exclude.numel() == 0:
            return self._search(queries, min(k, self.num_items))
        per_row = torch.bincount(exclude[0], minlength=len(queries))
        fetch = min(k + int(per_row.max()), self.num_items)
        scores, ids = self._search(queries, fetch)
        # (row, item) → key; an id found among its row's excluded keys is dropped
        keys = torch.sort(exclude[0] * self.num_items + exclude[1]).values
        found = torch.arange(len(queries))[:, None] * self.num_items + ids
        position = torch.searchsorted(keys, found).clamp(max=len(keys) - 1)
        banned = (keys[position] == found) | (ids < 0)
        scores = scores.masked_fill(banned, float("-inf"))
        order = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :k]
        scores, ids = scores.gather(1, order), ids.gather(1, order)
        return scores, ids.masked_fill(torch.isinf(scores), -1)


class ExactIndex(Index):
    """Exact top-k by matrix products over blocks of queries and items (the ground truth).

    Each block of ``batch_size`` queries is scored against ``item_block`` items at a time
    and the running top-k merged with each block's, so the items are read once per query
    block (not once per few queries) and memory stays at one ``batch_size × item_block``
    score matrix however many items there are.

    Parameters
    ----------
    items : torch.Tensor
        ``[N, d]`` item vectors (kept, not copied).
    batch_size : int
        Queries scored at once.
    item_block : int, optional
        Items scored at once (default: as many as keep the scores under 512 MiB).
    """

    kind = "exact"

    def __init__(
        self, items: torch.Tensor, batch_size: int = 1024, item_block: int | None = None
    ) -> None:
        super().__init__(items)
        self.items = items.float()
        if batch_size < 1:
            raise ValueError(f"ExactIndex: batch_size must be >= 1, got {batch_size}")
        if item_block is None:
            item_block = max(1, 2**27 // batch_size)
        if item_block < 1:
            raise ValueError(f"ExactIndex: item_block must be >= 1, got {item_block}")
        self.batch_size, self.item_block = batch_size, item_block

    def _search(self, queries: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        values, indices = [], []
        for s in range(0, len(queries), self.batch_size):
            batch = queries[s : s + self.batch_size]
            best = torch.empty(len(batch), 0), torch.empty(len(batch), 0, dtype=torch.int64)
            for first in range(0, self.num_items, self.item_block):
                block = self.items[first : first + self.item_block]
                top = torch.topk(batch @ block.T, min(k, len(block)), dim=1)
                scores = torch.cat([best[0], top.values], dim=1)
                ids = torch.cat([best[1], top.indices + first], dim=1)
                order = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :k]
                best = scores.gather(1, order), ids.gather(1, order)
            values.append(best[0])
            indices.append(best[1])
        return torch.cat(values), torch.cat(indices)


class FaissIndex(Index):
    """A faiss inner-product index: ``flat`` (exact), ``ivf`` or ``hnsw``.

    Parameters
    ----------
    items : torch.Tensor
        ``[N, d]`` item vectors, added in order (item id = row).
    kind : str
        ``flat``, ``ivf`` or ``hnsw``.
    nlist : int, optional
        IVF lists (default ``4 √N``, at most ``N / 39`` so k-means has data).
    nprobe : int
        IVF lists searched per query.
    train_per_list : int
        IVF: at most this many vectors per list train the k-means of the lists (a sample
        of ``nlist × train_per_list``; faiss's default 256). Training costs ``nlist²``
        times this, so on tens of millions of items fewer (e.g. 64) trade a little recall
        for a much shorter build.
    hnsw_m : int
        HNSW links per node.
    ef_construction, ef_search : int
        HNSW beam widths when building and searching.
    """

    def __init__(
        self,
        items: torch.Tensor,
        kind: str = "hnsw",
        nlist: int | None = None,
        nprobe: int = 16,
        hnsw_m: int = 32,
        ef_construction: int = 200,
        ef_search: int = 128,
        train_per_list: int = 256,
        _index: Any = None,
    ) -> None:
        import faiss

        if kind not in INDEX_KINDS or kind == "exact":
            raise ValueError(f"FaissIndex kind must be flat, ivf or hnsw, got {kind!r}")
        for name, value in (
            ("nprobe", nprobe),
            ("hnsw_m", hnsw_m),
            ("ef_construction", ef_construction),
            ("ef_search", ef_search),
            ("train_per_list", train_per_list),
        ):
            if value < 1:
                raise ValueError(f"FaissIndex: {name} must be >= 1, got {value}")
        if _index is not None:  # loaded from a file, with its probe
            self.num_items, self.dim = _index.ntotal, _index.d
            self.probe = items
        else:
            super().__init__(items)
        self.kind = kind
        n = self.num_items
        if nlist is None:
            nlist = max(1, min(int(4 * math.sqrt(n)), n // 39))
        if nlist < 1:
            raise ValueError(f"FaissIndex: nlist must be >= 1, got {nlist}")
        self.settings = {
            "nlist": nlist,
            "nprobe": nprobe,
            "hnsw_m": hnsw_m,
            "ef_construction": ef_construction,
            "ef_search": ef_search,
            "train_per_list": train_per_list,
        }
        if _index is None:
            vectors = np.ascontiguousarray(items.detach().cpu().numpy(), dtype=np.float32)
            if kind == "flat":
                _index = faiss.IndexFlatIP(self.dim)
            elif kind == "ivf":
                quantizer = faiss.IndexFlatIP(self.dim)
                _index = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
                _index.cp.max_points_per_centroid = train_per_list
                _index.train(vectors)
            else:
                _index = faiss.IndexHNSWFlat(self.dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
                _index.hnsw.efConstruction = ef_construction
            _index.add(vectors)
        self.index = _index
        self.set_search(nprobe=nprobe, ef_search=ef_search)

    def set_search(self, nprobe: int | None = None, ef_search: int | None = None) -> None:
        """Change the search effort (recall against speed) without rebuilding."""
        import faiss

        if nprobe is not None and self.kind == "ivf":
            self.settings["nprobe"] = nprobe
            faiss.extract_index_ivf(self.index).nprobe = nprobe
        if ef_search is not None and self.kind == "hnsw":
            self.settings["ef_search"] = ef_search
            self.index.hnsw.efSearch = ef_search

    def _search(self, queries: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        scores, ids = self.index.search(np.ascontiguousarray(queries.numpy(), np.float32), k)
        scores = torch.from_numpy(scores)
        ids = torch.from_numpy(ids)
        return scores.masked_fill(ids < 0, float("-inf")), ids

    def save(self, path: str | os.PathLike) -> None:
        """Write the index and its settings to one ``.npz``, atomically."""
        import faiss

        header = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "kind": self.kind,
            "num_items": self.num_items,
            "dim": self.dim,
            **self.settings,
        }
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(
                f,
                header=np.array(json.dumps(header)),
                index=faiss.serialize_index(self.index),
                probe=self.probe.numpy(),
            )


def build_index(items: torch.Tensor, kind: str = "hnsw", **settings: Any) -> Index:
    """An index of ``items`` of the given kind (see :data:`INDEX_KINDS`)."""
    if kind not in INDEX_KINDS:
        raise ValueError(f"index kind must be one of {INDEX_KINDS}, got {kind!r}")
    if kind == "exact":
        return ExactIndex(items, **settings)
    return FaissIndex(items, kind, **settings)


def load_index(path: str | os.PathLike) -> FaissIndex:
    """Read an index written by :meth:`FaissIndex.save` (no pickle is executed).

    Raises
    ------
    IndexFileError
        Naming the file, for a file that is not such an index, a newer format version, or
        a truncated or damaged file.
    """
    import faiss

    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            blob = data["index"]
            probe = torch.from_numpy(data["probe"]) if "probe" in data else None
    except FileNotFoundError:
        raise
    except Exception as err:  # zip, npy and JSON errors all mean the same to the user
        raise IndexFileError(f"{path}: not a readable pinsage-dgl index ({err})") from err
    if header.get("format") != FORMAT:
        raise IndexFileError(f"{path}: not a pinsage-dgl index (format {header.get('format')!r})")
    if header.get("version") != FORMAT_VERSION:
        raise IndexFileError(
            f"{path}: index format version {header.get('version')}, this version reads "
            f"{FORMAT_VERSION}"
        )
    try:
        index = faiss.deserialize_index(blob)
    except RuntimeError as err:
        raise IndexFileError(f"{path}: damaged faiss index ({err})") from err
    if index.ntotal != header["num_items"] or index.d != header["dim"]:
        raise IndexFileError(
            f"{path}: header says {header['num_items']} x {header['dim']}, index holds "
            f"{index.ntotal} x {index.d}"
        )
    rows = len(probe_rows(index.ntotal))
    if probe is None or tuple(probe.shape) != (rows, index.d):
        raise IndexFileError(f"{path}: damaged index (its probe of the indexed vectors)")
    settings = {k: header[k] for k in ("nlist", "nprobe", "hnsw_m", "ef_construction", "ef_search")}
    settings["train_per_list"] = header.get("train_per_list", 256)  # (older files lack it)
    return FaissIndex(probe, header["kind"], **settings, _index=index)


def probe_rows(num_items: int) -> torch.Tensor:
    """The rows an index keeps to recognise its vectors: up to 32, evenly spaced."""
    return torch.linspace(0, max(num_items - 1, 0), min(PROBE_ROWS, num_items)).long()


def multi_query_search(
    index: Index,
    queries: torch.Tensor,
    rows: torch.Tensor,
    num_rows: int,
    k: int = 10,
    exclude: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` items per row where a row has several queries and an item's score is its
    best score over them (a board's recent pins, each a query: ``query="multi"``).

    Each query fetches its top ``k`` plus its row's excluded count, so with an exact index
    the result equals max-pooling the full score matrix.

    Parameters
    ----------
    index : Index
        Items to search.
    queries : torch.Tensor
        ``[Q, d]``.
    rows : torch.Tensor
        ``[Q]`` the row each query belongs to.
    num_rows : int
        Rows (a row without queries gets ``-1`` ids).
    exclude : torch.Tensor, optional
        ``[2, M]`` (row, item) pairs never to return.
    """
    rows = torch.as_tensor(rows, dtype=torch.int64)
    query_exclude = None
    extra = 0
    if exclude is not None and exclude.numel():
        # (query, item) pairs: each query inherits its row's exclusions
        per_row = torch.bincount(exclude[0], minlength=num_rows)
        extra = int(per_row.max())
        order = torch.argsort(exclude[0], stable=True)
        starts = torch.cumsum(per_row, 0) - per_row
        counts = per_row[rows]
        query_of = torch.repeat_interleave(torch.arange(len(rows)), counts)
        offset = torch.arange(len(query_of)) - torch.repeat_interleave(
            torch.cumsum(counts, 0) - counts, counts
        )
        items = exclude[1][order][starts[rows[query_of]] + offset]
        query_exclude = torch.stack([query_of, items])
    scores, ids = index.search(queries, min(k + extra, index.num_items), query_exclude)
    # best score per (row, item): sort candidates by score, keep each pair's first
    flat_rows = rows[:, None].expand_as(ids).reshape(-1)
    flat_scores, flat_ids = scores.reshape(-1), ids.reshape(-1)
    valid = flat_ids >= 0
    flat_rows, flat_scores, flat_ids = flat_rows[valid], flat_scores[valid], flat_ids[valid]
    order = torch.argsort(flat_scores, descending=True, stable=True)
    flat_rows, flat_scores, flat_ids = flat_rows[order], flat_scores[order], flat_ids[order]
    key = flat_rows * index.num_items + flat_ids
    _, first = np.unique(key.numpy(), return_index=True)
    first = torch.from_numpy(np.sort(first))
    flat_rows, flat_scores, flat_ids = flat_rows[first], flat_scores[first], flat_ids[first]
    # rank within each row (already in descending score order), keep the first k
    by_row = torch.argsort(flat_rows, stable=True)
    flat_rows, flat_scores, flat_ids = flat_rows[by_row], flat_scores[by_row], flat_ids[by_row]
    size = torch.bincount(flat_rows, minlength=num_rows)
    rank = torch.arange(len(flat_rows)) - (torch.cumsum(size, 0) - size)[flat_rows]
    keep = rank < k
    out_scores = torch.full((num_rows, k), float("-inf"))
    out_ids = torch.full((num_rows, k), -1, dtype=torch.int64)
    out_scores[flat_rows[keep], rank[keep]] = flat_scores[keep]
    out_ids[flat_rows[keep], rank[keep]] = flat_ids[keep]
    return out_scores, out_ids
