"""Two CPU processes (DDP, gloo) through the CLI: disjoint shards, and as good as one process."""

import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch

from datamodules import SyntheticDataModule
from pinsage_dgl.lit import PinSageModule
from tests.conftest import popularity_recall

ROOT = Path(__file__).resolve().parents[2]
SIZE = {"num_pins": 1500, "num_boards": 600, "num_topics": 8}
# stated tolerance: 2-process training may trail 1-process by at most this much
# full-ranking recall@20. The 2-process run gets twice the epochs, so both make the same
# number of optimiser steps (each DDP step sees a 2x batch).
TOLERANCE = 0.05


def fit(out: Path, *extra: str) -> Path:
    args = [
        sys.executable,
        "-m",
        "pinsage_dgl.cli",
        "fit",
        "--config",
        "configs/synthetic.yaml",
        *extra,
        *(f"--data.init_args.{k}={v}" for k, v in SIZE.items()),
        "--data.init_args.batch_size=64",
        "--trainer.enable_progress_bar=false",
        "--trainer.logger=false",
        f"--trainer.default_root_dir={out}",
        f"--trainer.callbacks.init_args.dirpath={out}/checkpoints",
        "--trainer.callbacks+=tests.lit.recorders.RecordEdges",
        f"--trainer.callbacks.init_args.out_dir={out}",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, done.stderr[-3000:]
    return out / "checkpoints" / "last.ckpt"


def test_metrics(checkpoint: Path) -> dict:
    model = PinSageModule.load_from_checkpoint(checkpoint, map_location="cpu")
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    (metrics,) = trainer.test(model, SyntheticDataModule(**SIZE))
    return metrics


test_metrics.__test__ = False  # a helper, not a test


@pytest.mark.slow
def test_two_processes_train_disjoint_shards_as_well_as_one(tmp_path):
    single = fit(tmp_path / "single", "--trainer.max_epochs=4")
    double = fit(
        tmp_path / "ddp", "--config", "configs/trainer/ddp_cpu.yaml", "--trainer.max_epochs=8"
    )

    rank0 = torch.load(tmp_path / "ddp" / "edges-rank0.pt")
    rank1 = torch.load(tmp_path / "ddp" / "edges-rank1.pt")
    one = torch.load(tmp_path / "single" / "edges-rank0.pt")

    def edges(record: torch.Tensor, epoch: int) -> set[int]:
        return set(record[1][record[0] == epoch].tolist())

    for epoch in range(4):  # each epoch, the ranks' shards are disjoint and cover the edges
        a, b, whole = edges(rank0, epoch), edges(rank1, epoch), edges(one, epoch)
        assert len(a & b) <= 64  # an odd number of batches: one batch is drawn twice
        assert abs(len(a) - len(b)) < 0.02 * len(whole)
        # (a few edges of 2-pin boards drop out when no positive is drawn, on either side)
        assert len(whole - (a | b)) < 0.02 * len(whole)

    single_metrics, ddp_metrics = test_metrics(single), test_metrics(double)
    one, two = (
        single_metrics["test/full_ranking/recall@20"],
        ddp_metrics["test/full_ranking/recall@20"],
    )
    print(f"recall@20 one process {one:.4f}, two {two:.4f}")
    assert two >= one - TOLERANCE
    assert (
        ddp_metrics["test/full_ranking/recall@20"]
        > popularity_recall(SyntheticDataModule(**SIZE)) + 0.05
    )
