"""Quality benchmark: PinSage against the usual baselines, under the four protocols.

    python -m benchmarks.quality                                   # all three datasets
    python -m benchmarks.quality --datasets synthetic movielens-100k
    python -m benchmarks.quality --data-root /path/to/data         # other data location
    python -m benchmarks.quality --datasets table --table my.parquet \\
        --pin-col item --board-col user --timestamp-col ts         # your own interactions
    python -m benchmarks.quality --datasets table --table train.csv --test-table test.csv

Every method sees the same split and is scored by :func:`pinsage_dgl.evaluation.evaluate`:
popularity, item kNN (cosine), Pixie-like walk counts, MF-BPR, features only (PinSage with
K = 0), GraphSAGE (uniform neighbours, mean pooling), PinSage without hard negatives, and
PinSage with the hard-negative curriculum. Learned models stop at their epoch count or at
the dataset's time budget, whichever comes first. PinSage's embeddings are also scored
with each board-query mode (mean, recency, multi-query).

Writes ``quality.json``, ``quality.md`` and ``quality.png`` to ``--out``. A run of some
datasets or methods updates those entries of an existing ``quality.json`` and keeps the
rest (each dataset records the command and machine of its latest run), so the table can
be built up piece by piece; ``--fresh`` starts over.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch

from benchmarks.common import machine_description
from datamodules import MovieLensDataModule, NCFDataModule, SyntheticDataModule, TableDataModule
from datamodules.base import PinSageDataModule
from pinsage_dgl.baselines import ItemKNN, MatrixFactorization, PixieWalks, Popularity
from pinsage_dgl.evaluation import QUERY_MODES, BoardHistories, EmbeddingScorer, evaluate
from pinsage_dgl.inference import embed_all_pins
from pinsage_dgl.io import atomic_path, write_text_atomic
from pinsage_dgl.lit import HardNegativeCurriculum, PinSageModule

ROOT = Path(__file__).resolve().parents[1]
METHODS = (
    "popularity",
    "item kNN",
    "Pixie walks",
    "MF-BPR",
    "features only",
    "GraphSAGE",
    "PinSage, no hard negatives",
    "PinSage",
)
LEARNED_GRAPH = {
    # method → datamodule and module overrides of the dataset's PinSage settings
    "features only": ({"num_layers": 0}, {"id_embedding": False}),
    "GraphSAGE": ({"neighborhood": "uniform"}, {}),
    "PinSage, no hard negatives": ({}, {}),
    "PinSage": ({}, {}),
}


@dataclasses.dataclass
class Setting:
    """How one dataset is benchmarked."""

    make: Callable[..., PinSageDataModule]
    primary: str
    budget_minutes: float  # per learned model
    epochs: int
    data: dict[str, Any]
    model: dict[str, Any]
    mf_epochs: int = 30
    hard_negatives: int = 3
    note: str = ""
    targets: dict[str, float] = dataclasses.field(default_factory=dict)


def settings(args: argparse.Namespace) -> dict[str, Setting]:
    root = Path(args.data_root)
    pinsage_data = {
        "task": "boards",
        "batch_size": 512,
        "num_negatives": 500,
        "num_neighbors": 10,
        "num_walks": 40,
        "max_history": 50,
    }
    pinsage_model = {"hidden_dim": 128, "out_dim": 64, "lr": 3e-3, "id_embedding": True}
    # the two small datasets share a budget and full ranking as their primary metric
    small = {
        "primary": "full_ranking/recall@20",
        "budget_minutes": 3,
        "epochs": 20,
        "data": {**pinsage_data, "batch_size": 256},
        "model": pinsage_model,
    }
    return {
        "synthetic": Setting(
            make=lambda **kw: SyntheticDataModule(num_pins=5000, num_boards=2000, **kw),
            **small,
            note="the demo graph: 5,000 pins, 2,000 boards with planted topics",
        ),
        "movielens-100k": Setting(
            make=lambda **kw: MovieLensDataModule(path=str(root / "movielens-100k"), **kw),
            **small,
            note="each user's latest movie held out (by timestamp)",
        ),
        "ncf-movielens-1m": Setting(
            make=lambda **kw: NCFDataModule(
                path=str(root / "ncf-movielens-1m"),
                movies_path=str(root / "movielens-1m"),
                **kw,
            ),
            primary="sampled/hr@10",
            budget_minutes=8,
            epochs=8,
            data=pinsage_data,
            model=pinsage_model,
            note="the NCF split: latest item vs 99 sampled negatives",
            targets={"sampled/hr@10": 0.73, "sampled/ndcg@10": 0.45},
        ),
        "table": Setting(
            make=lambda **kw: TableDataModule(
                interactions=args.table,
                pin_col=args.pin_col,
                board_col=args.board_col,
                timestamp_col=args.timestamp_col,
                test_interactions=args.test_table,
                pin_features=args.pin_features,
                pin_title_col=args.pin_title_col,
                **kw,
            ),
            primary="full_ranking/recall@20",
            budget_minutes=args.budget_minutes or 5,
            epochs=10,
            data=pinsage_data,
            model=pinsage_model,
            note=f"your table {args.table}",
        ),
    }


def quick(setting: Setting) -> Setting:
    """Tiny settings that exercise every method in seconds (smoke tests, CI)."""
    return dataclasses.replace(
        setting,
        budget_minutes=0.5,
        epochs=1,
        mf_epochs=1,
        hard_negatives=1,
        data={**setting.data, "num_walks": 5, "num_negatives": 50},
        model={**setting.model, "hidden_dim": 16, "out_dim": 8},
    )


def train_pinsage(
    setting: Setting, data: dict, model: dict, hard: int, seed: int, progress: bool
) -> tuple[torch.Tensor, PinSageDataModule, int]:
    """Train one PinSage variant; returns all pins' embeddings, its datamodule and steps."""
    L.seed_everything(seed, workers=True, verbose=False)
    dm = setting.make(**{**setting.data, **data, "seed": seed})
    module = PinSageModule(
        pin_spec=dm.feature_spec,
        num_pins=dm.num_pins,
        num_layers=dm.sampler_settings["num_layers"],
        **{**setting.model, **model},
    )
    callbacks = [HardNegativeCurriculum(max_per_query=hard)] if hard else []
    trainer = L.Trainer(
        max_epochs=setting.epochs,
        max_time=datetime.timedelta(minutes=setting.budget_minutes),
        accelerator="auto",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        limit_val_batches=0,
        enable_progress_bar=progress,
        enable_model_summary=False,
        callbacks=callbacks,
    )
    trainer.fit(module, datamodule=dm)
    embeddings = embed_all_pins(module.model, *dm.inference_inputs())
    return embeddings, dm, trainer.global_step


