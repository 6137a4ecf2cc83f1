"""The PinSage model: features → K importance-pooled convolutions → dense head → embedding."""

from __future__ import annotations

import dgl
import torch
from torch import nn
from torch.nn import functional as F

from pinsage_dgl.features import FeatureSpec
from pinsage_dgl.nn.feature_encoder import FeatureEncoder
from pinsage_dgl.nn.margin_loss import max_margin_loss
from pinsage_dgl.nn.pinsage_conv import PinSageConv


class PinSage(nn.Module):
    r"""PinSage (Ying et al., KDD 2018).

    .. math::
        h^{(0)}_u = \mathrm{enc}(x_u), \quad
        h^{(k)}_u = \mathrm{CONVOLVE}^{(k)}(h^{(k-1)}_u, \{h^{(k-1)}_v\}_{v \in N(u)}, \alpha),
        \quad z_u = \frac{G_2 \,\mathrm{ReLU}(G_1 h^{(K)}_u + g)}
                         {\lVert G_2 \,\mathrm{ReLU}(G_1 h^{(K)}_u + g) \rVert_2}

    The input is the pin's features, not a per-pin id, so pins never seen in training
    (cold start) get embeddings too; ``num_ids > 0`` adds an id embedding.

    Parameters
    ----------
    pin_spec : FeatureSpec
        Pin feature columns.
    hidden_dim : int
        Size of :math:`h^{(k)}`.
    out_dim : int
        Size of the embedding :math:`z`.
    num_layers : int
        K; 0 embeds each pin from its own features alone (the no-graph ablation).
    num_ids : int
        Pins with a learned id embedding (0 = none).
    """

    def __init__(
        self,
        pin_spec: FeatureSpec,
        hidden_dim: int = 256,
        out_dim: int = 128,
        num_layers: int = 2,
        num_ids: int = 0,
    ) -> None:
        super().__init__()
        if num_layers < 0:
            raise ValueError(f"num_layers must be >= 0, got {num_layers}")
        self.hidden_dim = hidden_dim
        self.encoder = FeatureEncoder(pin_spec, hidden_dim, num_ids)
        self.convs = nn.ModuleList(
            PinSageConv(hidden_dim, hidden_dim, hidden_dim) for _ in range(num_layers)
        )
        self.G1 = nn.Linear(hidden_dim, hidden_dim)
        self.G2 = nn.Linear(hidden_dim, out_dim)

    @property
    def num_layers(self) -> int:
        return len(self.convs)

    def head(self, h: torch.Tensor) -> torch.Tensor:
        """The dense layers G1, G2 and the final L2 normalisation."""
        return F.normalize(self.G2(F.relu(self.G1(h))), p=2, dim=-1)

    def forward(self, blocks: list[dgl.DGLGraph], inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Embeddings of ``blocks[-1]``'s destination nodes.

        Parameters
        ----------
        blocks : list of dgl.DGLGraph
            K blocks, input layer first (see :class:`ImportanceSampler`); empty when K = 0.
        inputs : dict
            Features of ``blocks[0]``'s source nodes (of the output pins when K = 0).
        """
        if len(blocks) != self.num_layers:
            raise ValueError(f"expected {self.num_layers} blocks, got {len(blocks)}")
        h = self.encoder(inputs)
        for conv, block in zip(self.convs, blocks, strict=True):
            h = conv(block, h)
        return self.head(h)

    def loss(
        self,
        query: torch.Tensor,
        positive: torch.Tensor,
        negatives: torch.Tensor,
        margin: float = 0.1,
        hard_negatives: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Max-margin loss of embedded (query, positive, negatives); see :func:`max_margin_loss`."""
        return max_margin_loss(query, positive, negatives, margin, hard_negatives)

    @staticmethod
    def board_query(
        pin_embeddings: torch.Tensor,
        rows: torch.Tensor,
        num_boards: int,
        weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        r"""``[num_boards, d]`` board queries :math:`q_b = \mathrm{normalize}(\sum_j w_j z_j)`.

        Parameters
        ----------
        pin_embeddings : torch.Tensor
            ``[M, d]`` embeddings of the boards' pins.
        rows : torch.Tensor
            ``[M]`` the board (row) each pin belongs to.
        weights : torch.Tensor, optional
            ``[M]`` per-pin weights (default 1: the mean). A board with no pins gets 0.
        """
        if weights is not None:
            pin_embeddings = pin_embeddings * weights[:, None]
        query = torch.zeros(
            num_boards, pin_embeddings.shape[1], device=pin_embeddings.device
        ).index_add_(0, rows.to(pin_embeddings.device), pin_embeddings)
        return F.normalize(query, dim=1)

    @staticmethod
    def recommend(
        query: torch.Tensor,
        items: torch.Tensor,
        k: int = 10,
        exclude: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact top-``k`` items by dot product.

        Parameters
        ----------
        query : torch.Tensor
            ``[B, d]`` query embeddings.
        items : torch.Tensor
            ``[N, d]`` item embeddings.
        exclude : torch.Tensor, optional
            ``[2, M]`` (query row, item) pairs never to recommend (e.g. already saved).

        Returns
        -------
        scores, indices : torch.Tensor
            ``[B, k]`` each, best first.
        """
        scores = query @ items.T
        if exclude is not None and exclude.numel():
            scores[exclude[0], exclude[1]] = float("-inf")
        return torch.topk(scores, min(k, items.shape[0]), dim=1)
