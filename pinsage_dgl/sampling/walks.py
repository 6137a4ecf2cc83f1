"""Random walks on the pin/board graph, drawn from torch's generator.

DGL's ``dgl.sampling.random_walk`` draws from a generator per thread, seeded by
``dgl.seed`` plus a number DGL gives each thread in the order threads first draw: the
same seed gives other walks in a process where another thread drew first (a test
process, a pool thread), so a seeded table could not be walked again elsewhere. These
walks draw from torch's generator instead (the global one, or one passed in): with the
same seed they are the same in any process and on any thread. One step per edge type of
the metapath, all walks at once, from the graph's CSR (built once per graph and kept).
"""

from __future__ import annotations

import weakref

import dgl
import torch

# per graph: edge type (and weight feature) -> its CSR and cumulative weights
_CSR: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _csr(
    graph: dgl.DGLGraph, etype: str, prob: str | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``indptr``, ``indices`` (int64) of ``etype``'s out-edges, and with ``prob`` the
    inclusive running sum of the edges' weights in that order (float64)."""
    cached = _CSR.setdefault(graph, {})
    key = (etype, prob)
    if key not in cached:
        indptr, indices, eids = graph.adj_tensors("csr", etype=etype)
        running = None
        if prob is not None:
            weight = graph.edges[etype].data[prob][eids.long()].double()
            if bool((weight < 0).any()):
                raise ValueError(f"edge weights {prob!r} of {etype!r} must be >= 0")
            running = torch.cumsum(weight, 0)
        cached[key] = (indptr.long(), indices.long(), running)
    return cached[key]


def random_walk(
    graph: dgl.DGLGraph,
    starts: torch.Tensor,
    metapath: list[str],
    prob: str | None = None,
    restart_prob: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Traces of walks from ``starts`` following ``metapath``, as ``dgl.sampling.random_walk``
    gives them.

    Each step follows one of the current node's out-edges of the step's edge type,
    uniformly or, with ``prob`` (an edge feature), with probability proportional to its
    weight (an edge of weight 0 is never followed). A walk ends at a node with no such
    edge (or whose edges all weigh 0), and, with ``restart_prob``, with that probability
    before each step; positions after its end hold -1.

    Parameters
    ----------
    graph : dgl.DGLGraph
        A heterograph whose edge types chain as ``metapath`` says.
    starts : torch.Tensor
        ``[N]`` start nodes (of the first edge type's source type).
    metapath : list of str
        Edge types, one per step.
    prob : str, optional
        Edge feature of every edge type in ``metapath`` that weighs the steps.
    restart_prob : float
        Probability of ending before each step (personalised PageRank's restart).
    generator : torch.Generator, optional
        Where the draws come from (torch's global generator by default).

    Returns
    -------
    torch.Tensor
        ``[N, len(metapath) + 1]`` int64 node ids, the start first.
    """
    if not 0.0 <= restart_prob < 1.0:
        raise ValueError(f"restart_prob must be in [0, 1), got {restart_prob}")
    starts = starts.long()
    traces = torch.full((len(starts), len(metapath) + 1), -1, dtype=torch.int64)
    traces[:, 0] = starts
    current, alive = starts.clone(), torch.arange(len(starts))
    for step, etype in enumerate(metapath, start=1):
        if len(alive) == 0:
            break
        if restart_prob > 0:
            stay = torch.rand(len(alive), generator=generator) >= restart_prob
            current, alive = current[stay], alive[stay]
        indptr, indices, running = _csr(graph, etype, prob)
        first, last = indptr[current], indptr[current + 1]
        draw = torch.rand(len(alive), generator=generator, dtype=torch.float64)
        if running is None:
            edge = first + (draw * (last - first)).long()
            moves = last > first
        else:
            before = torch.where(first > 0, running[(first - 1).clamp_min(0)], 0.0)
            total = torch.where(last > 0, running[(last - 1).clamp_min(0)], 0.0) - before
            # the first edge whose running sum passes the drawn share of the row's weight
            edge = torch.searchsorted(running, before + draw * total, right=True)
            moves = (last > first) & (total > 0)
            edge = torch.minimum(edge, last - 1)
        current, alive, edge = current[moves], alive[moves], edge[moves]
        current = indices[edge]
        traces[alive, step] = current
    return traces
