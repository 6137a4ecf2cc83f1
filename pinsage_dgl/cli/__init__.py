"""The ``pinsage`` command.

``pinsage fit|validate|test --config configs/<name>.yaml`` are LightningCLI
subcommands (several ``--config`` files stack; any option can be overridden, e.g.
``--data.init_args.path /my/ml-1m``); see :mod:`pinsage_dgl.cli.lightning_cli`. Three
more serve what fit trained (:mod:`pinsage_dgl.cli.commands`):

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

This module imports nothing heavy: a command imports what it needs once it is chosen.
"""

from __future__ import annotations

import difflib
import logging
import sys
import warnings
from importlib import metadata

SERVING_COMMANDS = ("recommend", "embed", "index")
COMMANDS = ("fit", "validate", "test", *SERVING_COMMANDS)

OVERVIEW = """usage: pinsage <command> [options]

PinSage on DGL. Commands:
  fit        train (pinsage fit --config configs/synthetic.yaml; configs stack)
  validate   score a checkpoint on the validation pins
  test       score a checkpoint on the test pins
  recommend  top-k pins for pins, boards or new pins, from a checkpoint
  embed      write every pin's embedding (.npz or .parquet), from a checkpoint
  index      build and save a nearest-neighbour index of such embeddings

pinsage <command> --help lists a command's options; pinsage --version."""


class _Notices(logging.Handler):
    """The library's one-line notices (how the data was read) as ``pinsage: ...`` lines on
    the standard error of the moment (not the one when the handler was made)."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"pinsage: {record.getMessage()}", file=sys.stderr)


def _say_notices() -> None:
    notices = logging.getLogger("pinsage_dgl")
    if not any(isinstance(h, _Notices) for h in notices.handlers):
        notices.addHandler(_Notices())


def _short_warnings() -> None:
    """Warnings as one ``pinsage: warning:`` line, without the file that raised them (a
    path inside this machine's site-packages); Lightning's note that a run directory is
    not empty is said by ``fit`` itself."""
    warnings.formatwarning = lambda message, *args, **kwargs: f"pinsage: warning: {message}\n"
    warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``pinsage`` console script."""
    _say_notices()
    _short_warnings()
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(OVERVIEW)  # at once: LightningCLI's help would import everything first
        return
    if args[0] in ("-V", "--version"):
        print(f"pinsage {metadata.version('pinsage-dgl')}")
        return
    if args[0] == "predict":
        sys.exit(
            "pinsage: predict is not a command: pinsage embed --output FILE writes every "
            "pin's embedding (in Python, Trainer.predict gives them)"
        )
    if args[0] not in COMMANDS:
        close = difflib.get_close_matches(args[0], COMMANDS, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        sys.exit(f"pinsage: unknown command {args[0]!r}; {hint}commands: {', '.join(COMMANDS)}")
    if args[0] in SERVING_COMMANDS:
        from pinsage_dgl.cli import commands

        getattr(commands, args[0])(args[1:])
    else:
        from pinsage_dgl.cli.options import (
            print_help,
            refuse_missing_configs,
            refuse_unknown_options,
        )

        # at once, from the parser's snapshot: LightningCLI answers only after ~5 s of imports
        if print_help(args[0], args[1:]):
            return
        refuse_unknown_options(args[0], args[1:])
        refuse_missing_configs(f"pinsage {args[0]}", args[1:])
        from pinsage_dgl.cli.lightning_cli import run_lightning

        run_lightning(argv)  # None: LightningCLI reads sys.argv itself
