"""The ``pinsage`` command.

``pinsage fit|validate|test|predict --config configs/<name>.yaml`` are LightningCLI
subcommands (several ``--config`` files stack; any option can be overridden, e.g.
``--data.init_args.path /my/ml-1m``). Two more use the same configs:

- ``pinsage recommend --config C --ckpt_path K [--pins ID ...] [--boards ID ...]
  [--new-pins TABLE] [--k 10] [--index FILE | --index-kind exact|flat|ivf|hnsw]``
  prints the top-k pins for each pin, board or new pin (cold start, from its features),
  with raw ids and titles;
- ``pinsage embed --config C --ckpt_path K --output emb.npz|emb.parquet`` writes every
  pin's embedding with its raw id, atomically (a model trained with
  ``--model.popularity_prior true`` adds its prior as a last column: the vectors its
  index serves);
- ``pinsage index --embeddings emb.npz --kind hnsw --output pins.index.npz`` builds and
  saves a nearest-neighbour index of those embeddings (for ``recommend --index``).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import pickle
import re
import sys
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import torch
from jsonargparse import Namespace
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import EarlyStopping, Timer
from lightning.pytorch.cli import LightningCLI

from datamodules.base import PinSageDataModule
from pinsage_dgl.graph import read_table
from pinsage_dgl.inference import (
    EMBEDDING_FORMATS,
    embed_all_pins,
    load_embeddings,
    save_embeddings,
)
from pinsage_dgl.io import InputError
from pinsage_dgl.lit import PinSageModule
from pinsage_dgl.retrieval import (
    INDEX_KINDS,
    Index,
    IndexFileError,
    build_index,
    load_index,
)


class PinSageCLI(LightningCLI):
    """LightningCLI with the model's depth linked into the data (its blocks have one hop per
    convolution) and the data's sizes linked into the model."""

    def add_arguments_to_parser(self, parser) -> None:
        if not self._subcommands:
            # recommend/embed read the config that fit saved: its fit-only keys are accepted
            # (and ignored: they take the checkpoint from their own --ckpt_path)
            parser.add_argument("--ckpt_path", type=str | None, default=None)
            parser.add_argument("--weights_only", type=bool | None, default=None)
        parser.link_arguments("model.num_layers", "data.init_args.num_layers", apply_on="parse")
        parser.link_arguments("data", "model.pin_spec", compute_fn=_spec, apply_on="instantiate")
        parser.link_arguments(
            "data", "model.num_boards", compute_fn=_num_boards, apply_on="instantiate"
        )
        parser.link_arguments(
            "data", "model.num_pins", compute_fn=_num_pins, apply_on="instantiate"
        )

    def before_instantiate_classes(self) -> None:
        """Paths follow ``trainer.default_root_dir`` (a config names its run directory
        once): CSV logs under it unless a logger is given (or ``--trainer.logger false``),
        and a ``ModelCheckpoint`` without a ``dirpath`` writes to ``<root>/checkpoints``."""
        config = self.config[self.subcommand] if self.subcommand else self.config
        trainer = config.trainer
        root = trainer.default_root_dir or "."
        if trainer.logger is None or trainer.logger is True:
            trainer.logger = Namespace(
                class_path="lightning.pytorch.loggers.CSVLogger",
                init_args=Namespace(save_dir=root),
            )
        for callback in trainer.callbacks or []:
            init_args = callback.get("init_args")
            if (
                callback.class_path.endswith(".ModelCheckpoint")
                and init_args.get("dirpath") is None
            ):
                init_args.dirpath = os.path.join(root, "checkpoints")

    def _checkpoints_hold_weights_only(self) -> None:
        """``--ckpt_path`` of fit, validate, test and predict loads tensors and plain data
        only (``weights_only`` unless set): a checkpoint carrying code is refused, not run."""
        config = self.config_init[self.subcommand]
        if config.get("weights_only") is None:
            config["weights_only"] = True

    before_fit = before_validate = before_test = before_predict = _checkpoints_hold_weights_only

    def after_fit(self) -> None:
        """Say why training stopped and where its checkpoints are (the path ``recommend``
        and ``embed`` take)."""
        trainer = self.trainer
        if not trainer.is_global_zero:
            return
        line = f"pinsage fit: stopped by {stop_reason(trainer)} after {trainer.global_step} steps"
        checkpoint = trainer.checkpoint_callback
        if checkpoint is not None and checkpoint.last_model_path:
            line += f"; last checkpoint: {checkpoint.last_model_path}"
        if checkpoint is not None and checkpoint.best_model_path:
            line += f"; best: {checkpoint.best_model_path}"
        print(line)

    def __init__(self, *args, checkpoint: str | None = None, **kwargs) -> None:
        self._checkpoint = checkpoint  # recommend/embed: the model options come from it
        self._args = kwargs.get("args")  # None: sys.argv
        self._subcommands = kwargs.get("run", True)
        super().__init__(*args, **kwargs)

    def _parse_ckpt_path(self) -> None:
        """A checkpoint's model options are the model's: they fill the configuration (as
        LightningCLI's own step does), and an option given on the command line that
        disagrees with the checkpoint is an error, not silently overridden."""
        subcommand = self.config.get("subcommand")
        config = self.config[subcommand] if subcommand else self.config
        path = config.get("ckpt_path") if subcommand else self._checkpoint
        if not path:
            return
        if not Path(path).is_file():
            if subcommand and path in CKPT_KEYWORDS:  # "last", "best": Lightning finds it
                return
            sys.exit(f"pinsage: checkpoint not found: {path}")
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as err:
            _refuse_checkpoint(path, err)
        except (RuntimeError, EOFError, OSError) as err:
            sys.exit(f"pinsage: cannot read checkpoint {path}: {str(err).splitlines()[0]}")
        saved = checkpoint.get("hyper_parameters") if isinstance(checkpoint, dict) else None
        if not isinstance(saved, dict):
            sys.exit(f"pinsage: {path} is not a pinsage-dgl checkpoint (no model options)")
        explicit = _explicit_model_options(self._args)
        model = config.model
        for key, value in saved.items():
            if key in LINKED_MODEL_OPTIONS or key not in model:
                continue
            if key in explicit and model[key] != value:
                sys.exit(
                    f"pinsage: --model.{key} {model[key]!r} disagrees with the checkpoint "
                    f"{path}, trained with {value!r}: a checkpoint's model options are its "
                    f"own (leave --model.{key} out)"
                )
            model[key] = value
        config.data.init_args.num_layers = model.num_layers  # the blocks follow the model

    def instantiate_classes(self) -> None:
        # the datamodule reads its files here (the model's sizes are linked from it)
        with _input_errors_in_one_line(ValueError):
            super().instantiate_classes()

    def _run_subcommand(self, subcommand: str) -> None:
        try:
            with _input_errors_in_one_line():
                super()._run_subcommand(subcommand)
        except pickle.UnpicklingError as err:
            _refuse_checkpoint(self.config_init[subcommand].get("ckpt_path"), err)


