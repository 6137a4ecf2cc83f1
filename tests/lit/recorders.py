"""Callbacks that record what each rank trained on (used by the DDP test's subprocesses)."""

from __future__ import annotations

from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback


class RecordEdges(Callback):
    """Writes ``edges-rank{R}.pt``: ``[2, n]`` (epoch, edge id) of every edge rank R trained on."""

    def __init__(self, out_dir: str) -> None:
        self.out_dir = Path(out_dir)
        self.edges: list[torch.Tensor] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        edges = batch.edge_ids.cpu()
        self.edges.append(torch.stack([torch.full_like(edges, trainer.current_epoch), edges]))

    def on_train_end(self, trainer, pl_module) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        torch.save(
            torch.cat(self.edges, dim=1), self.out_dir / f"edges-rank{trainer.global_rank}.pt"
        )
