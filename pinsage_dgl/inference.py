"""Whole-graph embedding, layer by layer: each pin's layer-k vector is computed once.

Sampling a K-hop tree per target pin recomputes a popular pin's lower layers once per
neighbourhood it appears in. Here layer 0 is computed for every pin, then layer 1 from
layer 0 over each pin's importance neighbourhood, and so on (the paper's MapReduce
inference), in chunks of pins so memory stays bounded by the chunk and the layer tensors.

The pass is one plan (:func:`stage_plan`): a list of :class:`Stage` s, each writing one
named ``[P, dim]`` array from arrays named before it, and each a pure function of a chunk of
pins and those arrays (:func:`run_stage`, over :func:`encode_chunk`, :func:`message_chunk`,
:func:`convolve_chunk`, :func:`head_chunk`). :func:`embed_all_pins` runs the plan in one
process; :mod:`pinsage_dgl.distributed` runs the same plan on Ray, shard by shard.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from pinsage_dgl.formats import EMBEDDING_FORMATS
from pinsage_dgl.io import atomic_path
from pinsage_dgl.nn.pinsage import PinSage
from pinsage_dgl.nn.pinsage_conv import PinSageConv

# A chunk of pins is a tensor of pin ids or a slice of consecutive ids: a slice reads each
# ``[P, ...]`` input as a view instead of gathering a copy of its rows (whole-graph passes
# run over consecutive chunks; distributed shards over rows of their own).
Pins = torch.Tensor | slice


def _pin_ids(pins: Pins) -> torch.Tensor:
    return torch.arange(pins.start, pins.stop) if isinstance(pins, slice) else pins


def encode_chunk(
    model: PinSage,
    pins: Pins,
    pin_features: dict[str, torch.Tensor],
    device: torch.device | str = "cpu",
    rows: Pins | None = None,
) -> torch.Tensor:
    """Layer 0, :math:`h^{(0)}`, of ``pins`` (ids, or a slice of consecutive ids) from
    their features (ids outside the model's id table, such as new pins, get no id vector);
    ``rows`` (default ``pins``) are the pins' rows of ``pin_features`` where those hold
    some pins only (e.g. one shard)."""
    rows = pins if rows is None else rows
    inputs = {k: v[rows].to(device) for k, v in pin_features.items()}
    inputs["_id"] = _pin_ids(pins).to(device)
    return model.encoder(inputs).cpu()


def message_chunk(
    conv: PinSageConv, pins: Pins, h_prev: torch.Tensor, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Neighbour messages ``ReLU(Q h + q)`` of ``pins`` from their layer-(k-1) rows."""
    return conv.messages(h_prev[pins].to(device)).cpu()


def convolve_chunk(
    conv: PinSageConv,
    pins: Pins,
    h_prev: torch.Tensor,
    messages: torch.Tensor,
    neighbors: torch.Tensor,
    weights: torch.Tensor,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Layer-k representations of ``pins`` from the layer below.

    A pure function of its arguments: ``h_prev`` (``[P, H]``, layer k-1 of every pin),
    ``messages`` (``[P, H]``, :func:`message_chunk` of every pin) and the ``[P, T]``
    neighbour table. A distributed engine can run it over chunks in parallel; equal to
    :meth:`PinSageConv.forward` on a block of ``pins``' neighbourhoods.
    """
    h = h_prev[pins].to(device)
    n = conv.pool_table(messages, neighbors[pins], weights[pins]).to(device, h.dtype)
    return conv.combine(h, n).cpu()


def head_chunk(
    model: PinSage, pins: Pins, layers: list[torch.Tensor], device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Final embeddings of ``pins`` from their rows of the layers the readout reads (dense
    head, normalised): layer K alone, or every layer for their mean or concatenation
    (``PinSage.layer_combination``)."""
    return model.head(model.readout([layer[pins].to(device) for layer in layers])).cpu()


#: the input of :func:`encode_chunk` (the pins' encoded features) and of
#: :func:`convolve_chunk` (the neighbour table), by name in a :class:`Stage` 's inputs
FEATURES, NEIGHBORS, WEIGHTS = "features", "neighbors", "weights"
#: the name of the last stage's output
EMBEDDINGS = "embeddings"


@dataclass(frozen=True)
class Stage:
    """One stage of a whole-graph pass: computes the ``[P, dim]`` array ``output`` from
    ``inputs`` (arrays of earlier stages, or :data:`FEATURES`, :data:`NEIGHBORS`,
    :data:`WEIGHTS`), chunk by chunk (:func:`run_stage`).

    Attributes
    ----------
    kind : str
        ``encode`` (layer 0), ``message`` and ``convolve`` (the halves of a
        convolution), or ``head`` (the embeddings).
    output : str
        The name of the array it writes (``h0``, ``m1``, ``h1``, ..., ``embeddings``).
    inputs : tuple of str
        The arrays it reads, each at the chunk's rows, but ``gathered``.
    dim : int
        Columns of the output.
    layer : int
        The convolution (``message``, ``convolve``: index into ``model.convs``).
    message : bool
        Whether the output is a layer's messages (storable in a smaller type: they are
        only read again by the convolution).
    gathered : str, optional
        The input read at the chunk's neighbours' rows rather than its own (the messages
        a convolution pools).
    """

    kind: str
    output: str
    inputs: tuple[str, ...]
    dim: int
    layer: int = 0
    message: bool = False
    gathered: str | None = None


def stage_plan(model: PinSage) -> list[Stage]:
    """The stages of a whole-graph pass of ``model``, in order: layer 0 from the features;
    per convolution its messages and the pooled convolution; the head over the readout's
    layers. An array is read by no stage after the last that lists it."""
    stages = [Stage("encode", "h0", (FEATURES,), model.hidden_dim)]
    layers = ["h0"]
    for k, conv in enumerate(model.convs, 1):
        below = f"h{k - 1}"
        stages.append(Stage("message", f"m{k}", (below,), conv.hidden_feats, k - 1, True))
        inputs = (below, f"m{k}", NEIGHBORS, WEIGHTS)
        stages.append(Stage("convolve", f"h{k}", inputs, conv.out_feats, k - 1, gathered=f"m{k}"))
        # only a readout of several layers keeps the lower ones
        layers = [*layers, f"h{k}"] if model.layer_combination != "last" else [f"h{k}"]
    stages.append(Stage("head", EMBEDDINGS, tuple(layers), model.G2.out_features))
    return stages


def run_stage(
    model: PinSage,
    stage: Stage,
    rows: Pins,
    inputs: Mapping[str, torch.Tensor | dict[str, torch.Tensor]],
    pin_ids: Pins | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """``stage``'s output at ``rows`` of its ``inputs`` (by name; :data:`FEATURES` a dict
    of feature tensors): what the in-process pass and the sharded one both compute.
    ``pin_ids`` (default ``rows``) are the pins' ids, where the inputs hold some pins
    only (a shard): layer 0 looks up the pins' id vectors by them."""
    if stage.kind == "encode":
        pins = rows if pin_ids is None else pin_ids
        return encode_chunk(model, pins, inputs[FEATURES], device, rows=rows)
    if stage.kind == "message":
        return message_chunk(model.convs[stage.layer], rows, inputs[stage.inputs[0]], device)
    if stage.kind == "convolve":
        below, messages, neighbors, weights = (inputs[name] for name in stage.inputs)
        conv = model.convs[stage.layer]
        return convolve_chunk(conv, rows, below, messages, neighbors, weights, device)
    if stage.kind == "head":
        return head_chunk(model, rows, [inputs[name] for name in stage.inputs], device)
    raise ValueError(f"unknown stage kind {stage.kind!r}")


# layer tensors a pass can store, and their numpy types (for memory-mapped files)
STORAGE_DTYPES = {torch.float32: np.float32, torch.float16: np.float16}


def _layer_storage(
    num_rows: int,
    dim: int,
    workdir: str | os.PathLike | None,
    name: str,
    dtype: torch.dtype = torch.float32,
):
    """A ``[num_rows, dim]`` tensor: in memory, or memory-mapped under ``workdir``."""
    if workdir is None:
        return torch.empty(num_rows, dim, dtype=dtype)
    path = os.path.join(workdir, f"{name}.npy")
    array = np.lib.format.open_memmap(
        path, mode="w+", dtype=STORAGE_DTYPES[dtype], shape=(num_rows, dim)
    )
    return torch.from_numpy(array)


@torch.no_grad()
def embed_all_pins(
    model: PinSage,
    pin_features: dict[str, torch.Tensor],
    neighbors: torch.Tensor,
    weights: torch.Tensor,
    batch_size: int = 8192,
    device: torch.device | str | None = None,
    progress: bool = False,
    workdir: str | os.PathLike | None = None,
    message_dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Final embeddings ``[P, out_dim]`` of all pins, layer by layer.

    Each layer is computed once per pin, in chunks of ``batch_size`` pins: layer 0 from
    the features (:func:`encode_chunk`), then per convolution the messages of every pin
    (:func:`message_chunk`) and the pooled convolution (:func:`convolve_chunk`), then the
    head (:func:`head_chunk`). Memory: three ``[P, hidden]`` layer tensors plus one chunk's
    temporaries; with ``workdir`` the layer tensors are memory-mapped files there instead
    (for graphs whose layers do not fit in RAM; the files are removed at the end).

    Parameters
    ----------
    model : PinSage
        The trained model (put in eval mode here and restored after).
    pin_features : dict
        Encoded features of all pins.
    neighbors, weights : torch.Tensor
        ``[P, T]`` neighbour table of all pins
        (:meth:`~pinsage_dgl.sampling.ImportanceSampler.neighbor_table`).
    batch_size : int
        Pins per chunk.
    device : optional
        Where the layers run (default: the model's device); tensors stay on the CPU between
        chunks.
    progress : bool
        Show a progress bar (one step per chunk and stage).
    workdir : path, optional
        Directory for memory-mapped layer tensors (default: in memory).
    message_dtype : torch.dtype
        How the neighbour messages are stored between the two halves of a layer:
        ``torch.float16`` halves the bytes that pooling gathers (each pin reads T rows
        scattered over all pins, the pass's largest cost on large graphs) at a relative
        error of about 1e-3 in the pooled vectors; layers and embeddings stay float32.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if message_dtype not in STORAGE_DTYPES:
        raise ValueError(
            f"message_dtype must be one of {sorted(map(str, STORAGE_DTYPES))}, got {message_dtype}"
        )
    device = device or next(model.parameters()).device
    num_pins = neighbors.shape[0]
    chunks = [slice(s, min(s + batch_size, num_pins)) for s in range(0, num_pins, batch_size)]
    plan = stage_plan(model)
    was_training = model.training
    model.eval()
    bar = tqdm(
        total=len(chunks) * len(plan),
        desc="embedding",
        unit="chunk",
        disable=not progress,
    )
    # a private directory per run, so runs sharing a workdir never overwrite each other
    layer_dir = tempfile.mkdtemp(prefix="pinsage-layers-", dir=workdir) if workdir else None

    def storage(dim: int, name: str, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return _layer_storage(num_pins, dim, layer_dir, name, dtype)

    def run(fn, out: torch.Tensor) -> torch.Tensor:
        for pins in chunks:
            out[pins] = fn(pins).to(out.dtype)
            bar.update()
        return out

    arrays: dict[str, torch.Tensor | dict] = {
        FEATURES: pin_features,
        NEIGHBORS: neighbors,
        WEIGHTS: weights,
    }
    last_read = {name: i for i, stage in enumerate(plan) for name in stage.inputs}
    try:
        for i, stage in enumerate(plan):
            if stage.output == EMBEDDINGS:
                out = torch.empty(num_pins, stage.dim)
            else:
                dtype = message_dtype if stage.message else torch.float32
                out = storage(stage.dim, stage.output, dtype)
            arrays[stage.output] = run(
                lambda pins, s=stage: run_stage(model, s, pins, arrays, device=device), out
            )
            for name in [n for n, last in last_read.items() if last == i]:
                if name not in (FEATURES, NEIGHBORS, WEIGHTS):
                    del arrays[name]  # read by no later stage
        out = arrays[EMBEDDINGS]
    finally:
        bar.close()
        model.train(was_training)
        if layer_dir is not None:
            shutil.rmtree(layer_dir, ignore_errors=True)
    return out


@torch.no_grad()
def feature_neighbors(
    model: PinSage,
    pin_features: dict[str, torch.Tensor],
    new_features: dict[str, torch.Tensor],
    num_neighbors: int = 10,
    batch_size: int = 8192,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stand-in importance neighbourhoods of new pins: their nearest pins by features.

    A pin with no saves has no walks, so no importance neighbourhood. Its ``num_neighbors``
    most similar graph pins by the cosine of the model's feature encoding (layer 0
    without id vectors) take that place, equally weighted.

    Returns
    -------
    neighbors, weights : torch.Tensor
        ``[N, T]`` graph pin ids and weights for the ``N`` new pins.
    """
    if num_neighbors < 1:
        raise ValueError(f"num_neighbors must be >= 1, got {num_neighbors}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device

    def features_only(features: dict[str, torch.Tensor]) -> torch.Tensor:
        rows = len(next(iter(features.values())))
        out = []
        for start in range(0, rows, batch_size):
            pins = torch.arange(start, min(start + batch_size, rows))
            inputs = {k: v[pins].to(device) for k, v in features.items()}
            inputs["_id"] = torch.full((len(pins),), -1, device=device)
            out.append(F.normalize(model.encoder(inputs), dim=1).cpu())
        return torch.cat(out)

    try:
        graph_pins, new_pins = features_only(pin_features), features_only(new_features)
    finally:
        model.train(was_training)
    k = min(num_neighbors, len(graph_pins))
    neighbors = torch.cat(
        [
            torch.topk(new_pins[s : s + batch_size] @ graph_pins.T, k, dim=1).indices
            for s in range(0, len(new_pins), batch_size)
        ]
    )
    return neighbors, torch.ones(neighbors.shape)


def embed_new_pins(
    model: PinSage,
    pin_features: dict[str, torch.Tensor],
    neighbors: torch.Tensor,
    weights: torch.Tensor,
    new_features: dict[str, torch.Tensor],
    num_neighbors: int | None = None,
    **kwargs,
) -> torch.Tensor:
    """Embeddings of pins that are not in the graph, from their features alone (cold start).

    Each new pin's neighbourhood is :func:`feature_neighbors` (as many as the table's T,
    unless ``num_neighbors`` is given); then the graph with the new pins appended (nothing
    points to them, so graph pins' embeddings are unchanged) is embedded layer-wise and
    the new rows returned. Costs one whole-graph pass, whatever the number of new pins.

    Parameters
    ----------
    model, pin_features, neighbors, weights
        As for :func:`embed_all_pins` (the graph's pins).
    new_features : dict
        The new pins' features, encoded with the graph's spec
        (:meth:`FeatureSpec.encode`).
    **kwargs
        Passed to :func:`embed_all_pins` (``batch_size``, ``device``, ``progress``, ...).

    Returns
    -------
    torch.Tensor
        ``[N, out_dim]``.
    """
    missing = set(pin_features) - set(new_features)
    if missing:
        raise ValueError(f"new pins lack feature columns {sorted(missing)}")
    num_new = len(next(iter(new_features.values()))) if new_features else 0
    if num_new == 0:
        return torch.empty(0, model.G2.out_features)
    table_width = neighbors.shape[1]
    new_neighbors, new_weights = feature_neighbors(
        model, pin_features, new_features, num_neighbors or max(table_width, 1)
    )
    width = max(table_width, new_neighbors.shape[1])

    def widen(table: torch.Tensor, fill: float) -> torch.Tensor:
        pad = torch.full((len(table), width - table.shape[1]), fill, dtype=table.dtype)
        return torch.cat([table, pad], 1)

    features = {k: torch.cat([v, new_features[k]]) for k, v in pin_features.items()}
    all_neighbors = torch.cat([widen(neighbors, -1), widen(new_neighbors, -1)])
    all_weights = torch.cat([widen(weights, 0), widen(new_weights.to(weights.dtype), 0)])
    embeddings = embed_all_pins(model, features, all_neighbors, all_weights, **kwargs)
    return embeddings[len(neighbors) :]


EMBEDDINGS_VERSION = 1


def _embedding_format(path: str | os.PathLike) -> str:
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in EMBEDDING_FORMATS:
        raise ValueError(f"{path}: embeddings are written as {' or '.join(EMBEDDING_FORMATS)}")
    return suffix


def save_embeddings(path: str | os.PathLike, embeddings: torch.Tensor, pin_ids: np.ndarray) -> None:
    """Write ``embeddings`` and the raw ``pin_ids`` (row i ↔ pin_ids[i]).

    ``.npz``: arrays ``embeddings`` and ``pin_ids``; ``.parquet``: columns ``pin_id`` and
    ``embedding`` (a fixed-size list of float32). Written to a temporary file in the same
    directory and renamed when complete, so an interrupted write leaves any previous file
    intact.
    """
    fmt = _embedding_format(path)
    if len(pin_ids) != len(embeddings):
        raise ValueError(f"{len(embeddings)} embeddings but {len(pin_ids)} pin ids")
    vectors = embeddings.detach().cpu().numpy().astype(np.float32, copy=False)
    with atomic_path(path) as tmp:
        if fmt == ".npz":
            with open(tmp, "wb") as f:
                np.savez(
                    f,
                    embeddings=vectors,
                    pin_ids=np.asarray(pin_ids),
                    format_version=np.array(EMBEDDINGS_VERSION),
                )
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            column = pa.FixedSizeListArray.from_arrays(
                pa.array(vectors.reshape(-1)), vectors.shape[1]
            )
            table = pa.table({"pin_id": np.asarray(pin_ids), "embedding": column})
            version = {b"pinsage_dgl_embeddings_version": str(EMBEDDINGS_VERSION).encode()}
            pq.write_table(table.replace_schema_metadata(version), tmp)


def load_embeddings(path: str | os.PathLike) -> tuple[torch.Tensor, np.ndarray]:
    """Inverse of :func:`save_embeddings` (no pickled objects are loaded).

    Raises ``ValueError`` naming the file for a format version other than this one's
    (files without a version, from before versions were written, are read).
    """

    def check(version: object) -> None:
        if version is not None and int(version) != EMBEDDINGS_VERSION:
            raise ValueError(
                f"{path}: embeddings format version {int(version)}, this version reads "
                f"{EMBEDDINGS_VERSION}"
            )

    if _embedding_format(path) == ".npz":
        with np.load(path, allow_pickle=False) as data:
            check(data["format_version"] if "format_version" in data.files else None)
            return torch.from_numpy(data["embeddings"]), data["pin_ids"]
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    check((table.schema.metadata or {}).get(b"pinsage_dgl_embeddings_version"))
    column = table.column("embedding").combine_chunks()
    vectors = column.values.to_numpy().reshape(len(table), column.type.list_size)
    return torch.from_numpy(vectors.copy()), table.column("pin_id").to_numpy()
