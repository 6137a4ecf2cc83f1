"""Scale benchmark: every stage from raw interactions to served queries, at growing sizes.

    python -m benchmarks.scale                               # 100k, 1M and 10M pins
    python -m benchmarks.scale --sizes 100000 1000000        # the smaller graphs only
    python -m benchmarks.scale --sizes 20000 --quick         # a smoke test (seconds)
    python -m benchmarks.scale --sizes 30000000 --queries 2000 \
        --ivf-nlist 8192 --ivf-train-per-list 64 --workdir /big/disk   # 30M pins
    python -m benchmarks.scale --sizes 30000000 --tables /big/disk/tables ...  # tables kept

Each size runs in its own process, on a synthetic graph of ``P`` pins, ``P / 3`` boards and
about ``10.4 P`` pin–board edges (boards of ~33 pins; the generator of the demo), so the
10M-pin graph has over 100M edges. Stages, each with its wall time and peak resident
memory (the kernel's high-water mark, reset before the stage):

1. **generate** the interactions and pin features, streamed to Parquet in chunks
   (``write_synthetic``), and **build graph** from the files: the DGL heterograph and
   encoded features (``build_graph``; see also ``benchmarks/build.py``);
2. **neighbour table**: T = 10 importance neighbours of every pin (20 walks each);
3. **train** a fixed number of steps through Lightning (board task, batch 512, 500
   shared negatives, hidden 64, K = 2; the paper's features-only model, with an id
   embedding up to ``--id-embedding-max-pins``), up to ``--train-max-pins``;
4. up to ``--partition-max-pins``, the graph's DistDGL partitions (2 parts, METIS);
5. **embed** every pin layer-wise (``embed_all_pins``; from ``--disk-min-pins`` with the
   layer tensors memory-mapped under ``--workdir`` and float16 messages);
6. **index**: faiss IVF (and HNSW up to ``--hnsw-max-pins``);
7. **queries**: ``--queries`` pin queries, exact (torch, the ground truth) and approximate
   at several search efforts, with recall@10 against exact and queries/s.

Up to ``--compare-max-pins`` pins, one more measurement: layer-wise inference beside
naive per-pin sampled inference (each target's own 2-hop tree, in minibatches of 512, as
a sampling-based trainer would run it) at T = 50, K = 2, in pins/s and as a ratio, and
beside the arithmetic bound of the model (FLOPs per pin at the measured matmul rate), with
the messages stored in float32 and in float16; and the pooling alone (every layer's
neighbour gathers), whose time caps the fraction of the bound any pass can reach.

Writes ``scale.json`` and ``scale.md`` to ``--out`` and prints the tables. A run of some
sizes replaces those in an existing report and keeps the others (``--fresh``: not). A
size whose process dies (e.g. out of memory) is reported with the stages it finished and
the one it died in.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import inspect
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, matmul_gflops, memory_gib, reset_peak_memory, write_report


# --- memory and time of a stage ----------------------------------------------------------------
class Stages:
    """Records each stage's seconds and peak RSS: ``with stages("build graph"): ...``."""

    def __init__(self, on_stage: Callable[[], None] | None = None) -> None:
        self.results: dict[str, dict[str, float]] = {}
        self.peak_resets = True
        self.running: str | None = None
        self.on_stage = on_stage or (lambda: None)

    @contextlib.contextmanager
    def __call__(self, name: str):
        self.peak_resets &= reset_peak_memory()
        self.running = name
        self.on_stage()  # (a size killed in this stage is reported as failing in it)
        start = time.perf_counter()
        print(f"  {name} ...", flush=True)
        yield
        self.results[name] = {
            "seconds": round(time.perf_counter() - start, 2),
            "peak_gib": round(memory_gib("VmHWM"), 2),
            "rss_after_gib": round(memory_gib("VmRSS"), 2),
        }
        self.running = None
        self.on_stage()
        print(f"  {name}: {self.results[name]}", flush=True)


