import math

import pytest
import torch

from pinsage_dgl.metrics import full_ranking, hit_rate, ndcg, rank_counts, reciprocal_rank


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
