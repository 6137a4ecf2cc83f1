"""Beyond one process: whole-graph embedding on Ray Data, and graph partitions for DistDGL.

:func:`embed_all_pins_sharded` runs the whole-graph plan of :mod:`pinsage_dgl.inference`
(:func:`~pinsage_dgl.inference.stage_plan`, each stage computed by
:func:`~pinsage_dgl.inference.run_stage`, as in one process) on a pool of Ray actors, one
stage after another, from sharded files to sharded files
(:class:`~pinsage_dgl.shards.ShardedArray`): each stage is a Ray Dataset of shard numbers,
and each actor reads the rows its shard needs from the arrays below and writes its output
shard. The driver handles paths and shard numbers only, so its memory does not grow with
the pins. :func:`embed_all_pins_ray` does the same for inputs held in memory.
:func:`partition_for_distdgl` writes the graph in DGL's partition format for distributed
training.

On a laptop this runs in local mode; on a cluster (``ray.init(address=...)``, the shard
directories on storage every machine mounts) the same code spreads the shards over the
machines. Needs ``pip install "ray[data]"`` (the ``distributed`` extra).

The result equals :func:`pinsage_dgl.inference.embed_all_pins` (a test checks it).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import resource
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from pinsage_dgl.graph import CONTAINS, PIN, SAVED_TO, PinBoardGraph
from pinsage_dgl.inference import (
    EMBEDDINGS,
    FEATURES,
    NEIGHBORS,
    STORAGE_DTYPES,
    WEIGHTS,
    Stage,
    run_stage,
    stage_plan,
)
from pinsage_dgl.nn.pinsage import PinSage
from pinsage_dgl.sampling import Neighborhood, NeighborWalks
from pinsage_dgl.sampling.walks import WalkGraph
from pinsage_dgl.shards import ShardedArray

#: the sharded feature arrays' names among a stage's inputs: the prefix, then the feature
FEATURE_PREFIX = "feature:"
#: how long an actor pool may take to start all its actors (a cluster without the CPUs
#: for them then fails with Ray's "Timed out while starting actors")
ACTOR_START_SECONDS = 600


class _ShardWorker:
    """A Ray Data actor: computes whole shards of one stage's output (:func:`run_stage`).

    It reads the shards of the arrays the stage reads (memory-mapped: the rows of its own
    pins, and of the stage's ``gathered`` input, the messages of a convolution, the rows
    of its neighbours wherever they are) and writes its output shard, complete or not at
    all (:class:`~pinsage_dgl.shards.ShardedArray`).
    """

    def __init__(self, stage: Stage, model_ref: list, inputs: dict[str, str], output: str) -> None:
        import ray

        torch.set_num_threads(1)  # one core per actor: the pool is the parallelism
        self.stage = stage
        self.model: PinSage = ray.get(model_ref[0]).eval()
        self.inputs = {name: ShardedArray.open(path) for name, path in inputs.items()}
        self.output = ShardedArray.open(output)

    @torch.no_grad()
    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with _PrivatePeak() as private:
            for shard in batch["shard"].tolist():
                self.output.write(shard, self._run(shard).numpy())
        return _memory(batch, private)

    def _rows(self, name: str, shard: int) -> torch.Tensor:
        return torch.from_numpy(np.array(self.inputs[name].read(shard)))  # a shard's copy

    def _run(self, shard: int) -> torch.Tensor:
        start, stop = self.output.bounds(shard)
        stage = self.stage
        given: dict[str, torch.Tensor | dict[str, torch.Tensor]] = {}
        for name in stage.inputs:
            if name == FEATURES:
                given[name] = {
                    key[len(FEATURE_PREFIX) :]: self._rows(key, shard)
                    for key in self.inputs
                    if key.startswith(FEATURE_PREFIX)
                }
            elif name != stage.gathered and name != NEIGHBORS:
                given[name] = self._rows(name, shard)
        if stage.gathered is not None:
            # the gathered rows are this shard's neighbours' only, renumbered 0..n-1
            neighbors = self.inputs[NEIGHBORS].read(shard)
            present = neighbors >= 0
            needed = np.unique(neighbors[present])
            compact = np.where(present, np.searchsorted(needed, neighbors), -1)
            given[NEIGHBORS] = torch.from_numpy(compact)
            given[stage.gathered] = torch.from_numpy(self.inputs[stage.gathered].take(needed))
        local = torch.arange(stop - start)
        return run_stage(self.model, stage, local, given, pin_ids=torch.arange(start, stop))


@contextlib.contextmanager
def _log_level(name: str, level: int) -> Iterator[None]:
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)


def _start_ray(num_actors: int, progress: bool) -> None:
    """Ray in local mode with ``num_actors`` CPUs, unless it is running already."""
    import ray

    if not ray.is_initialized():
        ray.init(
            num_cpus=num_actors,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = progress
    # a pool starts all its actors before its first shard (so a cluster's shards spread
    # over its nodes from the start), and a cluster without room for them fails, naming it
    context.wait_for_min_actors_s = ACTOR_START_SECONDS


def _peak_gib() -> float:
    """This process's peak resident memory so far, GiB (Linux: ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _private_gib() -> float:
    """This process's resident anonymous memory now, GiB: what it holds itself, apart
    from files it maps (shards, walk arrays, its libraries), which its machine's page
    cache holds once for every process; 0 where ``/proc`` does not say."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 2**20  # kB
    except OSError:
        pass
    return 0.0


class _PrivatePeak:
    """The largest :func:`_private_gib` seen while the block runs (sampled every
    ``interval`` seconds by a thread, and at both ends)."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval, self.peak = interval, _private_gib()
        self._done = threading.Event()

    def _sample(self) -> None:
        while not self._done.wait(self.interval):
            self.peak = max(self.peak, _private_gib())

    def __enter__(self) -> _PrivatePeak:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, _private_gib())


