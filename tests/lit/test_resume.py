"""`pinsage fit` killed with SIGKILL mid-epoch resumes exactly where it stopped."""

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from datamodules import SyntheticDataModule
from pinsage_dgl.evaluation import evaluate
from pinsage_dgl.history import BoardHistories
from pinsage_dgl.inference import embed_all_pins
from pinsage_dgl.lit import PinSageModule

ROOT = Path(__file__).resolve().parents[2]
DATA = {"num_pins": 600, "num_boards": 240, "num_topics": 5, "batch_size": 128}
STEPS, EVERY, KILL = 100, 20, 50  # ~29 steps an epoch: the kill lands mid-epoch 2


def fit(root: Path, workers: int, *extra: str) -> subprocess.CompletedProcess:
    """`pinsage fit` with everything that decides training after a checkpoint: dropout,
    a neighbour table re-walked every epoch, a hard-negative curriculum."""
    checkpoint = (
        "{class_path: lightning.pytorch.callbacks.ModelCheckpoint, init_args: "
        f"{{dirpath: {root / 'ckpt'}, every_n_train_steps: {EVERY}, save_last: true, "
        "monitor: null, save_top_k: -1}}"
    )
    args = [
        sys.executable, "-m", "pinsage_dgl.cli", "fit",
        "--config", "configs/synthetic.yaml",
        *[f"--data.init_args.{k}={v}" for k, v in DATA.items()],
        f"--data.init_args.num_workers={workers}",
        "--data.init_args.neighborhood.num_walks=10",
        "--model.hidden_dim=32", "--model.out_dim=16", "--model.dropout=0.1",
        f"--trainer.max_steps={STEPS}", "--trainer.max_epochs=-1",
        "--trainer.deterministic=true",
        "--trainer.logger=false", "--trainer.limit_val_batches=0",
        f"--trainer.default_root_dir={root}",
        f"--trainer.callbacks=[{checkpoint}]",
        "--trainer.callbacks+=pinsage_dgl.lit.NeighborTableRefresh",
        "--trainer.callbacks+=pinsage_dgl.lit.HardNegativeCurriculum",
        "--trainer.callbacks.init_args.max_per_query=2",
        *extra,
    ]  # fmt: skip
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True)


def load(checkpoint: Path) -> dict:
    return torch.load(checkpoint, map_location="cpu", weights_only=True)


def embeddings_and_metrics(checkpoint: Path) -> tuple[torch.Tensor, dict]:
    """Every pin's embedding (over the table of the run's last epoch) and the test metrics."""
    data = SyntheticDataModule(**DATA)
    data.training_graph.refresh_neighbors(load(checkpoint)["epoch"])  # as NeighborTableRefresh
    module = PinSageModule.load_from_checkpoint(checkpoint, map_location="cpu")
    embeddings = embed_all_pins(module.model, *data.training_graph.inference_inputs())
    split = data.split
    histories = BoardHistories(split.train, split.val)
    metrics = evaluate(module.scorer(embeddings), histories, split.test)
    return embeddings, metrics


@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 2])
def test_sigkill_mid_epoch_then_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path, workers):
    whole = fit(tmp_path / "whole", workers)
    assert whole.returncode == 0, whole.stderr[-2000:]

    crashed = tmp_path / "crashed"
    killed = fit(
        crashed,
        workers,
        f"--trainer.callbacks+={{class_path: tests.lit.crash.KillAtStep, "
        f"init_args: {{step: {KILL}}}}}",
    )
    assert killed.returncode == -signal.SIGKILL
    last = crashed / "ckpt" / "last.ckpt"
    assert load(last)["global_step"] == 40  # the last checkpoint before the kill
    assert load(last)["epoch"] == 1  # mid-epoch 2: one table refresh, one hard negative
    assert not list((crashed / "ckpt").glob("*.tmp*"))  # nothing half-written

    resumed = fit(crashed, workers, "--ckpt_path=last")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"Restored all states from the checkpoint at {last}" in resumed.stderr + resumed.stdout
    assert "not resumable" not in resumed.stderr  # Lightning saw a stateful loader

    expected, got = load(tmp_path / "whole" / "ckpt" / "last.ckpt"), load(last)
    assert got["global_step"] == expected["global_step"] == STEPS
    # every weight, and Adam's moments, bit for bit
    assert expected["state_dict"].keys() == got["state_dict"].keys()
    for name, tensor in expected["state_dict"].items():
        assert torch.equal(tensor, got["state_dict"][name]), name
    for a, b in zip(
        expected["optimizer_states"][0]["state"].values(),
        got["optimizer_states"][0]["state"].values(),
        strict=True,
    ):
        assert all(torch.equal(a[k], b[k]) for k in a)
    (embeddings, metrics), (again, again_metrics) = (
        embeddings_and_metrics(tmp_path / "whole" / "ckpt" / "last.ckpt"),
        embeddings_and_metrics(last),
    )
    assert torch.equal(embeddings, again) and metrics == again_metrics
