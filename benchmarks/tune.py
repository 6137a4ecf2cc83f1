"""Choose every method's settings on the validation split, within one budget per method.

    python -m benchmarks.tune                                   # all methods, three datasets
    python -m benchmarks.tune --datasets movielens-100k --methods PinSage EASE
    python -m benchmarks.tune --trials 8 --datasets table --table saves.parquet ...

Search: Optuna's TPE sampler, seeded, with the method's defaults as the first trial (so
tuning never ends below the defaults). Optuna, rather than a random search of our own,
because TPE spends later trials near the good earlier ones (after its 10 random start-up
trials: a budget of 10 or fewer is a seeded random search), it records every trial, and it
is a maintained library made for this. Every learned method gets the same budget on a
dataset: ``--trials`` runs, each training at most the dataset's epoch cap and training-time
cap (evaluation excluded), with validation scored after every epoch; a run's score is its
best epoch's validation primary metric, and that epoch count is part of what is chosen (a
run stops early after ``PATIENCE`` epochs without a new best).
Methods without training (popularity, item kNN, Pixie, the one-hop walk, EASE) get the same
number of trials. PinSage's walk weight, which training does not see, is chosen with the
epoch: at every scored epoch, each of ``WALK_WEIGHTS`` is scored on validation (its primary
protocol alone), and the best goes into the run's settings (``choose_walk_weight``).

Only ``split.train``, ``split.val`` and validation candidates are read: test pairs never
(a test checks). Writes ``benchmarks/tuned/<dataset>.json`` (read by the quality
benchmark) and, for PinSage, ``configs/tuned/<dataset>.yaml`` (stack it on the dataset's
config).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import optuna

from benchmarks import methods as M
from benchmarks.common import ROOT, machine_description
from pinsage_dgl.io import write_text_atomic

TUNED = ROOT / "benchmarks" / "tuned"
CONFIGS = ROOT / "configs" / "tuned"
PATIENCE = 5  # validation scores without a new best before a run stops early
TUNABLE = tuple(m for m, spec in M.METHODS.items() if spec.variant_of is None)


def evaluation_due(seconds: float, last: float, growth: float) -> bool:
    """Whether a run at ``seconds`` of training, last scored at ``last``, is scored now:
    every epoch with ``growth`` 0, else once training time has grown by that share since
    the last score (geometric spacing: a run of fast epochs is scored a few dozen times
    over an hour, not after each of its thousands of epochs)."""
    return seconds >= last * (1.0 + growth)


def run_trial(
    method: str, dataset: M.Dataset, settings: dict[str, Any], seed: int, progress: bool
) -> dict[str, Any]:
    """Train once, scoring validation after epochs (every one, or spaced by the dataset's
    ``eval_growth``; always the last); the best scored epoch's result. The run stops early
    after ``PATIENCE`` scores without a new best."""
    primary = dataset.primary
    curve: list[list[float]] = []
    best: dict[str, Any] = {"val": None}
    last_epoch = settings.get("epochs", dataset.max_epochs) - 1
    deadline = dataset.trial_minutes * 60
    scored = {"seconds": 0.0, "since_best": 0}

    def on_epoch(epoch: int, seconds: float, scorer: Any) -> bool:
        final = epoch >= last_epoch or seconds >= deadline
        if not final and not evaluation_due(seconds, scored["seconds"], dataset.eval_growth):
            return False
        scored["seconds"] = seconds
        scorer, walk_weight = M.choose_walk_weight(scorer, dm, settings, primary)
        metrics = M.validation_metrics(scorer, dm)
        curve.append([round(seconds, 2), metrics[primary]])
        weight = "" if walk_weight is None else f", walk weight {walk_weight}"
        print(
            f"    epoch {epoch + 1}, {seconds:.0f} s: {primary}={metrics[primary]:.4f}{weight}",
            flush=True,
        )
        if best["val"] is None or metrics[primary] > best["val"][primary]:
            best.update(
                val=metrics, epochs=epoch + 1, seconds=round(seconds, 1), walk_weight=walk_weight
            )
            scored["since_best"] = 0
        else:
            scored["since_best"] += 1
        return scored["since_best"] >= PATIENCE

    started = time.perf_counter()
    dm = M.datamodule(dataset, settings, seed, fold_validation=False)
    scorer = M.train(method, dm, dataset, settings, seed, on_epoch, progress)
    if not M.METHODS[method].learned:
        best.update(val=M.validation_metrics(scorer, dm), epochs=None, seconds=0.0)
    if best.get("walk_weight") is not None:  # chosen with the epoch: tested as chosen
        settings = {**settings, "model.walk_weight": best["walk_weight"]}
    return {
        "settings": settings,
        "val": best["val"],
        "epochs": best["epochs"],
        "train_seconds": best["seconds"],
        "curve": curve,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }


def tune(method: str, dataset: M.Dataset, trials: int, seed: int, progress: bool) -> dict[str, Any]:
    """An Optuna study of ``trials`` runs of ``method``; its best trial and every trial."""
    spec = M.METHODS[method]
    sampler = optuna.samplers.TPESampler(seed=seed)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    space = spec.space
    runs: list[dict[str, Any]] = []
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if space is not None:  # the first run: the defaults
        study.enqueue_trial(default_point(method, dataset), skip_if_exists=True)

    def objective(trial: optuna.Trial) -> float:
        settings = {**spec.defaults, **(space(trial, dataset) if space is not None else {})}
        run = run_trial(method, dataset, settings, seed, progress)
        runs.append(run)
        print(
            f"  {method} trial {trial.number}: {dataset.primary}="
            f"{run['val'][dataset.primary]:.4f} epochs={run['epochs']} {settings}",
            flush=True,
        )
        return run["val"][dataset.primary]

    study.optimize(objective, n_trials=trials if space is not None else 1)
    chosen = runs[study.best_trial.number]
    return {**chosen, "trials": runs}


class _DefaultTrial:
    """Answers each of a search space's questions with the setting's default: the
    method's own, else for PinSage the library's (or the first choice where the library's
    default is not one, as ``popularity_prior``'s None, which turns it on)."""

    def __init__(self, defaults: dict[str, Any]) -> None:
        self.defaults = defaults

    def _default(self, name: str) -> Any:
        return self.defaults[name] if name in self.defaults else M.library_default(name)

    def suggest_categorical(self, name: str, choices: list) -> Any:
        value = self._default(name)
        return value if value in choices else choices[0]

    def suggest_float(self, name: str, low: float, high: float, log: bool = False) -> float:
        return self._default(name)


def default_point(method: str, dataset: M.Dataset) -> dict[str, Any]:
    """Every setting ``method``'s search varies, at its default (the first run)."""
    spec = M.METHODS[method]
    return spec.space(_DefaultTrial(spec.defaults), dataset) if spec.space is not None else {}


def searched(method: str, settings: dict[str, Any], dataset: M.Dataset) -> list[str]:
    """The settings ``method``'s search varies on ``dataset`` (replayed on the chosen values)."""
    spec = M.METHODS[method]
    if spec.space is None:
        return []
    # settings chosen before a setting joined the space were chosen with its default
    fixed = optuna.trial.FixedTrial({**default_point(method, dataset), **settings})
    return list(spec.space(fixed, dataset))


def pinsage_config(settings: dict[str, Any], epochs: int | None) -> str:
    """A YAML config stacking PinSage's chosen settings on a dataset's config."""
    model, data = M.pinsage_arguments(settings)
    # the CLI links the model's depth into the data
    model.setdefault("num_layers", M.MODEL_DEFAULTS["num_layers"])
    lines = [
        "# chosen on the validation split by python -m benchmarks.tune; stack it:",
        "#   pinsage fit --config configs/<dataset>.yaml --config configs/tuned/<dataset>.yaml",
        "data:",
        "  init_args:",
    ]
    for key, value in sorted(data.items()):
        if isinstance(value, dict):  # a group of settings (task, negatives, neighborhood)
            lines += [
                f"    {key}:",
                *(f"      {k}: {json.dumps(v)}" for k, v in sorted(value.items())),
            ]
        else:
            lines.append(f"    {key}: {json.dumps(value)}")
    lines += ["model:", *(f"  {k}: {json.dumps(v)}" for k, v in sorted(model.items()))]
    if epochs:
        lines += ["trainer:", f"  max_epochs: {epochs}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--methods", nargs="+", default=list(TUNABLE), choices=TUNABLE)
    parser.add_argument("--trials", type=int, default=8, help="runs per method and dataset")
    parser.add_argument("--out", type=Path, default=TUNED)
    parser.add_argument("--configs", type=Path, default=CONFIGS)
    parser.add_argument("--trial-minutes", type=float, help="override the dataset's cap")
    parser.add_argument("--max-epochs", type=int, help="override the dataset's epoch cap")
    parser.add_argument("--progress", action="store_true")
    M.add_dataset_arguments(parser)
    args = parser.parse_args(argv)
    available = M.datasets(args.data_root, M.table_arguments(parser, args))
    reports = {}
    for name in args.datasets:
        dataset = available[name]
        if args.trial_minutes:
            dataset.trial_minutes = args.trial_minutes
        if args.max_epochs:
            dataset.max_epochs = args.max_epochs
        path = args.out / f"{name}.json"
        report = json.loads(path.read_text()) if path.exists() else {"methods": {}}
        report.update(
            primary=dataset.primary,
            budget={
                "trials": args.trials,
                "trial_minutes": dataset.trial_minutes,
                "max_epochs": dataset.max_epochs,
                "patience": PATIENCE,
                "sampler": "optuna TPE, seed " + str(args.seed),
            },
            machine=machine_description(),
        )
        for method in args.methods:
            print(f"{name}: tuning {method}", flush=True)
            started = time.perf_counter()
            result = tune(method, dataset, args.trials, args.seed, args.progress)
            result["tuning_seconds"] = round(time.perf_counter() - started, 1)
            report["methods"][method] = result
            # after each method, so an interrupted run keeps what it finished
            write_text_atomic(path, json.dumps(report, indent=1))
            if method == "PinSage":
                write_text_atomic(
                    args.configs / f"{name}.yaml",
                    pinsage_config(result["settings"], result["epochs"]),
                )
        reports[name] = report
    return reports


if __name__ == "__main__":
    main()