def run_dataset(name: str, setting: Setting, args: argparse.Namespace) -> dict:
    """Every method on one dataset; returns the dataset's section of the report."""
    reference = setting.make(**{**setting.data, "seed": args.seed})
    split = reference.split
    train = split.train
    # test time: the validation pins are known history, not competitors
    histories = BoardHistories(train, split.val)
    candidates = reference.test_candidates

    def score(scorer: Any) -> dict[str, float]:
        return evaluate(scorer, histories, split.test, candidates=candidates)

    fitters: dict[str, Callable[[], tuple[Any, dict]]] = {
        "popularity": lambda: (Popularity(train), {}),
        "item kNN": lambda: (ItemKNN(train), {}),
        "Pixie walks": lambda: (PixieWalks(train), {}),
        "MF-BPR": lambda: (
            MatrixFactorization(train.num_boards, train.num_pins).fit(
                train, epochs=setting.mf_epochs, seed=args.seed, progress=args.progress
            ),
            {"epochs": setting.mf_epochs},
        ),
    }
    results: dict[str, dict] = {}
    query_modes: dict[str, dict] = {}
    for method in args.methods:
        if method == "features only" and len(train.pin_spec) == 0:
            print(f"{name}: no pin features, so no features-only model", flush=True)
            continue
        start = time.perf_counter()
        if method in fitters:
            scorer, info = fitters[method]()
        else:
            data, model = LEARNED_GRAPH[method]
            hard = setting.hard_negatives if method == "PinSage" else 0
            embeddings, dm, steps = train_pinsage(
                setting, data, model, hard, args.seed, args.progress
            )
            if not torch.equal(dm.split.test, split.test):
                raise RuntimeError(f"{name}: {method} saw a different split")
            scorer, info = EmbeddingScorer(embeddings, query=args.query), {"steps": steps}
        fit_seconds = time.perf_counter() - start
        metrics = score(scorer)
        results[method] = {
            **metrics,
            **info,
            "fit_seconds": round(fit_seconds, 1),
            "eval_seconds": round(time.perf_counter() - start - fit_seconds, 1),
        }
        if method == "PinSage":
            for mode in (m for m in QUERY_MODES if m != "attention"):
                query_modes[mode] = score(EmbeddingScorer(embeddings, query=mode))
        print(f"{name:18s} {method:28s} {json.dumps(results[method])}", flush=True)
    return {
        "note": setting.note,
        "primary": setting.primary,
        "budget_minutes": setting.budget_minutes,
        "epochs": setting.epochs,
        "pinsage_data": setting.data,
        "pinsage_model": setting.model,
        "hard_negatives_max": setting.hard_negatives,
        "query": args.query,
        "pins": train.num_pins,
        "boards": train.num_boards,
        "test_pairs": len(split.test),
        "methods": results,
        "pinsage_query_modes": query_modes,
        "targets": setting.targets,
        "checks": checks(results, setting),
    }


