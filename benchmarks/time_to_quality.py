"""Time to quality: how long PinSage takes to reach DGL's PinSAGE example's HITS@10.

    python -m benchmarks.time_to_quality                  # MovieLens-100K, 12 min per recipe
    python -m benchmarks.time_to_quality --minutes 2      # a quicker look

DGL's PinSAGE example (``examples/pytorch/pinsage``), run on this kind of 2-core machine,
reaches HITS@10 ≈ 0.097 on MovieLens-100K (each user's latest movie held out by time;
the nearest neighbours of the user's latest training movie, seen movies masked) after 12
minutes of training (GUIDE.md §2); its script is not installable here (no PyPI package,
and its preprocessing breaks on pandas 2). So this run trains, one after the other on the
same machine and the same split, each for at most ``--minutes`` of training (evaluation
excluded) and stopped after ``tune.PATIENCE`` epochs without a new best:

- **DGL example's recipe**: its settings in our training loop, its blocks built by
  ``dgl.sampling.PinSAGESampler`` (batch 32 co-saved pairs, one random negative each,
  max-margin loss, hidden 64, T = 3 from 10 walks of 2 hops with restart 0.5, K = 2,
  a learned id embedding beside the features, Adam at its learning rate 3e-5). What
  differs from its script: our convolution and normalised outputs (margin 0.1 on
  cosines where it puts margin 1 on dot products plus a learned item bias);
- **PinSage**: the settings the tuner chose on validation recall@20
  (``benchmarks/tuned/<dataset>.json``; the defaults where absent).

After every epoch each recipe's validation ``latest_pin/hits@10`` (DGL's protocol) and
``full_ranking/recall@20`` are recorded against training seconds; the report gives the
first training time at which each reaches ``--target`` (default 0.097) and its best.
Validation only: no test pin is scored. Writes ``time_to_quality.json`` and
``time_to_quality.md`` to ``--out``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import methods as M
from benchmarks.common import (
    DATA_ROOT,
    DGL_EXAMPLE_RECIPE,
    ROOT,
    benchmark_parser,
    machine_description,
    write_report,
)
from benchmarks.tune import PATIENCE

METRIC = "latest_pin/hits@10"
DGL_EXAMPLE_HITS = 0.097  # its HITS@10 after 12 minutes on MovieLens-100K (GUIDE.md §2)


def recipes(dataset: str, tuned_dir: Path) -> dict[str, dict[str, Any]]:
    """The recipes this benchmark trains: DGL's example's and PinSage's chosen settings."""
    path = tuned_dir / f"{dataset}.json"
    tuned = json.loads(path.read_text())["methods"] if path.exists() else {}
    chosen = tuned.get("PinSage", {}).get("settings")
    return {
        "DGL example's recipe": {
            "settings": DGL_EXAMPLE_RECIPE,
            "source": "examples/pytorch/pinsage's defaults (hidden 64 as its README runs it)",
            "dgl_sampler": True,
        },
        "PinSage": {
            "settings": dict(chosen or {}),  # over the dataset's config and the defaults
            "source": f"tuned on validation ({path.name})" if chosen else "defaults (not tuned)",
            "dgl_sampler": False,
        },
    }


