import math

import pytest
import torch

from pinsage_dgl import metrics
from pinsage_dgl.metrics import (
    bootstrap_means,
    full_ranking,
    grouped_rank_counts,
    hit_rate,
    left_out,
    ndcg,
    percentile_interval,
    rank_counts,
    reciprocal_rank,
    verdict,
)


def test_rank_counts_with_exclusion_and_ties():
    scores = torch.tensor([[0.9, 0.5, 0.7, 0.5, 0.1]])
    greater, ties = rank_counts(scores, torch.tensor([1]))
    assert (greater.item(), ties.item()) == (2, 1)
    # excluding item 0 (a seen pin) removes one item above; excluding the target is ignored
    greater, ties = rank_counts(scores, torch.tensor([1]), exclude=torch.tensor([[0, 0], [0, 1]]))
    assert (greater.item(), ties.item()) == (1, 1)


def test_metrics_without_ties_match_hand_values():
    greater, ties = torch.tensor([0, 4, 250]), torch.tensor([0, 0, 0])  # ranks 1, 5, 251
    assert hit_rate(greater, ties, 5).tolist() == [1.0, 1.0, 0.0]
    assert reciprocal_rank(greater, ties).tolist() == pytest.approx([1.0, 0.2, 1 / 251])
    # the paper's scaled MRR: 1 / ceil(rank / 100)
    assert reciprocal_rank(greater, ties, scale=100).tolist() == pytest.approx([1.0, 1.0, 1 / 3])
    assert ndcg(greater, ties, 10).tolist() == pytest.approx([1.0, 1 / math.log2(6), 0.0])


def test_ties_give_the_expectation_over_random_order():
    # beaten by 1, tied with 2 others: ranks 2, 3, 4 equally likely
    greater, ties = torch.tensor([1]), torch.tensor([2])
    assert hit_rate(greater, ties, 3).item() == pytest.approx(2 / 3)
    assert reciprocal_rank(greater, ties).item() == pytest.approx((1 / 2 + 1 / 3 + 1 / 4) / 3)
    assert ndcg(greater, ties, 3).item() == pytest.approx((1 / math.log2(3) + 1 / math.log2(4)) / 3)
    scaled = reciprocal_rank(torch.tensor([99]), torch.tensor([1]), scale=100)  # ranks 100, 101
    assert scaled.item() == pytest.approx((1 + 1 / 2) / 2)
    # a constant scorer over 100 candidates is at chance: HR@10 = 0.1
    g, t = rank_counts(torch.zeros(1, 100), torch.tensor([0]))
    assert hit_rate(g, t, 10).item() == pytest.approx(0.1)


def test_full_ranking_hand_values_with_ties_and_seen_items():
    scores = torch.tensor([[0.9, 0.8, 0.8, 0.1, 0.5], [0.0, 0.0, 0.0, 0.0, 0.0]])
    held_out = torch.tensor([[0, 0, 1], [1, 4, 3]])
    seen = torch.tensor([[0], [0]])  # row 0 saw item 0: it leaves the ranking
    recall, gain = full_ranking(scores, held_out, k=2, exclude=seen)
    # row 0: item 1 ties item 2 for ranks 1-2 (surely in the top 2), item 4 is third
    idcg = 1 + 1 / math.log2(3)
    assert recall[0].item() == pytest.approx(0.5)
    assert gain[0].item() == pytest.approx(((1 + 1 / math.log2(3)) / 2) / idcg)
    # row 1: five-way tie, the one relevant item is in the top 2 with probability 2/5
    assert recall[1].item() == pytest.approx(0.4)
    assert gain[1].item() == pytest.approx((1 + 1 / math.log2(3)) / 5)


def test_full_ranking_matches_torchmetrics_without_ties():
    from torchmetrics.functional.retrieval import retrieval_normalized_dcg, retrieval_recall

    generator = torch.Generator().manual_seed(0)
    scores = torch.rand(6, 40, generator=generator)
    relevant = torch.rand(6, 40, generator=generator) < 0.15
    relevant[:, 0] = True  # every row has at least one
    recall, gain = full_ranking(scores, torch.nonzero(relevant).T, k=10)
    for row in range(6):
        assert recall[row].item() == pytest.approx(
            retrieval_recall(scores[row], relevant[row], top_k=10).item(), abs=1e-6
        )
        assert gain[row].item() == pytest.approx(
            retrieval_normalized_dcg(scores[row], relevant[row], top_k=10).item(), abs=1e-6
        )


def test_full_ranking_rejects_k_zero():
    with pytest.raises(ValueError, match="k must be >= 1"):
        full_ranking(torch.zeros(1, 3), torch.tensor([[0], [1]]), k=0)


