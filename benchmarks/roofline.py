"""A whole-graph pass against this machine's roofline, stage by stage.

    python -m benchmarks.roofline                      # 1M pins, T = 50, hidden 64
    python -m benchmarks.roofline --pins 200000 --neighbors 10

In one run: this machine's memory bandwidth (a STREAM-style triad ``a = b + s c`` over
arrays far larger than the caches, measured before and after the pass, the better kept),
its bandwidth for random row reads (a gather-and-sum, ``embedding_bag``, of rows of the
messages' width from a table far larger than the caches: the access a convolution makes
of its neighbours' messages, with nothing else), its float32 matrix-multiply rate, and a
layer-wise pass (``embed_all_pins``'s plan, :func:`pinsage_dgl.inference.stage_plan`,
each stage run chunk by chunk as ``embed_all_pins`` runs it and timed alone). Each
stage's roofline time is the larger of its FLOPs at the matmul rate and its bytes moved
at the bandwidth that applies (the neighbours' message rows at the gather bandwidth,
every other byte at the triad's); the pass's is their sum. The report gives roofline
time / measured time (how near the pass is to what this machine allows), the same
against the triad alone (as if gathers streamed), and arithmetic time / measured time
(the FLOPs alone, which a pass bound by its gathers cannot approach).

The model: PinSage with K = 2 convolutions, one numeric feature column of ``--numeric``
values per pin and per-pin id embeddings; the neighbour table is random (no locality: each
pin's T neighbours are anywhere in the graph, the case of a large graph in arbitrary
order). Writes ``roofline.json`` and ``roofline.md`` to ``--out``.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from benchmarks.common import (
    benchmark_parser,
    machine_description,
    matmul_gflops,
    write_report,
)
from pinsage_dgl.features import ColumnSpec, FeatureSpec
from pinsage_dgl.inference import EMBEDDINGS, FEATURES, NEIGHBORS, WEIGHTS, run_stage, stage_plan
from pinsage_dgl.nn import PinSage

FLOAT = 4  # bytes of a float32
INDEX = 8  # bytes of an int64 neighbour id


def triad_gbps(megabytes: int = 512, repeats: int = 5) -> float:
    """Memory bandwidth in GB/s: ``a = b + 3 c`` over three float32 arrays of
    ``megabytes`` each (24 bytes per element moved: two reads, one write; a write-allocate
    read is not counted, as STREAM counts), best of ``repeats``."""
    n = megabytes * 2**20 // FLOAT
    b, c = torch.rand(n), torch.rand(n)
    a = torch.empty(n)
    torch.add(b, c, alpha=3.0, out=a)  # warm-up: pages touched
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.add(b, c, alpha=3.0, out=a)
        best = min(best, time.perf_counter() - start)
    return 3 * n * FLOAT / best / 1e9


def gather_gbps(
    row_bytes: int,
    dtype: torch.dtype = torch.float32,
    megabytes: int = 1024,
    bag: int = 50,
    repeats: int = 3,
) -> float:
    """Bandwidth in GB/s of reading random rows of ``row_bytes`` (of ``dtype``) from a
    ``megabytes`` table, summed in bags of ``bag`` rows (``embedding_bag``, unweighted:
    the gather-and-sum with little else; the output is ``bag`` times smaller than what is
    read, so the random reads are the traffic), counting the rows' bytes, best of
    ``repeats``."""
    width = row_bytes * 8 // torch.finfo(dtype).bits
    rows = megabytes * 2**20 // row_bytes
    table = torch.rand(rows, width).to(dtype)
    generator = torch.Generator().manual_seed(1)
    index = torch.randint(0, rows, (rows // (4 * bag), bag), generator=generator)
    torch.nn.functional.embedding_bag(index, table, mode="sum")  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.nn.functional.embedding_bag(index, table, mode="sum")
        best = min(best, time.perf_counter() - start)
    return index.numel() * row_bytes / best / 1e9


def stage_cost(
    stage: Any, model: PinSage, numeric: int, neighbors: int, message_bytes: int = FLOAT
) -> dict[str, int]:
    """FLOPs and compulsory bytes moved per pin of one stage of the plan: its inputs read
    and its output written once (float32 arrays, messages of ``message_bytes`` per value;
    each of a convolution's T neighbours reads its id, weight and message row: the
    ``gathered`` bytes), temporaries not counted."""
    hidden, out = model.hidden_dim, model.G2.out_features
    gathered = 0
    if stage.kind == "encode":  # numeric projection, plus the id vector added
        flops = 2 * numeric * hidden + hidden
        moved = numeric * FLOAT + 2 * hidden * FLOAT  # features and id row in, h0 out
    elif stage.kind == "message":  # ReLU(Q h + q)
        flops = 2 * hidden * hidden
        moved = hidden * FLOAT + hidden * message_bytes
    elif stage.kind == "convolve":  # weighted pooling of T messages, then W [h; n]
        flops = 2 * neighbors * hidden + 2 * (2 * hidden) * hidden
        gathered = neighbors * hidden * message_bytes
        moved = neighbors * (INDEX + FLOAT) + gathered + 2 * hidden * FLOAT
    else:  # the head: G2 ReLU(G1 r + g), over the readout of its layers
        readout = hidden * len(stage.inputs)
        flops = 2 * readout * hidden + 2 * hidden * out
        moved = readout * FLOAT + out * FLOAT
    return {"flops": flops, "bytes": moved, "gathered": gathered}


def measure(
    num_pins: int,
    num_neighbors: int,
    hidden: int,
    numeric: int,
    chunk: int,
    triad_megabytes: int = 512,
    message_dtype: torch.dtype = torch.float32,
) -> dict:
    """The pass at ``num_pins`` pins beside its roofline (see the module docstring)."""
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    spec = FeatureSpec([ColumnSpec(f"x{i}", "numeric") for i in range(numeric)])
    model = PinSage(spec, hidden_dim=hidden, out_dim=hidden, num_layers=2, num_ids=num_pins)
    model.eval()
    arrays: dict[str, Any] = {
        FEATURES: {f"x{i}": torch.rand(num_pins, generator=generator) for i in range(numeric)},
        NEIGHBORS: torch.randint(0, num_pins, (num_pins, num_neighbors), generator=generator),
        WEIGHTS: torch.rand(num_pins, num_neighbors, generator=generator),
    }
    message_bytes = torch.finfo(message_dtype).bits // 8
    triad_before = triad_gbps(triad_megabytes)
    gather = gather_gbps(hidden * message_bytes, message_dtype, 2 * triad_megabytes)
    rate = matmul_gflops()
    measured = []
    with torch.no_grad():
        for stage in stage_plan(model):
            dtype = message_dtype if stage.message else torch.float32
            out = torch.empty(num_pins, stage.dim, dtype=dtype)
            start = time.perf_counter()
            for first in range(0, num_pins, chunk):
                rows = slice(first, min(first + chunk, num_pins))
                out[rows] = run_stage(model, stage, rows, arrays).to(dtype)
            measured.append((stage, time.perf_counter() - start))
            arrays[stage.output] = out
    del arrays[EMBEDDINGS]
    triad_after = triad_gbps(triad_megabytes)
    bandwidth = max(triad_before, triad_after)
    stages = []
    for stage, seconds in measured:
        cost = stage_cost(stage, model, numeric, num_neighbors, message_bytes)
        compute = num_pins * cost["flops"] / (rate * 1e9)
        streamed = num_pins * cost["bytes"] / (bandwidth * 1e9)
        memory = num_pins * (
            (cost["bytes"] - cost["gathered"]) / (bandwidth * 1e9)
            + cost["gathered"] / (gather * 1e9)
        )
        stages.append(
            {
                "stage": stage.output,
                "kind": stage.kind,
                "flops_per_pin": cost["flops"],
                "bytes_per_pin": cost["bytes"],
                "gathered_bytes_per_pin": cost["gathered"],
                "compute_s": compute,
                "memory_s": memory,
                "roofline_s": max(compute, memory),
                "triad_roofline_s": max(compute, streamed),
                "measured_s": seconds,
            }
        )
    keys = ("compute_s", "roofline_s", "triad_roofline_s", "measured_s")
    total = {key: sum(s[key] for s in stages) for key in keys}
    return {
        "pins": num_pins,
        "neighbors": num_neighbors,
        "hidden": hidden,
        "numeric_features": numeric,
        "chunk": chunk,
        "threads": torch.get_num_threads(),
        "message_dtype": str(message_dtype).removeprefix("torch."),
        "triad_gb_per_s": round(bandwidth, 2),
        "triad_gb_per_s_before_after": [round(triad_before, 2), round(triad_after, 2)],
        "gather_gb_per_s": round(gather, 2),
        "matmul_gflop_per_s": round(rate, 1),
        "stages": [
            {k: round(v, 6) if isinstance(v, float) else v for k, v in s.items()} for s in stages
        ],
        "pass_s": round(total["measured_s"], 6),
        "roofline_s": round(total["roofline_s"], 6),
        "arithmetic_s": round(total["compute_s"], 6),
        "triad_roofline_s": round(total["triad_roofline_s"], 6),
        "fraction_of_roofline": round(total["roofline_s"] / total["measured_s"], 6),
        "fraction_of_triad_roofline": round(total["triad_roofline_s"] / total["measured_s"], 6),
        "fraction_of_arithmetic_bound": round(total["compute_s"] / total["measured_s"], 6),
    }


def markdown(report: dict[str, Any]) -> str:
    r = report["result"]
    before, after = r["triad_gb_per_s_before_after"]
    lines = [
        f"Machine: {report['machine']}, {r['threads']} threads. Command: `{report['command']}`.",
        f"{r['pins']:,} pins, T = {r['neighbors']}, hidden {r['hidden']}, K = 2, "
        f"{r['numeric_features']} numeric features, {r['message_dtype']} messages, chunks of "
        f"{r['chunk']:,} pins. Measured in this run: triad bandwidth "
        f"**{r['triad_gb_per_s']} GB/s** (before the pass {before}, after {after}), random "
        f"gathers of message rows **{r['gather_gb_per_s']} GB/s**, matmul "
        f"**{r['matmul_gflop_per_s']} GFLOP/s**. Memory time: the neighbours' message rows at "
        "the gather bandwidth, every other byte at the triad's.",
        "",
        "| stage | FLOPs/pin | bytes/pin (gathered) | compute s | memory s | roofline s "
        "| measured s | roofline / measured |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in r["stages"]:
        lines.append(
            f"| {s['stage']} ({s['kind']}) | {s['flops_per_pin']:,} | {s['bytes_per_pin']:,} "
            f"({s['gathered_bytes_per_pin']:,}) | {s['compute_s']:.3f} | {s['memory_s']:.3f} | "
            f"{s['roofline_s']:.3f} | {s['measured_s']:.3f} | "
            f"{s['roofline_s'] / s['measured_s']:.1%} |"
        )
    lines += [
        f"| **pass** | | | {r['arithmetic_s']:.3f} | | {r['roofline_s']:.3f} | "
        f"{r['pass_s']:.3f} | **{r['fraction_of_roofline']:.1%}** |",
        "",
        f"The pass runs at {r['fraction_of_roofline']:.1%} of its roofline bound "
        f"({r['fraction_of_triad_roofline']:.1%} of the bound were its gathers streamed at the "
        f"triad's bandwidth) and {r['fraction_of_arithmetic_bound']:.1%} of its arithmetic "
        "bound.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import sys

    parser = benchmark_parser(__doc__)
    parser.add_argument("--pins", type=int, default=1_000_000)
    parser.add_argument("--neighbors", type=int, default=50, help="T")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--numeric", type=int, default=16, help="numeric feature columns")
    parser.add_argument("--chunk", type=int, default=8192, help="pins per chunk")
    parser.add_argument("--triad-mb", type=int, default=512, help="MB per triad array")
    parser.add_argument("--message-dtype", choices=["float32", "float16"], default="float32")
    args = parser.parse_args(argv)
    report = {
        "machine": machine_description(),
        "command": "python -m benchmarks.roofline "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "result": measure(
            args.pins,
            args.neighbors,
            args.hidden,
            args.numeric,
            args.chunk,
            args.triad_mb,
            getattr(torch, args.message_dtype),
        ),
    }
    write_report(args.out, "roofline", report, markdown)
    return report


if __name__ == "__main__":
    main()
