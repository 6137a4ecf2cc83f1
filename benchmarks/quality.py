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
Where PinSage's walk weight was not chosen by the tuner (its defaults, on a user's table), a
first run on the training split alone chooses it on validation, as ``pinsage fit`` does.
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

import numpy as np
import torch

from benchmarks import methods as M
from benchmarks.common import RESULTS, machine_description, write_report
from benchmarks.tune import TUNED, searched
from pinsage_dgl.evaluation import BoardValues
from pinsage_dgl.io import atomic_path
from pinsage_dgl.metrics import bootstrap_means, percentile_interval, verdict
from pinsage_dgl.scoring import QUERY_MODES, EmbeddingScorer

METHODS = tuple(M.METHODS)
QUICK_PINSAGE = {
    "model.hidden_dim": 16,
    "model.out_dim": 8,
    "data.neighborhood.num_walks": 5,
    "data.negatives.num_random": 50,
}
RESAMPLES = 2000  # bootstrap resamples of the boards per interval
LEVEL = 0.95
# the metrics kept board by board (for intervals): the primary and the hard-negative check's
INTERVAL_METRICS = ("item_to_item/hit@10",)
# method -> metric -> its test values board by board
Values = dict[str, dict[str, BoardValues]]


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


def run_method(
    method: str, dataset: M.Dataset, args: argparse.Namespace, tuned: dict, seed: int
) -> tuple[dict[str, Any], dict[str, BoardValues], Any, Any] | None:
    """Train ``method`` once with its chosen settings and test it: its row, its test values
    board by board, its scorer and datamodule (None where it cannot run on the data)."""
    settings, source = chosen_settings(method, tuned, args.quick)
    # the data and the split are always drawn with --seed; ``seed`` seeds training
    dm = M.datamodule(dataset, settings, args.seed, fold_validation=True)
    if seed != args.seed:
        dm.reseed_training(seed)
    if settings.get("model.num_layers") == 0 and len(dm.graph.pin_spec) == 0:
        return None
    choice_seconds = None
    pinsage = (M.METHODS[method].variant_of or method) == "PinSage"
    if pinsage and settings.get("model.walk_weight") is None:
        started = time.perf_counter()
        weight = walk_weight_on_validation(method, dataset, settings, args, seed)
        settings["model.walk_weight"] = weight
        choice_seconds = round(time.perf_counter() - started, 1)
        source += f"; walk weight {weight} chosen on validation"
    start = time.perf_counter()
    scorer = M.train(method, dm, dataset, settings, seed, progress=args.progress)
    fit_seconds = time.perf_counter() - start
    values = M.test_values(scorer, dm)
    base = M.METHODS[method].variant_of or method
    row = {
        **{name: v.mean() for name, v in values.items()},
        "fit_seconds": round(fit_seconds, 1),
        **({"walk_choice_seconds": choice_seconds} if choice_seconds is not None else {}),
        "eval_seconds": round(time.perf_counter() - start - fit_seconds, 1),
        "settings": settings,
        "source": source,
        "val": tuned.get(base, {}).get("val", {}).get(dataset.primary)
        if M.METHODS[method].variant_of is None
        else None,
    }
    kept = (dataset.primary, *INTERVAL_METRICS)
    return row, {m: values[m] for m in kept if m in values}, scorer, dm


def walk_weight_on_validation(
    method: str, dataset: M.Dataset, settings: dict[str, Any], args: argparse.Namespace, seed: int
) -> float:
    """The walk weight of a run whose settings leave it open (no tuned weight: a user's
    table with the defaults): chosen as ``pinsage fit`` chooses it, on the validation
    split, by a model trained with the same settings on the training split alone (the
    tested model then trains on training and validation pins with that weight)."""
    dm = M.datamodule(dataset, settings, args.seed, fold_validation=False)
    if seed != args.seed:
        dm.reseed_training(seed)
    scorer = M.train(method, dm, dataset, settings, seed, progress=args.progress)
    weight = M.choose_walk_weight(scorer, dm, settings, dataset.primary)[1]
    return 0.0 if weight is None else weight


