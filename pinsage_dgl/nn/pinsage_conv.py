"""PinSageConv: one importance-pooled graph convolution (Ying et al., KDD 2018, Algorithm 1)."""

from __future__ import annotations

import dgl
import dgl.function as fn
import torch
from torch import nn
from torch.nn import functional as F


class PinSageConv(nn.Module):
    r"""The CONVOLVE operation of PinSage.

    From "Graph Convolutional Neural Networks for Web-Scale Recommender Systems"
    (Ying et al., KDD 2018), Algorithm 1:

    .. math::
        n_u = \frac{\sum_{v \in N(u)} \alpha_{uv} \,\mathrm{ReLU}(Q h_v + q)}
                   {\sum_{v \in N(u)} \alpha_{uv}}

        z_u = \mathrm{ReLU}\left(W \cdot [h_u \,\Vert\, n_u] + w\right), \qquad
        z_u \leftarrow z_u / \lVert z_u \rVert_2

    where :math:`N(u)` is the importance neighbourhood of :math:`u` and :math:`\alpha_{uv}`
    the importance of :math:`v` (edge weights of the block). A node without neighbours
    gets :math:`n_u = 0`.

    Parameters
    ----------
    in_feats : int
        Size of :math:`h`.
    hidden_feats : int
        Size of the neighbour messages :math:`Q h_v + q`.
    out_feats : int
        Size of :math:`z`.
    normalize : bool
        Apply the final L2 normalisation (default, as in the paper).
    """

    def __init__(
        self, in_feats: int, hidden_feats: int, out_feats: int, normalize: bool = True
    ) -> None:
        super().__init__()
        for name, value in (("in_feats", in_feats), ("hidden_feats", hidden_feats)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if out_feats < 1:
            raise ValueError(f"out_feats must be >= 1, got {out_feats}")
        self.in_feats, self.hidden_feats, self.out_feats = in_feats, hidden_feats, out_feats
        self.normalize = normalize
        self.Q = nn.Linear(in_feats, hidden_feats)
        self.W = nn.Linear(in_feats + hidden_feats, out_feats)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform weights (gain for ReLU), zero biases."""
        gain = nn.init.calculate_gain("relu")
        for layer in (self.Q, self.W):
            nn.init.xavier_uniform_(layer.weight, gain=gain)
            nn.init.zeros_(layer.bias)

    def forward(
        self,
        graph: dgl.DGLGraph,
        feat: torch.Tensor | tuple[torch.Tensor, torch.Tensor],
        edge_weight: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Representations of the graph's destination nodes.

        Parameters
        ----------
        graph : dgl.DGLGraph
            A block whose first ``num_dst_nodes`` source nodes are its destination nodes,
            or a whole graph (every node a destination; see
            :func:`~pinsage_dgl.sampling.neighbor_graph`), edges neighbour → node.
        feat : torch.Tensor or pair of torch.Tensor
            ``[num_src_nodes, in_feats]`` :math:`h` of the source nodes (the destinations'
            own rows are then the first ``num_dst_nodes``), or the pair ``(h_src, h_dst)``
            as DGL's convolutions take it: any source and destination node sets.
        edge_weight : torch.Tensor, optional
            ``[num_edges]`` importances; default ``graph.edata["weight"]``.
        """
        if isinstance(feat, tuple):
            h_src, h_dst = feat
        else:
            h_src, h_dst = feat, feat[: graph.num_dst_nodes()]
        for h in (h_src, h_dst):
            if h.shape[-1] != self.in_feats:
                raise ValueError(f"expected {self.in_feats} input features, got {h.shape[-1]}")
        if len(h_dst) != graph.num_dst_nodes():
            raise ValueError(f"expected {graph.num_dst_nodes()} destination rows, got {len(h_dst)}")
        if edge_weight is None:
            edge_weight = graph.edata["weight"]
        return self.combine(h_dst, self.pool(graph, self.messages(h_src), edge_weight))

    @staticmethod
    def pool(
        graph: dgl.DGLGraph, messages: torch.Tensor, edge_weight: torch.Tensor
    ) -> torch.Tensor:
        r"""``[num_dst_nodes, H]`` importance-weighted mean :math:`n_u` of the source nodes'
        ``messages`` over the graph's edges; 0 without neighbours.

        The weighted sum gathers each destination's in-edges from the graph's CSC
        (``embedding_bag`` with offsets) and its gradient each source's out-edges from the
        CSR, both formats DGL keeps on the graph: several times faster on CPU than DGL's
        generic ``update_all`` (``u_mul_e``/``sum``), which stays the path when
        ``edge_weight`` itself needs a gradient.
        """
        weight = edge_weight.to(messages.dtype)
        if weight.requires_grad:
            with graph.local_scope():
                graph.srcdata["m"] = messages
                graph.edata["a"] = weight
                graph.update_all(fn.u_mul_e("m", "a", "wm"), fn.sum("wm", "n"))
                graph.update_all(fn.copy_e("a", "a"), fn.sum("a", "a_sum"))
                return graph.dstdata["n"] / graph.dstdata["a_sum"].clamp_min(1e-12).unsqueeze(-1)
        in_ptr, in_src, in_edges = graph.adj_tensors("csc")
        out_ptr, out_dst, out_edges = graph.adj_tensors("csr")
        in_weight = weight[in_edges.long()]
        summed = _WeightedSum.apply(
            messages, in_ptr, in_src, in_weight, out_ptr, out_dst, weight[out_edges.long()]
        )
        dst = torch.repeat_interleave(
            torch.arange(graph.num_dst_nodes(), device=in_ptr.device), in_ptr.diff().long()
        )
        total = torch.zeros(graph.num_dst_nodes(), dtype=weight.dtype, device=weight.device)
        total.index_add_(0, dst, in_weight)
        return summed / total.clamp_min(1e-12).unsqueeze(-1)

    @staticmethod
    def pool_table(
        messages: torch.Tensor, neighbors: torch.Tensor, weights: torch.Tensor
    ) -> torch.Tensor:
        r"""The same :math:`n_u` as :meth:`pool`, for rows of a ``[S, T]`` neighbour table
        (``-1`` = no neighbour) over ``messages`` of every pin: a gather-and-sum
        (``embedding_bag``), so layer-wise inference pools chunk by chunk from messages
        computed once per pin, with no block built and no ``[S, T, H]`` tensor."""
        present = neighbors >= 0
        weights = torch.where(present, weights, torch.zeros((), dtype=weights.dtype))
        pooled = F.embedding_bag(
            neighbors.clamp_min(0).to(messages.device),  # -1 -> any row, weighted 0
            messages,
            per_sample_weights=weights.to(messages.device, messages.dtype),
            mode="sum",
        )
        # divided in the weights' precision: half-precision messages (inference may store
        # them so) would round the 1e-12 floor to 0
        total = weights.sum(1, keepdim=True).to(pooled.device)
        return pooled.to(total.dtype) / total.clamp_min(1e-12)

    def messages(self, h: torch.Tensor) -> torch.Tensor:
        r"""The neighbour messages :math:`\mathrm{ReLU}(Q h_v + q)` of nodes ``h``.

        A node's message is the same in every neighbourhood it is part of, so whole-graph
        inference computes it once per node (see :mod:`pinsage_dgl.inference`).
        """
        return F.relu(self.Q(h), inplace=True)

    def combine(self, h_dst: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        r""":math:`z_u` from a node's own :math:`h_u` and its pooled neighbourhood :math:`n_u`.

        :math:`W \cdot [h_u \Vert n_u]` is computed as the two halves of :math:`W` applied
        to :math:`h_u` and :math:`n_u`, so the concatenation (a copy of both inputs) is
        never built.
        """
        d = self.in_feats
        z = F.linear(h_dst, self.W.weight[:, :d], self.W.bias)
        z = F.relu(z.add_(F.linear(n, self.W.weight[:, d:])), inplace=True)
        return F.normalize(z, p=2, dim=-1) if self.normalize else z

    def extra_repr(self) -> str:
        return f"{self.in_feats}, {self.hidden_feats}, {self.out_feats}, normalize={self.normalize}"


class _WeightedSum(torch.autograd.Function):
    """``out[u] = sum_e w_e m[src(e)]`` over the in-edges of each destination ``u``, and
    its gradient ``grad_m[v] = sum_e w_e grad_out[dst(e)]`` over the out-edges of each
    source ``v``: two ``embedding_bag`` sums over a graph's CSC and CSR (``*_ptr`` offsets,
    ``*_ids`` the node at the other end, ``*_weight`` the edges' weights in that order)."""

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        messages: torch.Tensor,
        in_ptr: torch.Tensor,
        in_ids: torch.Tensor,
        in_weight: torch.Tensor,
        out_ptr: torch.Tensor,
        out_ids: torch.Tensor,
        out_weight: torch.Tensor,
    ) -> torch.Tensor:
        ctx.save_for_backward(out_ptr, out_ids, out_weight)
        return _bag_sum(messages, in_ptr, in_ids, in_weight)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> tuple:
        out_ptr, out_ids, out_weight = ctx.saved_tensors
        grad_messages = _bag_sum(grad.contiguous(), out_ptr, out_ids, out_weight)
        return grad_messages, None, None, None, None, None, None


def _bag_sum(
    rows: torch.Tensor, ptr: torch.Tensor, ids: torch.Tensor, weight: torch.Tensor
) -> torch.Tensor:
    """``[len(ptr) - 1, H]``: for each segment of ``ids``, the weighted sum of its rows."""
    if len(ids) == 0:  # embedding_bag needs at least one row to index
        return rows.new_zeros(len(ptr) - 1, rows.shape[1])
    return F.embedding_bag(
        ids, rows, ptr, per_sample_weights=weight, mode="sum", include_last_offset=True
    )
