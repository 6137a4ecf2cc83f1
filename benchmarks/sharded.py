"""The sharded Ray pipeline: how driver and worker memory grow with the pins.

    python -m benchmarks.sharded --cluster                # 1M and 10M pins, 2 worker nodes
    python -m benchmarks.sharded --sizes 100000 --quick   # local mode, small shards

With ``--cluster`` the pipeline runs as on a cluster: a Ray head (no CPUs: it schedules
only) and ``--actors`` worker nodes of one CPU each are started as separate nodes on this
machine (``ray start --head``, then ``ray start --address``), the driver connects to the
head, and every node reads the shards from one directory (``--workdir``); ``ray stop``
ends them. Without it, Ray runs in local mode with ``--actors`` actors.

Each size runs in a fresh driver process. A process of its own (as another job would on a
cluster) generates and builds the synthetic graph of ``benchmarks.scale`` (boards of ~33
pins), saves it with its walk arrays (:func:`~pinsage_dgl.distributed.save_walk_arrays`)
and writes its pin features as shards of ``--shard-rows`` pins; the driver, which never
holds the graph, then only drives Ray: the neighbour table walked
by actors that memory-map the walk arrays
(:func:`~pinsage_dgl.distributed.walk_neighbors_sharded`, T = 10, 20 walks), then every
pin embedded from shards to shards (:func:`~pinsage_dgl.distributed.embed_all_pins_sharded`,
hidden 64, K = 2). Reported per stage: seconds, the driver's peak resident memory in the
stage, and the actors' largest peak resident memory, their largest private (anonymous)
memory during a task (apart from the files they map, which the page cache holds once per
machine), and the nodes they ran on; then each one's growth from one size to the next.
Writes ``sharded.json`` and ``sharded.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import multiprocessing
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, benchmark_parser, machine_description, memory_gib, write_report
from benchmarks.scale import Stages

#: the preparation stage: in a process of its own, as on a cluster, where another job
#: builds the graph and the driver only drives
PREPARE = "prepare (own process: generate, build, save, shard features)"


def prepare_graph(num_pins: int, work: Path, shard_rows: int) -> dict[str, Any]:
    """Generate and build the synthetic graph, save it with its walk arrays and shard its
    pin features under ``work``: the shards, the feature spec, the graph's size and this
    process's peak resident memory."""
    import pyarrow.parquet as pq

    from datamodules import write_synthetic
    from pinsage_dgl.distributed import save_walk_arrays
    from pinsage_dgl.graph import build_graph
    from pinsage_dgl.shards import ShardedArray

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
    save_walk_arrays(graph, work / "graph")
    features = {
        name: ShardedArray.from_array(work / "features" / name, value.numpy(), shard_rows)
        for name, value in graph.pin_features.items()
    }
    return {
        "features": features,
        "spec": graph.pin_spec,
        "pins": graph.num_pins,
        "edges": graph.graph.num_edges("saved_to"),
        "peak_gib": round(memory_gib("VmHWM"), 2),
    }


def run_size(num_pins: int, args: argparse.Namespace) -> dict[str, Any]:
    """The stages of one size: the preparation in a process of its own, then Ray driven
    from this one (the driver), which never holds the graph."""
    from pinsage_dgl.distributed import embed_all_pins_sharded, walk_neighbors_sharded
    from pinsage_dgl.nn import PinSage
    from pinsage_dgl.sampling import Neighborhood

    stages = Stages()
    result: dict[str, Any] = {"stages": stages.results, "workers": {}}
    work = Path(tempfile.mkdtemp(dir=args.workdir))
    with stages(PREPARE):
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(1, mp_context=spawn) as pool:
            prepared = pool.submit(prepare_graph, num_pins, work, args.shard_rows).result()
    stages.results[PREPARE]["peak_gib"] = prepared["peak_gib"]  # the preparing process's
    result.update(pins=prepared["pins"], edges=prepared["edges"])
    features, spec = prepared["features"], prepared["spec"]
    result["driver_rss_before_ray_gib"] = round(memory_gib("VmRSS"), 2)
    if args.address:
        import logging

        import ray

        ray.init(address=args.address, log_to_driver=False, logging_level=logging.WARNING)
    neighborhood = Neighborhood(num_neighbors=10, num_walks=20)
    workers: dict[str, dict[str, float]] = {}
    with stages("walk (Ray)"):
        neighbors, weights = walk_neighbors_sharded(
            work / "graph",
            work / "table",
            neighborhood,
            seed=0,
            shard_rows=args.shard_rows,
            num_actors=args.actors,
            workers=workers,
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
            workers=workers,
        )
    result["workers"] = {
        stage: {k: round(v, 2) if isinstance(v, float) else v for k, v in used.items()}
        for stage, used in workers.items()
    }
    result["shards"] = neighbors.num_shards
    shutil.rmtree(work, ignore_errors=True)
    return result


#: object store of each node: the pipeline passes shard numbers and one model through it
OBJECT_STORE_BYTES = 256 * 2**20


