"""Quality benchmark: PinSage against tuned baselines, under the four protocols.

    python -m benchmarks.tune                                      # first: choose settings
    python -m benchmarks.quality                                   # then: train once, test once
    python -m benchmarks.quality --datasets synthetic movielens-100k --methods PinSage EASE
    python -m benchmarks.quality --datasets table --table my.parquet \\
        --pin-col item --board-col user --timestamp-col ts         # your own interactions

Every method is trained once with the settings ``benchmarks.tune`` chose on the validation
split (``benchmarks/tuned/<dataset>.json``; the method's defaults where it has not been
tuned, which the report says), on training + validation pins, for the chosen number of
epochs, and scored once on the test pins by :func:`pinsage_dgl.evaluation.evaluate`.
The ablation rows (the paper's: max-margin instead of softmax, hard-negative curriculum,
mean board query, uniform neighbourhoods, features only) take PinSage's chosen settings
and change one switch. PinSage's embeddings are also scored with every board-query mode.

Writes ``quality.json``, ``quality.md``, ``quality.png`` and one
``time-to-quality-<dataset>.png`` per dataset (validation quality against training time of
each learned method's chosen run, from the tuner) to ``--out``. A run of some datasets or
methods updates those entries of an existing ``quality.json`` and keeps the rest.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import methods as M
from benchmarks.common import machine_description
from benchmarks.tune import TUNED, searched
from pinsage_dgl.evaluation import QUERY_MODES, EmbeddingScorer
from pinsage_dgl.io import atomic_path, write_text_atomic

METHODS = tuple(M.METHODS)
QUICK_PINSAGE = {"hidden_dim": 16, "out_dim": 8, "num_walks": 5, "num_negatives": 50}


def chosen_settings(method: str, tuned: dict[str, Any], quick: bool) -> tuple[dict[str, Any], str]:
    """A method's settings for the final run, and where they came from."""
    spec = M.METHODS[method]
    base = spec.variant_of or method
    if base in tuned and not quick:
        entry = tuned[base]
        settings = dict(entry["settings"])
        if entry["epochs"]:
            settings["epochs"] = entry["epochs"]
        source = "tuned" if spec.variant_of is None else f"{base}'s tuned settings"
    else:
        settings = dict(M.METHODS[base].defaults)
        source = "defaults (not tuned)" if spec.variant_of is None else f"{base}'s defaults"
    if spec.variant_of is not None:
        settings = {**settings, **spec.defaults}
    if quick and spec.learned:
        if base == "PinSage":
            settings.update(QUICK_PINSAGE)
        settings["epochs"] = 1
        if "dim" in settings:
            settings.update(dim=8, num_negatives=50)
    return settings, source


