"""Row-sharded arrays on disk: the storage of the distributed pipeline's stages.

A :class:`ShardedArray` is a ``[rows, *shape]`` array kept as ``.npy`` files of
``shard_rows`` rows each under one directory, with a ``meta.json`` describing them. A
stage's worker writes whole shards (each through a temporary name, renamed when complete,
so a reader never sees half a shard) and reads the rows it needs from the layer below by
memory-mapping its shards: no process ever holds all rows. On a cluster the directory is
on storage every machine mounts.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from pinsage_dgl.io import atomic_path, write_text_atomic

__all__ = ["ShardedArray"]

META = "meta.json"


@dataclass(frozen=True)
class ShardedArray:
    """A ``[rows, *shape]`` array stored as ``.npy`` shards of ``shard_rows`` rows.

    Attributes
    ----------
    directory : str
        Where the shards and ``meta.json`` are.
    rows : int
        Rows of the whole array.
    shard_rows : int
        Rows per shard (the last holds the rest).
    dtype : str
        numpy type of the values (e.g. ``"float32"``).
    shape : tuple of int
        Shape of one row (``()`` for a vector).
    """

    directory: str
    rows: int
    shard_rows: int
    dtype: str
    shape: tuple[int, ...] = ()

    @classmethod
    def create(
        cls,
        directory: str | os.PathLike,
        rows: int,
        shard_rows: int,
        dtype: str | np.dtype,
        shape: tuple[int, ...] = (),
        resume_key: str | None = None,
    ) -> ShardedArray:
        """A new, empty sharded array (its ``meta.json`` written; no shards yet).

        Shards already in ``directory`` are removed, unless ``resume_key`` is given and
        equals the one they were written under (with the same rows, shard size, type and
        shape): then they are kept, so a stopped stage carries on where it stopped, and
        never mixes in shards written for other inputs."""
        if rows < 0 or shard_rows < 1:
            raise ValueError(
                f"ShardedArray: need rows >= 0 and shard_rows >= 1, got {rows}, {shard_rows}"
            )
        array = cls(str(directory), int(rows), int(shard_rows), np.dtype(dtype).name, tuple(shape))
        meta = json.loads(json.dumps({**asdict(array), "resume_key": resume_key}))  # as stored
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        previous = json.loads((path / META).read_text()) if (path / META).exists() else None
        if resume_key is None or previous != meta:
            for shard in path.glob("shard-*.npy"):
                shard.unlink()
        write_text_atomic(path / META, json.dumps(meta))
        return array

    @classmethod
    def open(cls, directory: str | os.PathLike) -> ShardedArray:
        """The sharded array stored under ``directory``."""
        meta = Path(directory) / META
        if not meta.exists():
            raise FileNotFoundError(f"{directory}: no sharded array here (no {META})")
        fields = json.loads(meta.read_text())
        fields.pop("resume_key", None)
        fields["directory"], fields["shape"] = str(directory), tuple(fields["shape"])
        return cls(**fields)

    @classmethod
    def from_array(
        cls, directory: str | os.PathLike, array: np.ndarray, shard_rows: int
    ) -> ShardedArray:
        """Write ``array`` as a sharded array (e.g. features or a table held in memory)."""
        sharded = cls.create(directory, len(array), shard_rows, array.dtype, array.shape[1:])
        for shard in range(sharded.num_shards):
            sharded.write(shard, array[slice(*sharded.bounds(shard))])
        return sharded

    @property
    def num_shards(self) -> int:
        return -(-self.rows // self.shard_rows)

    def bounds(self, shard: int) -> tuple[int, int]:
        """``(start, stop)`` rows of ``shard``."""
        if not 0 <= shard < self.num_shards:
            raise IndexError(f"{self.directory}: shard {shard} of {self.num_shards}")
        start = shard * self.shard_rows
        return start, min(start + self.shard_rows, self.rows)

    def path(self, shard: int) -> Path:
        return Path(self.directory) / f"shard-{shard:06d}.npy"

    def write(self, shard: int, values: np.ndarray) -> None:
        """Store the rows of ``shard`` (complete, or not at all)."""
        start, stop = self.bounds(shard)
        expected = (stop - start, *self.shape)
        if tuple(values.shape) != expected:
            raise ValueError(
                f"{self.directory}: shard {shard} must have shape {expected}, "
                f"got {tuple(values.shape)}"
            )
        with atomic_path(self.path(shard)) as tmp, open(tmp, "wb") as f:
            np.save(f, np.ascontiguousarray(values, dtype=self.dtype))

    def read(self, shard: int) -> np.ndarray:
        """The rows of ``shard``, memory-mapped (read-only)."""
        path = self.path(shard)
        if not path.exists():
            raise FileNotFoundError(f"{path}: shard {shard} has not been written")
        return np.load(path, mmap_mode="r")

    def take(self, rows: np.ndarray) -> np.ndarray:
        """The given rows (any order, repeats allowed), reading only the shards they are in."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), *self.shape), dtype=self.dtype)
        if len(rows) == 0:
            return out
        if rows.min() < 0 or rows.max() >= self.rows:
            bad = rows[(rows < 0) | (rows >= self.rows)][0]
            raise IndexError(f"{self.directory}: row {bad} outside 0..{self.rows - 1}")
        shard_of = rows // self.shard_rows
        order = np.argsort(shard_of, kind="stable")
        cuts = np.flatnonzero(np.diff(shard_of[order])) + 1
        for group in np.split(order, cuts):
            shard = int(shard_of[group[0]])
            out[group] = self.read(shard)[rows[group] - shard * self.shard_rows]
        return out

    def missing(self) -> list[int]:
        """Shards not written yet (a stage that stopped part-way redoes only these)."""
        return [s for s in range(self.num_shards) if not self.path(s).exists()]

    def to_array(self) -> np.ndarray:
        """All rows in one array in memory (for arrays that fit)."""
        if self.num_shards == 0:
            return np.empty((0, *self.shape), dtype=self.dtype)
        return np.concatenate([self.read(s) for s in range(self.num_shards)])
