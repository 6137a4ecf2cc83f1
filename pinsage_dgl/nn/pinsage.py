"""The PinSage model: features → K importance-pooled convolutions → dense head → embedding."""

from __future__ import annotations

import dgl
import torch
from torch import nn
from torch.nn import functional as F

from pinsage_dgl.features import FeatureSpec
from pinsage_dgl.nn.board_query import BoardQuery
from pinsage_dgl.nn.feature_encoder import FeatureEncoder
from pinsage_dgl.nn.margin_loss import MaxMarginLoss
from pinsage_dgl.nn.pinsage_conv import PinSageConv
from pinsage_dgl.nn.popularity_prior import PopularityPrior
from pinsage_dgl.nn.training_loss import LossInputs, TrainingLoss

LAYER_COMBINATIONS = ("last", "mean", "concat")


class PinSage(nn.Module):
    r"""PinSage (Ying et al., KDD 2018).

    .. math::
        h^{(0)}_u = \mathrm{enc}(x_u), \quad
        h^{(k)}_u = \mathrm{CONVOLVE}^{(k)}(h^{(k-1)}_u, \{h^{(k-1)}_v\}_{v \in N(u)}, \alpha),
        \quad z_u = \frac{G_2 \,\mathrm{ReLU}(G_1 r_u + g)}
                         {\lVert G_2 \,\mathrm{ReLU}(G_1 r_u + g) \rVert_2}

    where the readout :math:`r_u` is :math:`h^{(K)}_u` (the paper's), or the mean or the
    concatenation of :math:`h^{(0)}_u, \dots, h^{(K)}_u` (``layer_combination``; LightGCN
    averages its layers). The input is the pin's features, not a per-pin id, so pins never
    seen in training (cold start) get embeddings too; ``num_ids > 0`` adds an id embedding.

    A board's query pools its pins' embeddings (:attr:`board_query`, a
    :class:`BoardQuery`); training pairs are scored by :meth:`loss` (:attr:`criterion`, the
    paper's max-margin, a sampled softmax or any registered
    :class:`~pinsage_dgl.nn.training_loss.TrainingLoss`), whose scores may add a learned
    popularity prior (:attr:`popularity_prior`, a :class:`PopularityPrior`).

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
    dropout : float
        Dropout on :math:`h^{(0)}` and on each convolution's output, in training.
    layer_combination : str
        Readout of the layers: ``last``, ``mean`` or ``concat`` (see above).
    board_query : BoardQuery, optional
        How a board's pins make its query (default: their normalised mean).
    loss : TrainingLoss, optional
        The training loss (e.g. :class:`~pinsage_dgl.nn.SampledSoftmaxLoss`); default
        (None) the paper's max-margin loss with margin 0.1.
    popularity_prior : PopularityPrior, optional
        A learned per-pin score added to every score (with a loss that scores pins with
        it, ``loss.uses_pin_bias``; scorers and serving add it too).
    """

    def __init__(
        self,
        pin_spec: FeatureSpec,
        hidden_dim: int = 256,
        out_dim: int = 128,
        num_layers: int = 2,
        num_ids: int = 0,
        dropout: float = 0.0,
        layer_combination: str = "last",
        board_query: BoardQuery | None = None,
        loss: TrainingLoss | None = None,
        popularity_prior: PopularityPrior | None = None,
    ) -> None:
        super().__init__()
        loss = MaxMarginLoss() if loss is None else loss
        if popularity_prior is not None and not loss.uses_pin_bias:
            raise ValueError(
                "a popularity prior is trained by a loss that scores pins with it (the "
                f"softmax); {type(loss).__name__} does not"
            )
        if num_layers < 0:
            raise ValueError(f"num_layers must be >= 0, got {num_layers}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if layer_combination not in LAYER_COMBINATIONS:
            raise ValueError(
                f"layer_combination must be one of {LAYER_COMBINATIONS}, got {layer_combination!r}"
            )
        self.hidden_dim = hidden_dim
        self.dropout = dropout
        self.layer_combination = layer_combination
        self.encoder = FeatureEncoder(pin_spec, hidden_dim, num_ids)
        self.convs = nn.ModuleList(
            PinSageConv(hidden_dim, hidden_dim, hidden_dim) for _ in range(num_layers)
        )
        readout = hidden_dim * (num_layers + 1 if layer_combination == "concat" else 1)
        self.G1 = nn.Linear(readout, hidden_dim)
        self.G2 = nn.Linear(hidden_dim, out_dim)
        self.board_query = board_query if board_query is not None else BoardQuery(out_dim)
        self.criterion = loss
        self.popularity_prior = popularity_prior
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise every learned weight: the encoder's, each convolution's, the board
        query's and the head's (Xavier-uniform, with the ReLU gain for G1, zero biases),
        the popularity prior's weight to 0 and the loss's own parameters (a softmax's
        temperature) to their start."""
        self.encoder.reset_parameters()
        for conv in self.convs:
            conv.reset_parameters()
        nn.init.xavier_uniform_(self.G1.weight, gain=nn.init.calculate_gain("relu"))
        nn.init.xavier_uniform_(self.G2.weight)
        nn.init.zeros_(self.G1.bias)
        nn.init.zeros_(self.G2.bias)
        self.board_query.reset_parameters()
        if self.popularity_prior is not None:
            nn.init.zeros_(self.popularity_prior.weight)
        self.criterion.reset_parameters()

    @property
    def num_layers(self) -> int:
        return len(self.convs)

    def readout(self, layers: list[torch.Tensor]) -> torch.Tensor:
        r"""The head's input from :math:`h^{(0)}, \dots, h^{(K)}` (``layer_combination``)."""
        if self.layer_combination == "last":
            return layers[-1]
        if self.layer_combination == "mean":
            return torch.stack(layers).mean(0)
        return torch.cat(layers, dim=-1)

    def head(self, r: torch.Tensor) -> torch.Tensor:
        """The dense layers G1, G2 and the final L2 normalisation, from the readout."""
        return F.normalize(self.G2(F.relu(self.G1(r), inplace=True)), p=2, dim=-1)

    def _drop(self, h: torch.Tensor) -> torch.Tensor:
        return F.dropout(h, self.dropout, self.training) if self.dropout else h

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
        h = self._drop(self.encoder(inputs))
        layers = [h]
        for conv, block in zip(self.convs, blocks, strict=True):
            h = self._drop(conv(block, h))
            # a block's destination nodes are the first rows of its sources
            layers = [layer[: len(h)] for layer in layers] + [h]
        return self.head(self.readout(layers))

    def embed_graph(
        self, pin_features: dict[str, torch.Tensor], graph: dgl.DGLGraph
    ) -> torch.Tensor:
        """Embeddings of every pin, each layer computed once over the whole graph.

        Differentiable: a training step whose minibatch reaches most of the graph computes
        every pin once per layer here (DGL's sparse kernels, forward and backward), instead
        of once per neighbourhood it appears in. ``graph`` holds every pin's importance
        neighbourhood (:func:`~pinsage_dgl.sampling.neighbor_graph` of the neighbour table);
        the result equals :meth:`forward` on blocks of the same table, and
        :func:`pinsage_dgl.inference.embed_all_pins` (chunked, no gradients) in eval mode.
        """
        ids = torch.arange(graph.num_nodes(), device=graph.device)
        h = self._drop(self.encoder({**pin_features, "_id": ids}))
        layers = [h]
        for conv in self.convs:
            h = self._drop(conv(graph, h))
            layers.append(h)
        return self.head(self.readout(layers))

    def loss(self, inputs: LossInputs, seeds: torch.Tensor | None = None) -> torch.Tensor:
        """The training loss (:attr:`criterion`) of an embedded minibatch, with the
        popularity prior as its per-pin bias where the loss uses one. When the pin ids of
        ``inputs`` are positions among a minibatch's ``seeds`` (a step on blocks), ``seeds``
        holds the pin ids of the positions, so the prior scores the right pins."""
        prior = self.popularity_prior
        if prior is not None and self.criterion.uses_pin_bias:
            bias = prior()
            inputs.pin_bias = bias if seeds is None else bias[seeds]
        return self.criterion(inputs)
