"""What every benchmark report states about where it ran."""

from __future__ import annotations

import argparse
import json
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine_description() -> str:
    """CPU, core count and library versions, e.g. for a report's header."""
    import dgl
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {gpu}, "
        f"torch {torch.__version__}, dgl {dgl.__version__}"
    )


def benchmark_parser(description: str | None) -> argparse.ArgumentParser:
    """A benchmark's command line: its module docstring as help, and ``--out`` (the
    directory of its reports, ``benchmarks/results`` by default)."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the reports go")
    return parser


def write_report(
    out: Path, stem: str, report: dict[str, Any], markdown: Callable[[dict], str]
) -> None:
    """Write ``<stem>.json`` and ``<stem>.md`` (atomically) to ``out`` and print the table."""
    from pinsage_dgl.io import write_text_atomic

    write_text_atomic(out / f"{stem}.json", json.dumps(report, indent=2) + "\n")
    write_text_atomic(out / f"{stem}.md", markdown(report))
    print(markdown(report))
