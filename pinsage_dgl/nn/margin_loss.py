"""The max-margin ranking loss of PinSage."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from pinsage_dgl.nn.board_query import paired_scores, query_scores
from pinsage_dgl.nn.training_loss import LossInputs, LossSettings, TrainingLoss


def max_margin_loss(
    query: torch.Tensor,
    positive: torch.Tensor,
    negatives: torch.Tensor,
    margin: float = 0.1,
    hard_negatives: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Mean hinge loss of a query scored against its positive and negatives.

    .. math::
        J(q, i) = \mathbb{E}_{n \sim P_n(q)} \max(0,\; z_q \cdot z_n - z_q \cdot z_i + \Delta)

    With hard negatives the loss is the sum of two such expectations, one over the random
    negatives and one over the hard ones, so a few hard negatives are not drowned by a pool
    of hundreds of random ones.

    Parameters
    ----------
    query, positive : torch.Tensor
        ``[B, d]`` embeddings of queries and their positives (a multi-interest query
        ``[B, K, d]`` scores each pin by its best interest).
    negatives : torch.Tensor
        ``[B, N, d]`` per-query negatives, or ``[N, d]`` negatives shared by every query.
    margin : float
        Δ.
    hard_negatives : torch.Tensor, optional
        ``[B, H, d]`` per-query hard negatives (ignored when ``H == 0``).
    """
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    pos_score = paired_scores(query, positive)[:, None]

    def hinge(neg: torch.Tensor) -> torch.Tensor:
        return F.relu(query_scores(query, neg) - pos_score + margin).mean()

    loss = hinge(negatives)
    if hard_negatives is not None and hard_negatives.shape[1] > 0:
        loss = loss + hinge(hard_negatives)
    return loss


class MaxMarginLoss(TrainingLoss):
    """The paper's loss as a :class:`~pinsage_dgl.nn.training_loss.TrainingLoss`:
    :func:`max_margin_loss` of the queries against their random and hard negatives.

    Parameters
    ----------
    margin : float
        Δ.
    """

    def __init__(self, margin: float = 0.1) -> None:
        super().__init__()
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        self.margin = margin

    @classmethod
    def from_settings(cls, settings: LossSettings) -> MaxMarginLoss:
        return cls(settings.margin)

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        if inputs.positive_rows is not None:
            raise ValueError(
                "the max-margin loss scores one positive per query; a batch with several "
                "(task kind 'halves') needs the softmax loss (--model.loss softmax)"
            )
        return max_margin_loss(
            inputs.query, inputs.positive, inputs.negatives, self.margin, inputs.hard_negatives
        )

    def extra_repr(self) -> str:
        return f"margin={self.margin}"