# --- one size, in its own process --------------------------------------------------------------
def flops_per_pin(
    hidden: int, out: int, num_layers: int, num_neighbors: int, numeric: int, tokens: int
) -> int:
    """Multiply-adds ×2 of layer-wise inference per pin: the encoder, per layer the
    messages (Q), the weighted pooling over T neighbours and the combination (W), and the
    two-layer head."""
    encoder = 2 * numeric * hidden + tokens * hidden
    layer = 2 * hidden * hidden + 2 * num_neighbors * hidden + 2 * (2 * hidden) * hidden
    head = 2 * hidden * hidden + 2 * hidden * out
    return encoder + num_layers * layer + head


def run_size(num_pins: int, args: argparse.Namespace) -> dict[str, Any]:
    import dgl
    import numpy as np
    import torch

    from pinsage_dgl.inference import embed_all_pins
    from pinsage_dgl.retrieval import ExactIndex, FaissIndex
    from pinsage_dgl.tables import release_freed_memory

    torch.manual_seed(0)
    dgl.seed(0)
    result: dict[str, Any] = {"pins": num_pins, "queries": args.queries}

    def save_progress() -> None:  # what is measured so far, should the process be killed
        partial = {**result, "stages": stages.results, "running": stages.running}
        args.result.write_text(json.dumps(partial))

    stages = Stages(save_progress if args.result else None)
    result["stages"] = stages.results

    # from here on only the model, the features and the table are needed: the graph lived
    # in graph_stages' frame alone, so it is freed with it
    model, features, neighbors, weights = graph_stages(num_pins, args, stages, result)
    indexed = len(neighbors)
    gc.collect()
    release_freed_memory()  # glibc keeps freed heap pages otherwise
    result["rss_before_embed_gib"] = round(memory_gib("VmRSS"), 2)
    # large graphs: layer tensors memory-mapped on disk, messages in half precision
    on_disk = num_pins >= args.disk_min_pins  # the size asked for
    result["embed_storage"] = "disk, float16 messages" if on_disk else "memory, float32"
    with tempfile.TemporaryDirectory(dir=args.workdir) as layers, stages("embed"):
        embeddings = embed_all_pins(
            model,
            features,
            neighbors,
            weights,
            batch_size=32768,
            workdir=layers if on_disk else None,
            message_dtype=torch.float16 if on_disk else torch.float32,
        )
    result["embed_pins_per_s"] = round(indexed / stages.results["embed"]["seconds"])
    del features, neighbors, weights, model
    gc.collect()
    release_freed_memory()

    rng = np.random.default_rng(0)
    queries = embeddings[torch.from_numpy(rng.choice(indexed, args.queries))]
    with stages("exact queries"):
        _, truth = ExactIndex(embeddings).search(queries, 10)
    exact_qps = args.queries / stages.results["exact queries"]["seconds"]
    ann: list[dict[str, Any]] = [{"index": "exact (torch)", "recall@10": 1.0, "qps": exact_qps}]

    def recall(ids: torch.Tensor) -> float:
        hits = (ids[:, :, None] == truth[:, None, :]).any(2).float().sum(1)
        return float((hits / 10).mean())

    kinds = {"ivf": ("nprobe", [1, 2, 4, 8, 16, 32, 64, 128])}
    if indexed <= args.hnsw_max_pins:
        kinds["hnsw"] = ("ef_search", [16, 32, 64, 128, 256])
    for kind, (knob, values) in kinds.items():
        with stages(f"index {kind}"):
            index = FaissIndex(
                embeddings,
                kind,
                nlist=args.ivf_nlist,
                train_per_list=args.ivf_train_per_list,
                hnsw_m=32,
                ef_construction=100,
            )
        for value in values:
            index.set_search(**{knob: value})
            start = time.perf_counter()
            _, ids = index.search(queries, 10)
            seconds = time.perf_counter() - start
            ann.append(
                {
                    "index": kind,
                    knob: value,
                    "recall@10": round(recall(ids), 4),
                    "qps": round(args.queries / seconds),
                    "speedup_vs_exact": round(args.queries / seconds / exact_qps, 1),
                }
            )
            print(f"  {ann[-1]}", flush=True)
        del index
    result["ann"] = ann
    result["peak_resets"] = stages.peak_resets
    return result