@contextlib.contextmanager
def ray_cluster(worker_nodes: int) -> Iterator[tuple[str, dict[str, str]]]:
    """A Ray cluster of separate nodes on this machine, as on a cluster's machines: a head
    started with ``ray start --head`` (no CPUs: nothing runs there) and ``worker_nodes``
    nodes of one CPU each joining it with ``ray start --address``; yields the head's
    address and the environment a driver connects with (the cluster's token: Ray's
    token authentication, with a token of its own), and stops them all (``ray stop``) at
    the end."""
    ray_command = str(Path(sys.executable).with_name("ray"))
    environment = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    with socket.socket() as probe:  # a free port for the head
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"127.0.0.1:{port}"
    common = [
        "--node-ip-address=127.0.0.1",
        f"--object-store-memory={OBJECT_STORE_BYTES}",
        "--disable-usage-stats",
    ]

    def start(*options: str) -> None:
        started = subprocess.run(
            [ray_command, "start", *options, *common],
            env=environment,
            capture_output=True,
            text=True,
        )
        if started.returncode:
            raise RuntimeError(f"ray start {' '.join(options)} failed:\n{started.stderr[-3000:]}")

    try:
        start("--head", f"--port={port}", "--num-cpus=0", "--include-dashboard=false")
        for _ in range(worker_nodes):
            start(f"--address={address}", "--num-cpus=1")
        yield address, environment
    finally:
        subprocess.run([ray_command, "stop", "--force"], check=False, capture_output=True)


def _actors(size: dict[str, Any], stage: str) -> dict[str, float] | None:
    """What a stage's actors used (the embedding's: the largest over its layer stages)."""
    workers = size["workers"]
    if stage.startswith("walk"):
        return workers.get("walk")
    if stage.startswith("embed"):
        layers = [used for name, used in workers.items() if name != "walk"]
        if layers:
            return {key: max(used[key] for used in layers) for key in layers[0]}
    return None


def markdown(report: dict[str, Any]) -> str:
    sizes = report["sizes"]
    ray_mode = (
        f"A Ray cluster of separate nodes on this machine (`ray start`: a head without CPUs, "
        f"{report['actors']} worker nodes of one CPU)"
        if report.get("cluster")
        else f"Ray local mode, {report['actors']} actors"
    )
    lines = [
        f"Machine: {report['machine']}. {ray_mode}, shards of {report['shard_rows']:,} pins. "
        f"`{report['command']}` ({report['date']}).",
        "",
        "| pins (saves) | stage | seconds | driver peak (GiB) | largest actor peak (GiB) "
        "| largest actor private (GiB) | nodes |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for size in sizes.values():
        label = f"{size['pins']:,} ({size['edges']:,})"
        for stage, measured in size["stages"].items():
            used = _actors(size, stage)
            actors = (
                "— | — | —"
                if used is None
                else f"{used['peak_gib']:.2f} | {used['private_gib']:.2f} | {used['nodes']}"
            )
            lines.append(
                f"| {label} | {stage} | {measured['seconds']:.1f} | {measured['peak_gib']:.2f} "
                f"| {actors} |"
            )
    lines += [
        "",
        "The prepare rows' peak is their own process's (the driver never holds the graph). "
        "The driver's resident memory before Ray started: "
        + ", ".join(
            f"{size['driver_rss_before_ray_gib']:.2f} GiB at {size['pins']:,} pins"
            for size in sizes.values()
        )
        + ".",
    ]
    if len(sizes) > 1:
        lines += ["", "Growth from one size to the next (peak × for pins ×):", ""]
        lines += [
            "| stage | sizes | driver | largest actor | largest actor private |",
            "| --- | --- | --- | --- | --- |",
        ]
        for a, b in itertools.pairwise(sizes.values()):
            pins = b["pins"] / a["pins"]
            for stage in ("walk (Ray)", "embed (Ray)"):
                driver = b["stages"][stage]["peak_gib"] / a["stages"][stage]["peak_gib"]
                before, after = _actors(a, stage), _actors(b, stage)
                growth = {key: after[key] / before[key] for key in ("peak_gib", "private_gib")}
                lines.append(
                    f"| {stage} | {a['pins']:,} → {b['pins']:,} (×{pins:.1f}) | ×{driver:.2f} "
                    f"| ×{growth['peak_gib']:.2f} | ×{growth['private_gib']:.2f} |"
                )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--shard-rows", type=int, default=65536)
    parser.add_argument("--workdir", type=Path, help="where graph, shards and layers go")
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="start a head and --actors worker nodes with `ray start` (separate nodes)",
    )
    parser.add_argument("--quick", action="store_true", help="small shards (a test's run)")
    parser.add_argument("--run-one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--address", help=argparse.SUPPRESS)  # the cluster's head
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
        "cluster": args.cluster,
        "shard_rows": args.shard_rows,
        "sizes": {},
    }
    passthrough = [f"--actors={args.actors}", f"--shard-rows={args.shard_rows}"]
    passthrough += [f"--workdir={args.workdir}"] if args.workdir else []
    for size in args.sizes:
        print(f"{size:,} pins", flush=True)
        with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
            # a cluster per size: no node carries memory from the size before
            address, environment = (
                stack.enter_context(ray_cluster(args.actors))
                if args.cluster
                else (None, dict(os.environ))
            )
            result_path = Path(tmp) / "result.json"
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.sharded",
                    f"--run-one={size}",
                    f"--result={result_path}",
                    *passthrough,
                    *([f"--address={address}"] if address else []),
                ],
                cwd=ROOT,
                env={**environment, "PYTHONWARNINGS": "ignore"},
                check=True,
            )
            report["sizes"][str(size)] = json.loads(result_path.read_text())
    write_report(args.out, "sharded-quick" if args.quick else "sharded", report, markdown)
    return report


if __name__ == "__main__":
    main()
