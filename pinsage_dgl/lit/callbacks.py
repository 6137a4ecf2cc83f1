"""Training callbacks."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.callbacks import Callback


class HardNegativeCurriculum(Callback):
    """The paper's curriculum: at epoch n (counting from 1), n − 1 hard negatives per query.

    Sets ``trainer.datamodule.training_graph.hard_negatives_per_query`` before each epoch's
    batches are drawn (the count is in shared memory, so running loader workers see it),
    capped at ``max_per_query``, and logs it as ``train/hard_negatives``.

    Parameters
    ----------
    max_per_query : int
        The cap.
    """

    def __init__(self, max_per_query: int = 6) -> None:
        if max_per_query < 0:
            raise ValueError(f"max_per_query must be >= 0, got {max_per_query}")
        self.max_per_query = max_per_query

    def count(self, epoch: int) -> int:
        """Hard negatives per query in 0-based ``epoch``."""
        return min(epoch, self.max_per_query)

    def _set(self, trainer: L.Trainer, epoch: int) -> None:
        trainer.datamodule.training_graph.hard_negatives_per_query = self.count(epoch)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._set(trainer, trainer.current_epoch)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pl_module.log("train/hard_negatives", float(self.count(trainer.current_epoch)))

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # set before the next epoch's loader iterator prefetches its first batches
        self._set(trainer, trainer.current_epoch + 1)


class NeighborTableRefresh(Callback):
    """Re-walk the neighbour table every ``every_n_epochs`` training epochs
    (``trainer.datamodule.training_graph.refresh_neighbors()``).

    Fresh walks give each pin a new sample of its importance neighbourhood, as the walking
    sampler does every batch, at the cost of one walk over all pins per refresh. A run
    resumed from a checkpoint starts with the table it had at that epoch (the walks are
    seeded by the refresh count, so it is the same table).
    """

    def __init__(self, every_n_epochs: int = 1) -> None:
        if every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be >= 1, got {every_n_epochs}")
        self.every_n_epochs = every_n_epochs

    def refreshes(self, epoch: int) -> int:
        """Refreshes done before 0-based ``epoch`` starts."""
        return epoch // self.every_n_epochs

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        training = trainer.datamodule.training_graph
        expected = self.refreshes(trainer.current_epoch)
        if training.neighbor_refreshes != expected:  # resumed: the table of this epoch
            training.refresh_neighbors(expected)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            trainer.datamodule.training_graph.refresh_neighbors()
