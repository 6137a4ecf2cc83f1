"""What one training step costs, next to one layer-wise pass over the whole graph.

    python -m benchmarks.step                              # synthetic-checkins and NCF shapes
    python -m benchmarks.step --datasets synthetic --steps 10

For the board task at the benchmark recipe's shape (512 boards × up to 50 history pins,
1,000 shared negatives, T = 10, K = 2), on the same minibatches:

- **layer-wise pass**: :func:`pinsage_dgl.inference.embed_all_pins`, every pin once per
  layer, no gradients (what evaluation costs);
- **full-graph step**: the training step the datamodule chooses when a minibatch reaches
  most of the graph: :meth:`PinSage.embed_graph` (every pin once per layer, with
  gradients), the loss, backward and the optimiser;
- **block step**: the same step on DGL blocks of the minibatch's neighbourhoods (a pin is
  computed once per block it appears in).

Each is timed over ``--steps`` minibatches after one warm-up, one at a time on this machine;
the ratios are the point (a full-graph step should cost a small multiple of a no-gradient
pass: forward + backward ≈ 3 forwards). Also the pins each block step computes per layer.
Writes ``<out>/step.json`` and ``<out>/step.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import dgl
import lightning as L

from benchmarks import methods as M
from benchmarks.common import machine_description
from pinsage_dgl.inference import embed_all_pins
from pinsage_dgl.io import write_text_atomic
from pinsage_dgl.lit import PinSageModule


def _timed(fn, repeats: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def measure(name: str, dataset: M.Dataset, steps: int, seed: int) -> dict:
    """Seconds per layer-wise pass, full-graph step and block step on ``dataset``."""
    settings = {**M.PINSAGE_DATA, **M.PINSAGE_MODEL}
    L.seed_everything(seed, verbose=False)
    dgl.seed(seed)
    out: dict = {"dataset": name}
    timings = {}
    for full_graph in (True, False):
        dm = M.datamodule(dataset, {**settings, "full_graph": full_graph}, seed, False)
        dm.setup("fit")
        module = PinSageModule(
            pin_spec=dm.feature_spec,
            num_pins=dm.num_pins,
            **{k: v for k, v in settings.items() if k not in M.DATA_KEYS},
        )
        module.use_graph(*dm.training_graph.inference_inputs())
        optimizer = module.configure_optimizers()
        batches = iter(dm.train_dataloader())
        pool = [next(batches) for _ in range(steps + 1)]
        cursor = iter(pool)

        def step(module=module, optimizer=optimizer, cursor=cursor) -> None:
            loss = module.training_step(next(cursor), 0)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        timings["full-graph step" if full_graph else "block step"] = _timed(step, steps)
        if full_graph:
            inputs = dm.training_graph.inference_inputs()
            timings["layer-wise pass"] = _timed(
                lambda m=module, i=inputs: embed_all_pins(m.model, *i), steps
            )
            out["pins"] = dm.num_pins
        else:
            blocks = pool[0]["blocks"]
            out["block pins per layer"] = [b.num_src_nodes() for b in blocks] + [
                blocks[-1].num_dst_nodes()
            ]
    out["seconds"] = {k: round(v, 4) for k, v in timings.items()}
    pass_ = timings["layer-wise pass"]
    out["full-graph step / layer-wise pass"] = round(timings["full-graph step"] / pass_, 2)
    out["block step / full-graph step"] = round(
        timings["block step"] / timings["full-graph step"], 2
    )
    return out


def markdown(results: list[dict], machine: str) -> str:
    lines = [
        f"Machine: {machine}. Board task, 512 boards × ≤ 50 history pins, 1,000 shared "
        "negatives, T = 10, K = 2, hidden 128 (`python -m benchmarks.step`).",
        "",
        "| dataset | pins | layer-wise pass s | full-graph step s | block step s | "
        "full-graph step / pass | block step / full-graph step | block pins per layer |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        s = r["seconds"]
        lines.append(
            f"| {r['dataset']} | {r['pins']:,} | {s['layer-wise pass']:.3f} | "
            f"{s['full-graph step']:.3f} | {s['block step']:.3f} | "
            f"{r['full-graph step / layer-wise pass']:.2f}× | "
            f"{r['block step / full-graph step']:.2f}× | "
            + " → ".join(f"{n:,}" for n in r["block pins per layer"])
            + " |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--datasets",
        nargs="+",
        default=["synthetic-checkins", "ncf-movielens-1m"],
        choices=M.DATASETS[:-1],
    )
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-root", default=str(M.ROOT.parent / "shared" / "data"))
    parser.add_argument("--out", type=Path, default=M.ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    available = M.datasets(args.data_root)
    results = [measure(n, available[n], args.steps, args.seed) for n in args.datasets]
    machine = machine_description()
    write_text_atomic(
        args.out / "step.json", json.dumps({"machine": machine, "results": results}, indent=1)
    )
    text = markdown(results, machine)
    write_text_atomic(args.out / "step.md", text)
    print(text)
    return results


if __name__ == "__main__":
    main()