def checks(results: dict[str, dict], setting: Setting) -> dict[str, bool | None]:
    """Did PinSage win, and did the ablation go the paper's way?"""
    primary = setting.primary

    def value(method: str) -> float | None:
        return results.get(method, {}).get(primary)

    out: dict[str, bool | None] = {}
    pinsage = value("PinSage")
    others = [value(m) for m in results if m != "PinSage" and value(m) is not None]
    out["PinSage ahead of every baseline"] = (
        None if pinsage is None or not others else pinsage > max(others)
    )
    pairs = {
        "importance pooling beats mean pooling (GraphSAGE)": (
            "PinSage, no hard negatives",
            "GraphSAGE",
        ),
        "hard negatives help": ("PinSage", "PinSage, no hard negatives"),
        "the graph helps (over features only)": ("PinSage, no hard negatives", "features only"),
    }
    for label, (better, worse) in pairs.items():
        a, b = value(better), value(worse)
        out[label] = None if a is None or b is None else a > b
    for metric, target in setting.targets.items():
        got = results.get("PinSage", {}).get(metric)
        out[f"PinSage {metric} >= {target}"] = None if got is None else got >= target
    return out


def markdown(report: dict) -> str:
    lines = []
    for name, section in report["datasets"].items():
        methods = section["methods"]
        metrics = list(next(iter(methods.values())).keys())
        metrics = [m for m in metrics if "/" in m]
        lines += [
            f"### {name}",
            "",
            f"{section['note']}; {section['pins']:,} pins, {section['boards']:,} boards, "
            f"{section['test_pairs']:,} test pairs. Learned models: up to "
            f"{section['epochs']} epochs or {section['budget_minutes']:g} min each. "
            f"Primary metric: **{section['primary']}**. Machine: "
            f"{section['runs'][-1]['machine']}. Commands: "
            + ", ".join(f"`{r['command']}`" for r in section["runs"])
            + ".",
            "",
            "| method | " + " | ".join(metrics) + " | fit s |",
            "| --- |" + " --- |" * (len(metrics) + 1),
        ]
        best = max(v.get(section["primary"], float("-inf")) for v in methods.values())
        for method, values in methods.items():
            cells = []
            for m in metrics:
                text = f"{values[m]:.3f}" if m in values else ""
                if m == section["primary"] and values.get(m) == best:
                    text = f"**{text}**"
                cells.append(text)
            lines.append(f"| {method} | " + " | ".join(cells) + f" | {values['fit_seconds']:.0f} |")
        if section["pinsage_query_modes"]:
            lines += [
                "",
                "Board query modes, scored on the embeddings of the PinSage row above "
                "(the table uses `mean` for every embedding model):",
                "",
            ]
            modes = section["pinsage_query_modes"]
            lines += [
                "| query | " + " | ".join(metrics) + " |",
                "| --- |" + " --- |" * len(metrics),
            ]
            for mode, values in modes.items():
                cells = [f"{values[m]:.3f}" if m in values else "" for m in metrics]
                lines.append(f"| {mode} | " + " | ".join(cells) + " |")
        lines += ["", "| check | result |", "| --- | --- |"]
        for label, ok in section["checks"].items():
            lines.append(f"| {label} | {'n/a' if ok is None else 'yes' if ok else '**no**'} |")
        lines.append("")
    return "\n".join(lines)


