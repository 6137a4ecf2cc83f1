"""Random-walk visit counts: importance neighbourhoods (top T) and PPR rank bands."""

from __future__ import annotations

import dgl
import numpy as np
import torch

from pinsage_dgl.graph import CONTAINS, PIN, SAVED_TO
from pinsage_dgl.sampling.walks import WalkGraph, random_walk


def stream_seeds(*key: int, count: int = 2) -> list[int]:
    """``count`` independent 31-bit seeds derived from the integers of ``key`` (e.g.
    ``(seed, epoch, batch)``): the same key gives the same seeds in any process."""
    return [int(s) % 2**31 for s in np.random.SeedSequence(list(key)).generate_state(count)]


def ranked_visits(
    graph: dgl.DGLGraph | WalkGraph,
    seeds: torch.Tensor,
    num_walks: int,
    walk_length: int,
    restart_prob: float = 0.0,
    prob: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pins visited by pin→board→pin random walks from each seed, ranked by visit count.

    From each seed, ``num_walks`` walks of ``walk_length`` pin→board→pin hops run
    (:func:`~pinsage_dgl.sampling.walks.random_walk`, all at once); every pin a walk
    reaches (the seed itself excluded) counts one visit. With ``restart_prob > 0`` walks
    stop early, and the counts approximate personalised PageRank from the seed. With
    ``prob`` (an edge feature of both edge types, e.g.
    :attr:`PinBoardGraph.walk_weights`), each step follows an edge with probability
    proportional to it (a zero-weight save is never walked).

    Returns
    -------
    row, pin, count, rank : torch.Tensor
        One entry per (seed row, visited pin): visit count and 0-based rank within the row
        (most visited first, ties broken by pin id), sorted by row then rank.
    """
    if num_walks < 1 or walk_length < 1:
        raise ValueError(f"num_walks and walk_length must be >= 1; got {num_walks}, {walk_length}")
    if not 0.0 <= restart_prob < 1.0:
        raise ValueError(f"restart_prob must be in [0, 1), got {restart_prob}")
    seeds = seeds.to(torch.int64)
    empty = torch.empty(0, dtype=torch.int64)
    if len(seeds) == 0 or graph.num_edges(SAVED_TO) == 0:
        return empty, empty, empty, empty
    num_seeds, num_pins = len(seeds), graph.num_nodes(PIN)
    starts = seeds.repeat_interleave(num_walks)
    traces = random_walk(
        graph,
        starts,
        metapath=[SAVED_TO[1], CONTAINS[1]] * walk_length,
        prob=prob,
        restart_prob=restart_prob,
    )
    visited = traces[:, 2::2].long()  # pin positions after the start; boards sit at odd positions
    row = torch.arange(num_seeds).repeat_interleave(num_walks).unsqueeze(1).expand_as(visited)
    keep = (visited >= 0) & (visited != starts.unsqueeze(1))
    keys, count = torch.unique(row[keep] * num_pins + visited[keep], return_counts=True)
    row, pin = keys // num_pins, keys % num_pins
    # keys come sorted by (row, pin), so equal counts stay in pin order
    order, rank = _rank_within_rows(row, count, num_seeds)
    return row[order], pin[order], count[order], rank


def _rank_within_rows(
    row: torch.Tensor, key: torch.Tensor, num_rows: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stable order by (row, key descending), and each entry's 0-based rank in its row."""
    order = torch.sort(key, descending=True, stable=True).indices
    order = order[torch.sort(row[order], stable=True).indices]
    per_row = torch.bincount(row, minlength=num_rows)
    rank = torch.arange(len(row)) - (torch.cumsum(per_row, 0) - per_row)[row[order]]
    return order, rank


def importance_neighbors(
    graph: dgl.DGLGraph | WalkGraph,
    seeds: torch.Tensor,
    num_neighbors: int = 50,
    num_walks: int = 50,
    walk_length: int = 2,
    restart_prob: float = 0.0,
    popularity_penalty: float = 0.0,
    prob: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``num_neighbors`` pins by random-walk visit count from each seed pin.

    The ``T`` most visited pins (see :func:`ranked_visits`) are the seed's neighbours, and
    their visit counts, L1-normalised over the kept ``T``, are the importances α.

    Parameters
    ----------
    graph : dgl.DGLGraph or WalkGraph
        Pin/board heterograph with ``saved_to`` and ``contains`` edges (or its walk arrays).
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
    popularity_penalty : float
        β: rank and weigh visited pins by ``count / degree^β`` instead of the count (0, the
        paper's). Walks reach pins in proportion to their number of boards, so on dense
        graphs every pin's top-T are the same popular pins; β > 0 (RP3β, Paudel et al.,
        2017) keeps the neighbours specific to the seed.
    prob : str, optional
        Edge feature weighing the walks' steps (see :func:`ranked_visits`).

    Returns
    -------
    neighbors : torch.Tensor
        ``[S, T]`` int64 pin ids, ``-1`` where a seed has fewer than T visited pins.
    weights : torch.Tensor
        ``[S, T]`` float32 importances; each row sums to 1 (or 0 for a seed with no visits).
    """
    if num_neighbors < 1:
        raise ValueError(f"num_neighbors must be >= 1, got {num_neighbors}")
    if popularity_penalty < 0:
        raise ValueError(f"popularity_penalty must be >= 0, got {popularity_penalty}")
    row, pin, count, rank = ranked_visits(graph, seeds, num_walks, walk_length, restart_prob, prob)
    score = count.double()
    if popularity_penalty > 0 and len(pin):
        degree = WalkGraph.of(graph).out_degrees(pin, SAVED_TO).double()
        score = score / degree.pow(popularity_penalty)
        order, rank = _rank_within_rows(row, score, len(seeds))
        row, pin, score = row[order], pin[order], score[order]
    neighbors = torch.full((len(seeds), num_neighbors), -1, dtype=torch.int64)
    weights = torch.zeros(len(seeds), num_neighbors)
    top = rank < num_neighbors
    neighbors[row[top], rank[top]] = pin[top]
    weights[row[top], rank[top]] = score[top].float()
    totals = weights.sum(1, keepdim=True)
    weights = torch.where(totals > 0, weights / totals.clamp_min(1e-12), weights)
    return neighbors, weights


def uniform_neighbors(
    graph: dgl.DGLGraph | WalkGraph, seeds: torch.Tensor, num_neighbors: int = 50
) -> tuple[torch.Tensor, torch.Tensor]:
    """GraphSAGE's neighbourhood: ``num_neighbors`` pins drawn uniformly, equal weights.

    Each draw is one pin→board→pin step (a uniform board of the seed, then a uniform pin
    of that board), with replacement, as GraphSAGE samples a fixed-size neighbourhood of
    the pin–pin graph. Draws that return to the seed are dropped.

    Returns
    -------
    neighbors, weights : torch.Tensor
        ``[S, T]`` as in :func:`importance_neighbors`; weights are ``1 / (kept draws)``.
    """
    if num_neighbors < 1:
        raise ValueError(f"num_neighbors must be >= 1, got {num_neighbors}")
    seeds = seeds.to(torch.int64)
    neighbors = torch.full((len(seeds), num_neighbors), -1, dtype=torch.int64)
    if len(seeds) and graph.num_edges(SAVED_TO):
        starts = seeds.repeat_interleave(num_neighbors)
        traces = random_walk(graph, starts, metapath=[SAVED_TO[1], CONTAINS[1]])
        drawn = traces[:, 2].long()
        drawn[drawn == starts] = -1
        neighbors = drawn.view(len(seeds), num_neighbors)
    kept = (neighbors >= 0).float()
    return neighbors, kept / kept.sum(1, keepdim=True).clamp_min(1.0)
