"""Evaluation at a public table's scale: every protocol, every scorer, against scoring alone.

    python -m benchmarks.evaluation                      # 41k pins, 30k boards, ~217k pairs
    python -m benchmarks.evaluation --pins 5000 --boards 2000 --held-out 10000   # seconds

A synthetic graph of the shape of a public check-in table (``make_synthetic``: 41k pins,
30k boards of ~39 saves, no features), with ``--held-out`` saves drawn at random as the
test pairs (several per board, as LightGCN-style test files hold). Each scorer is timed
twice in this process, one after the other:

- **evaluate**: :func:`pinsage_dgl.evaluation.evaluate` under all four protocols
  (item-to-item, sampled with 100 candidates, full ranking, latest pin);
- **scoring alone**: the same scorer's ``score_boards`` and ``score_pins`` for every
  board once (the work no evaluation can skip), in the same batches.

Their ratio is what ranking adds to scoring (popularity's scores are one broadcast row:
its scoring alone costs nothing). The compiled counting kernel, which ``evaluate`` uses at
this size, is compiled first and its time reported apart. Scorers: dot products of random 64-d
embeddings (``EmbeddingScorer``, recency query), popularity, item kNN and Pixie walks.
Writes ``evaluation.json`` and ``evaluation.md`` to ``--out``.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from benchmarks.common import benchmark_parser, machine_description, write_report
from datamodules import make_synthetic
from pinsage_dgl.baselines import ItemKNN, PixieWalks, Popularity
from pinsage_dgl.evaluation import FUSED_MIN_WORK, PROTOCOLS, evaluate
from pinsage_dgl.graph import SAVED_TO, build_graph
from pinsage_dgl.history import BoardHistories
from pinsage_dgl.metrics import grouped_rank_counts
from pinsage_dgl.sampling import board_batches, sample_candidates
from pinsage_dgl.scoring import EmbeddingScorer
from pinsage_dgl.split import split_by_edges

SCORERS = ("embeddings", "popularity", "itemknn", "pixie")


def held_out_graph(num_pins: int, num_boards: int, held_out: int, seed: int = 0):
    """The graph, its training split and ``[n, 2]`` held-out (board, pin) pairs."""
    interactions, _ = make_synthetic(
        num_pins=num_pins, num_boards=num_boards, num_topics=40, mean_board_size=39, seed=seed
    )
    graph = build_graph(interactions[["pin", "board", "timestamp"]], timestamp_col="timestamp")
    generator = torch.Generator().manual_seed(seed)
    edges = torch.randperm(graph.graph.num_edges(SAVED_TO), generator=generator)[:held_out]
    split = split_by_edges(graph, edges)
    return graph, split.train, split.test


def scoring_alone(scorer, histories: BoardHistories, pairs: torch.Tensor, batch: int) -> None:
    """Every board's scores and its latest pin's scores, once, in ``evaluate``'s batches."""
    for index in board_batches(pairs, batch):
        boards = torch.unique(pairs[index, 0])
        history = histories(boards)
        scorer.score_boards(history)
        scorer.score_pins(history.latest().clamp(min=0))


def measure(name: str, scorer, histories, pairs, candidates, batch: int) -> dict[str, Any]:
    start = time.perf_counter()
    scoring_alone(scorer, histories, pairs, batch)
    alone = time.perf_counter() - start
    start = time.perf_counter()
    metrics = evaluate(scorer, histories, pairs, PROTOCOLS, candidates, batch_size=batch)
    full = time.perf_counter() - start
    return {
        "scorer": name,
        "scoring_alone_s": round(alone, 2),
        "evaluate_s": round(full, 2),
        "evaluate_over_scoring": round(full / alone, 2),
        "recall@20": round(metrics["full_ranking/recall@20"], 4),
        "metrics": metrics,
    }


def markdown(report: dict[str, Any]) -> str:
    shape = report["shape"]
    counting = (
        f"by the fused kernel (compiled once per process in {report['compile_s']} s, "
        "before the timings)"
        if report["fused"]
        else "by binary search"
    )
    lines = [
        f"Machine: {report['machine']}. Graph: {shape['pins']:,} pins, {shape['boards']:,} "
        f"boards, {shape['saves']:,} saves; {shape['held_out']:,} held-out pairs on "
        f"{shape['held_out_boards']:,} boards; all four protocols; batches of "
        f"{report['batch_size']} pairs; ranks counted {counting}.",
        "",
        "| scorer | scoring alone (s) | evaluate (s) | evaluate / scoring | "
        "full-ranking recall@20 |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for row in report["rows"]:
        lines.append(
            f"| {row['scorer']} | {row['scoring_alone_s']:.1f} | {row['evaluate_s']:.1f} | "
            f"{row['evaluate_over_scoring']:.2f} | {row['recall@20']:.4f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--pins", type=int, default=41_000)
    parser.add_argument("--boards", type=int, default=30_000)
    parser.add_argument("--held-out", type=int, default=217_000)
    parser.add_argument("--batch-size", type=int, default=1024, help="pairs per batch")
    parser.add_argument(
        "--scorers", nargs="+", default=["embeddings", "popularity", "itemknn", "pixie"]
    )
    args = parser.parse_args(argv)
    graph, train, pairs = held_out_graph(args.pins, args.boards, args.held_out)
    histories = BoardHistories(train)
    candidates = sample_candidates(graph, pairs, num_negatives=99)
    torch.manual_seed(0)
    makers = {
        "embeddings": lambda: EmbeddingScorer(torch.randn(train.num_pins, 64), query="recency"),
        "popularity": lambda: Popularity(train),
        "itemknn": lambda: ItemKNN(train),
        "pixie": lambda: PixieWalks(train),
    }
    # the fused kernel compiles once per process: timed apart, before the scorers
    start = time.perf_counter()
    one = torch.zeros(1, dtype=torch.int64)
    grouped_rank_counts(torch.zeros(1, 2), one, one, fused=True)
    compile_seconds = time.perf_counter() - start
    rows = []
    for name in args.scorers:
        rows.append(measure(name, makers[name](), histories, pairs, candidates, args.batch_size))
        print(rows[-1]["scorer"], rows[-1]["scoring_alone_s"], rows[-1]["evaluate_s"], flush=True)
    report = {
        "machine": machine_description(),
        "shape": {
            "pins": train.num_pins,
            "boards": train.num_boards,
            "saves": graph.graph.num_edges(SAVED_TO),
            "held_out": len(pairs),
            "held_out_boards": len(torch.unique(pairs[:, 0])),
        },
        "batch_size": args.batch_size,
        "fused": len(pairs) * train.num_pins >= FUSED_MIN_WORK,
        "compile_s": round(compile_seconds, 1),
        "rows": rows,
    }
    write_report(args.out, "evaluation", report, markdown)
    return report


if __name__ == "__main__":
    main()
