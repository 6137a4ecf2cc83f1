"""What ``pinsage fit|validate|test`` accept, answered before torch and Lightning load.

LightningCLI knows its options only once the model, Trainer and datamodules are imported
(~5 s). ``options.json`` beside this module is a snapshot of what its parser accepts and
of its ``--help``, written by :func:`pinsage_dgl.cli.lightning_cli.write_option_snapshot`
(``make cli-options``; a test keeps it equal to the live parser). With it, a misspelt
option and ``--help`` answer at once. The snapshot is used only with the versions of
pinsage-dgl, Lightning and jsonargparse it was written with; otherwise, and for anything
it cannot decide, the full parser answers as before.
"""

from __future__ import annotations

import difflib
import json
import sys
from functools import cache
from importlib import metadata
from pathlib import Path

SNAPSHOT = Path(__file__).with_name("options.json")
# the packages whose versions decide what the parser accepts and how its help reads
SNAPSHOT_PACKAGES = ("pinsage-dgl", "lightning", "jsonargparse")


def installed_versions() -> dict[str, str]:
    """The installed versions of :data:`SNAPSHOT_PACKAGES`."""
    return {name: metadata.version(name) for name in SNAPSHOT_PACKAGES}


@cache
def read_snapshot(path: Path = SNAPSHOT) -> dict | None:
    """The snapshot, or None where it is missing, unreadable or of other versions."""
    try:
        snapshot = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(snapshot, dict) or snapshot.get("versions") != installed_versions():
        return None
    return snapshot


def command_snapshot(command: str) -> dict | None:
    """``{"help": ..., "options": [...], "data_options": [...]}`` of ``command`` (fit,
    validate or test), or None where there is no usable snapshot."""
    snapshot = read_snapshot()
    return None if snapshot is None else snapshot["commands"].get(command)


def unknown_option(token: str, known: dict) -> str | None:
    """The option name of ``token`` (``--name`` or ``--name=value``) where ``known`` (a
    command's snapshot) says the parser would refuse it; None where it is known or not an
    option.

    As the parser does, a unique prefix of an option is that option (``--trainer.max_ep``;
    not for a datamodule's own options), ``--data.init_args.X`` is ``--data.X``, and below
    an option that takes a class (``--trainer.logger``, ``--optimizer``: those with a
    ``.help``) any sub-option is left to the parser, as the class is not known yet."""
    if not token.startswith("--") or token == "--":
        return None
    name = token.split("=", 1)[0].rstrip("+")
    options = known["options"]
    if name.startswith(("--data.", "--data.init_args.")):
        data = "--data." + name.removeprefix("--data.").removeprefix("init_args.")
        candidates = [
            *known["data_options"],
            *(o for o in options if o.startswith("--data.")),
            "--data.class_path",
            "--data.init_args",
        ]
        nested = data.count(".") > 1  # a dataclass's field (--data.task.kind) takes prefixes
        known_data = data in candidates or (nested and any(c.startswith(data) for c in candidates))
        return None if known_data else name
    if any(option.startswith(name) for option in options):
        return None
    takes_class = [o.removesuffix(".help") for o in options if o.endswith(".help")]
    if any(name.startswith(f"{c}.") for c in takes_class if c != "--data"):
        return None
    return name


NULLS = ("null", "none", "~", "")
BOOLEANS = ("true", "false", "yes", "no", "on", "off", "y", "n", "1", "0")
KIND_NAMES = {"int": "an integer", "number": "a number", "bool": "true or false"}


def _number(value: str) -> float | None:
    try:
        return float(value.replace("_", ""))
    except ValueError:
        try:
            return float(int(value, 0))  # 0x10, as YAML reads it
        except ValueError:
            return None


def takes_value(kind: str, nullable: bool, value: str) -> bool:
    """Whether the parser could read ``value`` for an option of ``kind`` (``int``,
    ``number``, ``bool``): lenient, so that only a value it would refuse is refused here
    (``3.0`` passes as an integer, the parser judges it)."""
    lowered = value.strip().lower()
    if nullable and lowered in NULLS:
        return True
    if kind == "bool":
        return lowered in BOOLEANS
    number = _number(lowered.replace(".inf", "inf").replace(".nan", "nan"))
    if kind == "int":
        return number is not None and float(number).is_integer()
    return number is not None


def wrong_value(args: list[str], position: int, known: dict) -> str | None:
    """The one-line complaint where the option at ``args[position]`` has a plain type
    (integer, number, boolean) its value cannot have; None otherwise."""
    name, equals, value = args[position].partition("=")
    if name.startswith("--data.init_args."):
        name = "--data." + name.removeprefix("--data.init_args.")
    typed = known.get("types", {}).get(name)
    if typed is None:
        return None
    if not equals:
        following = args[position + 1] if position + 1 < len(args) else None
        if following is None or following.startswith("--"):
            return None  # no value: the parser says what it expects
        value = following
    kind, nullable = typed
    if takes_value(kind, nullable, value):
        return None
    return (
        f"{args[position].partition('=')[0]} takes {KIND_NAMES[kind]}"
        + (" (or null)" if nullable else "")
        + f", got {value!r}"
    )


def refuse_unknown_options(command: str, args: list[str], prog: str | None = None) -> None:
    """Exit with one line where ``args`` hold an option ``pinsage <command>`` does not
    know (the nearest known one suggested), or a value an option of a plain type cannot
    take; nothing where all is well or there is no usable snapshot. ``prog`` names the
    command in the message (a serving command checks the config options it passes on
    against ``fit``'s)."""
    known = command_snapshot(command)
    if known is None:
        return
    prog = prog or f"pinsage {command}"
    for position, token in enumerate(args):
        name = unknown_option(token, known)
        if name is None:
            complaint = wrong_value(args, position, known) if token.startswith("--") else None
            if complaint:
                sys.exit(f"{prog}: {complaint}")
            continue
        everything = [*known["options"], *known["data_options"]]
        close = difflib.get_close_matches(name, everything, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        sys.exit(f"{prog}: unknown option {name}{hint} ({prog} --help)")


def config_files(args: list[str]) -> list[str]:
    """The values of ``--config``/``-c`` in ``args`` (``--config=F`` too)."""
    files = []
    for i, token in enumerate(args):
        if token in ("--config", "-c") and i + 1 < len(args):
            files.append(args[i + 1])
        elif token.startswith("--config="):
            files.append(token.split("=", 1)[1])
    return files


def refuse_missing_configs(prog: str, args: list[str]) -> None:
    """Exit with one line where ``args`` name neither a config nor the data, or name a
    config file that does not exist (the parser says either only after its imports)."""
    files = config_files(args)
    if not files and not any(t.split("=", 1)[0].startswith("--data") for t in args):
        sys.exit(
            f"{prog}: give --config CONFIG (a config names the data: "
            "configs/synthetic.yaml, or configs/table.yaml for your own table)"
        )
    for file in files:
        # a value that is not a file name may be the configuration itself (YAML or JSON)
        if file.lower().endswith((".yaml", ".yml", ".json")) and not Path(file).is_file():
            sys.exit(f"{prog}: config not found: {file}")


def print_help(command: str, args: list[str]) -> bool:
    """Print ``pinsage <command> --help`` from the snapshot where ``args`` ask for it alone
    (with a config, the help shows that config's values: the parser answers); True where
    it was printed."""
    known = command_snapshot(command)
    if known is None or args not in (["--help"], ["-h"]):
        return False
    print(known["help"], end="")
    return True
