"""``pinsage fit|validate|test``: LightningCLI with our links and checks; and the parser of
the configuration options ``recommend`` and ``embed`` pass on (the same model and data
options and links, built without a LightningCLI: they run no Trainer).

The model's depth is linked into the data and the data's sizes into the model; a
checkpoint's model options build the model; checkpoints load as tensors and plain data; a
file that cannot be used is one line naming it; fit ends by saying why it stopped.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import logging
import os
import pickle
import re
import sys
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import yaml
from jsonargparse import ActionConfigFile, ArgumentError, DefaultHelpFormatter, Namespace
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelSummary, Timer
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback

from datamodules.base import PinSageDataModule
from pinsage_dgl.cli.options import SNAPSHOT, installed_versions
from pinsage_dgl.io import InputError, write_text_atomic
from pinsage_dgl.lit import PinSageModule


class PinSageCLI(LightningCLI):
    """LightningCLI with the model's depth linked into the data (its blocks have one hop per
    convolution) and the data's sizes linked into the model."""

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        """Lightning's subcommands but ``predict``: ``pinsage embed`` writes what it would
        return (every pin's embedding) to a file."""
        commands = dict(LightningCLI.subcommands())
        commands.pop("predict", None)
        return commands

    def add_arguments_to_parser(self, parser) -> None:
        link_model_and_data(parser)

    def before_instantiate_classes(self) -> None:
        """Paths follow ``trainer.default_root_dir`` (a config names its run directory
        once): ``fit``'s CSV logs under it unless a logger is given (or ``--trainer.logger
        false``; ``validate`` and ``test`` log only when given one), and a
        ``ModelCheckpoint`` without a ``dirpath`` writes to ``<root>/checkpoints``."""
        config = self.config[self.subcommand] if self.subcommand else self.config
        trainer = config.trainer
        root = trainer.default_root_dir or "."
        if self.subcommand in ("validate", "test") and trainer.logger is None:
            trainer.logger = False  # they print their metrics: a log would hold nothing else
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

    before_validate = before_test = _checkpoints_hold_weights_only

    def before_fit(self) -> None:
        """As :meth:`_checkpoints_hold_weights_only`; and a fit that starts afresh where an
        earlier run left checkpoints says, in one line, that it replaces them."""
        self._checkpoints_hold_weights_only()
        checkpoint = self.trainer.checkpoint_callback
        if self.config_init["fit"].get("ckpt_path") or checkpoint is None:
            return
        earlier = sorted(Path(checkpoint.dirpath or "").glob("*.ckpt"))
        if checkpoint.dirpath and earlier and self.trainer.is_global_zero:
            print(
                f"pinsage fit: {checkpoint.dirpath} holds {len(earlier)} checkpoint(s) of an "
                "earlier run; this run replaces them (to continue that run: --ckpt_path last)"
            )

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

    def parse_arguments(self, parser: LightningArgumentParser, args) -> None:
        """Parse, then take the model options from the checkpoint, if one is given: a
        checkpoint's model options are the model's. They fill the configuration (as
        LightningCLI does after this), and an option given on the command line that
        disagrees with the checkpoint is an error, not silently overridden. A file that is
        not a checkpoint of ours, or carries code, exits here with one line naming it."""
        super().parse_arguments(parser, args)
        subcommand = self.config.get("subcommand")
        if subcommand:
            take_checkpoint_options(self.config[subcommand], self.config[subcommand].ckpt_path)

    def instantiate_classes(self) -> None:
        # the datamodule reads its files here (the model's sizes are linked from it)
        with _input_errors_in_one_line(ValueError):
            super().instantiate_classes()


