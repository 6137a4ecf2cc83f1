"""Random walks on the pin/board graph, drawn from torch's generator.

DGL's ``dgl.sampling.random_walk`` draws from a generator per thread, seeded by
``dgl.seed`` plus a number DGL gives each thread in the order threads first draw: the
same seed gives other walks in a process where another thread drew first (a test
process, a pool thread), so a seeded table could not be walked again elsewhere. These
walks draw from torch's generator instead (the global one, or one passed in): with the
same seed they are the same in any process and on any thread. One step per edge type of
the metapath, all walks at once, from the edge type's CSR (:class:`WalkGraph`: built
once per graph and kept, or memory-mapped from a save).
"""

from __future__ import annotations

import json
import os
import weakref
from pathlib import Path

import dgl
import numpy as np
import torch

from pinsage_dgl.csr import group_by
from pinsage_dgl.io import atomic_directory, read_meta

#: a DGL graph's walk arrays, built on first use and kept as long as the graph
_OF_GRAPH: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
WALK_GRAPH_VERSION = 1
PARTS = ("indptr", "indices", "running")

# a step's arrays: indptr, indices (by source node), and the running sum of the edges'
# weights in that order (None for unweighted steps)
Step = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]


class WalkGraph:
    """What a walk reads of a graph: each edge type's CSR, apart from the graph.

    Built from a DGL graph on first use (:meth:`of`, one edge type at a time), or opened
    from a :meth:`save` memory-mapped (:meth:`open`): a process that only walks (a
    sharded walker on another node) then reads the arrays from storage through the page
    cache (one copy per machine, shared by its processes and never the process's own
    memory) instead of loading the graph.

    Parameters
    ----------
    num_nodes : dict of str to int
        Nodes of each type.
    steps : dict
        ``(edge type name, weight feature or None)`` → :data:`Step`.
    graph : dgl.DGLGraph, optional
        The graph the missing steps are built from (none for an opened save).
    source : str, optional
        Where the arrays were opened from (for messages).
    prob : str, optional
        The edge weights an opened save's steps carry (None: unweighted, or built from a
        graph, where any weights can be asked for).
    """

    def __init__(
        self,
        num_nodes: dict[str, int],
        steps: dict[tuple[str, str | None], Step],
        graph: dgl.DGLGraph | None = None,
        source: str | None = None,
        prob: str | None = None,
    ) -> None:
        self.num_nodes_of = dict(num_nodes)
        self._steps = dict(steps)
        # weakly: the arrays are kept per graph, keyed weakly, and must not keep it alive
        self._graph = None if graph is None else weakref.ref(graph)
        self.source = source
        self.prob = prob

    @classmethod
    def of(cls, graph: dgl.DGLGraph | WalkGraph) -> WalkGraph:
        """The walk arrays of ``graph`` (kept with it; a WalkGraph is its own)."""
        if isinstance(graph, WalkGraph):
            return graph
        if graph not in _OF_GRAPH:
            num_nodes = {ntype: graph.num_nodes(ntype) for ntype in graph.ntypes}
            _OF_GRAPH[graph] = cls(num_nodes, {}, graph=graph)
        return _OF_GRAPH[graph]

    def step(self, etype: str | tuple[str, str, str], prob: str | None = None) -> Step:
        """``indptr``, ``indices`` (by source node) of ``etype``'s edges, and with ``prob``
        the inclusive running sum of their weights in that order (float64)."""
        key = (_name(etype), prob)
        if key not in self._steps:
            graph = None if self._graph is None else self._graph()
            if graph is None:
                saved = sorted({f"{name} (weights {p})" for name, p in self._steps})
                raise ValueError(
                    f"{self.source}: walk arrays of {key[0]!r} with weights {prob!r} were not "
                    f"saved (it has {', '.join(saved) or 'none'})"
                )
            self._steps[key] = _build_step(graph, key[0], prob)
        return self._steps[key]

    def release(self) -> None:
        """Forget the arrays built from the graph (built again on their next use), e.g.
        once a neighbour table is walked: at 323M saves they hold 2.4 GiB that training on
        the table never reads. An opened save keeps its arrays (nothing to rebuild them
        from)."""
        if self._graph is not None:
            self._steps.clear()

    def num_nodes(self, ntype: str) -> int:
        return self.num_nodes_of[ntype]

    def num_edges(self, etype: str | tuple[str, str, str]) -> int:
        return int(self._any_step(etype)[0][-1])

    def out_degrees(self, nodes: torch.Tensor, etype: str | tuple[str, str, str]) -> torch.Tensor:
        """Edges of type ``etype`` leaving each of ``nodes``."""
        indptr = self._any_step(etype)[0]
        nodes = nodes.long()
        return indptr[nodes + 1] - indptr[nodes]

    def _any_step(self, etype: str | tuple[str, str, str]) -> Step:
        name = _name(etype)
        for key, step in self._steps.items():
            if key[0] == name:
                return step
        return self.step(name)

    def save(self, path: str | os.PathLike, etypes: list[str], prob: str | None = None) -> None:
        """Write the steps of ``etypes`` (weighted by ``prob``) to directory ``path``,
        whole or not at all (a temporary directory renamed when complete)."""
        with atomic_directory(path) as tmp:
            for etype in etypes:
                for part, array in zip(PARTS, self.step(etype, prob), strict=True):
                    if array is None:
                        continue
                    values = array.numpy()
                    # node ids as int32 where they fit (half the disk and pages); a graph
                    # with int32 ids has them so already, and is written without a copy
                    wide = part == "indices" and values.dtype == np.int64 and len(values)
                    if wide and values.max() < 2**31:
                        values = values.astype(np.int32)
                    np.save(tmp / f"{_name(etype)}.{part}.npy", values)
            meta = {
                "version": WALK_GRAPH_VERSION,
                "num_nodes": self.num_nodes_of,
                "etypes": [_name(etype) for etype in etypes],
                "prob": prob,
            }
            (tmp / "meta.json").write_text(json.dumps(meta))

    @classmethod
    def open(cls, path: str | os.PathLike) -> WalkGraph:
        """A :meth:`save`, memory-mapped (pages are read as walks reach them)."""
        path = Path(path)
        meta = read_meta(path, "version", WALK_GRAPH_VERSION, "set of walk arrays")
        steps = {}
        for etype in meta["etypes"]:
            parts = []
            for part in PARTS:
                file = path / f"{etype}.{part}.npy"
                # copy-on-write mapping: a writable view torch takes without copying,
                # whose pages stay the file's (shared) until written, which walks never do
                mapped = np.load(file, mmap_mode="c") if file.exists() else None
                parts.append(None if mapped is None else torch.from_numpy(mapped))
            steps[(etype, meta["prob"])] = tuple(parts)
        return cls(meta["num_nodes"], steps, source=str(path), prob=meta["prob"])


