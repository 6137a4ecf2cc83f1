"""Beyond one process: whole-graph embedding on Ray Data, and graph partitions for DistDGL.

:func:`embed_all_pins_ray` runs the chunk functions of :mod:`pinsage_dgl.inference` on a
pool of Ray actors, one stage after another; :func:`partition_for_distdgl` writes the
graph in DGL's partition format for distributed training.

Each stage (layer 0, then per convolution the messages and the pooled convolution, then
the head) is a Ray Dataset of chunk ranges mapped by an actor pool. Every actor holds the
model and reads the layer below from Ray's object store (shared, zero-copy on one node);
the driver gathers each stage's output into the next stage's input. On a laptop this runs
in local mode; on a cluster (``ray.init(address=...)``) the same code spreads the chunks
over the machines. Needs ``pip install "ray[data]"`` (the ``distributed`` extra).

The result equals :func:`pinsage_dgl.inference.embed_all_pins` (a test checks it).
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from pinsage_dgl.graph import PinBoardGraph
from pinsage_dgl.inference import convolve_chunk, encode_chunk, head_chunk, message_chunk
from pinsage_dgl.nn.pinsage import PinSage

STAGES = ("encode", "message", "convolve", "head")


class _ChunkWorker:
    """A Ray Data actor: maps ``{"start", "stop"}`` chunk ranges through one stage."""

    def __init__(self, stage: str, layer: int, model_ref: list, inputs_ref: list) -> None:
        import ray

        torch.set_num_threads(1)  # one core per actor: the pool is the parallelism
        self.stage, self.layer = stage, layer
        self.model: PinSage = ray.get(model_ref[0]).eval()
        # numpy arrays from the object store are read-only views: torch only reads them
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            self.inputs = {k: torch.from_numpy(v) for k, v in ray.get(inputs_ref[0]).items()}

    @torch.no_grad()
    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = []
        for start, stop in zip(batch["start"].tolist(), batch["stop"].tolist(), strict=True):
            pins = torch.arange(start, stop)
            outputs.append(self._run(pins).numpy())
        return {"start": batch["start"], "values": np.stack(outputs)}

    def _run(self, pins: torch.Tensor) -> torch.Tensor:
        x = self.inputs
        if self.stage == "encode":
            features = {k[len("feature:") :]: v for k, v in x.items() if k.startswith("feature:")}
            return encode_chunk(self.model, pins, features)
        if self.stage == "message":
            return message_chunk(self.model.convs[self.layer], pins, x["h"])
        if self.stage == "convolve":
            conv = self.model.convs[self.layer]
            return convolve_chunk(conv, pins, x["h"], x["m"], x["neighbors"], x["weights"])
        return head_chunk(self.model, pins, x["h"])


@contextlib.contextmanager
def _log_level(name: str, level: int) -> Iterator[None]:
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)


def embed_all_pins_ray(
    model: PinSage,
    pin_features: dict[str, torch.Tensor],
    neighbors: torch.Tensor,
    weights: torch.Tensor,
    batch_size: int = 8192,
    num_actors: int = 2,
    progress: bool = False,
) -> torch.Tensor:
    """Final embeddings ``[P, out_dim]`` of all pins, computed by a Ray actor pool.

    Parameters
    ----------
    model, pin_features, neighbors, weights, batch_size
        As for :func:`pinsage_dgl.inference.embed_all_pins`.
    num_actors : int
        Actors per stage, each on one CPU (no more than the stage has chunks). On one
        machine one process is faster (see ``benchmarks/ray_embed.py``): Ray is for a
        cluster.
    progress : bool
        Show Ray Data's progress bars.

    Notes
    -----
    Initialises Ray in local mode if it is not running (connect first with
    ``ray.init(address=...)`` to use a cluster). Chunks of one stage must all fit in the
    driver's memory, as in the single-process version.
    """
    import ray

    if num_actors < 1 or batch_size < 1:
        raise ValueError(
            f"need num_actors >= 1 and batch_size >= 1, got {num_actors}, {batch_size}"
        )
    if not ray.is_initialized():
        ray.init(
            num_cpus=num_actors,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = progress
    # Ray Data logs every stage's plan and timing at INFO: only with progress=True
    with _log_level("ray.data", logging.INFO if progress else logging.ERROR):
        num_pins = neighbors.shape[0]
        starts = np.arange(0, num_pins, batch_size)
        model_ref = ray.put(model.cpu())

        def stage(name: str, layer: int, inputs: dict[str, torch.Tensor], dim: int) -> torch.Tensor:
            inputs_ref = ray.put({k: v.numpy() for k, v in inputs.items()})
            # one block per chunk, so the actors share the chunks out
            mapped = ray.data.from_items(
                [{"start": int(a), "stop": int(min(a + batch_size, num_pins))} for a in starts],
                override_num_blocks=len(starts),
            )
            mapped = mapped.map_batches(
                _ChunkWorker,
                batch_size=1,
                batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=min(num_actors, len(starts))),
                num_cpus=1,
                fn_constructor_kwargs={
                    "stage": name,
                    "layer": layer,
                    # wrapped in lists so Ray passes the references, not copies of the arrays
                    "model_ref": [model_ref],
                    "inputs_ref": [inputs_ref],
                },
            )
            out = torch.empty(num_pins, dim)
            for batch in mapped.iter_batches(batch_size=None, batch_format="numpy"):
                for start, values in zip(batch["start"].tolist(), batch["values"], strict=True):
                    out.numpy()[start : start + len(values)] = values
            del inputs_ref
            return out

        features = {f"feature:{k}": v for k, v in pin_features.items()}
        h = stage("encode", 0, features, model.hidden_dim)
        layers = [h]
        for layer, conv in enumerate(model.convs):
            m = stage("message", layer, {"h": h}, conv.hidden_feats)
            h = stage(
                "convolve",
                layer,
                {"h": h, "m": m, "neighbors": neighbors, "weights": weights},
                conv.out_feats,
            )
            layers = [*layers, h] if model.layer_combination != "last" else [h]
        return stage("head", 0, {"h": model.readout(layers)}, model.G2.out_features)


def partition_for_distdgl(
    graph: PinBoardGraph,
    out_dir: str | os.PathLike,
    num_parts: int,
    method: str = "metis",
    name: str = "pinsage",
) -> Path:
    """Partition the pin–board graph for DistDGL training on ``num_parts`` machines.

    Writes DGL's partition format to ``out_dir`` (``<name>.json`` and ``part0/`` …): each
    part holds its pins, boards and edges (with timestamps and weights), the pins' encoded
    features, and one hop of halo nodes, so random walks that start in a part can take
    their first step locally. Node ids are reshuffled so each part's ids are contiguous;
    the original ids are kept (``orig_id``). This is the first step of the path past one
    machine: copy ``<name>.json`` and part ``i`` to machine ``i`` and start DistDGL's
    trainers and servers there (see the README's "Beyond one machine").

    Parameters
    ----------
    graph : PinBoardGraph
        The (training) graph to partition.
    out_dir : path
        Output directory (created).
    num_parts : int
        Machines (partitions).
    method : str
        ``"metis"`` (fewest cut edges, the default) or ``"random"``.
    name : str
        Graph name (of the JSON file).

    Returns
    -------
    Path
        The partition config file ``<out_dir>/<name>.json``.
    """
    import dgl

    if num_parts < 1:
        raise ValueError(f"num_parts must be >= 1, got {num_parts}")
    if method not in ("metis", "random"):
        raise ValueError(f"method must be 'metis' or 'random', got {method!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dgl.distributed.partition_graph(
        graph.graph.long(),  # DGL 2.1's reordering of int32 graphs fails; DistDGL uses int64
        name,
        num_parts,
        str(out),
        num_hops=1,
        part_method=method,
        balance_edges=True,
        return_mapping=False,
    )
    return out / f"{name}.json"