def run_dataset(name: str, dataset: M.Dataset, args: argparse.Namespace) -> tuple[dict, Values]:
    """Every chosen method on one dataset: the dataset's section of the report, and each
    method's test values board by board (for the intervals)."""
    tuned_path = args.tuned / f"{name}.json"
    tuned_report = json.loads(tuned_path.read_text()) if tuned_path.exists() else {}
    tuned = tuned_report.get("methods", {})
    results: dict[str, dict] = {}
    values: Values = {}
    query_modes: dict[str, dict] = {}
    info: dict[str, Any] = {}
    for method in args.methods:
        ran = run_method(method, dataset, args, tuned, args.seed)
        if ran is None:
            print(f"{name}: no pin features, so no features-only model", flush=True)
            continue
        results[method], values[method], scorer, dm = ran
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
                    walk=scorer.walk,
                    walk_weight=scorer.walk_weight,
                )
                query_modes[mode] = M.test_metrics(modes, dm)
            if scorer.walk is not None:  # the same model scored by its embeddings alone
                query_modes[f"{scorer.query}, no walk term"] = M.test_metrics(
                    scorer.reweighted(None, 0.0), dm
                )
        info = {
            "pins": dm.split.train.num_pins,
            "boards": dm.split.train.num_boards,
            "test_pairs": len(dm.split.test),
        }
        shown = {k: round(v, 4) for k, v in results[method].items() if "/" in k}
        fit_seconds = results[method]["fit_seconds"]
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
    section = {
        "note": dataset.note,
        "primary": dataset.primary,
        "budget": tuned_report.get("budget"),
        "tuning": tuning,
        **info,
        "methods": results,
        "pinsage_query_modes": query_modes,
        "targets": dataset.targets,
    }
    return section, values


def paired_difference(a: BoardValues, b: BoardValues, seed: int = 0) -> dict[str, Any]:
    """``a``'s mean minus ``b``'s, with its 95% interval from a paired bootstrap over boards
    (the same boards resampled for both) and the verdict it supports."""
    if not torch.equal(a.boards, b.boards):
        raise ValueError("paired_difference: the two rows were tested on different boards")
    samples = bootstrap_means(
        torch.stack([a.sums, b.sums]), torch.stack([a.counts, b.counts]), RESAMPLES, seed
    )
    low, high = percentile_interval(samples[:, 0] - samples[:, 1], LEVEL)
    return {
        "difference": a.mean() - b.mean(),
        "interval": [low, high],
        "verdict": verdict(low, high),
    }


def row_intervals(section: dict, values: Values, seed: int = 0) -> dict[str, dict]:
    """Each row's 95% interval (bootstrap over boards) and its paired difference from the
    best other method of the main table on the primary metric."""
    primary, rows = section["primary"], section["methods"]
    main = [m for m in rows if M.METHODS[m].variant_of is None and primary in values.get(m, {})]
    out = {}
    for method in rows:
        own = values.get(method, {}).get(primary)
        rivals = [m for m in main if m != method]
        if own is None or not rivals:
            continue
        samples = bootstrap_means(own.sums, own.counts, RESAMPLES, seed)
        rival = max(rivals, key=lambda m: rows[m][primary])
        paired = paired_difference(own, values[rival][primary], seed)
        out[method] = {
            "interval": list(percentile_interval(samples[:, 0], LEVEL)),
            "rival": rival,
            "difference": paired["difference"],
            "difference_interval": paired["interval"],
            "verdict": paired["verdict"],
        }
    return out


def comparisons(section: dict) -> dict[str, tuple[str, str, str]]:
    """The report's claims: label -> (row, the row it is compared with, metric)."""
    primary, rows = section["primary"], section["methods"]
    # the baselines include the two ablations that are methods of their own
    rivals = [
        m for m in (*M.BASELINES, "GraphSAGE (uniform neighbours)", "features only") if m in rows
    ]
    out = {}
    if rivals:
        best = max(rivals, key=lambda m: rows[m].get(primary, float("-inf")))
        out["PinSage against the best baseline"] = ("PinSage", best, primary)
    out |= {
        "importance pooling against uniform neighbours (GraphSAGE)": (
            "PinSage",
            "GraphSAGE (uniform neighbours)",
            primary,
        ),
        "the graph against features only": ("PinSage", "features only", primary),
        "softmax against max-margin": ("PinSage", "PinSage, max-margin", primary),
        "the chosen board query against the mean": ("PinSage", "PinSage, mean query", primary),
        "hard negatives on item-to-item (hit@10)": (
            "PinSage, hard-negative curriculum",
            "PinSage",
            "item_to_item/hit@10",
        ),
        "hard negatives on the primary metric": (
            "PinSage, hard-negative curriculum",
            "PinSage",
            primary,
        ),
    }
    return out


