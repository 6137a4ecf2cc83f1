"""DGL blocks (message-flow graphs) from importance neighbourhoods."""

from __future__ import annotations

import dgl
import torch


def block_from_neighbors(
    dst_nodes: torch.Tensor, neighbors: torch.Tensor, weights: torch.Tensor
) -> dgl.DGLGraph:
    """One block whose destination nodes are ``dst_nodes`` and edges neighbour → node.

    Parameters
    ----------
    dst_nodes : torch.Tensor
        ``[S]`` unique pin ids.
    neighbors, weights : torch.Tensor
        ``[S, T]`` neighbour pin ids (``-1`` = none) and importances, row ``i`` for
        ``dst_nodes[i]`` (as returned by :func:`importance_neighbors`).

    Returns
    -------
    dgl.DGLGraph
        A block with ``srcdata[dgl.NID]`` (destination nodes first, as DGL requires, then
        the other neighbours in order of first appearance), ``dstdata[dgl.NID]`` and
        ``edata["weight"]``.
    """
    mask = neighbors >= 0
    dst_local = torch.arange(len(dst_nodes)).unsqueeze(1).expand_as(neighbors)[mask]
    src_global = neighbors[mask]
    src_nodes, src_local = _first_occurrence_relabel(torch.cat([dst_nodes, src_global]))
    block = dgl.create_block(
        (src_local[len(dst_nodes) :], dst_local),
        num_src_nodes=len(src_nodes),
        num_dst_nodes=len(dst_nodes),
    )
    block.srcdata[dgl.NID] = src_nodes
    block.dstdata[dgl.NID] = dst_nodes
    block.edata["weight"] = weights[mask]
    return block


def _first_occurrence_relabel(ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unique ids in order of first appearance, and each element's position among them."""
    uniq, inverse = torch.unique(ids, return_inverse=True)
    first = torch.full((len(uniq),), len(ids), dtype=torch.int64)
    first.scatter_reduce_(0, inverse, torch.arange(len(ids)), reduce="amin")
    order = torch.argsort(first)
    new_label = torch.empty_like(order)
    new_label[order] = torch.arange(len(order))
    return uniq[order], new_label[inverse]
