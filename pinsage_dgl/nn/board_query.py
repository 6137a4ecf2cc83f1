"""Board queries: a board's embedding pooled from its pins' embeddings."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

POOLINGS = ("mean", "recency", "attention")


def recency_weights(age: torch.Tensor, half_life: float) -> torch.Tensor:
    """Weight ``2^(-age / half_life)``: a pin ``half_life`` saves old counts half."""
    return torch.pow(2.0, -age.double() / half_life).float()


def segment_softmax(logits: torch.Tensor, rows: torch.Tensor, num_rows: int) -> torch.Tensor:
    """Softmax of ``logits`` ``[M]`` (or ``[M, K]``, each column apart) within each group
    of equal ``rows`` ``[M]``."""
    shape = (num_rows, *logits.shape[1:])
    top = torch.full(shape, float("-inf"), device=logits.device, dtype=logits.dtype)
    index = rows.view(-1, *[1] * (logits.dim() - 1)).expand_as(logits)
    top = top.scatter_reduce(0, index, logits, reduce="amax", include_self=True)
    weights = (logits - top[rows]).exp()
    total = torch.zeros(shape, device=logits.device, dtype=logits.dtype).index_add(0, rows, weights)
    return weights / total[rows]


def paired_scores(query: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """``[B]`` score of each query's own item (``items`` ``[B, d]``): the dot product, or
    for a multi-interest query ``[B, K, d]`` the best of its ``K`` dot products."""
    if query.dim() == 2:
        return (query * items).sum(-1)
    return (query * items[:, None, :]).sum(-1).amax(1)


def query_scores(query: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """``[B, N]`` scores of items shared by every query (``[N, d]``) or of each query's own
    items (``[B, N, d]``): dot products, or for a multi-interest query ``[B, K, d]`` the
    best of its ``K`` dot products with each item (one interest at a time: no ``[B, K, N]``
    tensor is held)."""
    if query.dim() == 2:
        return query @ items.T if items.dim() == 2 else torch.einsum("bd,bnd->bn", query, items)
    best = None
    for interest in query.unbind(1):
        scores = query_scores(interest, items)
        best = scores if best is None else torch.maximum(best, scores)
    return best


class BoardQuery(nn.Module):
    r"""A board's query pooled from its pins' embeddings.

    .. math::
        q_b = \mathrm{normalize}\Big(\sum_{j \in b} w_j z_j\Big)

    ``pooling`` chooses the weights :math:`w_j` of the board's pins:

    ``mean``
        equal weights;
    ``recency``
        :math:`2^{-a_j / h}`, with :math:`a_j` the pin's age in saves (0 = the latest) and
        :math:`h` the half-life;
    ``attention``
        learned: :math:`w = \mathrm{softmax}_j(v^\top \tanh(A z_j + c) - \lambda a_j)` over
        the board's pins (a small scorer of each pin's embedding; :math:`\lambda \ge 0`,
        learned from :math:`\ln 2 / h`, lets recent pins count more when ``use_age``).

    With ``num_interests`` :math:`K > 1` (``attention`` only) a board has :math:`K` queries,
    one per attention head :math:`w^{(k)} = \mathrm{softmax}_j(v_k^\top \tanh(A z_j + c) -
    \lambda a_j)`, and a pin's score is its best over them, :math:`\max_k q_b^{(k)} \cdot z`
    (:func:`paired_scores`, :func:`query_scores`), in training, evaluation and serving
    alike: a board with several themes keeps a query near each, as PinnerSage's several
    embeddings per user (Pal et al., KDD 2020), here learned end to end.

    With ``num_boards`` > 0 each known board also has a learned vector :math:`e_b` (from 0),
    as SimpleX's user tower adds a user embedding to the pooled history:

    .. math::
        q_b = \mathrm{normalize}\big(\mathrm{normalize}(\textstyle\sum_j w_j z_j) + e_b\big)

    (transductive: a board unseen in training, or without ``boards``, gets :math:`e_b = 0`,
    the pooled query alone).

    The same module makes board queries in training (the board task), in evaluation and in
    serving, so the query a model is trained with is the query it is scored and served with.

    Parameters
    ----------
    dim : int
        Embedding size (``attention`` only).
    pooling : str
        One of :data:`POOLINGS`.
    half_life : float
        Recency half-life in saves (``recency``; the starting decay of ``attention``).
    hidden_dim : int
        Size of the attention scorer's hidden layer.
    use_age : bool
        Give the attention scorer each pin's age.
    num_boards : int
        Known boards with a learned vector each (0: none, the query is the pooled pins).
    num_interests : int
        Queries per board (``attention`` only; 1: one query ``[B, d]``, else ``[B, K, d]``).
    """

    def __init__(
        self,
        dim: int = 64,
        pooling: str = "mean",
        half_life: float = 10.0,
        hidden_dim: int = 32,
        use_age: bool = True,
        num_boards: int = 0,
        num_interests: int = 1,
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if num_interests < 1 or (num_interests > 1 and pooling != "attention"):
            raise ValueError(
                f"num_interests must be >= 1, and > 1 only with pooling 'attention'; got "
                f"{num_interests} with {pooling!r}"
            )
        if half_life <= 0:
            raise ValueError(f"half_life must be > 0, got {half_life}")
        if num_boards < 0:
            raise ValueError(f"num_boards must be >= 0, got {num_boards}")
        self.pooling, self.half_life, self.use_age = pooling, half_life, use_age
        self.num_interests = num_interests
        self.board_embedding: nn.Embedding | None = None
        if num_boards:
            self.board_embedding = nn.Embedding(num_boards, dim)
        if pooling == "attention":
            self.scorer = nn.Sequential(
                nn.Linear(dim, hidden_dim),
                nn.Tanh(),
                nn.Linear(hidden_dim, num_interests, bias=False),
            )
            self.raw_decay = nn.Parameter(torch.zeros(())) if use_age else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Start as the plain pooled query: board vectors 0, attention weights equal up to
        the recency decay of ``half_life`` (the scorer's output layer 0). Several interests
        start apart (a random output layer): equal heads would get equal gradients through
        the max and never part."""
        if self.board_embedding is not None:
            nn.init.zeros_(self.board_embedding.weight)
        if self.pooling == "attention":
            self.scorer[0].reset_parameters()
            if self.num_interests == 1:
                nn.init.zeros_(self.scorer[2].weight)
            else:
                self.scorer[2].reset_parameters()
            if self.raw_decay is not None:
                # softplus⁻¹ of the starting decay, so the learned decay stays >= 0
                with torch.no_grad():
                    self.raw_decay.fill_(math.log(math.expm1(math.log(2) / self.half_life)))

    def weights(
        self, pin_embeddings: torch.Tensor, rows: torch.Tensor, num_boards: int, age: torch.Tensor
    ) -> torch.Tensor | None:
        """``[M]`` weight of each pin (``[M, K]``: one column per interest; ``None`` for
        the plain mean)."""
        if self.pooling == "mean":
            return None
        if self.pooling == "recency":
            return recency_weights(age, self.half_life).to(pin_embeddings.device)
        logits = self.scorer(pin_embeddings)
        if self.num_interests == 1:
            logits = logits.squeeze(-1)
        if self.raw_decay is not None:
            decay = F.softplus(self.raw_decay) * age.to(logits)
            logits = logits - (decay if logits.dim() == 1 else decay[:, None])
        return segment_softmax(logits, rows, num_boards)

    def forward(
        self,
        pin_embeddings: torch.Tensor,
        rows: torch.Tensor,
        num_boards: int,
        age: torch.Tensor | None = None,
        boards: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``[num_boards, d]`` unit-norm queries (``[num_boards, K, d]`` with several
        interests); a board with no pins (and no vector) gets 0.

        Parameters
        ----------
        pin_embeddings : torch.Tensor
            ``[M, d]`` embeddings of the boards' pins.
        rows : torch.Tensor
            ``[M]`` the board (row) each pin belongs to.
        num_boards : int
            Rows of the output.
        age : torch.Tensor, optional
            ``[M]`` each pin's age in its board (0 = latest); needed by ``recency`` and by
            ``attention`` with ``use_age`` (default: all 0).
        boards : torch.Tensor, optional
            ``[num_boards]`` each row's board id, for the learned board vectors (ids beyond
            the known boards get none).
        """
        rows = rows.to(pin_embeddings.device)
        if age is None:
            age = torch.zeros(len(rows), dtype=torch.int64)
        weights = self.weights(pin_embeddings, rows, num_boards, age.to(pin_embeddings.device))
        if weights is not None:
            weights = weights.to(pin_embeddings.dtype)
            if weights.dim() == 1:
                pin_embeddings = pin_embeddings * weights[:, None]
            else:  # one weighted copy of each pin per interest: [M, K, d]
                pin_embeddings = pin_embeddings[:, None, :] * weights[:, :, None]
        query = pin_embeddings.new_zeros(num_boards, *pin_embeddings.shape[1:])
        query = F.normalize(query.index_add(0, rows, pin_embeddings), dim=-1)
        if self.board_embedding is None or boards is None:
            return query
        table = self.board_embedding.weight
        boards = boards.to(table.device)
        known = boards < len(table)
        own = torch.zeros(num_boards, table.shape[1], dtype=query.dtype, device=query.device)
        own[known] = table[boards[known]].to(query.dtype)
        if query.dim() == 3:
            own = own[:, None, :]  # the board's vector joins each of its interests
        return F.normalize(query + own, dim=-1)

    def extra_repr(self) -> str:
        interests = f", num_interests={self.num_interests}" if self.num_interests > 1 else ""
        return f"pooling={self.pooling!r}, half_life={self.half_life}{interests}"
