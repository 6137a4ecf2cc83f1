"""Importance-based neighbourhoods: top-T pins by visit count of pin→board→pin random walks."""

from __future__ import annotations

import dgl
import torch

from pinsage_dgl.graph import CONTAINS, PIN, SAVED_TO


def importance_neighbors(
    graph: dgl.DGLGraph,
    seeds: torch.Tensor,
    num_neighbors: int = 50,
    num_walks: int = 50,
    walk_length: int = 2,
    restart_prob: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``num_neighbors`` pins visited by random walks from each seed pin.

    From each seed, ``num_walks`` walks of ``walk_length`` pin→board→pin hops run in DGL's
    compiled random walk; every pin a walk reaches (the seed itself excluded) counts one
    visit. The ``T`` most visited pins are the seed's neighbours (ties broken by node id)
    and their visit counts, L1-normalised over the kept ``T``, are the importances α.

    Parameters
    ----------
    graph : dgl.DGLGraph
        Pin/board heterograph with ``saved_to`` and ``contains`` edges.
    seeds : torch.Tensor
        Pin node ids, shape ``[S]``.
    num_neighbors : int
        T, neighbours kept per seed.
    num_walks : int
        Walks started from each seed.
    walk_length : int
        Pin→board→pin hops per walk.
    restart_prob : float
        Probability that a walk stops at each step (DGL's ``restart_prob``), which favours
        pins close to the seed.

    Returns
    -------
    neighbors : torch.Tensor
        ``[S, T]`` int64 pin ids, ``-1`` where a seed has fewer than T visited pins.
    weights : torch.Tensor
        ``[S, T]`` float32 importances; each row sums to 1 (or 0 for a seed with no visits).
    """
    if num_neighbors < 1 or num_walks < 1 or walk_length < 1:
        raise ValueError(
            "num_neighbors, num_walks and walk_length must be >= 1; got "
            f"{num_neighbors}, {num_walks}, {walk_length}"
        )
    seeds = seeds.to(torch.int64)
    num_seeds, num_pins = len(seeds), graph.num_nodes(PIN)
    neighbors = torch.full((num_seeds, num_neighbors), -1, dtype=torch.int64)
    weights = torch.zeros(num_seeds, num_neighbors)
    if num_seeds == 0 or graph.num_edges(SAVED_TO) == 0:
        return neighbors, weights

    starts = seeds.repeat_interleave(num_walks)
    traces, _ = dgl.sampling.random_walk(
        graph,
        starts,
        metapath=[SAVED_TO[1], CONTAINS[1]] * walk_length,
        restart_prob=restart_prob,
    )
    visited = traces[:, 2::2]  # pin positions after the start; boards sit at odd positions
    walk_seed = torch.arange(num_seeds).repeat_interleave(num_walks)
    row = walk_seed.unsqueeze(1).expand_as(visited)
    keep = (visited >= 0) & (visited != starts.unsqueeze(1))
    keys, counts = torch.unique(row[keep] * num_pins + visited[keep], return_counts=True)
    if len(keys) == 0:
        return neighbors, weights
    row, pin = keys // num_pins, keys % num_pins

    # keys come sorted by (row, pin); order by count descending within each row, stably
    order = torch.sort(counts, descending=True, stable=True).indices
    order = order[torch.sort(row[order], stable=True).indices]
    row, pin, counts = row[order], pin[order], counts[order]
    group_start = torch.cumsum(torch.bincount(row, minlength=num_seeds), 0)
    group_start = group_start - torch.bincount(row, minlength=num_seeds)
    rank = torch.arange(len(row)) - group_start[row]
    top = rank < num_neighbors
    neighbors[row[top], rank[top]] = pin[top]
    weights[row[top], rank[top]] = counts[top].float()
    totals = weights.sum(1, keepdim=True)
    weights = torch.where(totals > 0, weights / totals.clamp_min(1e-12), weights)
    return neighbors, weights
