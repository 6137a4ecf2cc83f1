"""The max-margin ranking loss of PinSage."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def max_margin_loss(
    query: torch.Tensor, positive: torch.Tensor, negatives: torch.Tensor, margin: float = 0.1
) -> torch.Tensor:
    r"""Mean hinge loss of a query scored against its positive and negatives.

    .. math::
        J(q, i) = \mathbb{E}_{n \sim P_n(q)} \max(0,\; z_q \cdot z_n - z_q \cdot z_i + \Delta)

    Parameters
    ----------
    query, positive : torch.Tensor
        ``[B, d]`` embeddings of queries and their positives.
    negatives : torch.Tensor
        ``[B, N, d]`` per-query negatives, or ``[N, d]`` negatives shared by every query.
    margin : float
        Δ.
    """
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    pos_score = (query * positive).sum(-1, keepdim=True)
    if negatives.dim() == 2:
        neg_score = query @ negatives.T
    else:
        neg_score = torch.einsum("bd,bnd->bn", query, negatives)
    return F.relu(neg_score - pos_score + margin).mean()
