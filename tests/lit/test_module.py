import lightning as L
import pytest

from datamodules import SyntheticDataModule
from pinsage_dgl.lit import PinSageModule


def test_bad_hyperparameters_are_named():
    with pytest.raises(ValueError, match="margin=-1"):
        PinSageModule(pin_spec=None, id_embedding=True, num_pins=3, margin=-1)


@pytest.mark.slow
def test_training_beats_popularity_on_the_synthetic_graph(tmp_path):
    L.seed_everything(0)
    dm = SyntheticDataModule(
        num_pins=1500, num_boards=600, num_topics=8, batch_size=128, num_negatives=20
    )
    model = PinSageModule(pin_spec=dm.feature_spec, hidden_dim=64, out_dim=32, lr=3e-3)
    trainer = L.Trainer(
        max_epochs=4,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, dm)
    (result,) = trainer.test(model, dm)
    # boards follow planted clusters, which popularity ignores
    assert (
        result["test/full_ranking/recall@20"]
        > result["test/popularity/full_ranking/recall@20"] + 0.05
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("data", "model"),
    [
        ({"task": "boards"}, {"id_embedding": True}),  # board queries, ids + graph
        ({"task": "boards", "full_graph": False}, {"id_embedding": True}),  # on DGL blocks
        ({"task": "boards", "neighborhood": "uniform"}, {}),  # GraphSAGE-style
        ({"task": "boards", "num_layers": 0}, {}),  # features only
        (  # the softmax recipe with a learned board query
            {"task": "boards"},
            {
                "id_embedding": True,
                "loss": "softmax",
                "query": "attention",
                "layer_combination": "mean",
                "dropout": 0.1,
            },
        ),
        ({"full_graph": False}, {"loss": "softmax"}),  # pairs on blocks, softmax
    ],
    ids=["boards", "boards-blocks", "uniform", "features-only", "softmax", "pairs-blocks"],
)
def test_every_variant_trains_and_logs_every_protocol(data, model):
    L.seed_everything(0)
    dm = SyntheticDataModule(
        num_pins=1500, num_boards=600, num_topics=8, batch_size=128, num_negatives=50, **data
    )
    module = PinSageModule(
        pin_spec=dm.feature_spec,
        num_pins=dm.num_pins,
        num_layers=dm.sampler_settings["num_layers"],
        hidden_dim=64,
        out_dim=32,
        lr=3e-3,
        **{"query": "recency", **model},
    )
    trainer = L.Trainer(
        max_epochs=3, logger=False, enable_checkpointing=False, enable_progress_bar=False
    )
    trainer.fit(module, dm)
    (result,) = trainer.test(module, dm)
    for name in ("full_ranking/recall@20", "item_to_item/hit@10", "latest_pin/hits@10"):
        assert 0.0 <= result[f"test/{name}"] <= 1.0
    # every variant learns the planted clusters that popularity ignores
    assert (
        result["test/full_ranking/recall@20"]
        > result["test/popularity/full_ranking/recall@20"] + 0.05
    )


def test_unknown_protocol_or_query_is_named():
    with pytest.raises(ValueError, match="unknown protocols"):
        PinSageModule(pin_spec=None, id_embedding=True, num_pins=3, protocols=["psychic"])
    with pytest.raises(ValueError, match="query must be one of"):
        PinSageModule(pin_spec=None, id_embedding=True, num_pins=3, query="median")
