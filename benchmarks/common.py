"""What every benchmark report states about where it ran."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = RESULTS.parents[1]  # the checkout
DATA_ROOT = ROOT.parent / "shared" / "data"  # the real datasets, beside the checkout

# DGL's PinSAGE example (examples/pytorch/pinsage) as our settings: its defaults, hidden 64
# as its README runs it; what differs is said where it is used
DGL_EXAMPLE_RECIPE: dict[str, Any] = {
    "data.task.kind": "pairs",
    "data.batch_size": 32,
    "data.negatives.num_random": 1,
    "data.negatives.shared": False,
    "data.neighborhood.num_neighbors": 3,
    "data.neighborhood.num_walks": 10,
    "data.neighborhood.walk_length": 2,
    "data.neighborhood.restart_prob": 0.5,
    "model.hidden_dim": 64,
    "model.out_dim": 64,
    "model.num_layers": 2,
    "model.id_embedding": True,
    "model.loss": "margin",
    "model.lr": 3e-5,
    "model.weight_decay": 0.0,
    "model.dropout": 0.0,
    "model.query": "mean",
    "model.layer_combination": "last",
    "model.popularity_prior": False,
    "model.walk_weight": 0.0,
}


def machine_description() -> str:
    """CPU, core count and library versions, e.g. for a report's header."""
    import dgl
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {gpu}, "
        f"torch {torch.__version__}, dgl {dgl.__version__}"
    )


def matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
    """This machine's float32 matrix-multiply rate in GFLOP/s (all threads torch uses),
    best of ``repeats``."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def benchmark_parser(description: str | None) -> argparse.ArgumentParser:
    """A benchmark's command line: its module docstring as help, and ``--out`` (the
    directory of its reports, ``benchmarks/results`` by default)."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the reports go")
    return parser


def write_report(
    out: Path, stem: str, report: dict[str, Any], markdown: Callable[[dict], str]
) -> str:
    """Write ``<stem>.json`` and ``<stem>.md`` (atomically) to ``out``, print the markdown
    and return it."""
    from pinsage_dgl.io import write_text_atomic

    out.mkdir(parents=True, exist_ok=True)
    text = markdown(report)
    write_text_atomic(out / f"{stem}.json", json.dumps(report, indent=1) + "\n")
    write_text_atomic(out / f"{stem}.md", text)
    print(text)
    return text


def memory_gib(field: str) -> float:
    """A ``/proc/self/status`` memory field of this process in GiB (``VmRSS``, ``VmHWM``:
    the peak since start or the last :func:`reset_peak_memory`)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 2**20
    return float("nan")


def reset_peak_memory() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux ≥ 4.0); False if refused."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


@contextlib.contextmanager
def peer_checkout(commit: str, work: Path) -> Iterator[Path]:
    """The repository at ``commit``, checked out (``git worktree``) under ``work`` for as
    long as the context lasts: a peer whose code a benchmark runs beside this checkout's."""
    peer = work / f"peer-{commit}"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(peer), commit],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    try:
        yield peer
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(peer)], cwd=ROOT, check=False)