@contextlib.contextmanager
def _input_errors_in_one_line(*settings_errors: type[Exception]) -> Iterator[None]:
    """A file that cannot be used (missing, or an :class:`~pinsage_dgl.io.InputError`
    naming its column and row) exits with that one line, however deep it was raised
    (LightningCLI wraps the errors of linked arguments in its own); so does the root
    cause of one of ``settings_errors`` (the constructors' checks of their options)."""
    try:
        yield
    except Exception as err:
        chain: list[BaseException] = []
        cause: BaseException | None = err
        while cause is not None and cause not in chain:
            chain.append(cause)
            cause = cause.__cause__ or cause.__context__
        files = [c for c in chain if isinstance(c, (InputError, FileNotFoundError))]
        settings = [c for c in chain if isinstance(c, settings_errors)]
        if not files and not settings:
            raise
        sys.exit(f"pinsage: {files[0] if files else settings[-1]}")


def stop_reason(trainer: Trainer) -> str:
    """Why ``trainer.fit`` returned: ``max_time (h:mm:ss)``, ``early stopping on
    <metric>``, ``max_steps (N)``, ``max_epochs (N)`` or ``an interruption``."""
    if trainer.interrupted:
        return "an interruption"
    for callback in trainer.callbacks:
        remaining = callback.time_remaining() if isinstance(callback, Timer) else None
        if remaining is not None and remaining <= 0:
            return f"max_time ({timedelta(seconds=int(callback.time_elapsed()))})"
        if isinstance(callback, EarlyStopping) and callback.stopped_epoch > 0:
            return f"early stopping on {callback.monitor}"
    if trainer.max_steps != -1 and trainer.global_step >= trainer.max_steps:
        return f"max_steps ({trainer.max_steps})"
    return f"max_epochs ({trainer.max_epochs})"