def link_model_and_data(parser: LightningArgumentParser) -> None:
    """The model's depth into the data (its blocks have one hop per convolution), and the
    data's feature spec and sizes into the model."""
    parser.link_arguments("model.num_layers", "data.init_args.num_layers", apply_on="parse")
    parser.link_arguments("data", "model.pin_spec", compute_fn=_spec, apply_on="instantiate")
    parser.link_arguments(
        "data", "model.num_boards", compute_fn=_num_boards, apply_on="instantiate"
    )
    parser.link_arguments("data", "model.num_pins", compute_fn=_num_pins, apply_on="instantiate")


def take_checkpoint_options(config: Namespace, path: str | None) -> None:
    """Make the model options of ``config`` (one command's) those the checkpoint at
    ``path`` was trained with: a checkpoint's model options are the model's. An option the
    command line changed that disagrees with the checkpoint is an error, not silently
    overridden; a file that is not a checkpoint of ours, or carries code, exits with one
    line naming it. ``last`` and ``best`` are left for Lightning to find."""
    if not path:
        return
    if not Path(path).is_file():
        if path in CKPT_KEYWORDS:
            return
        sys.exit(f"pinsage: checkpoint not found: {path}")
    saved = read_checkpoint(path)["hyper_parameters"]
    model = config.model
    explicit = _changed_by_command_line(model, config.get("config") or [])
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


class SaveFitConfig(SaveConfigCallback):
    """The configuration of a ``fit`` saved beside its logs (what ``recommend`` and
    ``embed`` can read again); ``validate`` and ``test`` write nothing."""

    def setup(self, trainer: Trainer, pl_module, stage: str) -> None:
        if stage == "fit":
            super().setup(trainer, pl_module, stage)


class ParameterCount(ModelSummary):
    """The model's size in one line, instead of Lightning's table (whose FLOPs column would
    read 0: Lightning's counter runs an example input, and PinSage's inputs are graphs)."""

    @staticmethod
    def summarize(
        summary_data: list,
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        *args,
        **kwargs,
    ) -> None:
        print(
            f"pinsage fit: a model of {total_parameters:,} parameters "
            f"({trainable_parameters:,} trainable, {model_size:.1f} MB)"
        )


class SayInterruption(Callback):
    """On Ctrl-C during ``fit``: one line saying what was saved and how to resume."""

    def on_exception(self, trainer: Trainer, pl_module, exception: BaseException) -> None:
        if not isinstance(exception, KeyboardInterrupt) or not trainer.is_global_zero:
            return
        if trainer.state.fn != "fit":
            return
        checkpoint = trainer.checkpoint_callback
        saved = checkpoint.last_model_path if checkpoint is not None else ""
        saved = saved or (checkpoint.best_model_path if checkpoint is not None else "")
        if saved:
            kept = (
                f"the last checkpoint is {saved}; resume with the same command and --ckpt_path last"
            )
        else:
            kept = "no checkpoint was saved yet; the run starts again with the same command"
        print(f"pinsage fit: interrupted at step {trainer.global_step}: {kept}")


class CheckpointInUse(Callback):
    """Remembers the checkpoint the trainer was loading when a run failed
    (``trainer.ckpt_path``, with ``last`` or ``best`` resolved to its file), so that a
    refusal can name it."""

    def __init__(self) -> None:
        self.path: str | None = None

    def on_exception(self, trainer: Trainer, pl_module, exception: BaseException) -> None:
        self.path = None if trainer.ckpt_path is None else str(trainer.ckpt_path)


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


def _changed_by_command_line(model: Namespace, configs: list) -> set[str]:
    """The model options whose parsed value is not what the ``--config`` files (stacked in
    order) or, where they say nothing, the model's defaults give: those the command line
    changed."""
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(PinSageModule.__init__).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }
    from_configs: dict = {}
    for path in configs:
        content = yaml.safe_load(path.read_text()) or {}
        from_configs.update((content.get("model") or {}) if isinstance(content, dict) else {})
    return {
        key
        for key, value in model.items()
        if key in defaults and not _same_value(value, from_configs.get(key, defaults[key]))
    }


