"""Same seed and config on CPU → identical embeddings and metrics, run to run."""

import lightning as L
import torch

from datamodules import SyntheticDataModule
from pinsage_dgl.inference import embed_all_pins
from pinsage_dgl.lit import HardNegativeCurriculum, PinSageModule
from pinsage_dgl.sampling import Negatives, Neighborhood


def train_once() -> tuple[torch.Tensor, dict]:
    L.seed_everything(7, workers=True, verbose=False)
    data = SyntheticDataModule(
        num_pins=600,
        num_boards=200,
        num_topics=4,
        negatives=Negatives(num_random=50),
        neighborhood=Neighborhood(num_walks=10),
        seed=7,
    )
    model = PinSageModule(
        pin_spec=data.feature_spec,
        num_pins=data.num_pins,
        hidden_dim=16,
        out_dim=8,
        id_embedding=True,
    )
    trainer = L.Trainer(
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        deterministic=True,
        callbacks=[HardNegativeCurriculum(max_per_query=1)],
    )
    trainer.fit(model, data)
    metrics = trainer.validate(model, data, verbose=False)[0]
    return embed_all_pins(model.model, *data.training_graph.inference_inputs()), metrics


def test_same_seed_gives_identical_embeddings_and_metrics():
    first, first_metrics = train_once()
    second, second_metrics = train_once()
    assert torch.equal(first, second)  # bit for bit
    assert first_metrics == second_metrics
    assert first_metrics["val/full_ranking/recall@20"] > 0
