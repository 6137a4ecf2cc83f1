import dataclasses
import math

import pytest
import torch

from pinsage_dgl.nn import LossInputs, SampledSoftmaxLoss
from pinsage_dgl.nn.softmax_loss import _pair_member


def unit(*rows: list[float]) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.tensor(rows), dim=1)


def fixed(**kwargs) -> SampledSoftmaxLoss:
    """τ = 0.5 (scale 2), not learned."""
    return SampledSoftmaxLoss(temperature=0.5, learn_temperature=False, **kwargs)


def test_pool_only_equals_hand_computed_cross_entropy():
    loss = fixed(in_batch=False, logq_correction=False)
    q, pos = unit([1.0, 0.0]), unit([1.0, 0.0])  # cosine 1 → logit 2
    neg = unit([0.0, 1.0], [-1.0, 0.0])  # cosines 0 and -1 → logits 0 and -2
    expected = -math.log(math.exp(2) / (math.exp(2) + math.exp(0) + math.exp(-2)))
    got = loss(
        LossInputs(q, pos, neg, positive_ids=torch.tensor([0]), negative_ids=torch.tensor([1, 2]))
    )
    assert got.item() == pytest.approx(expected, rel=1e-6)
    # per-query negatives [B, N, d] give the same value
    got = loss(
        LossInputs(q, pos, neg[None], torch.tensor([0]), negative_ids=torch.tensor([[1, 2]]))
    )
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_logq_correction_subtracts_each_sources_log_expected_count():
    loss = fixed(in_batch=True, logq_correction=True)
    q = unit([1.0, 0.0], [0.0, 1.0])
    pos = unit([1.0, 0.0], [0.0, 1.0])
    neg = unit([1.0, 1.0])  # cosine 1/√2 with both queries
    pool_log_q = math.log(0.25)
    in_batch_log_q = torch.tensor([math.log(0.5), math.log(2.0)])
    got = loss(
        LossInputs(
            q,
            pos,
            neg,
            positive_ids=torch.tensor([10, 11]),
            negative_ids=torch.tensor([12]),
            negative_log_q=pool_log_q,
            positive_log_q=in_batch_log_q,
        )
    )
    c = 2 / math.sqrt(2)
    # row 0: positive logit 2; pool 2c - log .25; in-batch: pin 10 is its own positive
    # (masked), pin 11 has cosine 0 → 0 - log 2
    row0 = -2 + math.log(math.exp(2) + math.exp(c - pool_log_q) + math.exp(-math.log(2.0)))
    # row 1: pin 10 is the in-batch negative: 0 - log 0.5
    row1 = -2 + math.log(math.exp(2) + math.exp(c - pool_log_q) + math.exp(-math.log(0.5)))
    assert got.item() == pytest.approx((row0 + row1) / 2, rel=1e-6)
    with pytest.raises(ValueError, match="positive_log_q"):
        loss(LossInputs(q, pos, neg, torch.tensor([10, 11]), torch.tensor([12])))


def test_accidental_positives_and_masked_pins_leave_the_denominator():
    loss = fixed(in_batch=True, logq_correction=False)
    q = unit([1.0, 0.0], [0.0, 1.0])
    pos = unit([1.0, 0.0], [0.0, 1.0])
    neg = unit([1.0, 0.0], [0.0, 1.0], [-1.0, 0.0])  # pins 5 (= row 0's positive), 6, 7
    ids = {"positive_ids": torch.tensor([5, 6]), "negative_ids": torch.tensor([5, 6, 7])}
    # row 0 keeps pin 6 (pool, logit 0), 7 (-2), in-batch 6 (0); row 1 masks pin 7 too
    mask = torch.tensor([[1], [7]])
    got = loss(LossInputs(q, pos, neg, **ids, mask=mask))
    row0 = -2 + math.log(math.exp(2) + 1 + math.exp(-2) + 1)
    row1 = -2 + math.log(math.exp(2) + 1 + 1)  # pool 5 (0), in-batch 5 (0)
    assert got.item() == pytest.approx((row0 + row1) / 2, rel=1e-6)


def test_hard_negatives_join_the_denominator_uncorrected():
    loss = fixed(in_batch=False, logq_correction=True)
    q, pos = unit([1.0, 0.0]), unit([1.0, 0.0])
    neg, hard = unit([0.0, 1.0]), unit([1.0, 0.0])[None]  # a hard negative scoring 1
    got = loss(
        LossInputs(
            q,
            pos,
            neg,
            torch.tensor([0]),
            torch.tensor([1]),
            negative_log_q=math.log(2.0),
            hard_negatives=hard,
            hard_negative_ids=torch.tensor([[2]]),
        )
    )
    expected = -2 + math.log(math.exp(2) + math.exp(-math.log(2.0)) + math.exp(2))
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_learned_temperature_starts_at_the_given_value_and_is_capped():
    loss = SampledSoftmaxLoss(temperature=0.07)
    assert loss.scale.item() == pytest.approx(1 / 0.07)
    assert [n for n, _ in loss.named_parameters()] == ["log_scale"]
    with torch.no_grad():
        loss.log_scale.fill_(10.0)
    assert loss.scale.item() == 100.0
    assert list(fixed().parameters()) == []
    with pytest.raises(ValueError, match="temperature"):
        SampledSoftmaxLoss(temperature=0.001)  # 1/τ above the cap


