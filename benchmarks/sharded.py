"""The sharded Ray pipeline: how driver and worker memory grow with the pins.

    python -m benchmarks.sharded                          # 1M and 10M pins, 2 actors
    python -m benchmarks.sharded --sizes 100000 --quick

Each size runs in a fresh process. It generates and builds the synthetic graph of
``benchmarks.scale`` (boards of ~33 pins), saves it and writes its pin features as shards
of ``--shard-rows`` pins, frees it, and then only drives Ray (local mode, ``--actors``
actors): the neighbour table walked by actors that load the saved graph
(:func:`~pinsage_dgl.distributed.walk_neighbors_sharded`, T = 10, 20 walks), then every
pin embedded from shards to shards (:func:`~pinsage_dgl.distributed.embed_all_pins_sharded`,
hidden 64, K = 2). Reported per stage: seconds, the driver's peak resident memory in the
stage, and the actors' largest peak; then each one's growth from one size to the next.
Writes ``sharded.json`` and ``sharded.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, benchmark_parser, machine_description, memory_gib, write_report
from benchmarks.scale import Stages


def run_size(num_pins: int, args: argparse.Namespace) -> dict[str, Any]:
    """The stages of one size, in this process (the driver)."""
    import pyarrow.parquet as pq

    from datamodules import write_synthetic
    from pinsage_dgl.distributed import embed_all_pins_sharded, walk_neighbors_sharded
    from pinsage_dgl.graph import build_graph
    from pinsage_dgl.nn import PinSage
    from pinsage_dgl.sampling import Neighborhood
    from pinsage_dgl.shards import ShardedArray
    from pinsage_dgl.tables import release_freed_memory

    stages = Stages()
    result: dict[str, Any] = {"stages": stages.results, "worker_peak_gib": {}}
    work = Path(tempfile.mkdtemp(dir=args.workdir))

    def prepare() -> tuple[dict[str, ShardedArray], Any]:
        """The graph saved and its features sharded; only the shards and spec returned."""
        with stages("prepare (generate, build, save, shard features)"):
            interactions, pins = write_synthetic(
                work / "tables",
                num_pins=num_pins,
                num_boards=max(num_pins // 3, 10),
                mean_board_size=33,
                string_ids=False,
                seed=0,
            )
            visual = [n for n in pq.read_schema(pins).names if n.startswith("visual_")]
            graph = build_graph(
                interactions,
                timestamp_col="timestamp",
                pin_features=pins,
                pin_feature_columns={"text": "text", **dict.fromkeys(visual, "numeric")},
            )
            graph.save(work / "graph")
            features = {
                name: ShardedArray.from_array(
                    work / "features" / name, value.numpy(), args.shard_rows
                )
                for name, value in graph.pin_features.items()
            }
        result.update(pins=graph.num_pins, edges=graph.graph.num_edges("saved_to"))
        return features, graph.pin_spec

    features, spec = prepare()  # the graph is freed with prepare's frame
    gc.collect()
    release_freed_memory()
    result["driver_rss_before_ray_gib"] = round(memory_gib("VmRSS"), 2)
    neighborhood = Neighborhood(num_neighbors=10, num_walks=20)
    peaks: dict[str, float] = result["worker_peak_gib"]
    with stages("walk (Ray)"):
        neighbors, weights = walk_neighbors_sharded(
            work / "graph",
            work / "table",
            neighborhood,
            seed=0,
            shard_rows=args.shard_rows,
            num_actors=args.actors,
            worker_peaks=peaks,
        )
    model = PinSage(spec, hidden_dim=64, out_dim=64, num_layers=2)
    with stages("embed (Ray)"):
        embed_all_pins_sharded(
            model,
            features,
            neighbors,
            weights,
            work / "embeddings",
            num_actors=args.actors,
            worker_peaks=peaks,
        )
    result["worker_peak_gib"] = {k: round(v, 2) for k, v in peaks.items()}
    result["shards"] = neighbors.num_shards
    shutil.rmtree(work, ignore_errors=True)
    return result


def _actor_peak(size: dict[str, Any], stage: str) -> float | None:
    """The largest actor peak of a stage (the embedding's: over its layer stages)."""
    peaks = size["worker_peak_gib"]
    if stage.startswith("walk"):
        return peaks.get("walk")
    if stage.startswith("embed"):
        return max((v for k, v in peaks.items() if k != "walk"), default=None)
    return None


def markdown(report: dict[str, Any]) -> str:
    sizes = report["sizes"]
    lines = [
        f"Machine: {report['machine']}. Ray local mode, {report['actors']} actors, shards of "
        f"{report['shard_rows']:,} pins. `{report['command']}` ({report['date']}).",
        "",
        "| pins (saves) | stage | seconds | driver peak (GiB) | largest actor peak (GiB) |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for size in sizes.values():
        label = f"{size['pins']:,} ({size['edges']:,})"
        for stage, measured in size["stages"].items():
            worker = _actor_peak(size, stage)
            lines.append(
                f"| {label} | {stage} | {measured['seconds']:.1f} | {measured['peak_gib']:.2f} "
                f"| {'—' if worker is None else f'{worker:.2f}'} |"
            )
    if len(sizes) > 1:
        lines += ["", "Growth from one size to the next (peak × for pins ×):", ""]
        lines += ["| stage | sizes | driver | largest actor |", "| --- | --- | --- | --- |"]
        for a, b in itertools.pairwise(sizes.values()):
            pins = b["pins"] / a["pins"]
            for stage in ("walk (Ray)", "embed (Ray)"):
                driver = b["stages"][stage]["peak_gib"] / a["stages"][stage]["peak_gib"]
                actor = _actor_peak(b, stage) / _actor_peak(a, stage)
                lines.append(
                    f"| {stage} | {a['pins']:,} → {b['pins']:,} (×{pins:.1f}) | ×{driver:.2f} "
                    f"| ×{actor:.2f} |"
                )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--shard-rows", type=int, default=65536)
    parser.add_argument("--workdir", type=Path, help="where graph, shards and layers go")
    parser.add_argument("--quick", action="store_true", help="small shards (a test's run)")
    parser.add_argument("--run-one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.shard_rows = 1024
    if args.run_one:
        result = run_size(args.run_one, args)
        args.result.write_text(json.dumps(result))
        return result
    import datetime

    given = sys.argv[1:] if argv is None else argv
    report: dict[str, Any] = {
        "command": " ".join(["python -m benchmarks.sharded", *given]),
        "machine": machine_description(),
        "date": datetime.date.today().isoformat(),
        "actors": args.actors,
        "shard_rows": args.shard_rows,
        "sizes": {},
    }
    passthrough = [f"--actors={args.actors}", f"--shard-rows={args.shard_rows}"]
    passthrough += [f"--workdir={args.workdir}"] if args.workdir else []
    for size in args.sizes:
        print(f"{size:,} pins", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            result_path = Path(tmp) / "result.json"
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.sharded",
                    f"--run-one={size}",
                    f"--result={result_path}",
                    *passthrough,
                ],
                cwd=ROOT,
                env={**os.environ, "PYTHONWARNINGS": "ignore"},
                check=True,
            )
            report["sizes"][str(size)] = json.loads(result_path.read_text())
    write_report(args.out, "sharded-quick" if args.quick else "sharded", report, markdown)
    return report


if __name__ == "__main__":
    main()
