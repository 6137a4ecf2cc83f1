"""DGL blocks (message-flow graphs) from importance neighbourhoods."""

from __future__ import annotations

import dgl
import torch


def block_from_neighbors(
    dst_nodes: torch.Tensor,
    neighbors: torch.Tensor,
    weights: torch.Tensor,
    num_nodes: int | None = None,
) -> dgl.DGLGraph:
    """One block whose destination nodes are ``dst_nodes`` and edges neighbour → node.

    Parameters
    ----------
    dst_nodes : torch.Tensor
        ``[S]`` unique pin ids.
    neighbors, weights : torch.Tensor
        ``[S, T]`` neighbour pin ids (``-1`` = none) and importances, row ``i`` for
        ``dst_nodes[i]`` (as returned by :func:`importance_neighbors`).
    num_nodes : int, optional
        Number of pins in the graph. When given, ids are relabelled through a dense
        ``[num_nodes]`` map (linear time) instead of by sorting.

    Returns
    -------
    dgl.DGLGraph
        A block with ``srcdata[dgl.NID]`` (destination nodes first, as DGL requires, then
        the other neighbours in increasing id order), ``dstdata[dgl.NID]`` and
        ``edata["weight"]``.
    """
    mask = neighbors >= 0
    dst_local = torch.arange(len(dst_nodes)).unsqueeze(1).expand_as(neighbors)[mask]
    src_global = neighbors[mask]
    if num_nodes is None:
        src_nodes, src_local = _relabel_by_sorting(dst_nodes, src_global)
    else:
        src_nodes, src_local = _relabel_by_map(dst_nodes, src_global, num_nodes)
    block = dgl.create_block(
        (src_local, dst_local), num_src_nodes=len(src_nodes), num_dst_nodes=len(dst_nodes)
    )
    block.srcdata[dgl.NID] = src_nodes
    block.dstdata[dgl.NID] = dst_nodes
    block.edata["weight"] = weights[mask]
    return block


def _relabel_by_map(
    dst_nodes: torch.Tensor, src_global: torch.Tensor, num_nodes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    local = torch.full((num_nodes,), -1, dtype=torch.int64)
    local[dst_nodes] = torch.arange(len(dst_nodes))
    present = torch.zeros(num_nodes, dtype=torch.bool)
    present[src_global] = True
    present[dst_nodes] = False
    extra = torch.nonzero(present).squeeze(1)  # increasing ids, no sort needed
    local[extra] = torch.arange(len(dst_nodes), len(dst_nodes) + len(extra))
    return torch.cat([dst_nodes, extra]), local[src_global]


def _relabel_by_sorting(
    dst_nodes: torch.Tensor, src_global: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    uniq = torch.unique(src_global)
    extra = uniq[~torch.isin(uniq, dst_nodes)]
    src_nodes = torch.cat([dst_nodes, extra])
    order = torch.argsort(src_nodes)
    position = torch.searchsorted(src_nodes[order], src_global)
    return src_nodes, order[position]


def computed_rows(blocks: list[dgl.DGLGraph]) -> int:
    """Pin rows a forward pass over ``blocks`` computes: the input nodes' encodings, then
    each layer's messages (its source nodes) and combinations (its destination nodes).

    The same pass over the whole graph computes ``(2 K + 1) P`` rows for ``P`` pins and
    ``K`` layers; the datamodule compares the two to choose a training step (rows, each
    a chain of dense operations, dominate a step's cost; edges cost one weighted add).
    """
    if not blocks:
        return 0
    return blocks[0].num_src_nodes() + sum(b.num_src_nodes() + b.num_dst_nodes() for b in blocks)


def neighbor_graph(neighbors: torch.Tensor, weights: torch.Tensor) -> dgl.DGLGraph:
    """The whole ``[P, T]`` neighbour table as one DGL graph: an edge ``v → u`` with
    ``edata["weight"]`` for each neighbour ``v`` of pin ``u`` (``-1`` entries skipped).

    A convolution on it (:class:`~pinsage_dgl.nn.PinSageConv` accepts it as a block whose
    destinations are all pins) computes every pin once per layer with DGL's sparse kernels,
    forward and backward: a full-graph training step.
    """
    present = neighbors >= 0
    dst = torch.arange(len(neighbors)).unsqueeze(1).expand_as(neighbors)[present]
    graph = dgl.graph((neighbors[present].long(), dst), num_nodes=len(neighbors))
    graph.edata["weight"] = weights[present]
    return graph
