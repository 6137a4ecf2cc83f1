import pytest
import torch

from pinsage_dgl.features import ColumnSpec, FeatureSpec
from pinsage_dgl.nn import (
    BoardQuery,
    FeatureEncoder,
    PinSage,
    PopularityPrior,
    SampledSoftmaxLoss,
    max_margin_loss,
)


def test_margin_loss_values():
    q = torch.tensor([[1.0, 0.0]])
    pos = torch.tensor([[1.0, 0.0]])  # score 1
    neg = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]])  # scores 0 and 1
    # max(0, 0 - 1 + 0.5) = 0 and max(0, 1 - 1 + 0.5) = 0.5 → mean 0.25
    assert max_margin_loss(q, pos, neg, margin=0.5).item() == pytest.approx(0.25)
    # shared negatives [N, d] give the same value
    assert max_margin_loss(q, pos, neg[0], margin=0.5).item() == pytest.approx(0.25)
    with pytest.raises(ValueError, match="margin"):
        max_margin_loss(q, pos, neg, margin=-1)
    # a second interest [0, 1] scores the positive 0 (its best stays 1) and the negatives
    # 1 and 0 (their bests 1 and 1): max(0, 1 - 1 + 0.5) twice → 0.5
    several = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    assert max_margin_loss(several, pos, neg, margin=0.5).item() == pytest.approx(0.5)


def test_feature_encoder_sums_column_encodings():
    spec = FeatureSpec(
        [
            ColumnSpec("x", "numeric"),
            ColumnSpec("c", "categorical", vocab=["u", "v"]),
            ColumnSpec("t", "text", vocab=["a", "b"], max_len=3),
        ]
    )
    enc = FeatureEncoder(spec, 4)
    inputs = {"x": torch.tensor([[2.0]]), "c": torch.tensor([1]), "t": torch.tensor([[1, 2, 0]])}
    expected = (
        enc.numeric_proj(inputs["x"])
        + enc.embeddings["c"].weight[1]
        + (enc.embeddings["t"].weight[1] + enc.embeddings["t"].weight[2]) / 2
    )
    assert torch.allclose(enc(inputs), expected)
    with pytest.raises(ValueError, match="no features"):
        FeatureEncoder(FeatureSpec(), 4)


def test_id_embedding_skips_ids_outside_the_table():
    spec = FeatureSpec([ColumnSpec("x", "numeric")])
    enc = FeatureEncoder(spec, 4, num_ids=3)
    x = torch.tensor([[1.0], [1.0], [1.0]])
    out = enc({"x": x, "_id": torch.tensor([1, 3, -1])})
    features_only = enc.numeric_proj(x)
    assert torch.allclose(out[0], features_only[0] + enc.id_embedding.weight[1])
    assert torch.allclose(out[1:], features_only[1:])  # new pins: features alone


def test_reset_parameters_restores_the_initial_weights_under_a_seed():
    model = PinSage(
        FeatureSpec(),
        hidden_dim=8,
        out_dim=4,
        num_layers=2,
        num_ids=5,
        board_query=BoardQuery(4, "attention", num_boards=3),
        loss=SampledSoftmaxLoss(),
        popularity_prior=PopularityPrior(5),
    )
    torch.manual_seed(0)
    model.reset_parameters()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    torch.manual_seed(0)
    model.reset_parameters()
    assert all(torch.equal(v, initial[k]) for k, v in model.state_dict().items())
    # the head: Xavier-uniform (ReLU gain for G1), zero biases; queries start as the mean
    bound = torch.nn.init.calculate_gain("relu") * (6 / (8 + 8)) ** 0.5
    assert model.G1.weight.abs().max() <= bound and not model.G1.bias.any()
    assert not model.G2.bias.any() and model.popularity_prior.weight.item() == 0.0
    assert not model.board_query.board_embedding.weight.any()
    assert not model.board_query.scorer[2].weight.any()
