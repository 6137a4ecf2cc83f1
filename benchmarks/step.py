"""What a training step costs: this checkout against a peer commit, and where the time goes.

    python -m benchmarks.step                                    # both tables, ~15 min
    python -m benchmarks.step --datasets ncf-movielens-1m --peer none --steps 5

**Steps** (this checkout and ``--peer``, each measurement in a fresh process, one after the
other): seconds per training step, the loader's collation included (no worker processes),
on the path the datamodule chooses (whole graph or blocks), at three shapes:

- ``dgl-example``: DGL's PinSAGE example's recipe (batch 32 co-saved pairs, one random
  negative each, T = 3, hidden 64, max-margin);
- ``paper``: the paper's (batch 512 pairs, 500 shared negatives, T = 50, hidden 256,
  max-margin; with the recipe's id embedding, which graphs without pin features need);
- ``recipe``: the benchmark's PinSage defaults (512 boards × ≤ 50 history pins, 1,000
  shared negatives, T = 10, hidden 128, sampled softmax);
- ``halves``: the recipe with ``configs/recipes/halves.yaml`` stacked (the halves task,
  whole-graph steps of 256 boards, ``bf16-mixed``: steps run under CPU/GPU autocast).

**Paths** (this checkout, recipe shape, the same minibatches): a layer-wise pass
(:func:`pinsage_dgl.inference.embed_all_pins`, every pin once per layer, no gradients),
a full-graph step (every pin once per layer, with gradients, the loss, backward and the
optimiser) and a block step (DGL blocks of the minibatch's neighbourhoods), and the pins
each block computes per layer.

Writes ``<out>/step.json`` and ``<out>/step.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import (
    DATA_ROOT,
    DGL_EXAMPLE_RECIPE,
    ROOT,
    benchmark_parser,
    peer_checkout,
)

PAPER = {
    "data.task.kind": "pairs",
    "data.batch_size": 512,
    "data.negatives.num_random": 500,
    "data.negatives.shared": True,
    "data.neighborhood.num_neighbors": 50,
    "data.neighborhood.num_walks": 50,
    "data.neighborhood.walk_length": 2,
    "model.hidden_dim": 256,
    "model.out_dim": 256,
    "model.loss": "margin",
    "model.query": "mean",
    "model.popularity_prior": False,
}
SHAPES = ("dgl-example", "paper", "recipe", "halves")
STEPS_PER_SHAPE = {"dgl-example": 10}  # its steps are short: time more of them


def shape_settings(shape: str) -> dict[str, Any]:
    """A shape's PinSage settings, named as in a config (the library's defaults, the
    recipe, underneath)."""
    if shape == "halves":
        from benchmarks.methods import recipe_settings

        return recipe_settings(ROOT / "configs" / "recipes" / "halves.yaml")
    return dict({"dgl-example": DGL_EXAMPLE_RECIPE, "paper": PAPER, "recipe": {}}[shape])


def _module_and_data(name: str, settings: dict[str, Any], seed: int, data_root: str) -> tuple:
    import dgl
    import lightning as L

    from benchmarks import methods as M
    from pinsage_dgl.lit import PinSageModule

    L.seed_everything(seed, verbose=False)
    dgl.seed(seed)
    dm = M.datamodule(M.datasets(data_root)[name], settings, seed, False)
    dm.setup("fit")
    model = M.pinsage_arguments(settings)[0]
    model.pop("num_layers", None)  # the datamodule's, linked from the model's
    module = PinSageModule(
        pin_spec=dm.feature_spec,
        num_pins=dm.num_pins,
        num_boards=dm.num_boards,
        num_layers=dm.num_layers,
        **model,
    )
    module.use_graph(*dm.training_graph.inference_inputs())
    if module.model.popularity_prior is not None:  # as on_fit_start sets it
        module.model.popularity_prior.set_counts(dm.training_graph.pin_saves())
    return module, dm


def _timed(fn, repeats: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def _stepper(module: Any, batches: Any, precision: str = "32-true") -> Any:
    """One training step (forward, backward, the optimizer's update) per call, on the next
    of ``batches``; with ``precision`` ``bf16-mixed`` the forward under autocast, as
    Lightning runs it."""
    import torch

    optimizer = module.configure_optimizers()
    mixed = precision == "bf16-mixed"

    def step() -> None:
        with torch.autocast(module.device.type, dtype=torch.bfloat16, enabled=mixed):
            loss = module.training_step(next(batches), 0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def measure_steps(name: str, shape: str, steps: int, seed: int, data_root: str) -> dict:
    """Seconds per training step at ``shape`` on dataset ``name``, loader included."""
    settings = shape_settings(shape)
    module, dm = _module_and_data(name, settings, seed, data_root)
    precision = settings.get("trainer.precision", "32-true")
    step = _stepper(module, iter(dm.train_dataloader()), precision)
    seconds = _timed(step, steps * STEPS_PER_SHAPE.get(shape, 1))
    return {"seconds_per_step": seconds, "full_graph": dm.full_graph, "pins": dm.num_pins}


def measure_paths(name: str, steps: int, seed: int, data_root: str) -> dict:
    """Seconds per layer-wise pass, full-graph step and block step at the recipe shape."""
    from pinsage_dgl.inference import embed_all_pins

    out: dict[str, Any] = {"dataset": name}
    timings = {}
    for full_graph in (True, False):
        settings = {**shape_settings("recipe"), "data.full_graph": full_graph}
        module, dm = _module_and_data(name, settings, seed, data_root)
        batches = iter(dm.train_dataloader())
        pool = [next(batches) for _ in range(steps + 1)]
        step = _stepper(module, iter(pool))
        timings["full-graph step" if full_graph else "block step"] = _timed(step, steps)
        if full_graph:
            inputs = dm.training_graph.inference_inputs()
            timings["layer-wise pass"] = _timed(
                lambda m=module, i=inputs: embed_all_pins(m.model, *i), steps
            )
            out["pins"] = dm.num_pins
        else:
            blocks = pool[0].blocks
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


def profile_steps(
    name: str, steps: int, seed: int, data_root: str, top: int = 12, shape: str = "recipe"
) -> dict:
    """Where a training step's time goes on dataset ``name`` at ``shape``:
    ``torch.profiler`` over ``steps`` steps (after one warm-up), the ``top`` operators by
    self CPU time."""
    from torch.profiler import ProfilerActivity, profile

    settings = shape_settings(shape)
    module, dm = _module_and_data(name, settings, seed, data_root)
    step = _stepper(
        module, iter(dm.train_dataloader()), settings.get("trainer.precision", "32-true")
    )
    step()  # warm-up
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as profiled:
        for _ in range(steps):
            step()
    wall = (time.perf_counter() - start) / steps
    events = sorted(profiled.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    return {
        "dataset": name,
        "shape": shape,
        "pins": dm.num_pins,
        "path": "whole graph" if dm.full_graph else "blocks",
        "steps": steps,
        "seconds_per_step": round(wall, 4),  # profiled: slower than unprofiled
        "operators": [
            {
                "op": e.key,
                "self_s_per_step": round(e.self_cpu_time_total / 1e6 / steps, 4),
                "share": round(e.self_cpu_time_total / total, 3),
                "calls_per_step": e.count // steps,
            }
            for e in events[:top]
        ],
    }


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run ``measure_steps`` with the library at ``spec["code"]`` in a fresh process."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.step", f"--child={json.dumps(spec)}"],
            cwd=ROOT,
            env={**os.environ, "PYTHONWARNINGS": "ignore", "STEP_RESULT": str(result)},
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"step measurement {spec} failed:\n{done.stderr[-3000:]}")
        return json.loads(result.read_text())


def markdown(report: dict[str, Any]) -> str:
    peer = report["peer"]
    lines = [
        f"Machine: {report['machine']}. Command: `{report['command']}`.",
        "",
        "Seconds per training step (loader included, no workers), on the path each "
        f"checkout's datamodule chooses; this checkout against {peer}:",
        "",
        f"| dataset | shape | ours s/step | path | {peer} s/step | path | {peer} / ours |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in report["steps"]:
        ours, other = row["ours"], row.get("peer")
        path = "whole graph" if ours["full_graph"] else "blocks"
        if other is None:
            tail = "— | — | —"
        else:
            ratio = other["seconds_per_step"] / ours["seconds_per_step"]
            other_path = "whole graph" if other["full_graph"] else "blocks"
            tail = f"{other['seconds_per_step']:.3f} | {other_path} | {ratio:.2f}×"
        lines.append(
            f"| {row['dataset']} ({ours['pins']:,} pins) | {row['shape']} | "
            f"{ours['seconds_per_step']:.3f} | {path} | {tail} |"
        )
    if report["paths"]:
        lines += [
            "",
            "Where a recipe step's time goes (this checkout, the same minibatches):",
            "",
            "| dataset | pins | layer-wise pass s | full-graph step s | block step s | "
            "full-graph step / pass | block step / full-graph step | block pins per layer |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
    for r in report["paths"]:
        s = r["seconds"]
        lines.append(
            f"| {r['dataset']} | {r['pins']:,} | {s['layer-wise pass']:.3f} | "
            f"{s['full-graph step']:.3f} | {s['block step']:.3f} | "
            f"{r['full-graph step / layer-wise pass']:.2f}× | "
            f"{r['block step / full-graph step']:.2f}× | "
            + " → ".join(f"{n:,}" for n in r["block pins per layer"])
            + " |"
        )
    for r in report.get("profiles", []):
        lines += [
            "",
            f"Profile of a {r.get('shape', 'recipe')} step on {r['dataset']} "
            f"({r['pins']:,} pins, {r['path']}; "
            f"{r['seconds_per_step']:.3f} s per step under the profiler, {r['steps']} steps): "
            "the operators with the most self CPU time.",
            "",
            "| operator | self s / step | share | calls / step |",
            "| --- | ---: | ---: | ---: |",
        ]
        lines += [
            f"| `{o['op']}` | {o['self_s_per_step']:.4f} | {o['share']:.1%} | "
            f"{o['calls_per_step']} |"
            for o in r["operators"]
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--datasets", nargs="+", default=["ncf-movielens-1m", "synthetic-checkins"])
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=SHAPES)
    parser.add_argument("--steps", type=int, default=5, help="timed steps (×10 for dgl-example)")
    parser.add_argument("--peer", default="3c87e03", help="commit to compare with, or 'none'")
    parser.add_argument("--no-paths", action="store_true", help="skip the paths table")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile steps of the recipe and halves shapes among --shapes (torch.profiler)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-root", default=str(DATA_ROOT))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:  # one measurement, with the library of spec["code"]
        spec = json.loads(args.child)
        sys.path.insert(0, spec.pop("code"))  # before the first import of pinsage_dgl
        result = measure_steps(**spec)
        Path(os.environ["STEP_RESULT"]).write_text(json.dumps(result))
        return result

    from benchmarks.common import machine_description, write_report

    command = " ".join(["python -m benchmarks.step", *(sys.argv[1:] if argv is None else argv)])
    report: dict[str, Any] = {
        "command": command,
        "machine": machine_description(),
        "peer": args.peer,
        "steps": [],
        "paths": [],
        "profiles": [],
    }
    with tempfile.TemporaryDirectory() as work, contextlib.ExitStack() as stack:
        codes = {"ours": ROOT}
        if args.peer != "none":
            codes["peer"] = stack.enter_context(peer_checkout(args.peer, Path(work)))
        for name in args.datasets:
            for shape in args.shapes:
                spec = {"name": name, "shape": shape, "steps": args.steps}
                spec.update(seed=args.seed, data_root=args.data_root)
                row: dict[str, Any] = {"dataset": name, "shape": shape}
                for key, code in codes.items():
                    row[key] = _child({**spec, "code": str(code)})
                print(json.dumps(row), flush=True)
                report["steps"].append(row)
    if not args.no_paths:
        report["paths"] = [
            measure_paths(n, args.steps, args.seed, args.data_root) for n in args.datasets
        ]
    if args.profile:
        report["profiles"] = [
            profile_steps(n, args.steps, args.seed, args.data_root, shape=shape)
            for n in args.datasets
            for shape in args.shapes
            if shape in ("recipe", "halves")
        ]
    write_report(args.out, "step", report, markdown)
    return report


if __name__ == "__main__":
    main()