def _memory(batch: dict[str, np.ndarray], private: _PrivatePeak) -> dict[str, np.ndarray]:
    """A task's reply: its shards, the process's peak and private memory, and its node."""
    import ray

    return {
        "shard": batch["shard"],
        "peak_gib": np.array([_peak_gib()]),
        "private_gib": np.array([private.peak]),
        "node": np.array([ray.get_runtime_context().get_node_id()]),
    }


def _map_shards(
    worker: type, settings: dict, outputs: list[ShardedArray], num_actors: int
) -> dict[str, float]:
    """Write the missing shards of ``outputs`` with a pool of ``worker`` actors (built
    with ``settings``), one shard per task; the driver sees shard numbers only. Returns
    what the actors used: ``peak_gib``, the largest peak resident memory; ``private_gib``,
    the largest anonymous resident memory during a task (GiB: :func:`_private_gib`);
    ``nodes``, how many Ray nodes they ran on (all 0 if nothing was left to do)."""
    import ray

    todo = sorted(set().union(*(output.missing() for output in outputs)))
    if not todo:
        return {"peak_gib": 0.0, "private_gib": 0.0, "nodes": 0}
    shards = ray.data.from_items([{"shard": s} for s in todo], override_num_blocks=len(todo))
    mapped = shards.map_batches(
        worker,
        batch_size=1,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=min(num_actors, len(todo))),
        num_cpus=1,
        fn_constructor_kwargs=settings,
    )
    peak = private = 0.0
    nodes: set[str] = set()
    for batch in mapped.iter_batches(batch_size=None):
        peak = max(peak, float(batch["peak_gib"].max()))
        private = max(private, float(batch["private_gib"].max()))
        nodes.update(batch["node"].tolist())
    for output in outputs:
        if output.missing():
            raise RuntimeError(f"{output.directory}: shards {output.missing()} were not written")
    return {"peak_gib": peak, "private_gib": private, "nodes": len(nodes)}