def compare(section: dict, values: Values, seed: int = 0) -> dict[str, dict]:
    """Each claim of :func:`comparisons` whose two rows have test values: the paired
    difference, its interval and verdict, and the two rows it compares."""
    out = {}
    for label, (a, b, metric) in comparisons(section).items():
        va, vb = values.get(a, {}).get(metric), values.get(b, {}).get(metric)
        if va is not None and vb is not None:
            out[label] = {"rows": [a, b], "metric": metric, **paired_difference(va, vb, seed)}
    return out


def save_values(path: Path, values: dict[str, Values]) -> None:
    """Every dataset's per-board test values (the intervals' input), as one ``.npz``."""
    arrays = {}
    for dataset, methods in values.items():
        for method, metrics in methods.items():
            for metric, v in metrics.items():
                key = f"{dataset}::{method}::{metric}"
                arrays[f"{key}::boards"] = v.boards.numpy().astype(np.int32)
                arrays[f"{key}::sums"] = v.sums.numpy().astype(np.float32)
                arrays[f"{key}::counts"] = v.counts.numpy().astype(np.int32)
    with atomic_path(path) as tmp, open(tmp, "wb") as file:
        np.savez_compressed(file, **arrays)


def load_values(path: Path) -> dict[str, Values]:
    """What :func:`save_values` wrote (empty where there is no file)."""
    out: dict[str, Values] = {}
    if not path.exists():
        return out
    with np.load(path) as arrays:
        for key in arrays.files:
            dataset, method, metric, field = key.split("::")
            if field != "boards":
                continue
            stem = f"{dataset}::{method}::{metric}"
            out.setdefault(dataset, {}).setdefault(method, {})[metric] = BoardValues(
                torch.from_numpy(arrays[key].astype(np.int64)),
                torch.from_numpy(arrays[f"{stem}::sums"].astype(np.float64)),
                torch.from_numpy(arrays[f"{stem}::counts"].astype(np.int64)),
            )
    return out


def checks(section: dict) -> dict[str, str | bool | None]:
    """Where PinSage stands and whether the ablation went the paper's way: ``ahead`` /
    ``tied`` / ``behind`` from each comparison's interval (None where a row did not run);
    the targets as reached or not."""
    out: dict[str, str | bool | None] = {}
    measured = section.get("comparisons", {})
    for label in comparisons(section):
        out[label] = measured[label]["verdict"] if label in measured else None
    for metric, target in section["targets"].items():
        got = section["methods"].get("PinSage", {}).get(metric)
        out[f"PinSage {metric} >= {target}"] = None if got is None else got >= target
    return out


def _metric_columns(rows: dict[str, dict]) -> list[str]:
    first = next(iter(rows.values()))
    return [m for m in first if "/" in m]


def _interval_cells(section: dict, method: str) -> list[str]:
    """The row's 95% interval and its paired difference from the best other method."""
    found = section.get("intervals", {}).get(method)
    if found is None:
        return ["", ""]
    low, high = found["interval"]
    d_low, d_high = found["difference_interval"]
    against = (
        f"{found['verdict']} {found['difference']:+.3f} [{d_low:+.3f}, {d_high:+.3f}] "
        f"vs {found['rival']}"
    )
    return [f"[{low:.3f}, {high:.3f}]", against]


def _seed_cell(values: dict) -> str:
    seeds = values.get("seeds")
    if not seeds:
        return ""
    return f"{seeds['mean']:.3f} ± {seeds['std']:.3f} ({len(seeds['values'])})"


def _table(section: dict, rows: list[str], metrics: list[str], with_val: bool) -> list[str]:
    """Markdown rows of ``rows``' test metrics, each with its interval and its difference
    from the best other method (with the tuning columns for the main table)."""
    methods = section["methods"]
    best = max(
        v.get(section["primary"], float("-inf"))
        for m, v in methods.items()
        if M.METHODS[m].variant_of is None
    )
    interval_head = " | 95% interval | against the best other (paired, 95%) | seeds |"
    head = "| method | " + " | ".join(metrics) + interval_head
    head += " validation | epochs | fit s |" if with_val else " fit s |"
    out = [head, "| --- |" + " --- |" * (len(metrics) + 3 + (3 if with_val else 1))]
    for method in rows:
        values = methods[method]
        cells = []
        for m in metrics:
            text = f"{values[m]:.3f}" if m in values else ""
            if with_val and m == section["primary"] and values.get(m) == best:
                text = f"**{text}**"
            cells.append(text)
        cells += [*_interval_cells(section, method), _seed_cell(values)]
        tail = [f"{values['fit_seconds']:.0f}"]
        if with_val:
            val = values.get("val")
            epochs = values["settings"].get("epochs", "")
            tail = [f"{val:.3f}" if val is not None else "", str(epochs or ""), *tail]
        out.append(f"| {method} | " + " | ".join(cells + tail) + " |")
    return out