class _LightningNoise(logging.Filter):
    """Drop Lightning's lines that are not about this run: its tips about other products
    and its reports of accelerators that are absent (a GPU that is present is still said)."""

    ABSENT = re.compile(r"(GPU|TPU|HPU) available: False")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("\N{ELECTRIC LIGHT BULB} Tip") or self.ABSENT.match(message))


def _quiet_lightning() -> None:
    logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _LightningNoise) for f in logger.filters):
        logger.addFilter(_LightningNoise())


CKPT_KEYWORDS = ("last", "best", "hpc", "registry")
# filled from the data when the model is built, not options a user sets
LINKED_MODEL_OPTIONS = ("pin_spec", "num_pins", "num_boards")


def _explicit_model_options(args: list[str] | None) -> set[str]:
    """The ``--model.<name>`` options written on the command line (not from a config)."""
    tokens = sys.argv[1:] if args is None else args
    return {m.group(1) for t in tokens if (m := re.match(r"--model\.([A-Za-z_]\w*)", t))}


def _refuse_checkpoint(path: str | None, err: Exception) -> None:
    sys.exit(
        f"pinsage: cannot load checkpoint {path}: it holds objects other than tensors and "
        f"plain data ({str(err).splitlines()[-1].strip()})"
    )


def _spec(data: PinSageDataModule) -> dict:
    return data.feature_spec


def _num_pins(data: PinSageDataModule) -> int:
    return data.num_pins


def _num_boards(data: PinSageDataModule) -> int:
    return data.num_boards


DESCRIPTION = (
    "PinSage on DGL. Subcommands fit, validate, test, predict (LightningCLI), and "
    "recommend, embed, index (pinsage recommend --help, and so on)."
)


def _cli(
    args: list[str] | None,
    run: bool = True,
    cli: type = PinSageCLI,
    checkpoint: str | None = None,
) -> PinSageCLI:
    _quiet_lightning()
    return cli(
        PinSageModule,
        PinSageDataModule,
        subclass_mode_data=True,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"description": DESCRIPTION},
        args=args,
        run=run,
        checkpoint=checkpoint,
    )


class _ParseOnly(PinSageCLI):
    def instantiate_classes(self) -> None:
        """Nothing: parsing alone checks that every option exists."""


def check_config(args: list[str]) -> dict:
    """Parse the options of ``pinsage fit`` and the like, without the subcommand
    (``--config`` files stack), building nothing: an option that does not exist, or a
    value of the wrong type, exits with a message naming it. Returns the parsed
    configuration as a dict."""
    return _cli(args, run=False, cli=_ParseOnly).config.as_dict()


def _load_trained(args: list[str], ckpt_path: str) -> tuple[PinSageModule, PinSageDataModule]:
    with warnings.catch_warnings():  # args are passed on purpose: ours were parsed off first
        warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter")
        # the model is built with the checkpoint's options (a clear exit where it is
        # missing, damaged, carries code or disagrees with a --model option)
        cli = _cli(args, run=False, checkpoint=ckpt_path)
    try:
        checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        cli.model.load_state_dict(checkpoint["state_dict"])
    except (RuntimeError, KeyError, TypeError) as err:
        sys.exit(
            f"pinsage: cannot use checkpoint {ckpt_path}: its weights do not fit this model "
            f"({str(err).splitlines()[0]})"
        )
    cli.datamodule.setup("predict")
    return cli.model, cli.datamodule


def _saved_index(path: str) -> Index:
    """The index saved at ``path`` (a clear exit where it is missing or damaged)."""
    try:
        return load_index(path)
    except FileNotFoundError:
        sys.exit(f"pinsage recommend: index not found: {path}")
    except IndexFileError as err:
        sys.exit(f"pinsage recommend: {err}")