class _WalkWorker:
    """A Ray Data actor: walks whole shards of the neighbour table
    (:meth:`~pinsage_dgl.sampling.NeighborWalks.walk_chunk`) on the graph's walk arrays,
    memory-mapped from the directory every node reads (:func:`save_walk_arrays`)."""

    def __init__(
        self, walks: str, neighborhood: dict, seed: int, refreshes: int, outputs: list[str]
    ) -> None:
        torch.set_num_threads(1)  # one core per actor: the pool is the parallelism
        self.neighbors, self.weights = (ShardedArray.open(path) for path in outputs)
        graph = WalkGraph.open(walks)
        self.walks = NeighborWalks(
            graph,
            graph.num_nodes(PIN),
            Neighborhood(**{**neighborhood, "table": False}),
            prob=graph.prob,
            chunk_size=self.neighbors.shard_rows,
            seed=seed,
        )
        self.walks.refreshes = refreshes

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with _PrivatePeak() as private:
            for shard in batch["shard"].tolist():
                neighbors, weights = self.walks.walk_chunk(shard)
                self.neighbors.write(shard, neighbors.numpy())
                self.weights.write(shard, weights.numpy())
        return _memory(batch, private)


#: where :func:`save_walk_arrays` puts a saved graph's walk arrays (inside its directory,
#: so saving the graph again removes them with the old graph)
WALK_ARRAYS = "walks"


def save_walk_arrays(graph: PinBoardGraph, graph_path: str | os.PathLike) -> Path:
    """Write the arrays walks read (:class:`~pinsage_dgl.sampling.walks.WalkGraph`: both
    edge types' CSR, weighted as the graph's walks are) into the directory of ``graph``,
    saved at ``graph_path`` (:meth:`PinBoardGraph.save`), and return their path.

    Sharded walkers memory-map them instead of loading the graph: on a machine, one copy
    in the page cache serves every walker. :func:`walk_neighbors_sharded` writes them
    (in one Ray task, which loads the graph once) where they are missing; call this where
    the graph is in memory anyway, after saving it."""
    path = Path(graph_path) / WALK_ARRAYS
    WalkGraph.of(graph.graph).save(path, [SAVED_TO[1], CONTAINS[1]], prob=graph.walk_weights)
    return path


def _save_walk_arrays_task(graph_path: str) -> None:
    save_walk_arrays(PinBoardGraph.load(graph_path), graph_path)


def walk_neighbors_sharded(
    graph_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    neighborhood: Neighborhood,
    seed: int,
    shard_rows: int = 8192,
    refreshes: int = 0,
    num_actors: int = 2,
    progress: bool = False,
    workers: dict[str, dict[str, float]] | None = None,
) -> tuple[ShardedArray, ShardedArray]:
    """The ``[P, T]`` neighbour table walked by a Ray actor pool, written as shards of
    ``shard_rows`` pins (``out_dir/neighbors`` and ``out_dir/weights``).

    Each actor memory-maps the walk arrays of the graph saved at ``graph_path``
    (:func:`save_walk_arrays`; written first, by one Ray task, where missing: walks go
    anywhere in the graph, so every walker reads all of it, through the page cache its
    machine's walkers share) and walks whole shards, each from
    its own seeded stream: the table equals ``ImportanceSampler(graph, ...,
    chunk_size=shard_rows, seed=seed)``'s after ``refreshes`` refreshes, whichever actor
    walks which shard. Shards already written from the same graph and settings are kept
    (a stopped run carries on); any others are removed.

    Parameters
    ----------
    graph_path : path
        The training graph, saved.
    out_dir : path
        Where the two sharded arrays go.
    neighborhood : Neighborhood
        T, the walks and their kind (``table`` is ignored).
    seed : int
        Seeds the walks (a table is reproducible only with one).
    shard_rows : int
        Pins per shard (the embedding pipeline's shards: its inputs must be sharded alike).
    refreshes : int
        The refresh count whose table to walk (see ``ImportanceSampler.refresh``).
    num_actors, progress, workers
        As for :func:`embed_all_pins_sharded` (the walkers' under ``"walk"``).
    """
    if num_actors < 1:
        raise ValueError(f"num_actors must be >= 1, got {num_actors}")
    rows = PinBoardGraph.num_pins_saved(graph_path)
    out_dir = Path(out_dir)
    size = (neighborhood.num_neighbors,)
    # shards walked before are kept only if walked from the same graph and settings
    key = json.dumps(
        {
            "graph": str(Path(graph_path).resolve()),
            "modified": (Path(graph_path) / "graph.bin").stat().st_mtime_ns,
            "neighborhood": asdict(neighborhood),
            "seed": seed,
            "refreshes": refreshes,
        }
    )
    outputs = [
        ShardedArray.create(out_dir / "neighbors", rows, shard_rows, "int64", size, key),
        ShardedArray.create(out_dir / "weights", rows, shard_rows, "float32", size, key),
    ]
    _start_ray(num_actors, progress)
    walks = Path(graph_path) / WALK_ARRAYS
    if not (walks / "meta.json").exists():
        import ray

        # its own process, ended after the task: no walker inherits the loaded graph
        task = ray.remote(num_cpus=1, max_calls=1)(_save_walk_arrays_task)
        ray.get(task.remote(str(graph_path)))
    settings = {
        "walks": str(walks),
        "neighborhood": asdict(neighborhood),
        "seed": seed,
        "refreshes": refreshes,
        "outputs": [output.directory for output in outputs],
    }
    # Ray Data logs every stage's plan and timing at INFO: only with progress=True
    with _log_level("ray.data", logging.INFO if progress else logging.ERROR):
        used = _map_shards(_WalkWorker, settings, outputs, num_actors)
    if workers is not None:
        workers["walk"] = used
    return outputs[0], outputs[1]


