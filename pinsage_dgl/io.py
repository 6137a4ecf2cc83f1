"""Files: written whole or not at all, and the error of one that cannot be used."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


class InputError(ValueError):
    """A file or table that cannot be used: its message names the file, and where it
    applies the column and the row at fault (the ``pinsage`` command prints it alone)."""


NOTICES = logging.getLogger("pinsage_dgl")


def notice(message: str) -> None:
    """Tell the user, in one line, how their data was read where it was not taken
    literally (ids normalised, rows merged, pins without features).

    Lines go to the ``pinsage_dgl`` logger at WARNING level: Python prints them on stderr
    unless logging is configured otherwise; the ``pinsage`` command prefixes them with
    ``pinsage:``."""
    NOTICES.warning(message)


def counted(n: int, noun: str) -> str:
    """``"1 id"``, ``"3 ids"``: a count and its noun, for messages."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` when the block succeeds.

    An exception (or a crash) inside the block leaves any previous ``path`` intact and
    removes the temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    # mkstemp makes the file private (0600); give it the mode a plain open() would have
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; it replaces ``path`` (a directory)
    when the block succeeds.

    An exception inside the block leaves any previous ``path`` intact and removes the
    temporary directory; a reader never sees a directory half written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
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


def read_meta(directory: str | os.PathLike, key: str, version: int, what: str) -> dict:
    """The ``meta.json`` of a saved ``directory``, whose ``key`` must be ``version``.

    Raises
    ------
    FileNotFoundError
        Naming ``directory``, which is not a saved ``what`` (no ``meta.json``).
    ValueError
        Naming the file, when it was written in another format version.
    """
    meta_file = Path(directory) / "meta.json"
    if not meta_file.exists():
        raise FileNotFoundError(f"{directory}: not a saved {what} (no meta.json)")
    meta = json.loads(meta_file.read_text())
    if meta.get(key) != version:
        raise ValueError(f"{meta_file}: {key} {meta.get(key)!r}, this version reads {version}")
    return meta


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
