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