def _same_value(parsed: object, written: object) -> bool:
    """Whether a parsed option is the value a YAML file wrote (which YAML may have read as
    a string where the parser reads a number: ``1e-06``)."""
    if parsed == written:
        return True
    try:
        return float(parsed) == float(written)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def read_checkpoint(path: str) -> dict:
    """The checkpoint at ``path``, loaded as tensors and plain data only; a file that is not
    a ``pinsage fit`` checkpoint (any other file, empty, damaged, or carrying code) exits
    with one line naming it."""
    not_ours = f"pinsage: {path} is not a checkpoint written by pinsage fit"
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive
        with open(path, "rb") as f:
            begun = f.read(4) == b"PK\x03\x04"
        sys.exit(f"{not_ours} ({'truncated or damaged' if begun else 'not a torch checkpoint'})")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if re.search(r"Unsupported (global|class)", str(err)):  # code it would run
            _refuse_checkpoint(path, err)
        sys.exit(f"{not_ours} (damaged: {_first_line(err)})")
    except Exception as err:  # zip, pickle and torch errors all mean a damaged file
        sys.exit(f"{not_ours} (damaged: {_first_line(err)})")
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("hyper_parameters"), dict):
        sys.exit(f"{not_ours} (no model options)")
    return checkpoint


# lines of a jsonargparse error that frame its reason rather than give it
_FRAMING = re.compile(
    r"(Parser key |Does not validate|Subtypes:|Errors:|Problem with|Given value|"
    r"Expected a <class 'NoneType'>)"
)


def parser_error_line(message: str) -> str:
    """A jsonargparse error in one line: the key it is about (``data.num_pins``) and its
    innermost reason (``Expected a <class 'int'>. Got value: abc``)."""
    keys = re.findall(r'Parser key "([^"]+)"', message)
    lines = [line.strip().lstrip("- ") for line in message.splitlines()]
    reasons = [line for line in lines if line and not _FRAMING.match(line)]
    reason = reasons[0] if reasons else lines[0]
    return f"{'.'.join(keys)}: {reason}" if keys else reason


def _first_line(err: BaseException) -> str:
    """The reason in an error's message (torch's advice to load unsafely left out)."""
    lines = str(err).rsplit("WeightsUnpickler error:", 1)[-1].strip().splitlines()
    return lines[0] if lines else type(err).__name__


def _refuse_checkpoint(path: str | None, err: Exception) -> None:
    sys.exit(
        f"pinsage: cannot load checkpoint {path}: it holds objects other than tensors and "
        f"plain data ({_first_line(err)})"
    )


def _spec(data: PinSageDataModule) -> dict:
    return data.feature_spec


def _num_pins(data: PinSageDataModule) -> int:
    return data.num_pins


def _num_boards(data: PinSageDataModule) -> int:
    return data.num_boards


class PlainHelp(DefaultHelpFormatter):
    """Help text without the docstrings' reStructuredText markup (``x``, :class:`~a.B`)."""

    def format_help(self) -> str:
        text = re.sub(
            r":\w+:`~?([^`]+)`", lambda m: m.group(1).rsplit(".", 1)[-1], super().format_help()
        )
        return re.sub(r"``([^`]+)``", r"\1", text)


class PlainHelpParser(LightningArgumentParser):
    """Lightning's parser with :class:`PlainHelp` (also in the ``--data.help CLASS`` parsers
    jsonargparse makes of this type)."""

    def __init__(self, *args, formatter_class: type = PlainHelp, **kwargs) -> None:
        super().__init__(*args, formatter_class=formatter_class, **kwargs)