def run_dataset(name: str, dataset: M.Dataset, args: argparse.Namespace) -> dict:
    """Every chosen method on one dataset; returns the dataset's section of the report."""
    tuned_path = args.tuned / f"{name}.json"
    tuned_report = json.loads(tuned_path.read_text()) if tuned_path.exists() else {}
    tuned = tuned_report.get("methods", {})
    results: dict[str, dict] = {}
    query_modes: dict[str, dict] = {}
    info: dict[str, Any] = {}
    for method in args.methods:
        settings, source = chosen_settings(method, tuned, args.quick)
        dm = M.datamodule(dataset, settings, args.seed, fold_validation=True)
        if settings.get("num_layers") == 0 and len(dm.graph.pin_spec) == 0:
            print(f"{name}: no pin features, so no features-only model", flush=True)
            continue
        start = time.perf_counter()
        scorer = M.train(method, dm, dataset, settings, args.seed, progress=args.progress)
        fit_seconds = time.perf_counter() - start
        metrics = M.test_metrics(scorer, dm)
        base = M.METHODS[method].variant_of or method
        results[method] = {
            **metrics,
            "fit_seconds": round(fit_seconds, 1),
            "eval_seconds": round(time.perf_counter() - start - fit_seconds, 1),
            "settings": settings,
            "source": source,
            "val": tuned.get(base, {}).get("val", {}).get(dataset.primary)
            if M.METHODS[method].variant_of is None
            else None,
        }
        if method == "PinSage" and isinstance(scorer, EmbeddingScorer):
            for mode in QUERY_MODES:
                if mode == "attention" and scorer.query != "attention":
                    continue
                modes = EmbeddingScorer(
                    scorer.embeddings,
                    mode,
                    scorer.half_life,
                    scorer.num_recent,
                    board_query=getattr(scorer, "pooler", None),
                    pin_bias=scorer.pin_bias,  # the model's popularity prior, if any
                )
                query_modes[mode] = M.test_metrics(modes, dm)
        info = {
            "pins": dm.split.train.num_pins,
            "boards": dm.split.train.num_boards,
            "test_pairs": len(dm.split.test),
        }
        shown = {k: round(v, 4) for k, v in metrics.items()}
        print(f"{name:18s} {method:34s} {json.dumps(shown)} fit {fit_seconds:.0f}s", flush=True)
    tuning = {
        method: {
            "trials": len(entry["trials"]),
            "best": entry["val"][dataset.primary],
            "worst": min(t["val"][dataset.primary] for t in entry["trials"]),
            "settings": entry["settings"],
            "searched": searched(method, entry["settings"], dataset),
            "epochs": entry["epochs"],
            "tuning_seconds": entry.get("tuning_seconds"),
        }
        for method, entry in tuned.items()
        if method in args.methods
    }
    return {
        "note": dataset.note,
        "primary": dataset.primary,
        "budget": tuned_report.get("budget"),
        "tuning": tuning,
        **info,
        "methods": results,
        "pinsage_query_modes": query_modes,
        "targets": dataset.targets,
    }


def checks(section: dict) -> dict[str, bool | None]:
    """Did PinSage win, and did the ablation go the paper's way?"""
    results, primary = section["methods"], section["primary"]

    def value(method: str, metric: str = primary) -> float | None:
        return results.get(method, {}).get(metric)

    out: dict[str, bool | None] = {}
    pinsage = value("PinSage")
    # the baselines include the two ablations that are methods of their own
    rivals = (*M.BASELINES, "GraphSAGE (uniform neighbours)", "features only")
    others = [value(m) for m in rivals if value(m) is not None]
    out["PinSage ahead of every baseline"] = (
        None if pinsage is None or not others else pinsage > max(others)
    )
    pairs = {
        "importance pooling beats uniform neighbours (GraphSAGE)": (
            "PinSage",
            "GraphSAGE (uniform neighbours)",
            primary,
        ),
        "the graph helps (over features only)": ("PinSage", "features only", primary),
        "softmax beats max-margin": ("PinSage", "PinSage, max-margin", primary),
        "the chosen board query beats the mean": ("PinSage", "PinSage, mean query", primary),
        "hard negatives help item-to-item (hit@10)": (
            "PinSage, hard-negative curriculum",
            "PinSage",
            "item_to_item/hit@10",
        ),
    }
    for label, (better, worse, metric) in pairs.items():
        a, b = value(better, metric), value(worse, metric)
        out[label] = None if a is None or b is None else a > b
    hard = value("PinSage, hard-negative curriculum")
    out["hard negatives do not hurt the primary metric (within 0.005)"] = (
        None if hard is None or pinsage is None else hard >= pinsage - 0.005
    )
    for metric, target in section["targets"].items():
        got = value("PinSage", metric)
        out[f"PinSage {metric} >= {target}"] = None if got is None else got >= target
    return out


def _metric_columns(rows: dict[str, dict]) -> list[str]:
    first = next(iter(rows.values()))
    return [m for m in first if "/" in m]


def _table(section: dict, rows: list[str], metrics: list[str], with_val: bool) -> list[str]:
    """Markdown rows of ``rows``' test metrics (with the tuning columns for the main table)."""
    methods = section["methods"]
    best = max(
        v.get(section["primary"], float("-inf"))
        for m, v in methods.items()
        if M.METHODS[m].variant_of is None
    )
    head = "| method | " + " | ".join(metrics)
    head += " | validation | epochs | fit s |" if with_val else " | fit s |"
    out = [head, "| --- |" + " --- |" * (len(metrics) + (3 if with_val else 1))]
    for method in rows:
        values = methods[method]
        cells = []
        for m in metrics:
            text = f"{values[m]:.3f}" if m in values else ""
            if with_val and m == section["primary"] and values.get(m) == best:
                text = f"**{text}**"
            cells.append(text)
        tail = [f"{values['fit_seconds']:.0f}"]
        if with_val:
            val = values.get("val")
            epochs = values["settings"].get("epochs", "")
            tail = [f"{val:.3f}" if val is not None else "", str(epochs or ""), *tail]
        out.append(f"| {method} | " + " | ".join(cells + tail) + " |")
    return out