def test_gradient_pulls_the_positive_in_and_pushes_negatives_away():
    loss = fixed(in_batch=False, logq_correction=False)
    q = unit([1.0, 0.2]).requires_grad_()
    pos, neg = unit([0.6, 0.8]), unit([0.8, 0.6])
    value = loss(LossInputs(q, pos, neg, torch.tensor([0]), torch.tensor([1])))
    (grad,) = torch.autograd.grad(value, q)
    # descending the gradient raises q·pos - q·neg
    assert float(-grad @ (pos - neg).T) > 0


@pytest.mark.parametrize("offset", [0, 2**27], ids=["dense-table", "binary-search"])
@pytest.mark.parametrize("shared", [True, False], ids=["shared-columns", "per-row"])
def test_pair_membership_matches_a_set_lookup(offset, shared):
    generator = torch.Generator().manual_seed(0)
    batch, columns = 6, 9
    ids = torch.randint(5, (columns,) if shared else (batch, columns), generator=generator)
    pairs = torch.stack([torch.randint(batch, (12,), generator=generator), torch.randint(5, (12,))])
    # large ids take the binary-search path (a dense table would be too big)
    got = _pair_member(ids + offset, pairs + torch.tensor([[0], [offset]]), batch)
    wanted = set(map(tuple, pairs.T.tolist()))
    full = ids.expand(batch, -1)
    expected = [[(r, int(full[r, c])) in wanted for c in range(columns)] for r in range(batch)]
    assert got.tolist() == expected


def test_pin_bias_is_added_to_every_pins_cosine_before_scaling():
    loss = fixed(in_batch=True, logq_correction=False)
    q = unit([1.0, 0.0], [0.0, 1.0])
    pos = unit([1.0, 0.0], [0.0, 1.0])
    neg = unit([-1.0, 0.0])
    hard = unit([0.0, -1.0])[None].expand(2, 1, 2)
    bias = torch.tensor([0.0, 0.5, -0.25, 0.0, 1.0])  # pins 1, 2 positives; 4 pool; 3 hard
    got = loss(
        LossInputs(
            q,
            pos,
            neg,
            positive_ids=torch.tensor([1, 2]),
            negative_ids=torch.tensor([4]),
            hard_negatives=hard,
            hard_negative_ids=torch.tensor([[3], [3]]),
            pin_bias=bias,
        )
    )
    # scale 2: logit = 2 (cosine + bias)
    # row 0: positive 2(1 + .5); pool 2(-1 + 1); in-batch pin 2: 2(0 - .25); hard 2(0 + 0)
    row0 = -3 + math.log(math.exp(3) + math.exp(0) + math.exp(-0.5) + math.exp(0))
    # row 1: positive 2(1 - .25); pool 2(0 + 1); in-batch pin 1: 2(0 + .5); hard 2(-1 + 0)
    row1 = -1.5 + math.log(math.exp(1.5) + math.exp(2) + math.exp(1) + math.exp(-2))
    assert got.item() == pytest.approx((row0 + row1) / 2, rel=1e-6)


def test_a_multi_interest_query_scores_every_pin_by_its_best_interest():
    q = unit([1.0, 0.0], [0.0, 1.0])
    pos = unit([0.6, 0.8], [0.0, 1.0])
    neg = unit([0.0, 1.0], [-1.0, 0.0])
    hard = unit([0.8, 0.6], [1.0, 0.0])[:, None]  # [2, 1, d]
    ids = {
        "positive_ids": torch.tensor([0, 1]),
        "negative_ids": torch.tensor([2, 3]),
        "hard_negatives": hard,
        "hard_negative_ids": torch.tensor([[4], [5]]),
    }
    # a second interest equal to the first changes nothing (in-batch negatives included)
    with_batch = fixed(in_batch=True, logq_correction=False)
    twice = with_batch(LossInputs(torch.stack([q, q], 1), pos, neg, **ids))
    assert torch.equal(twice, with_batch(LossInputs(q, pos, neg, **ids)))
    # query 0's second interest is its positive itself: its row's logits are, by hand, the
    # best of both interests, 2 · max(q·n, p·n), for the positive and every negative
    loss = fixed(in_batch=False, logq_correction=False)
    two = torch.stack([q, torch.stack([pos[0], q[1]])], 1)
    columns = torch.cat([pos[:1], neg, hard[0]])
    logits = 2 * torch.maximum(columns @ q[0], columns @ pos[0])
    row0 = torch.logsumexp(logits, 0) - logits[0]
    row1 = loss(
        LossInputs(
            q[1:],
            pos[1:],
            neg,
            positive_ids=ids["positive_ids"][1:],
            negative_ids=ids["negative_ids"],
            hard_negatives=hard[1:],
            hard_negative_ids=ids["hard_negative_ids"][1:],
        )
    )
    assert loss(LossInputs(two, pos, neg, **ids)).item() == pytest.approx(
        (row0 + row1).item() / 2, rel=1e-6
    )