def chart(report: dict, path: Path) -> None:
    """Grouped bars of each dataset's primary metric, one bar per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(report["datasets"])
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 4.5), squeeze=False)
    for ax, name in zip(axes[0], datasets, strict=True):
        section = report["datasets"][name]
        methods = list(section["methods"])
        values = [section["methods"][m].get(section["primary"], 0.0) for m in methods]
        colors = ["tab:red" if m == "PinSage" else "tab:gray" for m in methods]
        ax.barh(methods[::-1], values[::-1], color=colors[::-1])
        for metric, target in section["targets"].items():
            if metric == section["primary"]:
                ax.axvline(target, color="black", linestyle="--")
                ax.annotate(
                    f"target {target}",
                    (target, 1.0),
                    xycoords=("data", "axes fraction"),
                    xytext=(-4, -12),
                    textcoords="offset points",
                    ha="right",
                )
        ax.set_title(name)
        ax.set_xlabel(f"{section['primary']} (fraction of held-out pins)")
    fig.suptitle("Quality on the primary metric (higher is better)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--datasets",
        nargs="+",
        default=["synthetic", "movielens-100k", "ncf-movielens-1m"],
        choices=["synthetic", "movielens-100k", "ncf-movielens-1m", "table"],
    )
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--table", help="interactions table (Parquet/CSV/TSV) for 'table'")
    parser.add_argument("--test-table", help="held-out interactions with the same columns")
    parser.add_argument("--pin-col", default="pin")
    parser.add_argument("--board-col", default="board")
    parser.add_argument("--timestamp-col")
    parser.add_argument("--pin-features", help="pin feature table for 'table' (kinds inferred)")
    parser.add_argument("--pin-title-col", help="title column of --pin-features")
    parser.add_argument("--budget-minutes", type=float, help="time budget per learned model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--query",
        default="mean",
        choices=QUERY_MODES,
        help="board query of every embedding model's row (all modes are also reported for PinSage)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny settings (smoke test)")
    parser.add_argument("--progress", action="store_true", help="show training progress bars")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--fresh", action="store_true", help="ignore an existing report")
    parser.add_argument(
        "--render", action="store_true", help="only rewrite the .md and .png from the .json"
    )
    args = parser.parse_args(argv)
    if "table" in args.datasets and not args.table:
        parser.error("--datasets table needs --table PATH")
    available = settings(args)
    stem = "quality-quick" if args.quick else "quality"
    previous = args.out / f"{stem}.json"
    report: dict[str, Any] = {"datasets": {}}
    if previous.exists() and not args.fresh:
        report = json.loads(previous.read_text())
    command = "python -m benchmarks.quality " + shlex.join(sys.argv[1:] if argv is None else argv)
    for name in [] if args.render else args.datasets:
        setting = quick(available[name]) if args.quick else available[name]
        if args.budget_minutes:
            setting = dataclasses.replace(setting, budget_minutes=args.budget_minutes)
        section = run_dataset(name, setting, args)
        run = {"command": command, "machine": machine_description()}
        old = report["datasets"].get(name)
        section["runs"] = [run]
        if old is not None and set(args.methods) != set(METHODS):
            # a partial run: keep the other methods' results
            methods = {**old["methods"], **section["methods"]}
            section["methods"] = {m: methods[m] for m in METHODS if m in methods}
            section["pinsage_query_modes"] = (
                section["pinsage_query_modes"] or old["pinsage_query_modes"]
            )
            section["checks"] = checks(section["methods"], setting)
            section["runs"] = [*old.get("runs", []), run]
        report["datasets"][name] = section
    order = list(available)
    report["datasets"] = dict(
        sorted(report["datasets"].items(), key=lambda item: order.index(item[0]))
    )
    write_text_atomic(args.out / f"{stem}.json", json.dumps(report, indent=1))
    text = markdown(report)
    write_text_atomic(args.out / f"{stem}.md", text)
    chart(report, args.out / f"{stem}.png")
    print(text)
    return report


if __name__ == "__main__":
    main()
