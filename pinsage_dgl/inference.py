"""Whole-graph embedding, layer by layer: each pin's layer-k vector is computed once.

Sampling a K-hop tree per target pin recomputes a popular pin's lower layers once per
neighbourhood it appears in. Here layer 0 is computed for every pin, then layer 1 from
layer 0 over each pin's importance neighbourhood, and so on (the paper's MapReduce
inference), in chunks of pins so memory stays bounded by the chunk and the layer tensors.
"""

from __future__ import annotations

import os

import dgl
import numpy as np
import torch
from tqdm.auto import tqdm

from pinsage_dgl.io import atomic_path
from pinsage_dgl.nn.pinsage import PinSage
from pinsage_dgl.nn.pinsage_conv import PinSageConv
from pinsage_dgl.sampling.blocks import block_from_neighbors
from pinsage_dgl.sampling.sampler import ImportanceSampler


def neighbor_table(
    sampler: ImportanceSampler, progress: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """``[P, T]`` importance neighbours and weights of every pin: the sampler's table if it
    keeps one (training and inference then share neighbourhoods), else one walk of all pins."""
    if sampler.table is not None:
        return sampler.table
    return sampler.walk_all(progress)


def convolve_chunk(
    conv: PinSageConv,
    pins: torch.Tensor,
    h_prev: torch.Tensor,
    neighbors: torch.Tensor,
    weights: torch.Tensor,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Layer-k representations of ``pins`` from every pin's layer-(k-1) ones.

    A pure function of its arguments (a chunk of ids and the layer below), so a
    distributed engine can run it over chunks in parallel.
    """
    block = block_from_neighbors(pins, neighbors[pins], weights[pins], len(neighbors))
    h_src = h_prev[block.srcdata[dgl.NID]].to(device, non_blocking=True)
    return conv(block.to(device), h_src).cpu()


@torch.no_grad()
def embed_all_pins(
    model: PinSage,
    pin_features: dict[str, torch.Tensor],
    neighbors: torch.Tensor,
    weights: torch.Tensor,
    batch_size: int = 8192,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """Final embeddings ``[P, out_dim]`` of all pins.

    Parameters
    ----------
    model : PinSage
        The trained model (put in eval mode here and restored after).
    pin_features : dict
        Encoded features of all pins.
    neighbors, weights : torch.Tensor
        ``[P, T]`` neighbour table of all pins (:func:`neighbor_table`).
    batch_size : int
        Pins per chunk.
    device : optional
        Where the layers run (default: the model's device); tensors stay on the CPU between
        chunks.
    """
    device = device or next(model.parameters()).device
    num_pins = neighbors.shape[0]
    chunks = [
        torch.arange(s, min(s + batch_size, num_pins)) for s in range(0, num_pins, batch_size)
    ]
    was_training = model.training
    model.eval()
    bar = tqdm(total=len(chunks) * (model.num_layers + 2), desc="embedding", disable=not progress)
    h = torch.empty(num_pins, model.hidden_dim)
    for pins in chunks:
        inputs = {k: v[pins].to(device) for k, v in pin_features.items()}
        inputs["_id"] = pins.to(device)
        h[pins] = model.encoder(inputs).cpu()
        bar.update()
    for conv in model.convs:
        h_next = torch.empty(num_pins, conv.out_feats)
        for pins in chunks:
            h_next[pins] = convolve_chunk(conv, pins, h, neighbors, weights, device)
            bar.update()
        h = h_next
    out = torch.empty(num_pins, model.G2.out_features)
    for pins in chunks:
        out[pins] = model.head(h[pins].to(device)).cpu()
        bar.update()
    bar.close()
    model.train(was_training)
    return out


def save_embeddings(path: str | os.PathLike, embeddings: torch.Tensor, pin_ids: np.ndarray) -> None:
    """Write ``embeddings`` and the raw ``pin_ids`` (row i ↔ pin_ids[i]) to an ``.npz``.

    Written to a temporary file in the same directory and renamed when complete, so an
    interrupted write leaves any previous file intact.
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, embeddings=embeddings.numpy(), pin_ids=pin_ids)


def load_embeddings(path: str | os.PathLike) -> tuple[torch.Tensor, np.ndarray]:
    """Inverse of :func:`save_embeddings` (no pickled objects are loaded)."""
    with np.load(path, allow_pickle=False) as data:
        return torch.from_numpy(data["embeddings"]), data["pin_ids"]
