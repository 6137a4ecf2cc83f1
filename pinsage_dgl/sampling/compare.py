"""Our importance neighbourhoods beside DGL's ``PinSAGESampler`` (for tests and benchmarks)."""

from __future__ import annotations

import dgl
import torch


def dgl_pinsage_neighbors(
    graph: dgl.DGLGraph,
    seeds: torch.Tensor,
    num_neighbors: int,
    num_walks: int,
    walk_length: int,
    restart_prob: float = 0.0,
) -> list[set[int]]:
    """Top-``num_neighbors`` pins per seed from ``dgl.sampling.PinSAGESampler``.

    DGL counts a walk's return to its seed as a visit of the seed; we never make a pin its
    own neighbour, so one extra neighbour is asked for and the seed dropped.
    """
    sampler = dgl.sampling.PinSAGESampler(
        graph, "pin", "board", walk_length, restart_prob, num_walks, num_neighbors + 1
    )
    frontier = sampler(seeds.to(graph.idtype))
    src, dst = (ids.long() for ids in frontier.edges())
    weight = frontier.edata["weights"]
    out = []
    for seed in seeds.tolist():
        mine = (dst == seed) & (src != seed)
        order = torch.argsort(weight[mine], descending=True, stable=True)
        out.append(set(src[mine][order][:num_neighbors].tolist()))
    return out


def top_t_overlap(ours: torch.Tensor, theirs: list[set[int]]) -> float:
    """Mean over seeds of |ours ∩ theirs| / |theirs| (``ours``: ``[S, T]`` with ``-1`` pads)."""
    shares = [
        len(set(row[row >= 0].tolist()) & other) / len(other)
        for row, other in zip(ours, theirs, strict=True)
        if other
    ]
    return sum(shares) / len(shares) if shares else float("nan")