def embed_all_pins_sharded(
    model: PinSage,
    pin_features: dict[str, ShardedArray],
    neighbors: ShardedArray,
    weights: ShardedArray,
    out_dir: str | os.PathLike,
    num_actors: int = 2,
    message_dtype: torch.dtype = torch.float32,
    progress: bool = False,
    workers: dict[str, dict[str, float]] | None = None,
) -> ShardedArray:
    """Final embeddings of all pins, computed by a Ray actor pool from sharded files to
    sharded files: no process, the driver included, holds all pins' rows.

    Each stage of :func:`pinsage_dgl.inference.embed_all_pins` (layer 0, per convolution
    the messages and the pooled convolution, the head) is a Ray Dataset of shard numbers
    mapped by an actor pool; an actor reads the input shards its output shard needs and
    writes that shard (:class:`_ShardWorker`). The driver passes paths and shard numbers
    only. The layers are written beside ``out_dir`` and removed at the end.

    Parameters
    ----------
    model : PinSage
        The trained model (a CPU copy goes to the actors).
    pin_features : dict of ShardedArray
        Each encoded pin feature, ``[P, ...]``, sharded.
    neighbors, weights : ShardedArray
        The ``[P, T]`` neighbour table, sharded as the features are.
    out_dir : path
        Where the ``[P, out_dim]`` embeddings are written (sharded alike).
    num_actors : int
        Actors per stage, each on one CPU. On one machine one process is faster (see
        ``benchmarks/ray_embed.py``): Ray is for a cluster, where ``out_dir`` is on storage
        every machine mounts.
    message_dtype : torch.dtype
        How messages are stored between the halves of a layer (as in ``embed_all_pins``).
    progress : bool
        Show Ray Data's progress bars.
    workers : dict, optional
        Filled with what each stage's (``h0``, ``m1``, ``h1``, ..., the output's name)
        actors used (:func:`_map_shards`): ``peak_gib``, the largest actor peak resident
        memory (Ray may run several stages' actors in one process, so a stage's figure is
        at least that of an earlier one in it); ``private_gib``, the largest anonymous
        resident memory during a task (what the actor holds itself, apart from the files
        it maps: shards and libraries, which its machine's page cache holds once);
        ``nodes``, how many Ray nodes they ran on.

    Returns
    -------
    ShardedArray
        The embeddings (:meth:`~pinsage_dgl.shards.ShardedArray.to_array` reads them all).

    Notes
    -----
    Initialises Ray in local mode if it is not running (connect first with
    ``ray.init(address=...)`` to use a cluster).
    """
    import ray

    if num_actors < 1:
        raise ValueError(f"num_actors must be >= 1, got {num_actors}")
    if message_dtype not in STORAGE_DTYPES:
        raise ValueError(f"message_dtype must be float32 or float16, got {message_dtype}")
    inputs = {**{FEATURE_PREFIX + k: v for k, v in pin_features.items()}, NEIGHBORS: neighbors}
    inputs[WEIGHTS] = weights
    for name, array in inputs.items():  # every stage's shards are the same pins
        if (array.rows, array.shard_rows) != (neighbors.rows, neighbors.shard_rows):
            raise ValueError(
                f"{array.directory} ({name}): {array.rows} rows in shards of "
                f"{array.shard_rows}, but the neighbour table {neighbors.directory} has "
                f"{neighbors.rows} in shards of {neighbors.shard_rows}: shard them alike"
            )
    _start_ray(num_actors, progress)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    layer_dir = Path(tempfile.mkdtemp(prefix=".pinsage-layers-", dir=out_dir.parent))
    rows, shard_rows = neighbors.rows, neighbors.shard_rows
    model_ref = ray.put(copy.deepcopy(model).cpu())
    arrays = dict(inputs)  # by name: the inputs, then each stage's output
    features = [name for name in inputs if name.startswith(FEATURE_PREFIX)]

    def output_array(stage: Stage) -> ShardedArray:
        if stage.output == EMBEDDINGS:
            return ShardedArray.create(out_dir, rows, shard_rows, "float32", (stage.dim,))
        dtype = STORAGE_DTYPES[message_dtype if stage.message else torch.float32]
        return ShardedArray.create(layer_dir / stage.output, rows, shard_rows, dtype, (stage.dim,))

    # Ray Data logs every stage's plan and timing at INFO: only with progress=True
    try:
        with _log_level("ray.data", logging.INFO if progress else logging.ERROR):
            for stage in stage_plan(model):
                output = output_array(stage)
                read = [
                    n for name in stage.inputs for n in (features if name == FEATURES else [name])
                ]
                if stage.gathered is not None:
                    read.append(NEIGHBORS)
                settings = {
                    "stage": stage,
                    "model_ref": [model_ref],  # in a list, so Ray passes the reference
                    "inputs": {name: arrays[name].directory for name in read},
                    "output": output.directory,
                }
                used = _map_shards(_ShardWorker, settings, [output], num_actors)
                if workers is not None:
                    workers[Path(output.directory).name] = used
                arrays[stage.output] = output
            return arrays[EMBEDDINGS]
    finally:
        shutil.rmtree(layer_dir, ignore_errors=True)