def graph_stages(
    num_pins: int, args: argparse.Namespace, stages: Stages, result: dict[str, Any]
) -> tuple[Any, dict[str, Any], Any, Any]:
    """Generate, build, walk the neighbour table, train, compare and partition; returns
    the model, the pin features and the table, not the graph (freed on return)."""
    import pyarrow.parquet as pq

    from datamodules import write_synthetic
    from pinsage_dgl.graph import build_graph
    from pinsage_dgl.io import write_text_atomic
    from pinsage_dgl.lit import PinSageModule
    from pinsage_dgl.sampling import ImportanceSampler, Neighborhood

    with contextlib.ExitStack() as stack:
        # streamed to Parquet in chunks (memory grows with the pins, not the saves), and
        # the graph built from the files, as a user's tables arrive: the build's peak is
        # its own
        settings = {
            "num_pins": num_pins,
            "num_boards": max(num_pins // 3, 10),
            "mean_board_size": args.board_size,
            "string_ids": False,
            "seed": 0,
        }
        if args.tables is None:
            tables = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=args.workdir)))
        else:
            tables = args.tables / str(num_pins)
        made = tables / "settings.json"
        if made.exists() and json.loads(made.read_text()) == settings:
            interactions_path, pins_path = tables / "interactions.parquet", tables / "pins.parquet"
            result["tables_reused"] = str(tables)
        else:
            with stages("generate"):
                interactions_path, pins_path = write_synthetic(tables, **settings)
            if args.tables is not None:
                write_text_atomic(made, json.dumps(settings))
        visual = [n for n in pq.read_schema(pins_path).names if n.startswith("visual_")]
        with stages("build graph"):
            graph = build_graph(
                interactions_path,
                timestamp_col="timestamp",
                pin_features=pins_path,
                pin_feature_columns={"text": "text", **dict.fromkeys(visual, "numeric")},
            )
    result.update(
        pins=graph.num_pins, boards=graph.num_boards, edges=graph.graph.num_edges("saved_to")
    )
    result["build_peak_bytes_per_edge"] = round(
        stages.results["build graph"]["peak_gib"] * 2**30 / result["edges"], 1
    )
    print(f"  {result}", flush=True)

    with stages("neighbour table"):
        sampler = ImportanceSampler(graph, 2, Neighborhood(num_neighbors=10, num_walks=20))

    # an id table costs 1 KiB per pin in training (weights, their dense gradient, Adam's
    # two moments: 27 GiB at 28.6M pins); above --id-embedding-max-pins (by default at
    # every size) the model is the paper's, features only
    id_embedding = num_pins <= args.id_embedding_max_pins
    result["train_model"] = "ids + features" if id_embedding else "features only"
    module = PinSageModule(
        pin_spec=graph.pin_spec.to_dict(),
        num_pins=graph.num_pins,
        hidden_dim=64,
        out_dim=64,
        lr=3e-3,
        id_embedding=id_embedding,
    )
    if num_pins <= args.train_max_pins:
        train(graph, sampler, module, stages, args)
        result["train_steps_per_s"] = round(
            args.train_steps / stages.results["train"]["seconds"], 2
        )
    else:  # the embedding stages cost the same with any weights
        result["train_skipped"] = f"above --train-max-pins={args.train_max_pins}"
    model = module.model.eval()

    if graph.num_pins <= args.compare_max_pins:
        result["layerwise_vs_naive"] = compare_inference(graph, model, args)
    if graph.num_pins <= args.partition_max_pins:
        from pinsage_dgl.distributed import partition_for_distdgl

        with tempfile.TemporaryDirectory() as tmp, stages("partition (DistDGL, 2 parts, METIS)"):
            partition_for_distdgl(graph, tmp, num_parts=2, method="metis")
            result["partition_mib"] = round(
                sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file()) / 2**20
            )
    return (model, graph.pin_features, *sampler.table)


