import math

import pytest
import torch

from pinsage_dgl.metrics import hit_rate, ndcg, rank_counts, reciprocal_rank


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