def embed_all_pins_ray(
    model: PinSage,
    pin_features: dict[str, torch.Tensor],
    neighbors: torch.Tensor,
    weights: torch.Tensor,
    batch_size: int = 8192,
    num_actors: int = 2,
    progress: bool = False,
    workdir: str | os.PathLike | None = None,
) -> torch.Tensor:
    """Final embeddings ``[P, out_dim]`` of all pins held in memory, computed by
    :func:`embed_all_pins_sharded` (the inputs written as shards of ``batch_size`` pins
    under ``workdir``, default the system's temporary directory, and removed after).

    Parameters
    ----------
    model, pin_features, neighbors, weights, batch_size
        As for :func:`pinsage_dgl.inference.embed_all_pins`.
    num_actors, progress
        As for :func:`embed_all_pins_sharded`.
    workdir : path, optional
        Where the shards go while the pipeline runs.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if num_actors < 1:
        raise ValueError(f"num_actors must be >= 1, got {num_actors}")
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        root = Path(tmp)
        features = {
            name: ShardedArray.from_array(root / f"feature-{i}", value.numpy(), batch_size)
            for i, (name, value) in enumerate(pin_features.items())
        }
        table = [
            ShardedArray.from_array(root / name, value.numpy(), batch_size)
            for name, value in (("neighbors", neighbors), ("weights", weights))
        ]
        out = embed_all_pins_sharded(
            model, features, *table, root / "embeddings", num_actors, progress=progress
        )
        return torch.from_numpy(out.to_array())


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
    trainers and servers there (see "Beyond one machine" in benchmarks/README.md).

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