def train(graph, sampler, module, stages: Stages, args: argparse.Namespace) -> None:
    """``args.train_steps`` steps of the board task through Lightning, on every edge, with
    the neighbour table ``sampler`` walked already."""
    import lightning as L
    import torch

    from datamodules.base import PinSageDataModule
    from pinsage_dgl.sampling import Negatives
    from pinsage_dgl.split import EdgeSplit

    class WholeGraph(PinSageDataModule):
        """Trains on every edge: this benchmark measures cost, not quality."""

        def load(self):
            empty = torch.empty(0, 2, dtype=torch.int64)
            return graph, EdgeSplit(graph, empty, empty), None

    data = WholeGraph(
        batch_size=512,
        negatives=Negatives(num_random=500),
        neighborhood=sampler.neighborhood,
    )
    data.use_sampler(sampler)
    with stages("train"):
        trainer = L.Trainer(
            max_steps=args.train_steps,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            limit_val_batches=0,
        )
        trainer.fit(module, datamodule=data)


def compare_inference(graph, model, args: argparse.Namespace) -> dict[str, Any]:
    """Layer-wise against naive per-pin sampled inference at T = 50, K = 2 (same model)."""
    import torch

    from pinsage_dgl.inference import embed_all_pins
    from pinsage_dgl.sampling import ImportanceSampler, Neighborhood

    start = time.perf_counter()
    wide = ImportanceSampler(graph, 2, Neighborhood(num_neighbors=50, num_walks=100))
    table_seconds = time.perf_counter() - start
    neighbors, weights = wide.table
    start = time.perf_counter()
    layerwise = embed_all_pins(model, graph.pin_features, neighbors, weights)
    layerwise_rate = graph.num_pins / (time.perf_counter() - start)
    start = time.perf_counter()
    embed_all_pins(model, graph.pin_features, neighbors, weights, message_dtype=torch.float16)
    half_rate = graph.num_pins / (time.perf_counter() - start)
    pool_seconds = {
        str(dtype).removeprefix("torch."): pooling_seconds(neighbors, weights, model, dtype)
        for dtype in (torch.float32, torch.float16)
    }

    targets = torch.randperm(graph.num_pins)[: args.naive_pins]
    start = time.perf_counter()
    with torch.no_grad():
        for batch in torch.split(targets, 512):
            blocks = wide.sample_blocks(batch)
            naive = model(blocks, wide.input_features(blocks))
    naive_rate = len(targets) / (time.perf_counter() - start)
    # the same embeddings either way (the last batch checked)
    assert torch.allclose(naive, layerwise[batch], atol=1e-4)
    hidden, out = model.hidden_dim, model.G2.out_features
    numeric = model.encoder.numeric_proj.in_features if model.encoder.numeric_proj else 0
    flops = flops_per_pin(hidden, out, 2, 50, numeric, tokens=5)
    gflops = matmul_gflops()
    bound = gflops * 1e9 / flops
    return {
        "T": 50,
        "K": 2,
        "table_seconds": round(table_seconds, 1),
        "layerwise_pins_per_s": round(layerwise_rate),
        "naive_pins_per_s": round(naive_rate),
        "naive_pins_measured": len(targets),
        "ratio": round(layerwise_rate / naive_rate, 1),
        "flops_per_pin": flops,
        "threads": torch.get_num_threads(),
        "matmul_gflops": round(gflops, 1),
        "bound_pins_per_s": round(bound),
        "layerwise_fraction_of_bound": round(layerwise_rate / bound, 3),
        "layerwise_float16_pins_per_s": round(half_rate),
        "layerwise_float16_fraction_of_bound": round(half_rate / bound, 3),
        # the pooling alone, every layer: the pass cannot run faster than this, so
        # bound-time / pooling-time is the most of the bound any pass with this pooling
        # kernel reaches (were encoder, matmuls and head free)
        "pool_seconds": {k: round(v, 2) for k, v in pool_seconds.items()},
        "pool_ceiling_fraction_of_bound": {
            k: round(graph.num_pins / v / bound, 3) for k, v in pool_seconds.items()
        },
    }


