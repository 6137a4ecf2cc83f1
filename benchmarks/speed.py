"""Speed benchmark: our samplers and training beside DGL's PinSAGESampler, in one run.

    python -m benchmarks.speed                       # MovieLens-1M graph and ~1M synthetic pins
    python -m benchmarks.speed --graphs movielens-1m --steps 5   # a quick look

For each graph:

- **minibatch construction**: the 2 blocks (T = 50) of 512 seed pins, built by our
  neighbour-table sampler, our per-batch walking sampler, and ``dgl.sampling.PinSAGESampler``
  + ``dgl.to_block``, all with the same walk settings; batches/s and the ratio to DGL;
- **training throughput** in pairs/s at DGL's example shape (batch 32, hidden 64, T = 3,
  one random negative per pair) and at the paper's (batch 512, hidden 256, T = 50, 500
  shared negatives), with 0 and 2 loader workers, with our table sampler and with DGL's
  sampler building the blocks (same model, same loop);
- **peak memory** (max RSS) of each measurement, each run in its own process.

Writes ``<out>/speed.json`` and ``<out>/speed.md`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import dgl
import torch

from benchmarks.common import DATA_ROOT, RESULTS, ROOT, machine_description, write_report

DEFAULT_MOVIELENS = DATA_ROOT / "movielens-1m"
CACHE = ROOT / "benchmarks" / ".cache"
SAMPLER_WALKS = {"num_walks": 50, "walk_length": 2, "restart_prob": 0.0}
SHAPES = {
    "dgl-example": {
        "batch_size": 32,
        "hidden_dim": 64,
        "num_neighbors": 3,
        "num_negatives": 1,
        "shared_negatives": False,
        "walks": {"num_walks": 10, "walk_length": 3, "restart_prob": 0.5},
    },
    "paper": {
        "batch_size": 512,
        "hidden_dim": 256,
        "num_neighbors": 50,
        "num_negatives": 500,
        "shared_negatives": True,
        "walks": SAMPLER_WALKS,
    },
}


# --- graphs ------------------------------------------------------------------------------------
def prepare_graph(name: str, movielens: Path, synthetic_pins: int) -> Path:
    """Build (once) and cache a benchmark graph; returns its saved directory."""
    from datamodules import MovieLensDataModule, make_synthetic
    from datamodules.synthetic import SYNTHETIC_FEATURES
    from pinsage_dgl import build_graph

    path = CACHE / (name if name == "movielens-1m" else f"synthetic-{synthetic_pins}")
    if (path / "meta.json").exists():
        return path
    if name == "movielens-1m":
        graph = MovieLensDataModule(str(movielens)).graph
    else:
        interactions, pins = make_synthetic(
            num_pins=synthetic_pins, num_boards=synthetic_pins * 2 // 5, string_ids=False
        )
        columns = {"text": SYNTHETIC_FEATURES["text"]}
        columns.update({c: "numeric" for c in pins.columns if c.startswith("visual_")})
        graph = build_graph(
            interactions, timestamp_col="timestamp", pin_features=pins, pin_feature_columns=columns
        )
    graph.save(path)
    return path


# --- DGL's sampler as a drop-in block builder ------------------------------------------------
def dgl_sampler(graph, num_layers: int, num_neighbors: int, walks: dict):
    """An ImportanceSampler whose blocks come from ``dgl.sampling.PinSAGESampler``."""
    from pinsage_dgl.sampling import ImportanceSampler, Neighborhood

    class DGLPinSAGEBlocks(ImportanceSampler):
        def __init__(self) -> None:
            neighborhood = Neighborhood(num_neighbors=num_neighbors, table=False, **walks)
            super().__init__(graph, num_layers, neighborhood)
            self.dgl = dgl.sampling.PinSAGESampler(
                graph.graph,
                "pin",
                "board",
                walks["walk_length"],
                walks["restart_prob"],
                walks["num_walks"],
                num_neighbors,
            )

        def sample_blocks(self, seeds: torch.Tensor) -> list:
            blocks = []
            for _ in range(self.num_layers):
                seeds = graph.graph_ids(seeds)
                block = dgl.to_block(self.dgl(seeds), seeds)
                block.edata["weight"] = block.edata["weights"].float()
                blocks.insert(0, block)
                seeds = block.srcdata[dgl.NID]
            return blocks

    return DGLPinSAGEBlocks()


# --- measurements (each in its own process) --------------------------------------------------
def measure_sampler(path: Path, kind: str, batches: int) -> dict:
    from pinsage_dgl import PinBoardGraph
    from pinsage_dgl.sampling import ImportanceSampler, Neighborhood

    graph = PinBoardGraph.load(path)
    dgl.seed(0)
    torch.manual_seed(0)
    settings = {"num_layers": 2, "num_neighbors": 50}
    build = time.perf_counter()
    if kind == "dgl":
        sampler = dgl_sampler(graph, walks=SAMPLER_WALKS, **settings)
    else:
        neighborhood = Neighborhood(
            num_neighbors=settings["num_neighbors"], table=kind == "table", **SAMPLER_WALKS
        )
        sampler = ImportanceSampler(graph, settings["num_layers"], neighborhood)
    build = time.perf_counter() - build
    has_boards = torch.nonzero(graph.graph.out_degrees(etype="saved_to") > 0).squeeze(1)
    seed_sets = [has_boards[torch.randperm(len(has_boards))[:512]] for _ in range(batches + 2)]
    for seeds in seed_sets[:2]:  # warm-up
        sampler.sample_blocks(seeds)
    start = time.perf_counter()
    edges = 0
    for seeds in seed_sets[2:]:
        edges += sum(b.num_edges() for b in sampler.sample_blocks(seeds))
    elapsed = time.perf_counter() - start
    return {
        "batches_per_s": batches / elapsed,
        "edges_per_batch": edges / batches,
        "setup_s": build,
    }


def measure_training(path: Path, shape: str, workers: int, kind: str, steps: int) -> dict:
    import lightning as L
    from lightning.pytorch.callbacks import Callback

    from datamodules import GraphDataModule
    from pinsage_dgl.lit import PinSageModule
    from pinsage_dgl.sampling import Negatives, Neighborhood

    cfg = SHAPES[shape]
    L.seed_everything(0, verbose=False)
    data = GraphDataModule(
        str(path),
        batch_size=cfg["batch_size"],
        negatives=Negatives(num_random=cfg["num_negatives"], shared=cfg["shared_negatives"]),
        neighborhood=Neighborhood(
            num_neighbors=cfg["num_neighbors"], table=kind == "table", **cfg["walks"]
        ),
        num_workers=workers,
    )
    setup = time.perf_counter()
    data.setup("fit")
    if kind == "dgl":
        data.use_sampler(dgl_sampler(data.split.train, 2, cfg["num_neighbors"], cfg["walks"]))
    setup = time.perf_counter() - setup
    model = PinSageModule(
        pin_spec=data.feature_spec, hidden_dim=cfg["hidden_dim"], out_dim=cfg["hidden_dim"]
    )

    class Clock(Callback):
        warmup = 3

        def on_train_batch_start(self, trainer, *args) -> None:
            if trainer.global_step == self.warmup:
                self.start = time.perf_counter()

        def on_train_end(self, trainer, *args) -> None:
            self.elapsed = time.perf_counter() - self.start

    clock = Clock()
    trainer = L.Trainer(
        max_steps=clock.warmup + steps,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[clock],
    )
    trainer.fit(model, data)
    return {"pairs_per_s": steps * cfg["batch_size"] / clock.elapsed, "setup_s": setup}


def run_one(spec: dict) -> dict:
    """Run one measurement in a fresh process; returns its result with its peak RSS."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.speed", "--run", json.dumps(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    if done.returncode != 0:
        raise RuntimeError(f"measurement {spec} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _child(spec: dict) -> None:
    path = Path(spec["path"])
    if spec["task"] == "sampler":
        result = measure_sampler(path, spec["kind"], spec["batches"])
    else:
        result = measure_training(path, spec["shape"], spec["workers"], spec["kind"], spec["steps"])
    # ru_maxrss is in KiB on Linux; children (loader workers) reported separately
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["workers_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps(result))


# --- report -----------------------------------------------------------------------------------
def markdown(results: list[dict]) -> str:
    lines = [
        "| graph | measurement | ours / DGL | value | peak RSS (MB) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in results:
        ratio = f"{r['ratio_to_dgl']:.1f}×" if r.get("ratio_to_dgl") else "—"
        value = (
            f"{r['batches_per_s']:.2f} batches/s"
            if "batches_per_s" in r
            else f"{r['pairs_per_s']:,.0f} pairs/s"
        )
        lines.append(
            f"| {r['graph']} | {r['label']} | {ratio} | {value} | {r['peak_rss_mb']:,.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--graphs", nargs="+", default=["movielens-1m", "synthetic"])
    parser.add_argument("--movielens", type=Path, default=DEFAULT_MOVIELENS)
    parser.add_argument("--synthetic-pins", type=int, default=1_000_000)
    parser.add_argument("--batches", type=int, default=10, help="timed sampler batches")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--run", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run:
        _child(json.loads(args.run))
        return

    results: list[dict] = []
    for name in args.graphs:
        path = prepare_graph(name, args.movielens, args.synthetic_pins)
        from pinsage_dgl import PinBoardGraph

        g = PinBoardGraph.load(path).graph
        label = f"{name} ({g.num_nodes('pin'):,} pins, {g.num_edges('saved_to'):,} edges)"
        sampler = {}
        for kind in ("dgl", "walk", "table"):
            r = run_one(
                {"task": "sampler", "path": str(path), "kind": kind, "batches": args.batches}
            )
            sampler[kind] = r
            r.update(graph=label, label=f"blocks, 2 layers, T=50, 512 seeds: {kind}")
            if kind != "dgl":
                r["ratio_to_dgl"] = r["batches_per_s"] / sampler["dgl"]["batches_per_s"]
            results.append(r)
            print(markdown([r]).splitlines()[-1], flush=True)
        for shape in SHAPES:
            for workers in (0, 2):
                pair = {}
                for kind in ("dgl", "table"):
                    spec = {
                        "task": "train",
                        "path": str(path),
                        "shape": shape,
                        "workers": workers,
                        "kind": kind,
                        "steps": args.steps,
                    }
                    r = run_one(spec)
                    pair[kind] = r
                    r.update(graph=label, label=f"train {shape}, {workers} workers: {kind} sampler")
                    if kind == "table":
                        r["ratio_to_dgl"] = r["pairs_per_s"] / pair["dgl"]["pairs_per_s"]
                    results.append(r)
                    print(markdown([r]).splitlines()[-1], flush=True)

    report = {
        "machine": machine_description(),
        "command": "python -m benchmarks.speed " + " ".join(sys.argv[1:]),
        "results": results,
    }
    write_report(
        args.out,
        "speed",
        report,
        lambda r: f"Machine: {r['machine']}\n\n{markdown(r['results'])}\n",
    )


if __name__ == "__main__":
    main()