@pytest.mark.parametrize(
    "fused", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["search", "fused"]
)
@pytest.mark.parametrize("chunk", [1, 7, 1 << 24])
def test_grouped_rank_counts_equal_rank_counts_of_the_expanded_rows(chunk, fused):
    g = torch.Generator().manual_seed(chunk)
    for _ in range(50):
        num_rows, num_items, num_pairs = (
            int(torch.randint(1, n, (1,), generator=g)) for n in (6, 30, 20)
        )
        scores = torch.randint(0, 4, (num_rows, num_items), generator=g).float()  # ties
        scores[torch.rand(num_rows, num_items, generator=g) < 0.2] = float("-inf")  # left out
        rows = torch.randint(0, num_rows, (num_pairs,), generator=g)
        targets = torch.randint(0, num_items, (num_pairs,), generator=g)
        scores[rows, targets] = torch.randint(0, 4, (num_pairs,), generator=g).float()
        expected = rank_counts(scores[rows], targets)
        got = grouped_rank_counts(scores, rows, targets, fused=fused, chunk=chunk)
        assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])


def test_left_out_masks_all_but_the_kept_pairs():
    scores = torch.arange(6.0).reshape(2, 3)
    out = left_out(scores, torch.tensor([[0, 0, 1], [1, 2, 2]]), keep=torch.tensor([[0], [2]]))
    assert out.tolist() == [[0.0, float("-inf"), 2.0], [3.0, 4.0, float("-inf")]]
    assert scores[0, 1] == 1.0  # a copy


def test_fused_counts_fall_back_to_search_with_a_warning_where_nothing_compiles(monkeypatch):
    def cannot(*args, **kwargs):
        raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(metrics, "_FUSED", [])
    monkeypatch.setattr(torch, "compile", cannot)
    scores = torch.tensor([[3.0, 1.0, 3.0, 2.0]])
    with pytest.warns(RuntimeWarning, match="no C\\+\\+ compiler"):
        greater, ties = grouped_rank_counts(
            scores, torch.tensor([0, 0]), torch.tensor([1, 2]), True
        )
    assert greater.tolist() == [3, 0] and ties.tolist() == [0, 1]


def test_bootstrap_means_of_constant_boards_are_that_constant_and_seeded():
    sums = torch.tensor([[0.5, 0.5, 0.5], [1.0, 2.0, 3.0]])
    counts = torch.tensor([[1, 1, 1], [2, 4, 6]])  # second method: 0.5 per pair everywhere
    samples = bootstrap_means(sums, counts, resamples=50, seed=3)
    assert samples.shape == (50, 2)
    assert torch.allclose(samples, torch.full((50, 2), 0.5, dtype=torch.float64))
    assert torch.equal(samples, bootstrap_means(sums, counts, resamples=50, seed=3))
    assert not torch.equal(
        bootstrap_means(torch.arange(10.0), torch.ones(10), 50, seed=3),
        bootstrap_means(torch.arange(10.0), torch.ones(10), 50, seed=4),
    )


def test_bootstrap_resamples_boards_with_replacement_and_chunks_do_not_change_draws():
    # one resample of two boards: the draw is each of {0, 1} twice or one of each
    values = torch.tensor([0.0, 1.0])
    means = bootstrap_means(values, torch.ones(2), resamples=400, seed=0)
    assert set(means.squeeze(1).tolist()) == {0.0, 0.5, 1.0}
    # P(mean = 0.5) = 1/2: about half of 400 resamples
    assert 150 < int((means == 0.5).sum()) < 250
    one_chunk = bootstrap_means(values, torch.ones(2), resamples=400, seed=0, chunk=400)
    assert one_chunk.shape == means.shape


def test_paired_differences_see_through_board_variance():
    # two methods whose per-board values vary a lot but differ by exactly 0.01 on every
    # board: the paired interval of the difference is [0.01, 0.01], so "ahead"
    base = torch.linspace(0, 1, 500)
    samples = bootstrap_means(torch.stack([base + 0.01, base]), torch.ones(2, 500), 200)
    low, high = percentile_interval(samples[:, 0] - samples[:, 1])
    assert low == pytest.approx(0.01) and high == pytest.approx(0.01)
    assert verdict(low, high) == "ahead"
    # each mean alone varies more than 0.01: unpaired intervals of the two would overlap
    own_low, own_high = percentile_interval(samples[:, 1])
    assert own_high - own_low > 0.03


def test_verdicts_and_interval_errors():
    assert [verdict(-0.02, -0.001), verdict(-0.01, 0.02), verdict(0.001, 0.03)] == [
        "behind",
        "tied",
        "ahead",
    ]
    assert percentile_interval(torch.arange(101.0), level=0.9) == pytest.approx((5.0, 95.0))
    with pytest.raises(ValueError, match="level must be in"):
        percentile_interval(torch.arange(3.0), level=1.0)
    with pytest.raises(ValueError, match="one value per board"):
        bootstrap_means(torch.ones(2, 3), torch.ones(2, 4))
