import math

import pytest
import torch

from pinsage_dgl.nn import PopularityPrior
from pinsage_dgl.scoring import EmbeddingScorer


def test_prior_is_the_learned_weight_times_log_one_plus_saves():
    prior = PopularityPrior(3)
    prior.set_counts(torch.tensor([0.0, 1.0, 3.0]))
    assert torch.equal(prior(), torch.zeros(3))  # w starts at 0: no prior until learned
    with torch.no_grad():
        prior.weight.fill_(0.5)
    assert prior().tolist() == pytest.approx([0.0, 0.5 * math.log(2), 0.5 * math.log(4)])
    # new pins beyond the counted ones get no prior
    assert prior.scores(5)[3:].tolist() == [0.0, 0.0]
    assert len(prior.scores(2)) == 2


def test_augmented_inner_products_are_the_prior_scores():
    prior = PopularityPrior(3)
    prior.set_counts(torch.tensor([5.0, 0.0, 2.0]))
    with torch.no_grad():
        prior.weight.fill_(0.2)
    items = torch.nn.functional.normalize(
        torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    )
    queries = torch.randn(2, 3, generator=torch.Generator().manual_seed(1))
    expected = queries @ items.T + prior.scores(4)
    scorer = EmbeddingScorer(items, "mean", pin_bias=prior.scores(4))
    got = scorer.index_queries(queries) @ scorer.index_items().T
    assert torch.allclose(got, expected, atol=1e-6)


def test_bad_counts_are_refused():
    prior = PopularityPrior(3)
    with pytest.raises(ValueError, match=r"expected \(3,\) counts"):
        prior.set_counts(torch.ones(4))
    with pytest.raises(ValueError, match=">= 0"):
        prior.set_counts(torch.tensor([1.0, -1.0, 0.0]))
    with pytest.raises(ValueError, match="num_pins >= 1"):
        PopularityPrior(0)