def summary(report: dict) -> list[str]:
    """One line per dataset: PinSage's primary metric and interval, the best other method's,
    and the verdict of their paired difference."""
    lines = [
        "| dataset | metric | PinSage [95%] | best other [95%] | PinSage − best other [95%] |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, section in report["datasets"].items():
        found = section.get("intervals", {}).get("PinSage")
        if found is None:
            continue
        primary, rows = section["primary"], section["methods"]
        rival = found["rival"]
        rival_interval = section["intervals"].get(rival, {}).get("interval")
        low, high = found["interval"]
        d_low, d_high = found["difference_interval"]
        rival_text = f"{rival} {rows[rival][primary]:.3f}"
        if rival_interval is not None:
            rival_text += f" [{rival_interval[0]:.3f}, {rival_interval[1]:.3f}]"
        lines.append(
            f"| {name} | {primary} | {rows['PinSage'][primary]:.3f} [{low:.3f}, {high:.3f}] | "
            f"{rival_text} | **{found['verdict']}** {found['difference']:+.3f} "
            f"[{d_low:+.3f}, {d_high:+.3f}] |"
        )
    return [*lines, ""] if len(lines) > 2 else []


def markdown(report: dict) -> str:
    lines = summary(report)
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
            f"once. Intervals: {LEVEL:.0%} percentile bootstrap over the test boards "
            f"({RESAMPLES:,} resamples); against the best other method, paired (the same "
            "boards resampled for both rows): a difference whose interval holds 0 is a tie. "
            "Seeds: mean ± standard deviation of the primary metric over that many training "
            f"seeds, where run. Machine: {section['runs'][-1]['machine']}. Commands: "
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
        lines += ["", "| check | result | difference [95% interval] |", "| --- | --- | --- |"]
        measured = section.get("comparisons", {})
        for label, ok in checks(section).items():
            shown = (
                "n/a" if ok is None else ok if isinstance(ok, str) else "yes" if ok else "**no**"
            )
            detail = ""
            if label in measured:
                found = measured[label]
                low, high = found["interval"]
                rows = " − ".join(found["rows"])
                detail = f"{rows}: {found['difference']:+.4f} [{low:+.4f}, {high:+.4f}]"
            lines.append(f"| {label} | {shown} | {detail} |")
        lines.append("")
    return "\n".join(lines)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def chart(report: dict, path: Path) -> None:
    """Bars of each dataset's primary metric with their 95% intervals, one bar per method
    (ablations excluded)."""
    plt = _pyplot()
    datasets = [d for d, s in report["datasets"].items() if s["methods"]]
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 4.5), squeeze=False)
    for ax, name in zip(axes[0], datasets, strict=True):
        section = report["datasets"][name]
        methods = [m for m in section["methods"] if M.METHODS[m].variant_of is None]
        values = [section["methods"][m].get(section["primary"], 0.0) for m in methods]
        colors = ["tab:red" if m == "PinSage" else "tab:gray" for m in methods]
        # each bar's 95% interval (none where the row has no per-board values)
        intervals = section.get("intervals", {})
        errors = np.array(
            [
                [v - intervals[m]["interval"][0], intervals[m]["interval"][1] - v]
                if m in intervals
                else [0.0, 0.0]
                for m, v in zip(methods, values, strict=True)
            ]
        ).T
        ax.barh(methods[::-1], values[::-1], color=colors[::-1], xerr=errors[:, ::-1], capsize=3)
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


def time_to_quality(
    name: str, tuned: dict, path: Path, targets: dict[str, float] | None = None
) -> bool:
    """Validation quality against training seconds of each learned method's chosen run;
    the dataset's target on its primary metric as a dashed line (a test number: validation
    trains on less, so the line is a reference, not a finish)."""
    curves = {m: r["curve"] for m, r in tuned.get("methods", {}).items() if r.get("curve")}
    if not curves:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method, curve in curves.items():
        seconds, values = zip(*curve, strict=True)
        style = {"color": "black", "linewidth": 2.5} if method == "PinSage" else {}
        ax.plot(seconds, values, marker="o", markersize=3, label=method, **style)
    target = (targets or {}).get(tuned["primary"])
    if target is not None:
        ax.axhline(target, color="grey", linestyle="--", label=f"target (test) {target}")
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