def recommend(argv: list[str]) -> None:
    """``pinsage recommend``: top-k pins for pins, boards and new pins, from a checkpoint."""
    parser = _checkpoint_parser("recommend", recommend.__doc__)
    parser.add_argument("--pins", nargs="*", default=[], help="raw pin ids")
    parser.add_argument("--boards", nargs="*", default=[], help="raw board ids")
    parser.add_argument(
        "--new-pins",
        help="table (Parquet/CSV/TSV) of pins not in the graph, with the graph's feature "
        "columns: recommended from their features alone (cold start)",
    )
    parser.add_argument("--new-pin-col", default="pin", help="id column of --new-pins")
    parser.add_argument("--k", type=int, default=10, help="pins to recommend for each query")
    parser.add_argument(
        "--index", help="a saved index (pinsage index) to search instead of building one"
    )
    parser.add_argument(
        "--index-kind",
        default="exact",
        choices=INDEX_KINDS,
        help="index built when --index is not given (default: exact search)",
    )
    ours, rest = parser.parse_known_args(argv)
    if not ours.pins and not ours.boards and not ours.new_pins:
        parser.error("give --pins, --boards and/or --new-pins")
    if ours.k < 1:
        parser.error(f"--k must be >= 1, got {ours.k}")
    model, data = _load_trained(rest, ours.ckpt_path)
    graph = data.split.train
    try:
        pins = graph.pin_index(ours.pins) if ours.pins else torch.empty(0, dtype=torch.int64)
        boards = (
            graph.board_index(ours.boards) if ours.boards else torch.empty(0, dtype=torch.int64)
        )
    except KeyError as err:
        sys.exit(f"pinsage recommend: {err.args[0]}")
    new_table, new_features = None, None
    if ours.new_pins:
        if len(graph.pin_spec) == 0:
            sys.exit("pinsage recommend: these pins have no features, so new pins have no input")
        try:
            new_table = read_table(ours.new_pins)
            new_features = graph.pin_spec.encode(new_table, ours.new_pins)
        except (OSError, ValueError) as err:
            sys.exit(f"pinsage recommend: {err}")
    try:
        searched = _saved_index(ours.index) if ours.index else ours.index_kind
        recommender = model.recommender(searched, data.training_graph)
    except ValueError as err:  # an index of another model's vectors
        sys.exit(f"pinsage recommend: {ours.index}: {err}")
    titles = graph.pin_titles

    def show(heading: str, scores: torch.Tensor, ids: torch.Tensor) -> None:
        print(f"\n{heading}")
        for rank, (score, pin) in enumerate(zip(scores.tolist(), ids.tolist(), strict=True), 1):
            if pin < 0:
                break
            title = f"  {titles[pin]}" if titles is not None else ""
            print(f"  {rank:>3}. {graph.pin_ids[pin]!s:<12} {score:6.3f}{title}")

    if len(pins):
        scores, ids = recommender.pins(pins, ours.k)
        for row, (raw, pin) in enumerate(zip(ours.pins, pins.tolist(), strict=True)):
            title = f": {titles[pin]}" if titles is not None else ""
            show(f"pin {raw}{title}", scores[row], ids[row])
    if len(boards):
        scores, ids = recommender.boards(boards, ours.k)
        sizes = recommender.histories.indptr[boards + 1] - recommender.histories.indptr[boards]
        for row, raw in enumerate(ours.boards):
            show(f"board {raw} ({int(sizes[row])} training pins)", scores[row], ids[row])
    if new_features is not None:
        scores, ids = recommender.new_pins(new_features, ours.k)
        names = (
            new_table[ours.new_pin_col].astype(str).tolist()
            if ours.new_pin_col in new_table.columns
            else [f"row {i}" for i in range(len(new_table))]
        )
        for row, name in enumerate(names):
            show(f"new pin {name}", scores[row], ids[row])


