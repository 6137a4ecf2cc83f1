"""Ranking metrics, exact in expectation over random tie-breaking.

A target tied with ``t`` other items and beaten by ``g`` items lands uniformly at one of
the ranks ``g + 1 .. g + t + 1``; every metric here is its expected value over that range,
so ties neither flatter nor punish a model (a constant scorer gets chance-level numbers).
That is why these are not torchmetrics' retrieval metrics, which order ties by position;
without ties the two agree (``tests/test_metrics.py`` checks recall and NDCG against them).
"""

from __future__ import annotations

import math
import warnings

import torch


def rank_counts(
    scores: torch.Tensor, target: torch.Tensor, exclude: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Items scored above, and tied with, each row's target.

    Parameters
    ----------
    scores : torch.Tensor
        ``[B, N]`` scores of every candidate.
    target : torch.Tensor
        ``[B]`` column of each row's target.
    exclude : torch.Tensor, optional
        ``[2, M]`` (row, column) pairs left out of the ranking (e.g. seen items); a target
        is never excluded.

    Returns
    -------
    greater, ties : torch.Tensor
        ``[B]`` int64 counts (the target itself not counted).
    """
    rows = torch.arange(len(target), device=scores.device)
    target_score = scores[rows, target].unsqueeze(1)
    above = scores > target_score
    tied = scores == target_score
    tied[rows, target] = False
    if exclude is not None and exclude.numel():
        keep = exclude[1] != target[exclude[0]]
        above[exclude[0][keep], exclude[1][keep]] = False
        tied[exclude[0][keep], exclude[1][keep]] = False
    return above.sum(1), tied.sum(1)


def left_out(
    scores: torch.Tensor, exclude: torch.Tensor | None, keep: torch.Tensor, copy: bool = True
) -> torch.Tensor:
    """A copy of ``[R, N]`` ``scores`` with the ``[2, E]`` (row, item) pairs of
    ``exclude`` at ``-inf`` (out of every ranking), except those among the ``[2, M]``
    pairs ``keep`` (the targets: a target is never left out). ``copy=False`` masks
    ``scores`` itself."""
    scores = scores.clone() if copy else scores
    if exclude is None or not exclude.numel():
        return scores
    width = scores.shape[1]
    excluded = exclude[0] * width + exclude[1]
    dropped = ~torch.isin(excluded, keep[0].to(exclude.device) * width + keep[1])
    scores[exclude[0][dropped], exclude[1][dropped]] = float("-inf")
    return scores


def grouped_rank_counts(
    scores: torch.Tensor,
    rows: torch.Tensor,
    targets: torch.Tensor,
    fused: bool = False,
    chunk: int = 1 << 24,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`rank_counts` of many targets per row, without an ``[M, N]`` matrix.

    Equal to ``rank_counts(scores[rows], targets)``. Each row is read once against the
    sorted scores of its ``K`` targets (its thresholds), which it shares with its other
    targets, instead of once per target.

    Parameters
    ----------
    scores : torch.Tensor
        ``[R, N]`` scores; an item left out of the ranking scores ``-inf``.
    rows, targets : torch.Tensor
        ``[M]`` the (row, item) pairs to rank.
    fused : bool
        Count with a compiled kernel that compares each item with the row's thresholds
        in one pass (``torch.compile``; ~30x the throughput of the default here, after a
        compilation of 15-40 s once per process: for large evaluations). Falls back to
        the default, with a warning, where it cannot compile. Default: each item finds
        its place among the thresholds by binary search (``O(N log K)`` per row).
    chunk : int
        Rows are processed in chunks of about this many scores (memory: ~20 bytes each).

    Returns
    -------
    greater, ties : torch.Tensor
        ``[M]`` int64 counts (the target itself not counted).
    """
    num_pairs = len(rows)
    greater = torch.zeros(num_pairs, dtype=torch.int64)
    ties = torch.zeros(num_pairs, dtype=torch.int64)
    if num_pairs == 0:
        return greater, ties
    scores = scores.cpu()
    rows, targets = rows.cpu(), targets.cpu()
    target_scores = scores[rows, targets]
    per_row = torch.bincount(rows, minlength=len(scores))
    # rows with targets, fewest first (a chunk's rows have about as many); within a row,
    # its pairs ascending by score: pair i of the row is threshold i
    active = torch.nonzero(per_row).squeeze(1)
    active = active[torch.argsort(per_row[active], stable=True)]
    place = torch.empty(len(scores), dtype=torch.int64)
    place[active] = torch.arange(len(active))
    by_score = torch.argsort(target_scores, stable=True)
    order = by_score[torch.argsort(place[rows[by_score]], stable=True)]
    sorted_places = place[rows[order]]
    starts = torch.cumsum(per_row[active], 0) - per_row[active]
    slot = torch.arange(num_pairs) - starts[sorted_places]
    count = _fused_counts() if fused else None
    step = max(1, chunk // max(scores.shape[1], 1))
    for begin in range(0, len(active), step):
        chunk_rows = active[begin : begin + step]
        width = int(per_row[chunk_rows].max())
        first, last = int(starts[begin]), int(starts[begin + len(chunk_rows) - 1]) + width
        mine = slice(first, min(last, num_pairs))  # this chunk's pairs, in `order`
        local = sorted_places[mine] - begin
        thresholds = torch.full((len(chunk_rows), width), float("inf"), dtype=scores.dtype)
        thresholds[local, slot[mine]] = target_scores[order[mine]]
        block = scores[chunk_rows]
        if count is not None:
            above, reached = count(block, thresholds)
        else:
            above, reached = _counts_by_search(block, thresholds)
        greater[order[mine]] = above[local, slot[mine]].long()
        ties[order[mine]] = (reached - above)[local, slot[mine]].long() - 1  # not itself
    return greater, ties


def _counts_by_search(
    scores: torch.Tensor, thresholds: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``[R, K]`` items of each row above, and at or above, each of its ascending
    thresholds: each item finds by binary search how many thresholds it beats (reaches);
    a histogram of those positions, summed from the top, gives the counts."""
    out = []
    for reach in (False, True):
        position = torch.searchsorted(thresholds, scores, right=reach)
        hist = torch.zeros(len(scores), thresholds.shape[1] + 1, dtype=torch.int64)
        hist.scatter_add_(1, position, torch.ones_like(position))
        # items at position >= j beat (reach) threshold j (1-based)
        out.append(hist.flip(1).cumsum(1).flip(1)[:, 1:])
    return out[0], out[1]


def _compare_counts(
    scores: torch.Tensor, thresholds: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The counts of :func:`_counts_by_search` by comparing every item with every
    threshold: what the fused kernel computes without building the ``[R, K, N]`` masks."""
    items, limits = scores[:, None, :], thresholds[:, :, None]
    return (
        (items > limits).sum(2, dtype=torch.int32),
        (items >= limits).sum(2, dtype=torch.int32),
    )


_FUSED: list = []  # the compiled kernel, or the fallback, once chosen


def _fused_counts():
    if not _FUSED:
        try:
            kernel = torch.compile(_compare_counts, dynamic=True)
            probe = torch.tensor([[0.0, 1.0, 2.0]]), torch.tensor([[1.0]])
            if [t.tolist() for t in kernel(*probe)] != [[[1]], [[2]]]:
                raise RuntimeError("the compiled kernel counted wrongly")
            _FUSED.append(kernel)
        except Exception as err:  # no C++ compiler, an unsupported platform, ...
            warnings.warn(
                f"grouped_rank_counts: cannot compile the fused kernel ({err}); "
                "counting by binary search instead",
                RuntimeWarning,
                stacklevel=3,
            )
            _FUSED.append(_counts_by_search)
    return _FUSED[0]


def hit_rate(greater: torch.Tensor, ties: torch.Tensor, k: int) -> torch.Tensor:
    """``[B]`` probability that the target ranks within the top ``k``."""
    return ((k - greater).clamp(min=0).float() / (ties + 1).float()).clamp(max=1.0)


def _sum_inverse_scaled_rank(n: torch.Tensor, scale: int) -> torch.Tensor:
    """Σ_{r=1..n} 1 / ceil(r / scale), via harmonic numbers H(m) = ψ(m + 1) + γ."""
    n = n.double()
    blocks = torch.div(n, scale, rounding_mode="floor")
    rest = n - blocks * scale
    harmonic = torch.special.digamma(blocks + 1) + 0.5772156649015329
    return scale * harmonic + rest / (blocks + 1)


def reciprocal_rank(greater: torch.Tensor, ties: torch.Tensor, scale: int = 1) -> torch.Tensor:
    """``[B]`` expected 1 / ceil(rank / scale).

    ``scale=1`` is the ordinary reciprocal rank; ``scale=100`` the paper's scaled MRR.
    """
    first, last = greater, greater + ties + 1
    total = _sum_inverse_scaled_rank(last, scale) - _sum_inverse_scaled_rank(first, scale)
    return (total / (ties + 1).double()).float()


def _cumulative_gains(k: int, device: torch.device) -> torch.Tensor:
    """``[k + 1]``: entry r is Σ_{j ≤ r} 1 / log2(j + 1), the DCG of r hits at the top."""
    gains = torch.tensor([0.0] + [1.0 / math.log2(r + 1) for r in range(1, k + 1)])
    return torch.cumsum(gains, 0).to(device)


def ndcg(greater: torch.Tensor, ties: torch.Tensor, k: int) -> torch.Tensor:
    """``[B]`` expected NDCG@k of a single relevant item: 1 / log2(rank + 1) if rank ≤ k."""
    cumulative = _cumulative_gains(k, greater.device)
    first = greater.clamp(max=k)
    last = (greater + ties + 1).clamp(max=k)
    return (cumulative[last] - cumulative[first]) / (ties + 1).float()


def ideal_dcg(num_relevant: torch.Tensor, k: int) -> torch.Tensor:
    """``[B]`` DCG@k of a perfect ranking of ``num_relevant`` items."""
    return _cumulative_gains(k, num_relevant.device)[num_relevant.clamp(max=k)]


def full_ranking(
    scores: torch.Tensor,
    held_out: torch.Tensor,
    k: int,
    exclude: torch.Tensor | None = None,
    fused: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Recall@k and NDCG@k of every row's held-out items among all items (LightGCN style).

    Each held-out item's chance of landing in the top ``k`` (and its expected discounted
    gain) depends only on the items above and tied with it, so the expectations over
    random tie-breaking add up item by item: recall = Σ P(rank ≤ k) / |R|,
    NDCG = Σ E[gain] / IDCG(|R|). Other held-out items of the row compete normally.

    Parameters
    ----------
    scores : torch.Tensor
        ``[B, N]`` scores of every item.
    held_out : torch.Tensor
        ``[2, M]`` (row, item) relevant pairs; rows without any get NaN.
    k : int
        Cut-off.
    exclude : torch.Tensor, optional
        ``[2, M']`` (row, item) pairs left out of the ranking (items seen in training);
        held-out items are never excluded.
    fused : bool
        Count ranks with the compiled kernel (see :func:`grouped_rank_counts`).

    Returns
    -------
    recall, ndcg : torch.Tensor
        ``[B]`` float tensors (NaN where a row has no held-out item).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    rows, items = held_out
    greater, ties = grouped_rank_counts(
        left_out(scores, exclude, held_out), rows, items, fused=fused
    )
    num_relevant = torch.bincount(rows, minlength=len(scores))
    hits = torch.zeros(len(scores)).index_add_(0, rows, hit_rate(greater, ties, k).cpu())
    gains = torch.zeros(len(scores)).index_add_(0, rows, ndcg(greater, ties, k).cpu())
    num_relevant = num_relevant.cpu()
    recall = hits / num_relevant.float()
    return recall, gains / ideal_dcg(num_relevant, k)


def bootstrap_means(
    sums: torch.Tensor,
    counts: torch.Tensor,
    resamples: int = 2000,
    seed: int = 0,
    chunk: int = 100,
) -> torch.Tensor:
    """``[resamples, m]`` means of ``m`` methods over boards resampled with replacement.

    Each resample draws ``n`` boards at random (the same boards for every method, so the
    differences of two columns are a *paired* bootstrap) and takes each method's mean over
    them as the benchmark does: the sum of the drawn boards' values over the sum of their
    counts (one value per board for ``full_ranking``, one per held-out pair otherwise).

    Parameters
    ----------
    sums, counts : torch.Tensor
        ``[m, n]`` (or ``[n]``) per-board value sums and value counts of each method
        (:class:`~pinsage_dgl.evaluation.BoardValues`), boards in the same order.
    resamples : int
        Bootstrap resamples.
    seed : int
        Seeds the draws: the same seed gives the same resamples.
    chunk : int
        Resamples drawn at a time (memory: ``chunk × n`` weights).
    """
    sums = torch.atleast_2d(torch.as_tensor(sums, dtype=torch.float64))
    counts = torch.atleast_2d(torch.as_tensor(counts, dtype=torch.float64))
    if sums.shape != counts.shape or sums.shape[1] == 0:
        raise ValueError(
            f"bootstrap_means: sums {tuple(sums.shape)} and counts {tuple(counts.shape)} must "
            "have one value per board, for at least one board"
        )
    if resamples < 1:
        raise ValueError(f"bootstrap_means: resamples must be >= 1, got {resamples}")
    n = sums.shape[1]
    generator = torch.Generator().manual_seed(seed)
    out = []
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        draws = torch.randint(n, (size, n), generator=generator)
        # how often each board was drawn, per resample: the means are weighted sums
        weights = torch.zeros(size, n, dtype=torch.float64)
        weights.scatter_add_(1, draws, torch.ones(size, n, dtype=torch.float64))
        out.append((weights @ sums.T) / (weights @ counts.T).clamp(min=1))
    return torch.cat(out)


def percentile_interval(samples: torch.Tensor, level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` interval of bootstrap ``samples`` (percentile method)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    tail = (1.0 - level) / 2
    low, high = torch.quantile(samples.double(), torch.tensor([tail, 1.0 - tail]).double())
    return float(low), float(high)


def verdict(low: float, high: float) -> str:
    """``ahead`` / ``behind`` where a difference's interval excludes 0, else ``tied``."""
    return "ahead" if low > 0 else "behind" if high < 0 else "tied"