def markdown(report: dict) -> str:
    lines = []
    for name, section in report["datasets"].items():
        methods = section["methods"]
        if not methods:
            continue
        metrics = _metric_columns(methods)
        budget = section.get("budget")
        budget_text = (
            f"Tuning budget per method: {budget['trials']} runs ({budget['sampler']}), each at "
            f"most {budget['max_epochs']} epochs and {budget['trial_minutes']:g} min of "
            f"training (stopped after {budget.get('patience', 3)} epochs without a new best), "
            "selected on validation."
            if budget
            else "Not tuned: every method ran with its defaults."
        )
        untuned = [
            m for m in methods if methods[m].get("source", "").startswith("defaults (not tuned)")
        ]
        if budget and untuned:
            budget_text += f" Not tuned, at their defaults: {', '.join(untuned)}."
        lines += [
            f"### {name}",
            "",
            f"{section['note']}; {section['pins']:,} pins, {section['boards']:,} boards, "
            f"{section['test_pairs']:,} test pairs. Primary metric: **{section['primary']}**. "
            f"{budget_text} Final models train on training + validation pins and are tested "
            f"once. Machine: {section['runs'][-1]['machine']}. Commands: "
            + ", ".join(f"`{r['command']}`" for r in section["runs"])
            + ".",
            "",
        ]
        main_rows = [m for m in methods if M.METHODS[m].variant_of is None]
        lines += _table(section, main_rows, metrics, with_val=True)
        ablation = [m for m in methods if M.METHODS[m].variant_of is not None]
        if ablation and "PinSage" in methods:
            lines += ["", "Ablation (PinSage's chosen settings, one switch changed):", ""]
            lines += _table(section, ["PinSage", *ablation], metrics, with_val=False)
        if section["pinsage_query_modes"]:
            lines += ["", "Board query modes, scored on the PinSage row's embeddings:", ""]
            lines += [
                "| query | " + " | ".join(metrics) + " |",
                "| --- |" + " --- |" * len(metrics),
            ]
            for mode, values in section["pinsage_query_modes"].items():
                cells = [f"{values[m]:.3f}" if m in values else "" for m in metrics]
                lines.append(f"| {mode} | " + " | ".join(cells) + " |")
        if "PinSage" in methods:
            chosen = {k: v for k, v in methods["PinSage"]["settings"].items() if k not in ("task",)}
            lines += ["", f"PinSage's settings ({methods['PinSage']['source']}): `{chosen}`"]
        if section.get("tuning"):
            lines += [
                "",
                f"Tuning (validation {section['primary']} of each method's runs; the chosen "
                "run's settings):",
                "",
                "| method | runs | best | worst | tuning s | chosen |",
                "| --- | --- | --- | --- | --- | --- |",
            ]
            for method, t in section["tuning"].items():
                shown = {k: v for k, v in t["settings"].items() if k in t["searched"]}
                lines.append(
                    f"| {method} | {t['trials']} | {t['best']:.3f} | {t['worst']:.3f} | "
                    f"{t['tuning_seconds'] or 0:.0f} | `{shown}` |"
                )
        lines += ["", "| check | result |", "| --- | --- |"]
        for label, ok in checks(section).items():
            lines.append(f"| {label} | {'n/a' if ok is None else 'yes' if ok else '**no**'} |")
        lines.append("")
    return "\n".join(lines)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def chart(report: dict, path: Path) -> None:
    """Bars of each dataset's primary metric, one bar per method (ablations excluded)."""
    plt = _pyplot()
    datasets = [d for d, s in report["datasets"].items() if s["methods"]]
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 4.5), squeeze=False)
    for ax, name in zip(axes[0], datasets, strict=True):
        section = report["datasets"][name]
        methods = [m for m in section["methods"] if M.METHODS[m].variant_of is None]
        values = [section["methods"][m].get(section["primary"], 0.0) for m in methods]
        colors = ["tab:red" if m == "PinSage" else "tab:gray" for m in methods]
        ax.barh(methods[::-1], values[::-1], color=colors[::-1])
        for metric, target in section["targets"].items():
            if metric == section["primary"]:
                ax.axvline(target, color="black", linestyle="--")
        ax.set_title(name)
        ax.set_xlabel(section["primary"])
    fig.suptitle("Test quality on the primary metric (higher is better)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def time_to_quality(name: str, tuned: dict, path: Path) -> bool:
    """Validation quality against training seconds of each learned method's chosen run."""
    curves = {m: r["curve"] for m, r in tuned.get("methods", {}).items() if r.get("curve")}
    if not curves:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method, curve in curves.items():
        seconds, values = zip(*curve, strict=True)
        style = {"color": "black", "linewidth": 2.5} if method == "PinSage" else {}
        ax.plot(seconds, values, marker="o", markersize=3, label=method, **style)
    ax.set_xscale("log")
    ax.set_xlabel("training seconds (2 CPU cores; evaluation excluded)")
    ax.set_ylabel(f"validation {tuned['primary']}")
    ax.set_title(f"{name}: time to quality of each method's chosen settings")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--tuned", type=Path, default=TUNED, help="the tuner's output")
    parser.add_argument("--quick", action="store_true", help="tiny settings (smoke test)")
    parser.add_argument("--progress", action="store_true", help="show training progress bars")
    parser.add_argument("--out", type=Path, default=M.ROOT / "benchmarks" / "results")
    parser.add_argument("--fresh", action="store_true", help="ignore an existing report")
    parser.add_argument(
        "--render", action="store_true", help="only rewrite the .md and .png from the .json"
    )
    M.add_dataset_arguments(parser)
    args = parser.parse_args(argv)
    available = M.datasets(args.data_root, M.table_arguments(parser, args))
    stem = "quality-quick" if args.quick else "quality"
    previous = args.out / f"{stem}.json"
    report: dict[str, Any] = {"datasets": {}}
    if previous.exists() and not args.fresh:
        report = json.loads(previous.read_text())
    command = "python -m benchmarks.quality " + shlex.join(sys.argv[1:] if argv is None else argv)
    for name in [] if args.render else args.datasets:
        dataset = available[name]
        if args.quick:
            dataset = dataclasses.replace(dataset, trial_minutes=0.5, max_epochs=1)
        section = run_dataset(name, dataset, args)
        run = {"command": command, "machine": machine_description()}
        old = report["datasets"].get(name)
        section["runs"] = [run]
        if old is not None and set(args.methods) != set(METHODS):
            # a partial run: keep the other methods' results
            merged = {**old["methods"], **section["methods"]}
            section["methods"] = {m: merged[m] for m in METHODS if m in merged}
            section["pinsage_query_modes"] = (
                section["pinsage_query_modes"] or old["pinsage_query_modes"]
            )
            section["runs"] = [*old.get("runs", []), run]
        report["datasets"][name] = section
    # the benchmark's order; a dataset of the report this run could not load (e.g. 'table'
    # without --table) keeps its section, after the others
    order = [*available, *(n for n in report["datasets"] if n not in available)]
    report["datasets"] = dict(
        sorted(report["datasets"].items(), key=lambda item: order.index(item[0]))
    )
    for section in report["datasets"].values():
        section["checks"] = checks(section)
    write_text_atomic(args.out / f"{stem}.json", json.dumps(report, indent=1))
    text = markdown(report)
    write_text_atomic(args.out / f"{stem}.md", text)
    chart(report, args.out / f"{stem}.png")
    if not args.quick:
        for name in report["datasets"]:
            tuned_path = args.tuned / f"{name}.json"
            if tuned_path.exists():
                tuned = json.loads(tuned_path.read_text())
                time_to_quality(name, tuned, args.out / f"time-to-quality-{name}.png")
    print(text)
    return report


if __name__ == "__main__":
    main()
