"""Sampled softmax on cosine scores: the loss Pinterest moved to after PinSage."""

from __future__ import annotations

import math

import torch
from torch import nn

from pinsage_dgl.nn.board_query import paired_scores, query_scores
from pinsage_dgl.nn.training_loss import LossInputs, LossSettings, TrainingLoss


class SampledSoftmaxLoss(TrainingLoss):
    r"""Cross-entropy of each query's positive against a sampled set of negatives.

    .. math::
        J(q, i) = -\log \frac{e^{s_{qi}}}
            {e^{s_{qi}} + \sum_{n \in \mathcal{N}(q)} e^{s_{qn} - \log Q_n}},
        \qquad s_{qn} = \frac{z_q \cdot z_n + b_n}{\tau}

    with unit-norm :math:`z` (so :math:`z_q \cdot z_n` is a cosine) and an optional per-pin
    score :math:`b_n` (``pin_bias``, e.g. a learned popularity prior; 0 without). The negatives
    :math:`\mathcal{N}(q)` are the minibatch's shared random pool, the other queries'
    positives (in-batch negatives) and the query's hard negatives, if any. This is the
    loss of Pinterest's systems after PinSage (ItemSage, PinnerFormer, OmniSearchSage) and
    of SimpleX-style recommenders, in place of the paper's max-margin.

    **logQ correction.** Sampled negatives over-represent what the sampler favours: in-batch
    negatives are positives of other queries, so a popular pin is a negative often, and the
    model learns to demote popularity itself. Subtracting :math:`\log Q_n`, the log of the
    expected number of times pin *n* is drawn into the candidate set by its source, makes the
    sampled sum an unbiased estimate of the full softmax's (Bengio & Senécal 2008; Yi et al.
    2019). For the uniform pool of N draws over P pins, :math:`Q_n = N / P`; for in-batch
    negatives, :math:`Q_n = B f_n` with :math:`f_n` the pin's share of training positives
    and B the number of queries (both are passed in by the caller). Hard negatives are not
    drawn from a known proposal and are not corrected.

    The inputs are a :class:`~pinsage_dgl.nn.training_loss.LossInputs`: the query
    embeddings and their positives', random negatives' and hard negatives' embeddings and
    pin ids, the two log-Qs, the ``mask`` and an optional ``pin_bias``.

    **Accidental positives.** A negative equal to the query's own positive, or to any pin of
    ``mask`` for that query (e.g. the pins its board already holds), is removed from the
    denominator.

    Parameters
    ----------
    temperature : float
        :math:`\tau` (0.07, as CLIP and Pinterest's later models start).
    learn_temperature : bool
        Learn :math:`\log(1/\tau)`, starting from ``temperature``; the scale
        :math:`1/\tau` is capped at ``max_scale``.
    max_scale : float
        Cap of :math:`1/\tau` when learned (100, as CLIP).
    in_batch : bool
        Use the other queries' positives as negatives.
    logq_correction : bool
        Subtract :math:`\log Q_n` from sampled negatives' scores.
    """

    uses_pin_bias = True

    def __init__(
        self,
        temperature: float = 0.07,
        learn_temperature: bool = True,
        max_scale: float = 100.0,
        in_batch: bool = True,
        logq_correction: bool = True,
    ) -> None:
        super().__init__()
        if temperature <= 0 or max_scale <= 0 or 1.0 / temperature > max_scale:
            raise ValueError(
                f"need temperature > 0 and 0 < 1/temperature <= max_scale; got temperature="
                f"{temperature}, max_scale={max_scale}"
            )
        log_scale = torch.tensor(math.log(1.0 / temperature))
        if learn_temperature:
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_scale", log_scale)
        self.temperature = temperature
        self.max_scale = max_scale
        self.in_batch = in_batch
        self.logq_correction = logq_correction

    @classmethod
    def from_settings(cls, settings: LossSettings) -> SampledSoftmaxLoss:
        return cls(
            settings.temperature,
            settings.learn_temperature,
            in_batch=settings.in_batch,
            logq_correction=settings.logq_correction,
        )

    def reset_parameters(self) -> None:
        r"""Back to the starting :math:`\tau` (``temperature``)."""
        with torch.no_grad():
            self.log_scale.fill_(math.log(1.0 / self.temperature))

    @property
    def scale(self) -> torch.Tensor:
        r""":math:`1/\tau`, capped at ``max_scale``."""
        return self.log_scale.exp().clamp(max=self.max_scale)

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        """Mean loss over the positives of ``inputs`` (one per query, or ``positive_rows``
        naming each positive's query); ``positive_log_q`` is required with ``in_batch`` and
        ``logq_correction``; ``pin_bias`` ``[P]`` is added to every pin's cosine before
        scaling: :math:`s_{qn} = (z_q \\cdot z_n + b_n) / \\tau`.

        With several positives per query, every positive of a query shares its negatives:
        :math:`J = \\log(e^{s_{qi}} + e^{D_q}) - s_{qi}` with :math:`D_q` the logsumexp of
        the query's negative logits, computed once per query. The in-batch negatives are
        then each query's first positive (one draw per query, as with one positive each).

        Computed in float32 under mixed precision (``bf16-mixed``): scores scaled by
        :math:`1/\\tau` up to 100 need more than bfloat16's 8 bits of mantissa.
        """
        with torch.autocast(inputs.query.device.type, enabled=False):
            return self._loss(inputs)

    def _loss(self, inputs: LossInputs) -> torch.Tensor:
        query, positive, negatives = (
            _widened(t) for t in (inputs.query, inputs.positive, inputs.negatives)
        )
        positive_ids, negative_ids = inputs.positive_ids, inputs.negative_ids
        hard_negatives, hard_negative_ids = inputs.hard_negatives, inputs.hard_negative_ids
        positive_log_q, negative_log_q = inputs.positive_log_q, inputs.negative_log_q
        mask, pin_bias, rows = inputs.mask, inputs.pin_bias, inputs.positive_rows
        batch = len(query)
        scale = self.scale
        if rows is None:
            first = rows = torch.arange(batch, device=query.device)
        else:  # each row's first positive: the row's in-batch draw
            expected = torch.arange(batch, device=rows.device)
            first = torch.searchsorted(rows, expected)
            bad = len(rows) < batch  # fewer positives than rows: known without a sync
            if not bad and batch:  # one host sync: a row without a positive, or misordered
                found = rows[first.clamp(max=len(rows) - 1)] == expected
                bad = bool(((first >= len(rows)) | ~found).any())
            if bad:
                raise ValueError("positive_rows must be ascending and name every query row")

        def bias(ids: torch.Tensor) -> torch.Tensor | float:
            return 0.0 if pin_bias is None else pin_bias[ids]

        pos_logit = (paired_scores(query[rows], positive) + bias(positive_ids)) * scale
        row_positive = positive_ids[first]  # [B]: masked among each row's negatives
        correct = self.logq_correction
        # one block of columns per source, each masked where it holds an accidental positive
        pool = (query_scores(query, negatives) + bias(negative_ids)) * scale
        if correct:
            pool = pool - torch.as_tensor(negative_log_q, dtype=pool.dtype, device=pool.device)
        blocks = [
            (pool, negative_ids.expand(batch, -1) if negative_ids.dim() == 1 else negative_ids)
        ]
        if self.in_batch:
            if correct and positive_log_q is None:
                raise ValueError("in-batch negatives with logQ correction need positive_log_q")
            in_batch = (query_scores(query, positive[first]) + bias(row_positive)) * scale
            if correct:
                in_batch = in_batch - positive_log_q[first].to(in_batch)[None, :]
            blocks.append((in_batch, row_positive))
        if hard_negatives is not None and hard_negatives.shape[1] > 0:
            hard_negatives = _widened(hard_negatives)
            hard = (query_scores(query, hard_negatives) + bias(hard_negative_ids)) * scale
            blocks.append((hard, hard_negative_ids))
        logits = []
        for block, ids in blocks:
            accidental = ids == row_positive[:, None]  # [B, C] by broadcasting
            if mask is not None and mask.numel():
                accidental |= _pair_member(ids, mask, batch)
            logits.append(block.masked_fill(accidental, float("-inf")))
        denominator = torch.logsumexp(torch.cat(logits, 1), 1)  # [B]: the negatives' part
        return (torch.logaddexp(pos_logit, denominator[rows]) - pos_logit).mean()

    def logged(self) -> dict[str, torch.Tensor]:
        return {"temperature": 1.0 / self.scale.detach()}

    def extra_repr(self) -> str:
        return (
            f"scale={float(self.scale):.3g}, learned={isinstance(self.log_scale, nn.Parameter)}, "
            f"in_batch={self.in_batch}, logq_correction={self.logq_correction}"
        )


