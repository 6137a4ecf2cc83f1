"""What every training loss takes and is: the embedded minibatch and the loss interface.

A loss is a :class:`TrainingLoss` (a module scoring a :class:`LossInputs`), built from the
:class:`LossSettings` by its entry in :data:`pinsage_dgl.nn.losses.LOSSES`; a new loss is
one file with its class and one entry there.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["LossInputs", "LossSettings", "TrainingLoss"]


@dataclass
class LossInputs:
    """A training minibatch, embedded: ``B`` queries, their positives and negatives.

    Each query has one positive (row ``i``'s is ``positive[i]``) or, with
    ``positive_rows``, any number: ``P`` positives, each naming the query row it belongs to.

    Attributes
    ----------
    query : torch.Tensor
        ``[B, d]`` unit-norm query embeddings (a multi-interest query ``[B, K, d]``
        scores each pin by its best interest).
    positive : torch.Tensor
        ``[B, d]`` each query's positive (``[P, d]`` with ``positive_rows``).
    negatives : torch.Tensor
        ``[N, d]`` random negatives shared by every query, or ``[B, N, d]`` per query.
    positive_ids, negative_ids : torch.Tensor
        ``[B]`` (``[P]``) and ``[N]`` (or ``[B, N]``) the pins behind ``positive`` and
        ``negatives`` (ids or positions, as ``mask`` and ``pin_bias`` name them).
    hard_negatives : torch.Tensor, optional
        ``[B, H, d]`` per-query hard negatives (``H`` may be 0); ``hard_negative_ids``
        ``[B, H]``.
    positive_log_q : torch.Tensor, optional
        ``[B]`` (or ``[P]``) log of the expected number of times each positive is drawn as
        an in-batch negative.
    negative_log_q : torch.Tensor or float
        log of the expected number of draws of the random negatives.
    mask : torch.Tensor, optional
        ``[2, M]`` (query row, pin) pairs never to count as negatives of that row.
    pin_bias : torch.Tensor, optional
        A score per pin (indexed by the ids above; e.g. the learned popularity prior),
        for the losses that use one (:attr:`TrainingLoss.uses_pin_bias`).
    positive_rows : torch.Tensor, optional
        ``[P]`` the query row of each positive, ascending, every row at least once (a
        multi-positive batch: :class:`~pinsage_dgl.sampling.HalvesCollator`); None: one
        positive per row.
    """

    query: torch.Tensor
    positive: torch.Tensor
    negatives: torch.Tensor
    positive_ids: torch.Tensor
    negative_ids: torch.Tensor
    hard_negatives: torch.Tensor | None = None
    hard_negative_ids: torch.Tensor | None = None
    positive_log_q: torch.Tensor | None = None
    negative_log_q: torch.Tensor | float = 0.0
    mask: torch.Tensor | None = None
    pin_bias: torch.Tensor | None = None
    positive_rows: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.query)


@dataclass(frozen=True)
class LossSettings:
    """The settings a loss is built from (``PinSageModule``'s loss options); each loss
    reads the ones it has.

    Attributes
    ----------
    margin : float
        Δ of the max-margin loss.
    temperature : float
        τ of a softmax (its start when learned).
    learn_temperature : bool
        Learn τ.
    in_batch : bool
        Use the other queries' positives as negatives.
    logq_correction : bool
        Correct sampled negatives' scores by their log sampling rate.
    """

    margin: float = 0.1
    temperature: float = 0.07
    learn_temperature: bool = True
    in_batch: bool = True
    logq_correction: bool = True


class TrainingLoss(nn.Module):
    """The interface of a training loss: :meth:`forward` of a :class:`LossInputs` → the
    mean loss (a scalar tensor)."""

    #: whether the loss scores pins with :attr:`LossInputs.pin_bias` (the model's learned
    #: popularity prior trains only through such a loss)
    uses_pin_bias: bool = False

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        raise NotImplementedError

    def reset_parameters(self) -> None:
        """Back to the starting values of any learned parameter (none by default)."""

    def logged(self) -> dict[str, torch.Tensor]:
        """Values to log during training, by name (e.g. a learned temperature)."""
        return {}