def test_several_positives_per_query_share_its_negatives():
    loss = fixed(in_batch=True, logq_correction=True)
    q = unit([1.0, 0.0], [0.0, 1.0])
    # row 0 has positives 10 (cosine 1) and 12 (cosine 0); row 1 has 11 (cosine 1)
    pos = unit([1.0, 0.0], [0.0, 1.0], [0.0, 1.0])
    ids, rows = torch.tensor([10, 11, 12]), torch.tensor([0, 0, 1])
    pos = pos[[0, 2, 1]]  # in row order: 10, 12 | 11
    ids = ids[[0, 2, 1]]
    neg = unit([-1.0, 0.0])  # cosine -1 with row 0, 0 with row 1
    log_q = torch.tensor([math.log(2.0), math.log(3.0), math.log(0.5)])
    got = loss(
        LossInputs(
            q,
            pos,
            neg,
            positive_ids=ids,
            negative_ids=torch.tensor([13]),
            negative_log_q=0.0,
            positive_log_q=log_q,
            mask=torch.tensor([[0, 0], [10, 12]]),  # row 0's board holds 10 and 12
            positive_rows=rows,
        )
    )
    # each row's in-batch draw is its first positive: 10 (row 0), 11 (row 1)
    # row 0 negatives: pool -2; in-batch 11 (cosine 0, log q of 11 = log .5) → 0 + log 2
    d0 = math.log(math.exp(-2) + math.exp(math.log(2.0)))
    # row 1 negatives: pool 0; in-batch 10 (cosine 0, log q log 2) → -log 2
    d1 = math.log(math.exp(0) + math.exp(-math.log(2.0)))

    def term(s: float, d: float) -> float:
        return math.log(math.exp(s) + math.exp(d)) - s

    expected = (term(2.0, d0) + term(0.0, d0) + term(2.0, d1)) / 3
    assert got.item() == pytest.approx(expected, rel=1e-6)
    # one positive per row given as rows 0, 1, ...: the same as without positive_rows
    single = LossInputs(
        q, pos[[0, 2]], neg, ids[[0, 2]], torch.tensor([13]), positive_log_q=log_q[[0, 2]]
    )
    rows_given = LossInputs(
        q,
        pos[[0, 2]],
        neg,
        ids[[0, 2]],
        torch.tensor([13]),
        positive_log_q=log_q[[0, 2]],
        positive_rows=torch.tensor([0, 1]),
    )
    assert loss(rows_given).item() == loss(single).item()
    with pytest.raises(ValueError, match="ascending and name every query row"):
        loss(dataclasses.replace(rows_given, positive_rows=torch.tensor([1, 1])))
    with pytest.raises(ValueError, match="ascending and name every query row"):
        loss(dataclasses.replace(rows_given, positive_rows=torch.tensor([0, 0])))  # row 1?
    with pytest.raises(ValueError, match="ascending and name every query row"):
        loss(  # no positives at all
            dataclasses.replace(
                rows_given,
                positive=pos[:0],
                positive_ids=ids[:0],
                positive_log_q=log_q[:0],
                positive_rows=torch.tensor([], dtype=torch.int64),
            )
        )


def test_the_softmax_is_float32_under_mixed_precision():
    # bfloat16 scores scaled by 1/τ would be off in the second digit: the loss leaves
    # autocast and computes in float32 from the (bfloat16) embeddings it is given
    generator = torch.Generator().manual_seed(0)
    q, pos, neg = (
        torch.nn.functional.normalize(torch.randn(n, 16, generator=generator), dim=1).bfloat16()
        for n in (64, 64, 100)
    )
    loss = SampledSoftmaxLoss(temperature=0.05, learn_temperature=False)

    def inputs(*tensors: torch.Tensor) -> LossInputs:
        return LossInputs(
            *tensors,
            positive_ids=torch.arange(64),
            negative_ids=torch.arange(64, 164),
            positive_log_q=torch.zeros(64),
        )

    exact = loss(inputs(q.float(), pos.float(), neg.float()))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = loss(inputs(q, pos, neg))
    assert mixed.dtype == torch.float32
    assert mixed.item() == pytest.approx(exact.item(), rel=1e-6)