def _widened(embeddings: torch.Tensor) -> torch.Tensor:
    """Half-precision embeddings (from a mixed-precision forward) as float32; others as
    they are."""
    if embeddings.dtype in (torch.float16, torch.bfloat16):
        return embeddings.float()
    return embeddings


def _pair_member(ids: torch.Tensor, pairs: torch.Tensor, batch: int) -> torch.Tensor:
    """``[B, C]`` whether (row, id of column c) is one of the ``[2, M]`` (row, id) ``pairs``;
    ``ids`` is ``[C]`` (columns every row shares) or ``[B, C]``."""
    rows, pins = pairs[0].to(ids.device), pairs[1].to(ids.device)
    width = int(max(ids.max(), pins.max())) + 1
    if batch * width <= 2**26:
        # a dense [B, ids] table: one scatter and one gather
        table = torch.zeros(batch, width, dtype=torch.bool, device=ids.device)
        table[rows, pins] = True
        return table.gather(1, ids.expand(batch, -1))
    if ids.dim() == 1:
        # find each pair's columns among the C sorted column ids: O(M log C)
        member = torch.zeros(batch, len(ids), dtype=torch.bool, device=ids.device)
        sorted_ids, column = torch.sort(ids)
        left = torch.searchsorted(sorted_ids, pins)
        count = torch.searchsorted(sorted_ids, pins, right=True) - left
        start = torch.repeat_interleave(left, count)
        offset = torch.arange(len(start), device=ids.device) - torch.repeat_interleave(
            torch.cumsum(count, 0) - count, count
        )
        member[torch.repeat_interleave(rows, count), column[start + offset]] = True
        return member
    keys = torch.arange(len(ids), device=ids.device)[:, None] * width + ids
    wanted = torch.sort(rows * width + pins).values
    found = torch.searchsorted(wanted, keys).clamp(max=len(wanted) - 1)
    return wanted[found] == keys
