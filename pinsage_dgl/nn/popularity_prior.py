"""A learned popularity prior added to every pin's score."""

from __future__ import annotations

import torch
from torch import nn


class PopularityPrior(nn.Module):
    r"""A pin's log-popularity, weighted by one learned scalar, added to its scores.

    .. math::
        s(q, i) = z_q \cdot z_i + w \log(1 + n_i)

    with :math:`n_i` the pin's saves in the training graph and :math:`w` learned (from 0).
    Unit-norm embeddings bound every cosine to [-1, 1], so they can rank a topic's pins
    against each other but cannot say how much more often a popular pin is saved than a
    rare one of the same topic; a dot-product model (MF, LightGCN) says it through the
    norms. The prior gives that back with one parameter and stays inductive (a new pin
    has :math:`n_i = 0`). Served by nearest-neighbour search as an inner product of
    :math:`[z_i, w \log(1 + n_i)]` with :math:`[z_q, 1]`
    (:meth:`pinsage_dgl.scoring.EmbeddingScorer.index_items`).

    Parameters
    ----------
    num_pins : int
        Pins with a count (pins beyond get no prior).
    """

    def __init__(self, num_pins: int) -> None:
        super().__init__()
        if num_pins < 1:
            raise ValueError(f"PopularityPrior needs num_pins >= 1, got {num_pins}")
        self.register_buffer("log_count", torch.zeros(num_pins))
        self.weight = nn.Parameter(torch.zeros(()))

    def set_counts(self, counts: torch.Tensor) -> None:
        """Set :math:`n_i` (``[num_pins]`` training saves per pin)."""
        if counts.shape != self.log_count.shape:
            raise ValueError(
                f"PopularityPrior: expected {tuple(self.log_count.shape)} counts, "
                f"got {tuple(counts.shape)}"
            )
        if (counts < 0).any():
            raise ValueError("PopularityPrior: counts must be >= 0")
        self.log_count.copy_(torch.log1p(counts.to(self.log_count)))

    def forward(self) -> torch.Tensor:
        r"""``[num_pins]`` :math:`w \log(1 + n_i)`."""
        return self.weight * self.log_count

    def scores(self, num_items: int) -> torch.Tensor:
        """The prior of items ``0..num_items-1``: pins beyond ``num_pins`` (new) get 0."""
        prior = self()
        if num_items <= len(prior):
            return prior[:num_items]
        return torch.cat([prior, prior.new_zeros(num_items - len(prior))])