DESCRIPTION = (
    "PinSage on DGL. Subcommands fit, validate, test (LightningCLI), and "
    "recommend, embed, index (pinsage recommend --help, and so on)."
)
# the datamodules a config can name (``data: class_path: ...``), a user's table first
DATA_MODULES = (
    "TableDataModule",
    "SyntheticDataModule",
    "MovieLensDataModule",
    "NCFDataModule",
    "LightGCNDataModule",
    "GraphDataModule",
)
# the first lines of fit/validate/test --help: where the data's options are
DATA_HELP = (
    "{command} a PinSage model. A config names the data (--config configs/table.yaml for "
    "your own table); the data's options are listed by: pinsage {name} --data.help "
    f"{DATA_MODULES[0]} (or {', '.join(DATA_MODULES[1:])})."
)
LIGHTNING_COMMANDS = ("fit", "validate", "test")


def _cli(
    args: list[str] | None,
    run: bool = True,
    cli: type = PinSageCLI,
    callbacks: tuple[Callback, ...] = (),
) -> PinSageCLI:
    _quiet_lightning()
    return cli(
        PinSageModule,
        PinSageDataModule,
        subclass_mode_data=True,
        parser_class=PlainHelpParser,
        # always present, whatever callbacks a config lists
        trainer_defaults={"callbacks": [ParameterCount(), SayInterruption(), *callbacks]},
        save_config_callback=SaveFitConfig,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={
            "description": DESCRIPTION,
            **{
                command: {
                    "description": DATA_HELP.format(command=command.capitalize(), name=command),
                    "usage": f"pinsage {command} --config CONFIG [--config ...] [options]",
                }
                for command in LIGHTNING_COMMANDS
            },
        },
        args=args,
        run=run,
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


# keys of the configuration ``fit`` saves that serving reads past (its trainer, seed, ...)
FIT_ONLY_KEYS = (
    "seed_everything",
    "trainer",
    "optimizer",
    "lr_scheduler",
    "ckpt_path",
    "weights_only",
)


def serving_parser(prog: str = "pinsage") -> LightningArgumentParser:
    """The parser of the configuration options ``recommend`` and ``embed`` pass on:
    ``--config`` files (stacked, as for fit; the one ``fit`` saved too), the model's and
    the data's options, linked as for fit; the fit-only keys a saved configuration holds
    are read and not used."""
    parser = PlainHelpParser(prog=prog, exit_on_error=False)
    parser.add_argument("-c", "--config", action=ActionConfigFile)
    parser.add_lightning_class_args(PinSageModule, "model")
    parser.add_lightning_class_args(PinSageDataModule, "data", subclass_mode=True)
    for key in FIT_ONLY_KEYS:
        parser.add_argument(f"--{key}", type=Any, default=None)
    link_model_and_data(parser)
    return parser


def load_trained(args: list[str], ckpt_path: str) -> tuple[PinSageModule, PinSageDataModule]:
    """The trained module (options and weights from ``ckpt_path``) and its datamodule,
    set up for prediction, from the config options ``args``."""
    parser = serving_parser()
    try:
        config = parser.parse_args(args)
    except ArgumentError as err:
        sys.exit(f"pinsage: {parser_error_line(str(err))}")
    # the model is built with the checkpoint's options (a clear exit where it is missing,
    # damaged, carries code or disagrees with a --model option)
    take_checkpoint_options(config, ckpt_path)
    with _input_errors_in_one_line(ValueError):
        built = parser.instantiate_classes(config)
    model, data = built.model, built.data
    checkpoint = read_checkpoint(ckpt_path)
    try:
        model.on_load_checkpoint(checkpoint)
        # by raw id where this data's pins and boards are not those it was trained on
        with _input_errors_in_one_line():
            model.fit_checkpoint_to_graph(checkpoint, data.graph, source=ckpt_path)
        model.load_state_dict(checkpoint["state_dict"])
    except (RuntimeError, KeyError, TypeError) as err:
        sys.exit(
            f"pinsage: cannot use checkpoint {ckpt_path}: its weights do not fit this model "
            f"({str(err).splitlines()[0]})"
        )
    data.setup("predict")
    return model, data


def _printed(args: list[str]) -> str:
    """What the command ``args`` prints before it exits (its help), at 80 columns."""
    out = io.StringIO()
    with (
        contextlib.redirect_stdout(out),
        _environment(COLUMNS="80"),
        contextlib.suppress(SystemExit),
    ):
        _cli(args)
    return out.getvalue()


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# the value types the snapshot checks: (kind, whether null is accepted), by the help's name
VALUE_TYPES = {
    "int": ("int", False),
    "float": ("number", False),
    "bool": ("bool", False),
    "Optional[int]": ("int", True),
    "int | null": ("int", True),
    "Optional[float]": ("number", True),
    "float | null": ("number", True),
    "Union[int, float]": ("number", False),
    "Union[int, float, null]": ("number", True),
    "Optional[bool]": ("bool", True),
    "bool | null": ("bool", True),
}


def _value_types(text: str) -> dict[str, list]:
    """``{option: [kind, nullable]}`` of the options whose help says a plain type
    (:data:`VALUE_TYPES`), from a help text."""
    found = {}
    for entry in re.split(r"\n(?=  -)", text):
        name = re.match(r"\s*(?:-\w, )?(--[\w.]+)", entry)
        typed = re.search(r"\(type: (.*?), default:", " ".join(entry.split()))
        if name and typed and typed.group(1) in VALUE_TYPES:
            found[name.group(1)] = list(VALUE_TYPES[typed.group(1)])
    return found


def option_snapshot() -> dict:
    """What ``pinsage fit|validate|test`` accept and their ``--help``, as this parser says
    them (read by :mod:`pinsage_dgl.cli.options` to answer before anything heavy loads):
    each command's help, the options it lists, the data options of every datamodule in
    :data:`DATA_MODULES` (``--data.X``, as ``--data.help CLASS`` lists them), and the
    value type of the options whose type is plain (an integer, a number, a boolean; a data
    option only where every datamodule that has it gives it the same plain type: the
    synthetic data's ``pin_features`` is a switch, a table's a path).

    Call it in a fresh interpreter, as the command is run: the help lists the subclasses
    of an option's class (optimizers, callbacks) that have been imported so far."""
    option = re.compile(r"(?<![\w-])--[A-Za-z_][\w.+-]*")
    commands = {}
    for command in LIGHTNING_COMMANDS:
        text = _printed([command, "--help"])
        data: set[str] = set()
        data_types: dict[str, list] = {}
        conflicting: set[str] = set()
        for module in DATA_MODULES:
            module_help = _printed([command, "--data.help", module])
            listed = {
                n.rstrip("+.") for n in option.findall(module_help) if n.startswith("--data.")
            }
            typed = _value_types(module_help)
            data |= listed
            for name in listed:  # a name one module types plainly and another not: unchecked
                kind = typed.get(name)
                if kind is None or data_types.setdefault(name, kind) != kind:
                    conflicting.add(name)
        types = {**{n: k for n, k in data_types.items() if n not in conflicting}}
        types.update(_value_types(text))
        commands[command] = {
            "help": text,
            "options": sorted({name.rstrip("+.") for name in option.findall(text)}),
            "data_options": sorted(data),
            "types": dict(sorted(types.items())),
        }
    return {"versions": installed_versions(), "commands": commands}


def write_option_snapshot(path: str | os.PathLike = SNAPSHOT) -> None:
    """Write :func:`option_snapshot` to ``path`` (the one the package reads), atomically."""
    write_text_atomic(path, json.dumps(option_snapshot(), indent=1, sort_keys=True) + "\n")


def run_lightning(argv: list[str] | None) -> None:
    """Run a LightningCLI subcommand (``argv`` None: from ``sys.argv``); a file that cannot
    be used, found while it runs, ends it with one line naming the file."""
    loading = CheckpointInUse()
    try:
        with _input_errors_in_one_line():
            _cli(argv, callbacks=(loading,))
    except pickle.UnpicklingError as err:  # one Lightning found (--ckpt_path last), carrying code
        _refuse_checkpoint(loading.path, err)
