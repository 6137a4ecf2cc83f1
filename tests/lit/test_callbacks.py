import pytest
import torch
from lightning.pytorch.callbacks import Callback

from datamodules import SyntheticDataModule
from pinsage_dgl.lit import HardNegativeCurriculum, NeighborTableRefresh, PinSageModule
from pinsage_dgl.sampling import Negatives
from tests.conftest import small_trainer


class RecordHardNegatives(Callback):
    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.seen.append((trainer.current_epoch, batch.hard_negatives.shape[1]))


@pytest.mark.parametrize("num_workers", [0, 2])
def test_curriculum_adds_one_hard_negative_per_epoch_up_to_the_cap(tmp_path, num_workers):
    dm = SyntheticDataModule(
        num_pins=300,
        num_boards=120,
        num_topics=4,
        batch_size=16,
        negatives=Negatives(num_random=20, hard_walks=20),
        num_workers=num_workers,
    )
    model = PinSageModule(pin_spec=dm.feature_spec, hidden_dim=16, out_dim=8)
    record = RecordHardNegatives()
    trainer = small_trainer(
        max_epochs=4,
        limit_train_batches=6,
        limit_val_batches=0,
        default_root_dir=tmp_path,
        callbacks=[HardNegativeCurriculum(max_per_query=2), record],
    )
    trainer.fit(model, dm)
    per_epoch = {epoch: {h for e, h in record.seen if e == epoch} for epoch in range(4)}
    assert per_epoch == {0: {0}, 1: {1}, 2: {2}, 3: {2}}


def test_curriculum_rejects_a_negative_cap():
    with pytest.raises(ValueError, match="max_per_query"):
        HardNegativeCurriculum(max_per_query=-1)


class RecordTables(Callback):
    """The training table after each epoch's refresh, and whether inference sees it."""

    def __init__(self) -> None:
        self.tables: list[torch.Tensor] = []
        self.shared: list[bool] = []

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        dm = trainer.datamodule
        self.tables.append(dm.training_graph.sampler.table[0].clone())
        self.shared.append(
            dm.training_graph.inference_inputs()[1].data_ptr()
            == dm.training_graph.sampler.table[0].data_ptr()
        )


def test_neighbor_table_refresh_walks_a_new_table_every_epoch_shared_with_inference(tmp_path):
    dm = SyntheticDataModule(
        num_pins=300,
        num_boards=120,
        num_topics=4,
        batch_size=16,
        negatives=Negatives(num_random=20),
    )
    model = PinSageModule(pin_spec=dm.feature_spec, hidden_dim=16, out_dim=8)
    record = RecordTables()  # after the refresh: callbacks run in the order given
    trainer = small_trainer(
        max_epochs=3,
        limit_train_batches=2,
        limit_val_batches=1,  # validation embeds every pin: inference reads the table
        default_root_dir=tmp_path,
        callbacks=[NeighborTableRefresh(), record],
    )
    trainer.fit(model, dm)
    assert dm.training_graph.sampler.refreshes == 3 and all(record.shared)
    first, second, third = record.tables
    assert not torch.equal(first, second) and not torch.equal(second, third)


def test_table_refresh_rejects_a_zero_period():
    with pytest.raises(ValueError, match="every_n_epochs"):
        NeighborTableRefresh(every_n_epochs=0)