def run_recipe(
    recipe: dict[str, Any], dataset: M.Dataset, minutes: float, seed: int, target: float
) -> dict[str, Any]:
    """Train one recipe for at most ``minutes``, scoring validation after every epoch."""
    settings = recipe["settings"]
    budget = dataclasses.replace(dataset, trial_minutes=minutes, max_epochs=10**6)
    dm = M.datamodule(budget, settings, seed, fold_validation=False)
    dm.setup("fit")
    if recipe["dgl_sampler"]:
        from benchmarks.speed import dgl_sampler

        walks = {
            k: settings[f"data.neighborhood.{k}"]
            for k in ("num_walks", "walk_length", "restart_prob")
        }
        neighbors = settings["data.neighborhood.num_neighbors"]
        dm.use_sampler(dgl_sampler(dm.split.train, dm.num_layers, neighbors, walks))
    curve: list[dict[str, float]] = []
    best = {"epoch": 0, "value": -1.0}

    def on_epoch(epoch: int, seconds: float, scorer: Any) -> bool:
        metrics = M.validation_metrics(scorer, dm)
        value = metrics[METRIC]
        curve.append(
            {
                "epoch": epoch + 1,
                "train_seconds": round(seconds, 2),
                METRIC: round(value, 4),
                "full_ranking/recall@20": round(metrics["full_ranking/recall@20"], 4),
            }
        )
        print(f"    epoch {epoch + 1}: {seconds:.1f} s, {METRIC} {value:.4f}", flush=True)
        if value > best["value"]:
            best.update(epoch=epoch + 1, value=value)
        return epoch + 1 - best["epoch"] >= PATIENCE

    started = time.perf_counter()
    M.train("PinSage", dm, budget, settings, seed, on_epoch)
    reached = next((point for point in curve if point[METRIC] >= target), None)
    top = max(curve, key=lambda point: point[METRIC])
    return {
        "settings": settings,
        "source": recipe["source"],
        "sampler": "dgl.sampling.PinSAGESampler" if recipe["dgl_sampler"] else "neighbour table",
        "full_graph_steps": dm.full_graph,
        "seconds_to_target": None if reached is None else reached["train_seconds"],
        "epochs_to_target": None if reached is None else reached["epoch"],
        "best": top,
        "curve": curve,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }


def markdown(report: dict[str, Any]) -> str:
    target = report["target"]
    lines = [
        f"Machine: {report['machine']}. Command: `{report['command']}`. {report['dataset']}: "
        f"validation {METRIC} after each epoch, at most {report['minutes']:g} min of training "
        f"per recipe (evaluation excluded), one recipe after the other. Target {target:g}: "
        "DGL's PinSAGE example after 12 minutes here (GUIDE.md §2).",
        "",
        f"| recipe | sampler | training s to {METRIC} ≥ {target:g} | epochs | best {METRIC} "
        "| at s | recall@20 there | epochs run |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in report["recipes"].items():
        to_target = "not reached" if r["seconds_to_target"] is None else r["seconds_to_target"]
        best = r["best"]
        lines.append(
            f"| {name} | {r['sampler']} | {to_target} | {r['epochs_to_target'] or '—'} | "
            f"{best[METRIC]:.3f} | {best['train_seconds']} | "
            f"{best['full_ranking/recall@20']:.3f} | {len(r['curve'])} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--dataset", default="movielens-100k", choices=M.DATASETS[:-1])
    parser.add_argument("--minutes", type=float, default=12.0, help="training cap per recipe")
    parser.add_argument("--target", type=float, default=DGL_EXAMPLE_HITS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-root", default=str(DATA_ROOT))
    parser.add_argument("--tuned", type=Path, default=ROOT / "benchmarks" / "tuned")
    parser.add_argument("--recipes", nargs="+", help="only these recipes (default: all)")
    args = parser.parse_args(argv)
    dataset = M.datasets(args.data_root)[args.dataset]
    chosen = recipes(args.dataset, args.tuned)
    unknown = set(args.recipes or ()) - set(chosen)
    if unknown:
        parser.error(f"unknown recipes {sorted(unknown)}; choose from {sorted(chosen)}")
    results = {}
    for name, recipe in chosen.items():
        if args.recipes and name not in args.recipes:
            continue
        print(f"{name}:", flush=True)
        results[name] = run_recipe(recipe, dataset, args.minutes, args.seed, args.target)
    report = {
        "machine": machine_description(),
        "command": "python -m benchmarks.time_to_quality "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "dataset": args.dataset,
        "minutes": args.minutes,
        "target": args.target,
        "metric": METRIC,
        "recipes": results,
    }
    write_report(args.out, "time_to_quality", report, markdown)
    return report


if __name__ == "__main__":
    main()