def seed_runs(name: str, dataset: M.Dataset, args: argparse.Namespace, section: dict) -> None:
    """Train the leader, and each row of this run tied with it, with ``args.seeds`` training
    seeds in all (the data and the split stay those of ``--seed``); record each row's
    primary metric per seed (``seeds``: values, mean, std)."""
    primary, rows = section["primary"], section["methods"]
    intervals = section["intervals"]
    main = [m for m in rows if M.METHODS[m].variant_of is None]
    leader = max(main, key=lambda m: rows[m][primary])
    tied = [
        m
        for m, found in intervals.items()
        if found["verdict"] == "tied" and leader in (m, found["rival"])
    ]
    tuned_path = args.tuned / f"{name}.json"
    tuned = json.loads(tuned_path.read_text()).get("methods", {}) if tuned_path.exists() else {}
    for method in [m for m in rows if m in tied and m in args.methods]:
        seeds = [args.seed + i for i in range(args.seeds)]
        results = [rows[method][primary]]
        for seed in seeds[1:]:
            ran = run_method(method, dataset, args, tuned, seed)
            results.append(ran[0][primary])
            print(f"{name:18s} {method:34s} seed {seed}: {results[-1]:.4f}", flush=True)
        rows[method]["seeds"] = {
            "seeds": seeds,
            "values": results,
            "mean": float(np.mean(results)),
            "std": float(np.std(results, ddof=1)),
        }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--tuned", type=Path, default=TUNED, help="the tuner's output")
    parser.add_argument("--quick", action="store_true", help="tiny settings (smoke test)")
    parser.add_argument("--progress", action="store_true", help="show training progress bars")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--fresh", action="store_true", help="ignore an existing report")
    parser.add_argument(
        "--render", action="store_true", help="only rewrite the .md and .png from the .json"
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="train rows tied with the leader (and the leader) with this many seeds in all",
    )
    M.add_dataset_arguments(parser)
    args = parser.parse_args(argv)
    available = M.datasets(args.data_root, M.table_arguments(parser, args))
    stem = "quality-quick" if args.quick else "quality"
    previous = args.out / f"{stem}.json"
    report: dict[str, Any] = {"datasets": {}}
    values_path = args.out / f"{stem}-boards.npz"
    values: dict[str, Values] = {}
    if previous.exists() and not args.fresh:
        report = json.loads(previous.read_text())
        values = load_values(values_path)
    command = "python -m benchmarks.quality " + shlex.join(sys.argv[1:] if argv is None else argv)
    for name in [] if args.render else args.datasets:
        dataset = available[name]
        if args.quick:
            dataset = dataclasses.replace(dataset, trial_minutes=0.5, max_epochs=1)
        section, new_values = run_dataset(name, dataset, args)
        run = {"command": command, "machine": machine_description()}
        old = report["datasets"].get(name)
        section["runs"] = [run]
        partial = old is not None and set(args.methods) != set(METHODS)
        values[name] = {**values.get(name, {}), **new_values} if partial else new_values
        if partial:
            # a partial run: keep the other methods' results
            merged = {**old["methods"], **section["methods"]}
            section["methods"] = {m: merged[m] for m in METHODS if m in merged}
            section["pinsage_query_modes"] = (
                section["pinsage_query_modes"] or old["pinsage_query_modes"]
            )
            section["runs"] = [*old.get("runs", []), run]
        if args.seeds > 1:
            section["intervals"] = row_intervals(section, values[name], args.seed)
            seed_runs(name, dataset, args, section)
        report["datasets"][name] = section
    # the benchmark's order; a dataset of the report this run could not load (e.g. 'table'
    # without --table) keeps its section, after the others
    order = [*available, *(n for n in report["datasets"] if n not in available)]
    report["datasets"] = dict(
        sorted(report["datasets"].items(), key=lambda item: order.index(item[0]))
    )
    for name, section in report["datasets"].items():
        if name in values:  # else the intervals stored with the report stand
            section["intervals"] = row_intervals(section, values[name], args.seed)
            section["comparisons"] = compare(section, values[name], args.seed)
        section["checks"] = checks(section)
    if not args.render:
        save_values(values_path, values)
    write_report(args.out, stem, report, markdown)
    chart(report, args.out / f"{stem}.png")
    if not args.quick:
        for name in report["datasets"]:
            tuned_path = args.tuned / f"{name}.json"
            if tuned_path.exists():
                tuned = json.loads(tuned_path.read_text())
                path = args.out / f"time-to-quality-{name}.png"
                # the dataset's own targets: a report written before a target existed has none
                targets = available[name].targets if name in available else None
                time_to_quality(name, tuned, path, targets)
    return report


if __name__ == "__main__":
    main()
