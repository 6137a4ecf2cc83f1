"""Seconds and quality per epoch: PinSage's recipes against LightGCN-BPR and MF-BPR.

    python -m benchmarks.epochs                                  # Gowalla, 4 epochs each
    python -m benchmarks.epochs --epochs 2 --methods "PinSage (halves)" LightGCN-BPR

On one dataset (Gowalla's LightGCN split by default), each method trains ``--epochs``
epochs (at most ``--minutes`` of training), one after the other on this machine, from its
settings chosen on validation (``benchmarks/tuned/<dataset>.json``), and its validation
``full_ranking/recall@20`` is scored after every epoch (evaluation is off the clock):

- **PinSage**: the tuned record, the ``boards`` task (a row per save: the query from up
  to 50 other pins of its board, the save's pin the positive);
- **PinSage (halves)**: the same record with ``data.task.kind halves`` (two rows per
  board: each half's query against every pin of the other half, so an epoch is a pass
  over boards; :class:`~pinsage_dgl.sampling.HalvesCollator`) and the rest of
  ``configs/recipes/halves.yaml`` (whole-graph steps of 256 boards, ``bf16-mixed``);
- **LightGCN-BPR**, **MF-BPR**: their tuned records.

Each epoch is a pass over every training save as a positive, for every row. PinSage rows
score their embeddings alone (walk weight 0): the walk term is added after training,
costs no training time and the factor models have none. The report gives each method's
seconds per epoch (the median epoch), its ratio to LightGCN-BPR's in the same run, and
the validation recall after each epoch. Writes ``epochs.json`` and ``epochs.md``.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from benchmarks import methods as M
from benchmarks.common import (
    DATA_ROOT,
    ROOT,
    benchmark_parser,
    machine_description,
    write_report,
)

METRIC = "full_ranking/recall@20"
PEER = "LightGCN-BPR"
# the halves task's run as the CLI stacks it: whole-graph steps of 256 boards, matrix
# products in bfloat16 (the loss stays float32; experiment 82)
HALVES = M.recipe_settings(ROOT / "configs" / "recipes" / "halves.yaml")


def methods(dataset: str, tuned_dir: Path) -> dict[str, dict[str, Any]]:
    """Each row's method and settings: the tuned records (the defaults where absent)."""
    path = tuned_dir / f"{dataset}.json"
    tuned = json.loads(path.read_text())["methods"] if path.exists() else {}

    def chosen(method: str) -> dict[str, Any]:
        return dict(tuned.get(method, {}).get("settings") or M.METHODS[method].defaults)

    pinsage = {**chosen("PinSage"), "model.walk_weight": 0.0}  # the embeddings alone
    return {
        "PinSage": {"method": "PinSage", "settings": pinsage},
        "PinSage (halves)": {"method": "PinSage", "settings": {**pinsage, **HALVES}},
        "LightGCN-BPR": {"method": "LightGCN-BPR", "settings": chosen("LightGCN-BPR")},
        "MF-BPR": {"method": "MF-BPR", "settings": chosen("MF-BPR")},
    }


def run(
    method: str, settings: dict[str, Any], dataset: M.Dataset, epochs: int, seed: int
) -> dict[str, Any]:
    """Train ``epochs`` epochs (within the dataset's training cap), scoring validation
    after each; the seconds and the validation metric of every epoch."""
    budget = dataclasses.replace(dataset, max_epochs=epochs)
    settings = {**settings, "epochs": epochs}
    dm = M.datamodule(budget, settings, seed, fold_validation=False)
    curve: list[dict[str, float]] = []

    def on_epoch(epoch: int, seconds: float, scorer: Any) -> bool:
        value = M.validation_metrics(scorer, dm)[METRIC]
        previous = curve[-1]["train_seconds"] if curve else 0.0
        curve.append(
            {
                "epoch": epoch + 1,
                "train_seconds": round(seconds, 2),
                "epoch_seconds": round(seconds - previous, 2),
                METRIC: round(value, 4),
            }
        )
        print(
            f"    epoch {epoch + 1}: {seconds - previous:.1f} s, {METRIC} {value:.4f}", flush=True
        )
        return False

    M.train(method, dm, budget, settings, seed, on_epoch)
    return {
        "method": method,
        "settings": settings,
        "seconds_per_epoch": statistics.median(p["epoch_seconds"] for p in curve),
        "curve": curve,
    }


def markdown(report: dict[str, Any]) -> str:
    rows = report["rows"]
    epochs = max(len(r["curve"]) for r in rows.values())
    peer = rows.get(PEER, {}).get("seconds_per_epoch")
    lines = [
        f"Machine: {report['machine']}. Command: `{report['command']}`. {report['dataset']}: "
        f"each method {report['epochs']} epochs (at most {report['minutes']:g} min of "
        "training), one after the other; validation "
        f"{METRIC} after each epoch (PinSage: the embeddings alone).",
        "",
        f"| method | s / epoch (median) | × {PEER} | "
        + " | ".join(f"after epoch {e}" for e in range(1, epochs + 1))
        + " |",
        "| --- | ---: | ---: |" + " ---: |" * epochs,
    ]
    for name, r in rows.items():
        ratio = "—" if not peer else f"{r['seconds_per_epoch'] / peer:.2f}"
        values = [f"{p[METRIC]:.4f}" for p in r["curve"]]
        values += ["—"] * (epochs - len(values))
        lines.append(
            f"| {name} | {r['seconds_per_epoch']:.1f} | {ratio} | " + " | ".join(values) + " |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--dataset", default="gowalla", choices=M.DATASETS[:-1])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--minutes", type=float, default=30.0, help="training cap per method")
    parser.add_argument("--methods", nargs="+", help="only these rows (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-root", default=str(DATA_ROOT))
    parser.add_argument("--tuned", type=Path, default=ROOT / "benchmarks" / "tuned")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be >= 1, got {args.epochs}")
    dataset = dataclasses.replace(
        M.datasets(args.data_root)[args.dataset], trial_minutes=args.minutes
    )
    chosen = methods(args.dataset, args.tuned)
    unknown = set(args.methods or ()) - set(chosen)
    if unknown:
        parser.error(f"unknown methods {sorted(unknown)}; choose from {sorted(chosen)}")
    rows = {}
    for name, row in chosen.items():
        if args.methods and name not in args.methods:
            continue
        print(f"{name}:", flush=True)
        rows[name] = run(row["method"], row["settings"], dataset, args.epochs, args.seed)
    report = {
        "machine": machine_description(),
        "command": "python -m benchmarks.epochs "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "dataset": args.dataset,
        "epochs": args.epochs,
        "minutes": args.minutes,
        "metric": METRIC,
        "rows": rows,
    }
    write_report(args.out, "epochs", report, markdown)
    return report


if __name__ == "__main__":
    main()