def pooling_seconds(neighbors, weights, model, dtype) -> float:
    """Seconds of every convolution's neighbour pooling alone in a layer-wise pass (the
    T-row gathers and weighted sums of ``PinSageConv.pool_table``, chunked as
    ``embed_all_pins`` chunks them), over random messages stored in ``dtype``."""
    import torch

    from pinsage_dgl.inference import embed_all_pins

    batch = inspect.signature(embed_all_pins).parameters["batch_size"].default
    total = 0.0
    for conv in model.convs:
        messages = torch.rand(len(neighbors), conv.hidden_feats).to(dtype)
        start = time.perf_counter()
        for first in range(0, len(neighbors), batch):
            rows = slice(first, first + batch)
            conv.pool_table(messages, neighbors[rows], weights[rows])
        total += time.perf_counter() - start
    return total


# --- the driver ----------------------------------------------------------------------------
def markdown(report: dict[str, Any]) -> str:
    sizes = report["sizes"]
    names = list(next(iter(sizes.values()))["stages"])
    for s in sizes.values():
        names += [n for n in s["stages"] if n not in names]
    runs = {
        (s.get("date", report["date"]), s.get("command", report["command"])) for s in sizes.values()
    }
    lines = [f"Machine: {report['machine']}."]
    lines += [f"{date}: `{command}`." for date, command in sorted(runs)]
    lines += [
        "",
        "| stage | "
        + " | ".join(f"{int(k):,} pins ({s.get('date', report['date'])})" for k, s in sizes.items())
        + " |",
        "| --- |" + " --- |" * len(sizes),
    ]
    lines.append(
        "| graph | "
        + " | ".join(
            f"{s['edges']:,} edges, {s['boards']:,} boards" if "edges" in s else "—"
            for s in sizes.values()
        )
        + " |"
    )
    for name in names:
        cells = []
        for s in sizes.values():
            r = s["stages"].get(name)
            cells.append("—" if r is None else f"{r['seconds']:.1f} s, {r['peak_gib']:.1f} GiB")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")

    def row(label: str, cell: Callable[[dict[str, Any]], str]) -> str:
        return f"| {label} | " + " | ".join(cell(s) for s in sizes.values()) + " |"

    def maybe(key: str, fmt: str) -> Callable[[dict[str, Any]], str]:
        return lambda s: "—" if s.get(key) is None else format(s[key], fmt)

    lines.append(row("build peak / edge (bytes)", maybe("build_peak_bytes_per_edge", ".0f")))
    lines.append(
        row(
            "train steps/s",
            lambda s: "skipped" if "train_skipped" in s else maybe("train_steps_per_s", "")(s),
        )
    )
    # reports before this row trained features only (the module's default then)
    lines.append(row("train model", lambda s: s.get("train_model", "features only")))
    lines.append(row("embed pins/s", maybe("embed_pins_per_s", ",")))
    lines.append(row("embed layers", lambda s: s.get("embed_storage", "memory, float32")))
    notes = (
        [
            f"{int(k):,} pins: the train stage was skipped ({s['train_skipped']})."
            for k, s in sizes.items()
            if "train_skipped" in s
        ]
        + [
            f"{int(k):,} pins: tables generated by an earlier run, reused (no generate stage)."
            for k, s in sizes.items()
            if "tables_reused" in s
        ]
        + [
            f"{int(k):,} pins: the process died in stage {s['failed']['stage']!r} "
            f"(exit code {s['failed']['exit_code']}); the stages before it are reported."
            for k, s in sizes.items()
            if "failed" in s
        ]
    )
    if notes:
        lines += ["", *notes]
    keys = list(sizes)
    if len(keys) > 1:
        lines += ["", "Growth from one size to the next (time × for pins ×):", ""]
        lines += [
            "| stage | "
            + " | ".join(f"{int(a):,} → {int(b):,}" for a, b in itertools.pairwise(keys))
            + " |"
        ]
        lines += ["| --- |" + " --- |" * (len(keys) - 1)]
        for name in names:
            cells = []
            for a, b in itertools.pairwise(keys):
                ra, rb = sizes[a]["stages"].get(name), sizes[b]["stages"].get(name)
                if ra is None or rb is None or ra["seconds"] == 0:
                    cells.append("—")
                else:
                    time_ratio = rb["seconds"] / ra["seconds"]
                    pins_ratio = sizes[b]["pins"] / sizes[a]["pins"]
                    cells.append(f"×{time_ratio:.1f} for ×{pins_ratio:.1f}")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    compare = {k: s["layerwise_vs_naive"] for k, s in sizes.items() if "layerwise_vs_naive" in s}
    if compare:
        lines += [
            "",
            "Layer-wise against naive per-pin inference (T = 50, K = 2, hidden 64):",
            "",
            "| pins | layer-wise pins/s | naive pins/s | ratio "
            "| bound pins/s (FLOPs/pin, GFLOP/s) | layer-wise / bound |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for k, c in compare.items():
            lines.append(
                f"| {int(k):,} | {c['layerwise_pins_per_s']:,} | {c['naive_pins_per_s']:,} | "
                f"**{c['ratio']}×** | {c['bound_pins_per_s']:,} ({c['flops_per_pin']:,}, "
                f"{c['matmul_gflops']}) | {c['layerwise_fraction_of_bound']:.1%} |"
            )
        pooled = {k: c for k, c in compare.items() if "pool_seconds" in c}
        if pooled:
            lines += [
                "",
                "Against the bound, by how messages are stored; the pooling alone (every "
                "layer's T-row gathers) and the most of the bound a pass with that pooling "
                "could reach were all else free:",
                "",
                "| pins | messages | layer-wise pins/s | / bound | pooling alone, s "
                "| pooling's ceiling / bound |",
                "| --- | --- | --- | --- | --- | --- |",
            ]
            for k, c in pooled.items():
                for dtype, rate, fraction in (
                    ("float32", c["layerwise_pins_per_s"], c["layerwise_fraction_of_bound"]),
                    (
                        "float16",
                        c["layerwise_float16_pins_per_s"],
                        c["layerwise_float16_fraction_of_bound"],
                    ),
                ):
                    lines.append(
                        f"| {int(k):,} | {dtype} | {rate:,} | {fraction:.1%} | "
                        f"{c['pool_seconds'][dtype]} | "
                        f"{c['pool_ceiling_fraction_of_bound'][dtype]:.1%} |"
                    )
    lines += ["", "Retrieval, pin queries drawn from the catalogue, top 10 (recall against exact):"]
    lines += [
        "",
        "| pins | queries | index | setting | recall@10 | queries/s | × exact |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for k, s in sizes.items():
        queries = s.get("queries", 10_000)  # sizes measured before it was recorded: 10k
        for a in s.get("ann", []):
            setting = ", ".join(f"{n}={a[n]}" for n in ("nprobe", "ef_search") if n in a)
            lines.append(
                f"| {int(k):,} | {queries:,} | {a['index']} | {setting or '—'} | "
                f"{a['recall@10']:.3f} | {a['qps']:,.0f} | {a.get('speedup_vs_exact', 1.0)} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from benchmarks.common import benchmark_parser

    parser = benchmark_parser(__doc__)
    parser.add_argument("--sizes", nargs="+", type=int, default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--board-size", type=int, default=33, help="mean pins per board")
    parser.add_argument("--train-steps", type=int, default=100)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--naive-pins", type=int, default=4096)
    parser.add_argument("--compare-max-pins", type=int, default=1_000_000)
    parser.add_argument("--hnsw-max-pins", type=int, default=1_000_000)
    parser.add_argument("--partition-max-pins", type=int, default=1_000_000)
    parser.add_argument(
        "--disk-min-pins",
        type=int,
        default=20_000_000,
        help="from this many pins, embed with layer tensors memory-mapped on disk and "
        "float16 messages (embed_all_pins's workdir and message_dtype)",
    )
    parser.add_argument(
        "--train-max-pins",
        type=int,
        default=30_000_000,
        help="above this many pins the train stage is skipped; embedding then runs the "
        "untrained model, which costs the same",
    )
    parser.add_argument(
        "--id-embedding-max-pins",
        type=int,
        default=0,
        help="up to this many pins the trained model has an id embedding (the recipe's "
        "default where the pin count is known); above it, and by default, features only "
        "(the paper's model, and every column of the committed report): an id table with "
        "Adam costs 1 KiB per pin in training",
    )
    parser.add_argument(
        "--tables",
        type=Path,
        help="keep each size's generated tables in TABLES/<pins>/ and reuse them when "
        "their settings match (the generate stage is then not run)",
    )
    parser.add_argument("--ivf-nlist", type=int, help="IVF lists (default: the library's)")
    parser.add_argument(
        "--ivf-train-per-list",
        type=int,
        default=256,
        help="vectors per list that train the IVF k-means (FaissIndex's train_per_list)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="where the tables and memory-mapped layers go (default: the system's temp)",
    )
    parser.add_argument("--quick", action="store_true", help="few steps and queries")
    parser.add_argument(
        "--fresh", action="store_true", help="ignore an existing report (default: update it)"
    )
    parser.add_argument("--run-one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.train_steps, args.queries, args.naive_pins = 5, 500, 512
    if args.run_one:
        result = run_size(args.run_one, args)
        args.result.write_text(json.dumps(result))
        return result

    from benchmarks.common import machine_description

    command = " ".join(["python -m benchmarks.scale", *(sys.argv[1:] if argv is None else argv)])
    stem = "scale-quick" if args.quick else "scale"
    today = {
        "command": command,
        "machine": machine_description(),
        "date": datetime.date.today().isoformat(),
    }
    report: dict[str, Any] = {**today, "sizes": {}}
    previous = args.out / f"{stem}.json"
    if previous.exists() and not args.fresh:
        # a run of some sizes replaces those and keeps the others, each with its own date,
        # command and machine (a report written before sizes carried them: the report's)
        old = json.loads(previous.read_text())
        for size, entry in old["sizes"].items():
            if int(size) not in args.sizes:
                report["sizes"][size] = {
                    **{k: old[k] for k in ("command", "machine", "date") if k in old},
                    **entry,
                }
    passthrough = [
        f"--board-size={args.board_size}",
        f"--train-steps={args.train_steps}",
        f"--queries={args.queries}",
        f"--naive-pins={args.naive_pins}",
        f"--compare-max-pins={args.compare_max_pins}",
        f"--hnsw-max-pins={args.hnsw_max_pins}",
        f"--partition-max-pins={args.partition_max_pins}",
        f"--disk-min-pins={args.disk_min_pins}",
        f"--train-max-pins={args.train_max_pins}",
        f"--id-embedding-max-pins={args.id_embedding_max_pins}",
        *([f"--tables={args.tables}"] if args.tables else []),
        f"--ivf-train-per-list={args.ivf_train_per_list}",
        *([f"--ivf-nlist={args.ivf_nlist}"] if args.ivf_nlist else []),
        *([f"--workdir={args.workdir}"] if args.workdir else []),
    ]
    for size in args.sizes:
        print(f"{size:,} pins", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            result_path = Path(tmp) / "result.json"
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.scale",
                    f"--run-one={size}",
                    f"--result={result_path}",
                    *passthrough,
                ],
                cwd=ROOT,
                env={**os.environ, "PYTHONWARNINGS": "ignore"},
            )
            measured = json.loads(result_path.read_text()) if result_path.exists() else {}
            if proc.returncode != 0:
                # e.g. killed for memory: the stages it finished are kept, with the one it
                # died in, and the other sizes still run
                stage = measured.get("running")
                print(f"{size:,} pins: failed in {stage!r}, exit code {proc.returncode}")
                if not measured.get("stages"):
                    report.setdefault("failed", {})[str(size)] = proc.returncode
                    continue
                measured["failed"] = {"stage": stage, "exit_code": proc.returncode}
            measured.pop("running", None)
            report["sizes"][str(size)] = {**today, **measured}
    if not report["sizes"]:
        raise SystemExit("no size completed")
    report["sizes"] = dict(sorted(report["sizes"].items(), key=lambda item: int(item[0])))
    write_report(args.out, stem, report, markdown)
    return report


if __name__ == "__main__":
    main()
