"""Graph building: memory and time of ``build_graph`` against the row-wise builder it replaced.

    python -m benchmarks.build                              # 1M and 10M pins
    python -m benchmarks.build --sizes 100000 --peer none   # ours only, seconds

For each size, the demo's generator (as in ``benchmarks/scale.py``: ``P`` pins, ``P / 3``
boards, ~10.4 ``P`` saves) writes ``interactions.parquet`` (pin, board, timestamp; integer
ids) and ``pins.parquet`` (pin, text, visual_0..7) once. Then each builder runs in its own
fresh process and builds the graph from those files, with the text and numeric features:

- **ours**: ``build_graph`` of this checkout (columnar: Arrow reader, int32 ids);
- **peer**: ``build_graph`` of commit ``--peer`` (default ``b946c20``, the last row-wise
  builder: pandas reader, groupby, tokens in Python), checked out with ``git worktree``.

Each process records wall time, its peak resident memory (the kernel's high-water mark)
and the peak above its resident memory before the build (the builder's own), per edge,
and a digest of the graph built (id maps, edges, edge data, features): equal digests show
both built the same graph. Writes ``build.json`` and ``build.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT  # stdlib only: the code measured is imported later

VISUAL = [f"visual_{d}" for d in range(8)]


def write_tables(num_pins: int, board_size: int, out: Path) -> dict[str, int]:
    """The scale benchmark's synthetic graph as Parquet files in ``out``."""
    from datamodules import make_synthetic

    interactions, pins = make_synthetic(
        num_pins=num_pins,
        num_boards=max(num_pins // 3, 10),
        mean_board_size=board_size,
        string_ids=False,
        seed=0,
    )
    interactions.to_parquet(out / "interactions.parquet", index=False)
    pins[["pin", "text", *VISUAL]].to_parquet(out / "pins.parquet", index=False)
    return {"rows": len(interactions), "pin_rows": len(pins)}


def measure(tables: Path, code: Path) -> dict[str, Any]:
    """Build the graph of ``tables`` with the ``pinsage_dgl`` found at ``code``."""
    sys.path.insert(0, str(code))  # before the first import of pinsage_dgl
    import numpy as np
    import torch

    from benchmarks.common import memory_gib, reset_peak_memory
    from pinsage_dgl.graph import build_graph

    before = memory_gib("VmRSS")
    reset_peak_memory()
    start = time.perf_counter()
    graph = build_graph(
        tables / "interactions.parquet",
        timestamp_col="timestamp",
        pin_features=tables / "pins.parquet",
        pin_feature_columns={"text": "text", **dict.fromkeys(VISUAL, "numeric")},
    )
    seconds = time.perf_counter() - start
    peak = memory_gib("VmHWM")
    after = memory_gib("VmRSS")
    g = graph.graph
    digest = hashlib.sha256()
    pins, boards = g.edges(etype="saved_to")
    edge_data = g.edges["saved_to"].data
    # in one canonical form, so versions that store the same graph more compactly (int32
    # codes, no column of unit weights) give the same digest
    weight = edge_data["weight"] if "weight" in edge_data else torch.ones(len(pins))
    for array in (
        graph.pin_ids,
        graph.board_ids,
        pins.long().numpy(),
        boards.long().numpy(),
        edge_data["timestamp"].numpy(),
        weight.numpy(),
        *(_canonical(g.nodes["pin"].data[k]) for k in sorted(g.nodes["pin"].data)),
    ):
        digest.update(np.ascontiguousarray(array).tobytes())
    edges = g.num_edges("saved_to")
    gib = 2**30
    return {
        "code": str(Path(sys.modules["pinsage_dgl"].__file__).parent.parent),
        "pins": graph.num_pins,
        "edges": edges,
        "idtype": str(g.idtype),
        "seconds": round(seconds, 2),
        "rss_before_gib": round(before, 3),
        "peak_gib": round(peak, 3),
        "rss_after_gib": round(after, 3),
        "peak_bytes_per_edge": round(peak * gib / edges, 1),
        "own_peak_bytes_per_edge": round((peak - before) * gib / edges, 1),
        "kept_bytes_per_edge": round((after - before) * gib / edges, 1),
        "digest": digest.hexdigest()[:16],
    }


def _canonical(values: Any) -> Any:
    """A feature's values as numpy, integer codes widened to int64."""
    import numpy as np

    values = values.numpy()
    return values.astype(np.int64) if np.issubdtype(values.dtype, np.integer) else values


def _child(*args: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.build", *args, f"--result={result}"],
            cwd=ROOT,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        if proc.returncode != 0:  # e.g. killed for memory: recorded as such
            return {"failed": proc.returncode}
        return json.loads(result.read_text())


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"Machine: {report['machine']}. Command: `{report['command']}`. Each builder reads "
        "the same Parquet files in a fresh process; *own peak* is the peak above the "
        "process's memory before the build.",
        "",
        "| pins | edges | builder | time | peak | own peak / edge | kept / edge | "
        "ids | graph digest |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for size, runs in report["sizes"].items():
        for name, r in runs["builders"].items():
            if "failed" in r:
                lines.append(f"| {int(size):,} | — | {name} | failed ({r['failed']}) |||||")
                continue
            lines.append(
                f"| {int(size):,} | {r['edges']:,} | {name} | {r['seconds']:.1f} s | "
                f"{r['peak_gib']:.2f} GiB | {r['own_peak_bytes_per_edge']:.0f} B | "
                f"{r['kept_bytes_per_edge']:.0f} B | {r['idtype'].replace('torch.', '')} | "
                f"`{r['digest']}` |"
            )
        if "ratios" in runs:
            q = runs["ratios"]
            lines.append(
                f"| | | **peer / ours** | **{q['seconds']}×** | | **{q['own_peak']}×** | "
                f"**{q['kept']}×** | | {'same graph' if q['same_graph'] else 'DIFFERENT'} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from benchmarks.common import benchmark_parser

    parser = benchmark_parser(__doc__)
    parser.add_argument("--sizes", nargs="+", type=int, default=[1_000_000, 10_000_000])
    parser.add_argument("--board-size", type=int, default=33, help="mean pins per board")
    parser.add_argument("--peer", default="b946c20", help="commit of the peer, or 'none'")
    parser.add_argument("--write", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--measure",
        type=Path,
        metavar="DIR",
        help="only build the graph of DIR/interactions.parquet and DIR/pins.parquet (e.g. "
        "written by datamodules.write_synthetic) with this checkout, and print the numbers",
    )
    parser.add_argument("--code", type=Path, default=ROOT, help=argparse.SUPPRESS)
    parser.add_argument("--tables", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.write:  # a child: the tables of one size
        args.result.write_text(json.dumps(write_tables(args.write, args.board_size, args.tables)))
        return {}
    if args.measure:  # one builder (a child of the comparison, or asked for alone)
        measured = measure(args.measure, args.code)
        if args.result is None:
            print(json.dumps(measured, indent=1))
        else:
            args.result.write_text(json.dumps(measured))
        return {}

    from benchmarks.common import machine_description, peer_checkout, write_report

    command = " ".join(["python -m benchmarks.build", *(sys.argv[1:] if argv is None else argv)])
    report: dict[str, Any] = {
        "command": command,
        "machine": machine_description(),
        "date": datetime.date.today().isoformat(),
        "sizes": {},
    }
    with tempfile.TemporaryDirectory() as work, contextlib.ExitStack() as stack:
        builders = {"ours": ROOT}
        if args.peer != "none":
            builders[f"peer ({args.peer})"] = stack.enter_context(
                peer_checkout(args.peer, Path(work))
            )
        for size in args.sizes:
            print(f"{size:,} pins: writing the tables", flush=True)
            tables = Path(work) / str(size)
            tables.mkdir()
            written = _child(
                f"--write={size}", f"--tables={tables}", f"--board-size={args.board_size}"
            )
            runs: dict[str, Any] = {"tables": written, "builders": {}}
            for name, code in builders.items():
                print(f"{size:,} pins: {name}", flush=True)
                runs["builders"][name] = _child(f"--measure={tables}", f"--code={code}")
                print(f"  {runs['builders'][name]}", flush=True)
            done = [r for r in runs["builders"].values() if "failed" not in r]
            if len(done) == 2:
                ours, peer_run = done
                runs["ratios"] = {
                    "seconds": round(peer_run["seconds"] / ours["seconds"], 1),
                    "own_peak": round(
                        peer_run["own_peak_bytes_per_edge"] / ours["own_peak_bytes_per_edge"], 1
                    ),
                    "kept": round(peer_run["kept_bytes_per_edge"] / ours["kept_bytes_per_edge"], 1),
                    "same_graph": ours["digest"] == peer_run["digest"],
                }
            report["sizes"][str(size)] = runs
            for file in tables.iterdir():
                file.unlink()
    args.out.mkdir(parents=True, exist_ok=True)
    write_report(args.out, "build", report, markdown)
    return report


if __name__ == "__main__":
    main()