def _name(etype: str | tuple[str, str, str]) -> str:
    return etype[1] if isinstance(etype, tuple) else etype


def _build_step(graph: dgl.DGLGraph, etype: str, prob: str | None) -> Step:
    # from the graph's COO by a chunked counting sort (rows in edge order), not DGL's CSR
    # format: DGL would keep the CSR and its edge ids in the graph (8 bytes per edge), and
    # the walk needs neither once its arrays are built
    source_type = graph.to_canonical_etype(etype)[0]
    sources, destinations = graph.edges(etype=etype)  # the graph's own arrays and id type
    indptr, order = group_by(sources, graph.num_nodes(source_type))
    running = None
    if prob is not None:
        weight = torch.index_select(graph.edges[etype].data[prob], 0, order).double()
        if bool((weight < 0).any()):
            raise ValueError(f"edge weights {prob!r} of {etype!r} must be >= 0")
        running = torch.cumsum(weight, 0)
        del weight
    # node ids in the graph's own type (int32 where they fit): a walk indexes with them as
    # they are, and an int64 copy would double them
    # index_select takes the int32 order as it is (indexing would copy it to int64)
    return indptr, torch.index_select(destinations, 0, order), running


def random_walk(
    graph: dgl.DGLGraph | WalkGraph,
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
    graph : dgl.DGLGraph or WalkGraph
        A heterograph whose edge types chain as ``metapath`` says (or its walk arrays).
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
    walk_graph = WalkGraph.of(graph)
    traces = torch.full((len(starts), len(metapath) + 1), -1, dtype=torch.int64)
    traces[:, 0] = starts
    current, alive = starts.clone(), torch.arange(len(starts))
    for step, etype in enumerate(metapath, start=1):
        if len(alive) == 0:
            break
        if restart_prob > 0:
            stay = torch.rand(len(alive), generator=generator) >= restart_prob
            current, alive = current[stay], alive[stay]
        indptr, indices, running = walk_graph.step(etype, prob)
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
        current = indices[edge].long()  # saved arrays hold int32 node ids
        traces[alive, step] = current
    return traces
