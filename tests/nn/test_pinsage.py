import pytest
import torch

from datamodules import SyntheticDataModule
from pinsage_dgl.features import ColumnSpec, FeatureSpec
from pinsage_dgl.inference import embed_all_pins, neighbor_table
from pinsage_dgl.nn import FeatureEncoder, PinSage, max_margin_loss
from pinsage_dgl.sampling import ImportanceSampler


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


def test_layerwise_inference_equals_blockwise_forward():
    dm = SyntheticDataModule(num_pins=200, num_boards=80, num_topics=4, subtopics=2)
    train = dm.split.train
    sampler = ImportanceSampler(train, num_layers=2, num_neighbors=4, num_walks=8, chunk_size=64)
    nbrs, w = neighbor_table(sampler)
    model = PinSage(train.pin_spec, hidden_dim=16, out_dim=8, num_layers=2).eval()
    layerwise = embed_all_pins(model, train.pin_features, nbrs, w, batch_size=37)
    assert layerwise.shape == (train.num_pins, 8)
    assert torch.allclose(layerwise.norm(dim=1), torch.ones(train.num_pins), atol=1e-5)

    # the same neighbour table, used as a per-seed tree, gives the same embeddings
    class TableSampler(ImportanceSampler):
        def neighbors(self, pins):
            return nbrs[pins], w[pins]

    tree = TableSampler(train, num_layers=2)
    seeds = torch.tensor([0, 5, 17, train.num_pins - 1])
    blocks = tree.sample_blocks(seeds)
    with torch.no_grad():
        blockwise = model(blocks, tree.input_features(blocks))
    assert torch.allclose(blockwise, layerwise[seeds], atol=1e-5)


def test_recommend_excludes_and_orders():
    items = torch.eye(3)
    query = torch.tensor([[0.1, 0.9, 0.5]])
    scores, top = PinSage.recommend(query, items, k=2, exclude=torch.tensor([[0], [1]]))
    assert top.tolist() == [[2, 0]] and scores.tolist() == [[0.5, pytest.approx(0.1)]]
