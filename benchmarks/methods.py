"""The benchmark's datasets and methods: what is trained, how, and what the tuner searches.

Every method is trained and scored by the same code for tuning (on the validation split)
and for the final table (trained on training + validation pins, scored once on test):
:func:`fit` builds a scorer from a method's settings, calling ``on_epoch`` after each
training pass of a learned method so the caller can record validation quality against
training time, and stop.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dgl
import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import Callback

from benchmarks.common import DATA_ROOT, ROOT
from datamodules import TableDataModule
from datamodules.base import PinSageDataModule
from pinsage_dgl.baselines import (
    EASE,
    ItemKNN,
    LightGCN,
    MatrixFactorization,
    OneHopWalk,
    PixieWalks,
    Popularity,
)
from pinsage_dgl.evaluation import (
    WALK_WEIGHTS,
    BoardValues,
    best_walk_weight,
    evaluate,
    evaluate_boards,
    evaluate_each,
)
from pinsage_dgl.history import BoardHistories
from pinsage_dgl.inference import embed_all_pins
from pinsage_dgl.lit import HardNegativeCurriculum, PinSageModule
from pinsage_dgl.sampling import Negatives, Neighborhood, Task
from pinsage_dgl.scoring import EmbeddingScorer, Scorer

DATASETS = (
    "synthetic",
    "movielens-100k",
    "ncf-movielens-1m",
    "gowalla",
    "synthetic-checkins",
    "table",
)
TUNED_DATASETS = DATASETS[:3]  # tuned by default; the others run with the chosen defaults

# on_epoch(epoch, training seconds so far, the model's scorer now) -> True to stop training
EpochHook = Callable[[int, float, Scorer], bool]


@dataclasses.dataclass
class Dataset:
    """How one dataset is benchmarked."""

    make: Callable[..., PinSageDataModule]  # the datamodule, from its arguments
    primary: str
    note: str
    trial_minutes: float  # training time cap of one run of a learned method
    max_epochs: int  # epoch cap of one run of a learned method
    targets: dict[str, float] = dataclasses.field(default_factory=dict)
    timestamps: bool = True  # False: saves carry no time, so no time-ordered history
    # validation is scored after every epoch (0), or once training time grew by this share
    # since the last score (large tables with fast epochs: scoring would cost more than them)
    eval_growth: float = 0.0
    # the datamodule's arguments (its config's data): a row's data settings go over them
    arguments: dict[str, Any] = dataclasses.field(default_factory=dict)


CONFIGS = ROOT / "configs"
#: where the configs' data paths point (relative to the checkout): a benchmark run finds
#: them under its ``--data-root`` instead
CONFIG_DATA_ROOT = Path("..", "shared", "data")


def config_data(name: str, data_root: str | Path = DATA_ROOT) -> tuple[type, dict[str, Any]]:
    """The datamodule class and arguments of ``configs/<name>.yaml``'s ``data`` section
    (a group of settings, such as ``neighborhood``, as a dict), its data paths under
    ``data_root``."""
    config = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())
    module, _, class_name = config["data"]["class_path"].rpartition(".")
    arguments = dict(config["data"].get("init_args") or {})
    for key, value in arguments.items():
        if key.endswith("path") and Path(value).is_relative_to(CONFIG_DATA_ROOT):
            arguments[key] = str(Path(data_root) / Path(value).relative_to(CONFIG_DATA_ROOT))
    return getattr(importlib.import_module(module), class_name), arguments


def recipe_settings(path: str | Path) -> dict[str, Any]:
    """A stackable config (``configs/recipes/*.yaml``: ``data.init_args``, ``model`` and
    ``trainer`` options) as settings named like a tuned record's (``data.task.kind``,
    ``model.lr``, ``trainer.precision``), so a benchmark runs the recipe the CLI stacks."""
    config = yaml.safe_load(Path(path).read_text()) or {}
    settings: dict[str, Any] = {}
    sections = {
        "data": (config.get("data") or {}).get("init_args") or {},
        "model": config.get("model") or {},
        "trainer": config.get("trainer") or {},
    }
    for scope, options in sections.items():
        for key, value in options.items():
            if isinstance(value, dict):  # a group of settings (task, negatives, ...)
                settings.update({f"{scope}.{key}.{k}": v for k, v in value.items()})
            else:
                settings[f"{scope}.{key}"] = value
    return settings


def merged_arguments(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Datamodule arguments ``over`` over ``base``, field by field within a group of
    settings (``neighborhood``, ``negatives``, ``task``), each group then its dataclass
    (as the CLI's parser makes a config's group)."""
    out = {**base, **over}
    for group, settings_class in GROUPS.items():
        fields = {**(base.get(group) or {}), **(over.get(group) or {})}
        if fields:
            out[group] = settings_class(**fields)
    return out


def from_config(name: str, data_root: str | Path) -> dict[str, Any]:
    """A dataset's ``make`` and ``arguments``: ``configs/<name>.yaml``'s datamodule."""
    cls, arguments = config_data(name, data_root)
    return {"make": cls, "arguments": arguments}


def datasets(
    data_root: str | Path,
    table: dict[str, Any] | None = None,
) -> dict[str, Dataset]:
    """The benchmark's datasets, each the data of its config in ``configs/`` (``table``:
    :class:`TableDataModule` arguments of a user's table), with how it is benchmarked."""
    small = {"primary": "full_ranking/recall@20", "trial_minutes": 3.0, "max_epochs": 30}
    out = {
        "synthetic": Dataset(
            **from_config("synthetic", data_root),
            note="the demo graph: 5,000 pins, 2,000 boards with planted topics",
            **small,
        ),
        "movielens-100k": Dataset(
            **from_config("movielens-100k", data_root),
            note="each user's latest movie held out (by timestamp)",
            **small,
        ),
        "synthetic-checkins": Dataset(
            **from_config("synthetic-checkins", data_root),
            primary="full_ranking/recall@20",
            note="the shape of a public check-in table (30k boards, 41k pins, ~800k saves, "
            "no pin features), synthetic, each board's latest pin held out",
            trial_minutes=10.0,
            max_epochs=10,
        ),
        "ncf-movielens-1m": Dataset(
            **from_config("ncf-movielens-1m", data_root),
            primary="sampled/hr@10",
            note="the NCF split: latest item vs 99 sampled negatives",
            trial_minutes=8.0,
            # the time cap binds, not the epochs: MF-BPR still gained at its 10th epoch (20 s)
            max_epochs=60,
            targets={"sampled/hr@10": 0.73, "sampled/ndcg@10": 0.45},
            timestamps=False,  # NCF's training file has 0 for every timestamp
        ),
        "gowalla": Dataset(
            **from_config("gowalla", data_root),
            primary="full_ranking/recall@20",
            note="LightGCN's split of Gowalla (train.txt / test.txt; every test item of a user "
            "ranked among all items, training items masked); validation: a fifth of each "
            "user's training items",
            # the budget: an hour of training per method, the same for every method
            trial_minutes=60.0,
            max_epochs=1000,
            targets={"full_ranking/recall@20": 0.183},  # LightGCN's published test number
            timestamps=False,  # the files carry no time
            eval_growth=0.25,  # ~35 scores over an hour; one costs ~20 s of full ranking
        ),
    }
    if table is not None:
        out["table"] = Dataset(
            make=TableDataModule,
            arguments=table,
            primary="full_ranking/recall@20",
            note=f"your table {table['interactions']}",
            trial_minutes=5.0,
            max_epochs=20,
            timestamps=table.get("timestamp_col") is not None,
        )
    return out


# --- PinSage's settings: the library's own options, by their place in a config ----------
# A PinSage row's settings name each option as a config does: ``model.<option>`` (the
# module's), ``data.<option>`` (the datamodule's), ``data.<group>.<field>`` within its
# grouped settings; an option left out keeps its config's value, else the library's
# default (the recipe: the constructors' defaults, its one home). ``epochs`` and
# ``hard_negative_curriculum`` are the harness's (as for every learned method).
GROUPS = {"neighborhood": Neighborhood, "negatives": Negatives, "task": Task}
MODEL_DEFAULTS = {
    name: parameter.default
    for name, parameter in inspect.signature(PinSageModule.__init__).parameters.items()
    if parameter.default is not inspect.Parameter.empty
}


DATA_DEFAULTS = {
    name: parameter.default
    for name, parameter in inspect.signature(PinSageDataModule.__init__).parameters.items()
    if parameter.default is not inspect.Parameter.empty
}


def library_default(key: str) -> Any:
    """The library's default of a PinSage setting named as in a config
    (``model.lr``, ``data.batch_size``, ``data.negatives.num_random``)."""
    scope, _, name = key.partition(".")
    if scope == "model":
        return MODEL_DEFAULTS[name]
    group, _, field = name.partition(".")
    if scope != "data" or (field and group not in GROUPS):
        raise KeyError(f"not a PinSage setting: {key}")
    return getattr(GROUPS[group](), field) if field else DATA_DEFAULTS[name]


def pinsage_arguments(settings: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A PinSage row's settings as the module's and the datamodule's arguments (a group
    of settings as a dict: ``{"negatives": {"num_random": 1000}, "batch_size": 512}``)."""
    model: dict[str, Any] = {}
    data: dict[str, Any] = {}
    for key, value in settings.items():
        scope, _, name = key.partition(".")
        if scope == "model":
            model[name] = value
        elif scope == "data":
            group, _, field = name.partition(".")
            if field:
                data.setdefault(group, {})[field] = value
            else:
                data[name] = value
    return model, data


@dataclasses.dataclass
class Method:
    """A row of the table: its defaults, its search space and how it is fitted."""

    defaults: dict[str, Any]
    space: Callable[[Any, Dataset], dict[str, Any]] | None  # optuna trial, dataset -> settings
    fit: Callable[..., Scorer]
    learned: bool = True
    variant_of: str | None = None  # an ablation: ``variant_of``'s tuned settings + defaults


def _pinsage_space(trial: Any, dataset: Dataset) -> dict[str, Any]:
    """PinSage's search space, each setting named as in a config (so are Optuna's
    parameters: a chosen record replays through ``optuna.trial.FixedTrial``)."""
    histories = ["random", "earlier"] if dataset.timestamps else ["random"]
    choices = {
        "model.hidden_dim": [64, 128, 256],
        "model.dropout": [0.0, 0.1, 0.2],
        "model.weight_decay": [0.0, 1e-6, 1e-5],
        "model.layer_combination": ["last", "mean", "concat"],
        "model.query": ["mean", "recency", "attention"],
        "model.num_layers": [1, 2],
        "data.negatives.num_random": [500, 1000, 2000],
        "data.task.max_history": [20, 50],
        "data.task.history": histories,
        "model.popularity_prior": [True, False],
        "model.board_embedding": [False, True],
    }
    return {
        "model.lr": trial.suggest_float("model.lr", 1e-3, 1e-2, log=True),
        **{key: trial.suggest_categorical(key, values) for key, values in choices.items()},
    }


def _factor_space(trial: Any, loss: str, graph: bool) -> dict[str, Any]:
    settings = {
        "dim": trial.suggest_categorical("dim", [32, 64, 128]),
        "lr": trial.suggest_float("lr", 1e-3, 3e-2, log=True),
    }
    # the softmax's in-batch block costs B² per step: smaller batches, as is usual for it
    batches = [1024, 4096] if loss == "bpr" else [512, 1024, 2048]
    settings["batch_size"] = trial.suggest_categorical("batch_size", batches)
    if loss == "bpr":
        settings["l2"] = trial.suggest_float("l2", 1e-6, 1e-2, log=True)
    else:  # Adam's weight decay
        settings["l2"] = trial.suggest_categorical("l2", [0.0, 1e-6, 1e-5, 1e-4])
    if loss == "softmax":
        settings["num_negatives"] = trial.suggest_categorical("num_negatives", [500, 1000, 2000])
    if graph:
        settings["num_layers"] = trial.suggest_categorical("num_layers", [1, 2, 3])
    return settings


def fit_pinsage(
    dm: PinSageDataModule,
    settings: dict[str, Any],
    dataset: Dataset,
    seed: int,
    on_epoch: EpochHook | None,
    progress: bool = False,
) -> EmbeddingScorer:
    """Train one PinSage variant on ``dm`` and return its scorer (the model's board query)."""
    epochs = settings.get("epochs", dataset.max_epochs)
    hard = settings.get("hard_negative_curriculum", 0)
    model = pinsage_arguments(settings)[0]
    model.pop("num_layers", None)  # the datamodule's, linked from the model's as in the CLI
    module = PinSageModule(
        pin_spec=dm.feature_spec,
        num_pins=dm.num_pins,
        num_boards=dm.num_boards,
        num_layers=dm.num_layers,
        **model,
    )
    clock = _TrainingClock(dm, module, on_epoch, deadline=dataset.trial_minutes * 60)
    callbacks: list[Callback] = [clock]
    if hard:
        callbacks.append(HardNegativeCurriculum(max_per_query=hard))
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator="auto",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        limit_val_batches=0,
        enable_progress_bar=progress,
        enable_model_summary=False,
        deterministic="warn",  # the same rows from the same seed (as the demo's config)
        callbacks=callbacks,
        precision=settings.get("trainer.precision", "32-true"),
    )
    trainer.fit(module, datamodule=dm)
    return clock.scorer()


class _TrainingClock(Callback):
    """Times training (evaluation excluded), hands each epoch's model to ``on_epoch`` and
    stops when training reaches ``deadline`` seconds: after the epoch, as the factor
    models' loop does, or within it where one epoch alone would overrun (large graphs);
    the cut epoch is scored as any other."""

    def __init__(
        self,
        dm: PinSageDataModule,
        module: PinSageModule,
        on_epoch: EpochHook | None,
        deadline: float,
    ) -> None:
        self.dm, self.module, self.on_epoch, self.deadline = dm, module, on_epoch, deadline
        self.seconds, self.started = 0.0, 0.0
        self.current: EmbeddingScorer | None = None

    def scorer(self) -> EmbeddingScorer:
        if self.current is None:
            self.current = self.module.scorer(
                embed_all_pins(self.module.model, *self.dm.training_graph.inference_inputs())
            )
        return self.current

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.started = time.perf_counter()

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if self.seconds + time.perf_counter() - self.started >= self.deadline:
            trainer.should_stop = True  # Lightning ends the epoch after this batch

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.seconds += time.perf_counter() - self.started
        self.current = None
        stop = self.on_epoch is not None and self.on_epoch(
            trainer.current_epoch, self.seconds, self.scorer()
        )
        if stop or self.seconds >= self.deadline:
            trainer.should_stop = True


def _fit_factor(make: Callable[[Any], Any]) -> Callable[..., Scorer]:
    def fit(
        dm: PinSageDataModule,
        settings: dict[str, Any],
        dataset: Dataset,
        seed: int,
        on_epoch: EpochHook | None,
        progress: bool = False,
    ) -> Scorer:
        settings = dict(settings)
        epochs = settings.pop("epochs", dataset.max_epochs)
        train = dm.split.train
        torch.manual_seed(seed)
        model = make(train, settings)
        seconds, started = 0.0, time.perf_counter()
        deadline = dataset.trial_minutes * 60

        def hook(epoch: int) -> bool:
            nonlocal seconds, started
            seconds += time.perf_counter() - started
            stop = on_epoch(epoch, seconds, model) if on_epoch is not None else False
            started = time.perf_counter()
            return bool(stop) or seconds >= deadline

        fit_keys = ("lr", "l2", "num_negatives", "batch_size")
        return model.fit(
            train,
            epochs=epochs,
            seed=seed,
            progress=progress,
            on_epoch=hook,
            **{k: settings[k] for k in fit_keys if k in settings},
        )

    return fit


def _fixed(make: Callable[[Any, dict], Scorer]) -> Callable[..., Scorer]:
    def fit(dm: PinSageDataModule, settings: dict[str, Any], *args: Any, **kwargs: Any) -> Scorer:
        return make(dm.split.train, settings)

    return fit


def _mf(loss: str) -> Callable[[Any, dict], Any]:
    return lambda train, s: MatrixFactorization(
        train.num_boards, train.num_pins, dim=s.get("dim", 64), loss=loss
    )


def _lightgcn(loss: str) -> Callable[[Any, dict], Any]:
    return lambda train, s: LightGCN(
        train, num_layers=s.get("num_layers", 3), dim=s.get("dim", 64), loss=loss
    )


METHODS: dict[str, Method] = {
    "popularity": Method({}, None, _fixed(lambda train, s: Popularity(train)), learned=False),
    "item kNN": Method(
        {"num_neighbors": 200},
        lambda t, d: {
            "num_neighbors": t.suggest_categorical("num_neighbors", [20, 50, 100, 200, 500])
        },
        _fixed(lambda train, s: ItemKNN(train, **s)),
        learned=False,
    ),
    "Pixie walks": Method(
        {"num_walks": 10000, "walk_length": 1, "restart_prob": 0.0, "num_recent": 100},
        lambda t, d: {
            "num_walks": t.suggest_categorical("num_walks", [2000, 10000, 20000]),
            "walk_length": t.suggest_categorical("walk_length", [1, 2, 3]),
            "restart_prob": t.suggest_categorical("restart_prob", [0.0, 0.3, 0.5]),
            "num_recent": t.suggest_categorical("num_recent", [10, 30, 100]),
        },
        _fixed(lambda train, s: PixieWalks(train, **s)),
        learned=False,
    ),
    "one-hop walk": Method(
        {"top": 200},
        lambda t, d: {"top": t.suggest_categorical("top", [50, 200, 1000])},
        _fixed(lambda train, s: OneHopWalk(train, **s)),
        learned=False,
    ),
    "EASE": Method(
        {"l2": 500.0},
        lambda t, d: {"l2": t.suggest_float("l2", 10.0, 10000.0, log=True)},
        _fixed(lambda train, s: EASE(train, **s)),
        learned=False,
    ),
    "MF-BPR": Method(
        {"dim": 64, "lr": 5e-3, "l2": 1e-4, "batch_size": 4096},
        lambda t, d: _factor_space(t, "bpr", graph=False),
        _fit_factor(_mf("bpr")),
    ),
    "MF-softmax": Method(
        {"dim": 64, "lr": 5e-3, "l2": 0.0, "num_negatives": 1000, "batch_size": 1024},
        lambda t, d: _factor_space(t, "softmax", graph=False),
        _fit_factor(_mf("softmax")),
    ),
    "LightGCN-BPR": Method(
        {"dim": 64, "lr": 5e-3, "l2": 1e-4, "num_layers": 3, "batch_size": 4096},
        lambda t, d: _factor_space(t, "bpr", graph=True),
        _fit_factor(_lightgcn("bpr")),
    ),
    "LightGCN-softmax": Method(
        {
            "dim": 64,
            "lr": 5e-3,
            "l2": 0.0,
            "num_negatives": 1000,
            "num_layers": 3,
            "batch_size": 1024,
        },
        lambda t, d: _factor_space(t, "softmax", graph=True),
        _fit_factor(_lightgcn("softmax")),
    ),
    # the dataset's config and the library's defaults: nothing set here
    "PinSage": Method({}, _pinsage_space, fit_pinsage),
    # the paper's ablation, on PinSage's chosen settings with one switch changed
    "PinSage, max-margin": Method(
        {"model.loss": "margin", "model.query": "mean", "model.popularity_prior": False},
        None,
        fit_pinsage,
        variant_of="PinSage",
    ),
    "PinSage, hard-negative curriculum": Method(
        {"hard_negative_curriculum": 3}, None, fit_pinsage, variant_of="PinSage"
    ),
    "PinSage, mean query": Method({"model.query": "mean"}, None, fit_pinsage, variant_of="PinSage"),
    "GraphSAGE (uniform neighbours)": Method(
        {"data.neighborhood.kind": "uniform"}, None, fit_pinsage, variant_of="PinSage"
    ),
    "features only": Method(
        {"model.num_layers": 0, "model.id_embedding": False},
        None,
        fit_pinsage,
        variant_of="PinSage",
    ),
}
BASELINES = tuple(m for m, spec in METHODS.items() if spec.variant_of is None and m != "PinSage")
ABLATIONS = tuple(m for m, spec in METHODS.items() if spec.variant_of is not None)


def datamodule(
    dataset: Dataset, settings: dict[str, Any], seed: int, fold_validation: bool
) -> PinSageDataModule:
    """The dataset's datamodule (its config's) with a PinSage row's data settings over it;
    its blocks have one hop per convolution of the row's model, as the CLI links them."""
    data = pinsage_arguments(settings)[1]
    data["num_layers"] = settings.get("model.num_layers", MODEL_DEFAULTS["num_layers"])
    arguments = merged_arguments(dataset.arguments, data)
    return dataset.make(**arguments, seed=seed, fold_validation=fold_validation)


def train(
    method: str,
    dm: PinSageDataModule,
    dataset: Dataset,
    settings: dict[str, Any],
    seed: int,
    on_epoch: EpochHook | None = None,
    progress: bool = False,
) -> Scorer:
    """Train (or build) ``method`` with ``settings`` on ``dm``'s training split."""
    L.seed_everything(seed, workers=True, verbose=False)
    dgl.seed(seed)  # DGL's own sampler (the DGL example's recipe) draws from DGL's stream
    return METHODS[method].fit(dm, settings, dataset, seed, on_epoch, progress)


def add_dataset_arguments(parser: Any) -> None:
    """Command-line options naming the datasets, their data, the seed, and the ``table``
    dataset's interactions (shared by the tuner and the quality benchmark)."""
    parser.add_argument("--datasets", nargs="+", default=list(TUNED_DATASETS), choices=DATASETS)
    parser.add_argument("--data-root", default=str(DATA_ROOT))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--table", help="interactions table (Parquet/CSV/TSV) for 'table'")
    parser.add_argument("--test-table", help="held-out interactions with the same columns")
    parser.add_argument("--pin-col", default="pin")
    parser.add_argument("--board-col", default="board")
    parser.add_argument("--timestamp-col")
    parser.add_argument("--pin-features", help="pin feature table for 'table' (kinds inferred)")
    parser.add_argument("--pin-title-col", help="title column of --pin-features")


def table_arguments(parser: Any, args: Any) -> dict[str, Any] | None:
    """:class:`TableDataModule` arguments from the options (None without ``--table``)."""
    if "table" in args.datasets and not args.table:
        parser.error("--datasets table needs --table PATH")
    if not args.table:
        return None
    return {
        "interactions": args.table,
        "pin_col": args.pin_col,
        "board_col": args.board_col,
        "timestamp_col": args.timestamp_col,
        "test_interactions": args.test_table,
        "pin_features": args.pin_features,
        "pin_title_col": args.pin_title_col,
    }


def choose_walk_weight(
    scorer: Scorer, dm: PinSageDataModule, settings: dict[str, Any], primary: str
) -> tuple[Scorer, float | None]:
    """A PinSage scorer whose settings leave ``model.walk_weight`` to be chosen (absent or
    None, the module's default): the
    weight among :data:`~pinsage_dgl.evaluation.WALK_WEIGHTS` with the best validation
    ``primary`` (its protocol alone is evaluated per weight), and the scorer with it.
    Other scorers come back as they are, with None."""
    if not isinstance(scorer, EmbeddingScorer) or settings.get("model.walk_weight") is not None:
        return scorer, None
    walk = dm.training_graph.walk_scores(settings.get("model.walk_top", MODEL_DEFAULTS["walk_top"]))
    histories = BoardHistories(dm.split.train)
    protocol = primary.split("/")[0]
    values = evaluate_each(
        scorer.reweighted(None, 0.0).at_walk_weights(walk, WALK_WEIGHTS),
        histories,
        dm.split.val,
        [protocol],
        dm.val_candidates,
    )
    best = best_walk_weight({weight: values[weight][primary] for weight in values})
    return scorer.reweighted(walk if best else None, best), best


def validation_metrics(scorer: Scorer, dm: PinSageDataModule) -> dict[str, float]:
    """Every protocol on the validation pins (never the test pins)."""
    histories = BoardHistories(dm.split.train)
    return evaluate(scorer, histories, dm.split.val, candidates=dm.val_candidates)


def test_values(scorer: Scorer, dm: PinSageDataModule) -> dict[str, BoardValues]:
    """Every protocol on the test pins, board by board (validation pins known as history)."""
    return evaluate_boards(
        scorer, dm.test_histories(), dm.split.test, candidates=dm.test_candidates
    )


def test_metrics(scorer: Scorer, dm: PinSageDataModule) -> dict[str, float]:
    """Every protocol on the test pins, validation pins known as history."""
    return evaluate(scorer, dm.test_histories(), dm.split.test, candidates=dm.test_candidates)
