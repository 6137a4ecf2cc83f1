"""Grouping per-save arrays by a key (a board, a pin) without a per-save int64 sort.

At web scale every per-save array counts: a graph of 323M saves holds 1.2 GiB per int32
array, and one ``torch.argsort`` of its saves allocates ~20 bytes per save (an int64
order, the sort's own copies). :func:`group_by` is a counting sort done a chunk at a time,
so its only per-save allocation is the order it returns, in int32 where it fits.
"""

from __future__ import annotations

import torch

#: keys sorted at once: 4M keys cost ~300 MB of temporaries (~75 bytes each)
CHUNK = 1 << 22


def index_dtype(n: int) -> torch.dtype:
    """The narrowest id type for positions ``0 .. n - 1`` (int32 below 2³¹)."""
    return torch.int32 if n < 2**31 else torch.int64


def group_by(
    keys: torch.Tensor, num_groups: int, chunk: int = CHUNK
) -> tuple[torch.Tensor, torch.Tensor]:
    """A stable counting sort of ``keys``: which positions hold each key.

    Parameters
    ----------
    keys : torch.Tensor
        ``[N]`` integers in ``0 .. num_groups - 1`` (any integer type; not copied whole).
    num_groups : int
        Number of keys.
    chunk : int
        Keys sorted at once (the size of the temporaries).

    Returns
    -------
    indptr : torch.Tensor
        ``[num_groups + 1]`` int64: key ``g``'s positions are ``order[indptr[g]:indptr[g + 1]]``.
    order : torch.Tensor
        ``[N]`` positions grouped by key, ascending within a key (int32 below 2³¹ keys).

    >>> indptr, order = group_by(torch.tensor([2, 0, 2, 1, 0]), 3)
    >>> indptr.tolist(), order.tolist()
    ([0, 2, 3, 5], [1, 4, 3, 0, 2])
    """
    if chunk < 1:
        raise ValueError(f"group_by: chunk must be >= 1, got {chunk}")
    n = len(keys)
    if n and (int(keys.min()) < 0 or int(keys.max()) >= num_groups):
        low, high = int(keys.min()), int(keys.max())
        raise ValueError(f"group_by: keys must be in [0, {num_groups}), got {low}..{high}")
    indptr = torch.zeros(num_groups + 1, dtype=torch.int64)
    indptr[1:] = torch.cumsum(torch.bincount(keys, minlength=num_groups), 0)
    cursor = indptr[:-1].clone()  # the next free slot of each key
    order = torch.empty(n, dtype=index_dtype(n))
    for start in range(0, n, chunk):
        part = keys[start : start + chunk].long()
        sorted_keys, positions = torch.sort(part, stable=True)
        runs, counts = torch.unique_consecutive(sorted_keys, return_counts=True)
        # each key's rank among its equals in this chunk: position minus its run's start
        run_start = torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
        rank = torch.arange(len(part)) - run_start
        order[cursor[sorted_keys] + rank] = (positions + start).to(order.dtype)
        cursor[runs] += counts
    return indptr, order


def whole_groups(indptr: torch.Tensor, size: int) -> list[tuple[int, int]]:
    """``(start, end)`` position ranges of consecutive whole groups of a CSR, each about
    ``size`` long (one group longer than ``size`` is a range of its own)."""
    total = int(indptr[-1])
    ranges, start = [], 0
    while start < total:
        # the last group boundary within size of start, or the next one past it
        index = int(torch.searchsorted(indptr, start + size, right=True)) - 1
        end = int(indptr[index])
        if end <= start:
            end = int(indptr[int(torch.searchsorted(indptr, start, right=True))])
        ranges.append((start, end))
        start = end
    return ranges
