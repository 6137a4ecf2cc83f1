"""Negatives ablation on the NCF split: the same training time for each variant.

    python -m benchmarks.ablation --minutes 12          # ~40 min on 2 CPU cores
    python -m benchmarks.ablation --minutes 1 --data ../shared/data/ncf-movielens-1m

Variants (all with the neighbour-table sampler, everything else as
``configs/ncf-movielens-1m.yaml``):

1. ``random``: 20 random negatives per query (DGL example style);
2. ``+ shared pool``: one pool of 500 random negatives shared by the minibatch;
3. ``+ hard curriculum``: the pool plus the paper's hard-negative curriculum (n − 1 hard
   negatives per query at epoch n, capped at 6).

Each is trained with ``pinsage fit`` for ``--minutes`` and tested with ``pinsage test``
on its last checkpoint. Writes ``<out>/ablation.json`` and ``<out>/ablation.md``.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = "configs/ncf-movielens-1m.yaml"
VARIANTS = {
    "random": ["--data.init_args.shared_negatives=false", "--data.init_args.num_negatives=20"],
    "+ shared pool": [
        "--data.init_args.shared_negatives=true",
        "--data.init_args.num_negatives=500",
    ],
    "+ hard curriculum": [
        "--data.init_args.shared_negatives=true",
        "--data.init_args.num_negatives=500",
        "--trainer.callbacks+=pinsage_dgl.lit.HardNegativeCurriculum",
        "--trainer.callbacks.init_args.max_per_query=6",
    ],
}
METRICS = ["test/sampled/hr@10", "test/sampled/ndcg@10", "test/full_ranking/recall@20"]


def pinsage(*args: str) -> None:
    command = [sys.executable, "-m", "pinsage_dgl.cli", *args]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")


def run_variant(name: str, extra: list[str], minutes: float, data: str, out: Path) -> dict:
    run = out / name.replace(" ", "").replace("+", "plus-")
    common = [
        "--config",
        CONFIG,
        f"--data.init_args.path={data}",
        "--data.init_args.neighbor_table=true",
        "--trainer.enable_progress_bar=false",
    ]
    max_time = f"00:00:{int(minutes):02d}:{round(minutes % 1 * 60):02d}"
    # the checkpoint override must precede `callbacks+=`, which it would otherwise address
    pinsage(
        "fit",
        *common,
        f"--trainer.callbacks.init_args.dirpath={run}/checkpoints",
        *extra,
        f"--trainer.max_time={max_time}",
        f"--trainer.default_root_dir={run}",
        f"--trainer.logger.init_args.save_dir={run}",
    )
    test_logs = run / "test"
    pinsage(
        "test",
        *common,
        f"--ckpt_path={run}/checkpoints/last.ckpt",
        "--trainer.callbacks=null",
        f"--trainer.logger.init_args.save_dir={test_logs}",
    )
    with open(next(test_logs.rglob("metrics.csv"))) as f:
        row = next(csv.DictReader(f))
    with open(next((run / "lightning_logs").rglob("metrics.csv"))) as f:
        steps = max(int(r["step"]) for r in csv.DictReader(f) if r.get("step"))
    result = {"variant": name, "minutes": minutes, "steps": steps}
    result.update({m: float(row[m]) for m in METRICS})
    result["popularity/hr@10"] = float(row["test/popularity/sampled/hr@10"])
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=12.0, help="training time per variant")
    parser.add_argument("--data", default="../shared/data/ncf-movielens-1m")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    runs = args.out / "ablation-runs"
    results = []
    for name, extra in VARIANTS.items():
        results.append(run_variant(name, extra, args.minutes, args.data, runs))
        print(json.dumps(results[-1]), flush=True)
    lines = [
        f"NCF split of MovieLens-1M, {args.minutes:g} min of training per variant "
        f"(`python -m benchmarks.ablation --minutes {args.minutes:g}`)",
        "",
        "| variant | HR@10 | NDCG@10 | full-ranking recall@20 | training steps |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r['variant']} | {r['test/sampled/hr@10']:.3f} | "
            f"{r['test/sampled/ndcg@10']:.3f} | {r['test/full_ranking/recall@20']:.3f} | "
            f"{r['steps']} |"
        )
    lines.append(f"| popularity (same harness) | {results[0]['popularity/hr@10']:.3f} | | | |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ablation.json").write_text(json.dumps(results, indent=1))
    (args.out / "ablation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
