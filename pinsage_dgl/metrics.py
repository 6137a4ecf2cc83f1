"""Ranking metrics, exact in expectation over random tie-breaking.

A target tied with ``t`` other items and beaten by ``g`` items lands uniformly at one of
the ranks ``g + 1 .. g + t + 1``; every metric here is its expected value over that range,
so ties neither flatter nor punish a model (a constant scorer gets chance-level numbers).
That is why these are not torchmetrics' retrieval metrics, which order ties by position;
without ties the two agree (``tests/test_metrics.py`` checks recall and NDCG against them).
"""

from __future__ import annotations

import math

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

    Returns
    -------
    recall, ndcg : torch.Tensor
        ``[B]`` float tensors (NaN where a row has no held-out item).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    scores = scores.clone()
    if exclude is not None and exclude.numel():
        relevant = torch.zeros_like(scores, dtype=torch.bool)
        relevant[held_out[0], held_out[1]] = True
        keep = ~relevant[exclude[0], exclude[1]]
        scores[exclude[0][keep], exclude[1][keep]] = float("-inf")
    rows, items = held_out
    greater, ties = rank_counts(scores[rows], items)
    num_relevant = torch.bincount(rows, minlength=len(scores))
    hits = torch.zeros(len(scores)).index_add_(0, rows, hit_rate(greater, ties, k).cpu())
    gains = torch.zeros(len(scores)).index_add_(0, rows, ndcg(greater, ties, k).cpu())
    num_relevant = num_relevant.cpu()
    recall = hits / num_relevant.float()
    return recall, gains / ideal_dcg(num_relevant, k)
