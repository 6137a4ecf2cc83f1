"""Ranking metrics, exact in expectation over random tie-breaking.

A target tied with ``t`` other items and beaten by ``g`` items lands uniformly at one of
the ranks ``g + 1 .. g + t + 1``; every metric here is its expected value over that range,
so ties neither flatter nor punish a model (a constant scorer gets chance-level numbers).
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


def ndcg(greater: torch.Tensor, ties: torch.Tensor, k: int) -> torch.Tensor:
    """``[B]`` expected NDCG@k of a single relevant item: 1 / log2(rank + 1) if rank ≤ k."""
    gains = torch.tensor([0.0] + [1.0 / math.log2(r + 1) for r in range(1, k + 1)])
    cumulative = torch.cumsum(gains, 0).to(greater.device)
    first = greater.clamp(max=k)
    last = (greater + ties + 1).clamp(max=k)
    return (cumulative[last] - cumulative[first]) / (ties + 1).float()