def embed(argv: list[str]) -> None:
    """``pinsage embed``: every pin's embedding and raw id to .npz or .parquet, atomically."""
    parser = _checkpoint_parser("embed", embed.__doc__)
    parser.add_argument("--output", required=True, help="path of the .npz or .parquet to write")
    parser.add_argument("--batch-size", type=int, default=8192, help="pins per chunk")
    parser.add_argument(
        "--workdir", help="memory-map the layer tensors here (graphs whose layers exceed RAM)"
    )
    ours, rest = parser.parse_known_args(argv)
    if not ours.output.lower().endswith(EMBEDDING_FORMATS):
        parser.error(f"--output must end in {' or '.join(EMBEDDING_FORMATS)}")
    model, data = _load_trained(rest, ours.ckpt_path)
    embeddings = embed_all_pins(
        model.model,
        *data.training_graph.inference_inputs(progress=True),
        batch_size=ours.batch_size,
        progress=True,
        workdir=ours.workdir,
    )
    # what an index of this model must hold (with a popularity prior, one more column)
    embeddings = model.scorer(embeddings).index_items()
    save_embeddings(ours.output, embeddings, data.split.train.pin_ids)
    print(f"wrote {embeddings.shape[0]} x {embeddings.shape[1]} embeddings to {ours.output}")


def index(argv: list[str]) -> None:
    """``pinsage index``: a nearest-neighbour index of an embeddings file, saved atomically."""
    parser = argparse.ArgumentParser(
        prog="pinsage index",
        description=index.__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--embeddings", required=True, help=".npz or .parquet of pinsage embed")
    parser.add_argument("--output", required=True, help="path of the index (.npz) to write")
    parser.add_argument(
        "--kind",
        default="hnsw",
        choices=[k for k in INDEX_KINDS if k != "exact"],
        help="flat: exact; ivf: inverted lists (k-means); hnsw: a navigable graph",
    )
    parser.add_argument("--nlist", type=int, help="IVF lists (default 4 sqrt(N))")
    parser.add_argument("--nprobe", type=int, default=16, help="IVF lists searched per query")
    parser.add_argument("--hnsw-m", type=int, default=32, help="HNSW links per node")
    parser.add_argument("--ef-construction", type=int, default=200, help="HNSW build beam")
    parser.add_argument("--ef-search", type=int, default=128, help="HNSW search beam")
    ours = parser.parse_args(argv)
    try:
        embeddings, _ = load_embeddings(ours.embeddings)
        built = build_index(
            embeddings,
            ours.kind,
            nlist=ours.nlist,
            nprobe=ours.nprobe,
            hnsw_m=ours.hnsw_m,
            ef_construction=ours.ef_construction,
            ef_search=ours.ef_search,
        )
    except FileNotFoundError:
        sys.exit(f"pinsage index: embeddings not found: {ours.embeddings}")
    except (OSError, ValueError, KeyError) as err:
        sys.exit(f"pinsage index: {ours.embeddings}: {err}")
    built.save(ours.output)
    print(f"wrote {ours.output}: {ours.kind} index of {built.num_items} x {built.dim} vectors")


OVERVIEW = """usage: pinsage <command> [options]

PinSage on DGL. Commands:
  fit        train (pinsage fit --config configs/synthetic.yaml; configs stack)
  validate   score a checkpoint on the validation pins
  test       score a checkpoint on the test pins
  predict    every pin's embedding, through Lightning's predict loop
  recommend  top-k pins for pins, boards or new pins, from a checkpoint
  embed      write every pin's embedding (.npz or .parquet), from a checkpoint
  index      build and save a nearest-neighbour index of such embeddings

pinsage <command> --help lists a command's options."""


def _checkpoint_parser(command: str, description: str | None) -> argparse.ArgumentParser:
    """The parser of a command that loads a trained checkpoint with a config's data."""
    parser = argparse.ArgumentParser(
        prog=f"pinsage {command}",
        description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="Also required: --config <the config the model was trained with> (configs "
        "stack, as for fit); --data.* options select and shape the data. The model's "
        "options come from the checkpoint (a --model.* option must agree with it).",
    )
    parser.add_argument(
        "--ckpt_path", required=True, help="a checkpoint written by pinsage fit (last.ckpt)"
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``pinsage`` console script."""
    args = sys.argv[1:] if argv is None else argv
    commands = {"recommend": recommend, "embed": embed, "index": index}
    if not args or args[0] in ("-h", "--help"):
        print(OVERVIEW)  # at once: LightningCLI's help would import everything first
        return
    if args and args[0] in commands:
        commands[args[0]](args[1:])
    else:
        _cli(argv)  # None: LightningCLI reads sys.argv itself


if __name__ == "__main__":
    main()
