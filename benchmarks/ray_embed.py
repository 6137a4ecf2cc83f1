"""When Ray pays off: ``embed_all_pins_ray`` beside ``embed_all_pins`` in one process.

    python -m benchmarks.ray_embed                        # 5k, 200k and 1M pins, 2 actors
    python -m benchmarks.ray_embed --sizes 200000 --actors 4

Both embed the same pins with the same model (hidden 128, out 64, K = 2, per-pin id
embeddings, a random T = 10 neighbour table), one after the other, in this process; Ray
runs in local mode with ``--actors`` actors. The table gives each one's seconds, their
ratio, and whether the outputs agree (to 1e-5). Writes ``ray_embed.json`` and
``ray_embed.md`` to ``--out``.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from benchmarks.common import benchmark_parser, machine_description, write_report
from pinsage_dgl.features import FeatureSpec
from pinsage_dgl.inference import embed_all_pins
from pinsage_dgl.nn import PinSage


def measure(num_pins: int, actors: int) -> dict[str, Any]:
    """Seconds of the one-process and the Ray embedding of ``num_pins`` pins."""
    from pinsage_dgl.distributed import embed_all_pins_ray

    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = PinSage(FeatureSpec(), hidden_dim=128, out_dim=64, num_layers=2, num_ids=num_pins)
    neighbors = torch.randint(0, num_pins, (num_pins, 10), generator=generator)
    weights = torch.rand(num_pins, 10, generator=generator)
    start = time.perf_counter()
    alone = embed_all_pins(model.eval(), {}, neighbors, weights)
    one_process = time.perf_counter() - start
    start = time.perf_counter()
    on_ray = embed_all_pins_ray(model, {}, neighbors, weights, num_actors=actors)
    ray_seconds = time.perf_counter() - start
    return {
        "pins": num_pins,
        "actors": actors,
        "one_process_s": round(one_process, 3),
        "ray_s": round(ray_seconds, 3),
        "ray_over_one_process": round(ray_seconds / one_process, 1),
        "equal": bool(torch.allclose(alone, on_ray, atol=1e-5)),
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"Machine: {report['machine']}. Ray {report['ray']}, local mode.",
        "",
        "| pins | actors | one process (s) | Ray (s) | Ray / one process | equal |",
        "| ---: | ---: | ---: | ---: | ---: | :---: |",
    ]
    for row in report["rows"]:
        lines.append(
            f"| {row['pins']:,} | {row['actors']} | {row['one_process_s']:.2f} | "
            f"{row['ray_s']:.2f} | {row['ray_over_one_process']:.1f} | "
            f"{'yes' if row['equal'] else 'NO'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5_000, 200_000, 1_000_000])
    parser.add_argument("--actors", type=int, default=2)
    args = parser.parse_args(argv)
    import ray

    report = {
        "machine": machine_description(),
        "ray": ray.__version__,
        "rows": [measure(size, args.actors) for size in args.sizes],
    }
    write_report(args.out, "ray_embed", report, markdown)
    return report


if __name__ == "__main__":
    main()
