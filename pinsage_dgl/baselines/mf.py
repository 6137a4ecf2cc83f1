"""Board and pin vectors fitted on the saves: matrix factorisation and LightGCN.

Both learn a vector per board and per pin and score a pin for a board by their dot product;
they differ in how the vectors are made (a table, or a table smoothed over the graph) and
share the training loop and the two losses: BPR (Rendle et al., 2009), and the sampled
softmax that PinSage trains with (:class:`~pinsage_dgl.nn.SampledSoftmaxLoss`), so a table
of results can separate what the graph adds from what the loss adds.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from pinsage_dgl.graph import PinBoardGraph, SavedPairs
from pinsage_dgl.history import History
from pinsage_dgl.nn import LossInputs, SampledSoftmaxLoss

FACTOR_LOSSES = ("bpr", "softmax")


class FactorModel(nn.Module):
    r"""Base of the baselines that score :math:`s(b, p) = u_b^\top v_p` (+ a pin bias).

    Subclasses give :meth:`vectors`. With ``loss="bpr"`` the model maximises
    :math:`\log \sigma(s(b, p) - s(b, n))` over training saves (b, p) and one uniform
    random pin n each, with L2 regularisation of the vectors in the batch, and scores with a
    per-pin bias. With ``loss="softmax"`` vectors are L2-normalised and trained by
    :class:`SampledSoftmaxLoss` (a shared pool of ``num_negatives`` uniform pins plus
    in-batch negatives, logQ correction, the board's own pins masked, a learned
    temperature), exactly as PinSage's softmax option. Pin queries (item-to-item) use the
    cosine of the pin vectors.

    Parameters
    ----------
    num_boards, num_pins : int
        Table sizes.
    dim : int
        Vector size.
    loss : str
        ``bpr`` or ``softmax``.
    temperature : float
        Starting τ of the softmax loss.
    """

    def __init__(
        self,
        num_boards: int,
        num_pins: int,
        dim: int = 64,
        loss: str = "bpr",
        temperature: float = 0.07,
    ) -> None:
        super().__init__()
        if loss not in FACTOR_LOSSES:
            raise ValueError(f"loss must be one of {FACTOR_LOSSES}, got {loss!r}")
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        self.loss_name = loss
        self.boards = nn.Embedding(num_boards, dim)
        self.pins = nn.Embedding(num_pins, dim)
        self.pin_bias = nn.Parameter(torch.zeros(num_pins))
        self.criterion = SampledSoftmaxLoss(temperature) if loss == "softmax" else None
        nn.init.normal_(self.boards.weight, std=0.1)
        nn.init.normal_(self.pins.weight, std=0.1)
        self._cache: tuple[torch.Tensor, torch.Tensor] | None = None  # vectors after fit

    def vectors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``[num_boards, d]`` and ``[num_pins, d]`` vectors (normalised for the softmax)."""
        raise NotImplementedError

    def _scoring_vectors(self) -> tuple[torch.Tensor, torch.Tensor]:
        boards, pins = self.vectors()
        if self.criterion is not None:
            return F.normalize(boards, dim=1), F.normalize(pins, dim=1)
        return boards, pins

    def fit(
        self,
        train: PinBoardGraph,
        epochs: int = 30,
        batch_size: int = 4096,
        lr: float = 5e-3,
        l2: float = 1e-4,
        num_negatives: int = 1000,
        seed: int = 0,
        progress: bool = False,
        on_epoch: Callable[[int], bool | None] | None = None,
    ) -> FactorModel:
        """Train on every ``saved_to`` edge of ``train`` for ``epochs`` passes.

        ``l2`` weighs the BPR regulariser, or is Adam's weight decay with the softmax loss;
        ``num_negatives`` is the softmax's shared pool; ``on_epoch(epoch)`` is called after
        each pass (e.g. to record validation quality against time) and stops training by
        returning True.
        """
        if epochs < 1 or batch_size < 1 or lr <= 0 or l2 < 0 or num_negatives < 1:
            raise ValueError(
                f"need epochs >= 1, batch_size >= 1, lr > 0, l2 >= 0, num_negatives >= 1; "
                f"got {epochs}, {batch_size}, {lr}, {l2}, {num_negatives}"
            )
        pins, boards = train.saves()
        generator = torch.Generator().manual_seed(seed)
        softmax = self.criterion is not None
        optimizer = torch.optim.Adam(self.parameters(), lr=lr, weight_decay=l2 if softmax else 0)
        num_pins = self.pins.num_embeddings
        log_share = (torch.bincount(pins, minlength=num_pins).double() / len(pins)).log().float()
        saved = SavedPairs(train)
        for epoch in tqdm(range(epochs), desc=type(self).__name__, disable=not progress):
            self.train()
            for index in torch.randperm(len(pins), generator=generator).split(batch_size):
                b, p = boards[index], pins[index]
                board_vectors, pin_vectors = self._scoring_vectors()
                u, vp = board_vectors[b], pin_vectors[p]
                if softmax:
                    n = torch.randint(num_pins, (num_negatives,), generator=generator)
                    loss = self.criterion(
                        LossInputs(
                            u,
                            vp,
                            pin_vectors[n],
                            positive_ids=p,
                            negative_ids=n,
                            negative_log_q=math.log(num_negatives / num_pins),
                            positive_log_q=log_share[p] + math.log(len(b)),
                            mask=saved.of_boards(b),
                        )
                    )
                else:
                    n = torch.randint(num_pins, (len(index),), generator=generator)
                    vn = pin_vectors[n]
                    margin = (u * (vp - vn)).sum(1) + self.pin_bias[p] - self.pin_bias[n]
                    # on the free vectors (LightGCN's layer 0), as in both papers
                    ego = (self.boards.weight[b], self.pins.weight[p], self.pins.weight[n])
                    reg = sum(e.square().sum(1) for e in ego)
                    loss = -F.logsigmoid(margin).mean() + l2 * reg.mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            self.eval()
            self._cache = None
            if on_epoch is not None and on_epoch(epoch):
                break
        return self

    @torch.no_grad()
    def _final(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._cache is None:
            self._cache = self._scoring_vectors()
        return self._cache

    @torch.no_grad()
    def score_pins(self, pins: torch.Tensor) -> torch.Tensor:
        v = F.normalize(self._final()[1], dim=1)
        return v[pins] @ v.T

    @torch.no_grad()
    def score_boards(self, history: History) -> torch.Tensor:
        boards, pins = self._final()
        scores = boards[history.boards] @ pins.T
        return scores if self.criterion is not None else scores + self.pin_bias


class MatrixFactorization(FactorModel):
    r"""Matrix factorisation: a free vector per board and per pin (:class:`FactorModel`)."""

    def vectors(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.boards.weight, self.pins.weight


class LightGCN(FactorModel):
    r"""LightGCN (He et al., SIGIR 2020): free vectors smoothed over the graph.

    .. math::
        e^{(k+1)}_u = \sum_{v \in N(u)} \frac{e^{(k)}_v}{\sqrt{|N(u)|\,|N(v)|}}, \qquad
        e_u = \frac{1}{K + 1} \sum_{k=0}^{K} e^{(k)}_u

    on the board–pin graph of the training saves, then scored by dot product (or cosine,
    with the softmax loss) as :class:`FactorModel`. Propagation is a sparse matrix product
    over all nodes at every step.

    Parameters
    ----------
    train : PinBoardGraph
        The training graph (its saves are the propagation graph).
    num_layers : int
        K.
    **kwargs
        ``dim``, ``loss``, ``temperature`` of :class:`FactorModel`.
    """

    def __init__(self, train: PinBoardGraph, num_layers: int = 3, **kwargs) -> None:
        super().__init__(train.num_boards, train.num_pins, **kwargs)
        if num_layers < 0:
            raise ValueError(f"num_layers must be >= 0, got {num_layers}")
        self.num_layers = num_layers
        pins, boards = train.saves()
        board_degree = torch.bincount(boards, minlength=train.num_boards).float()
        pin_degree = torch.bincount(pins, minlength=train.num_pins).float()
        norm = (board_degree[boards] * pin_degree[pins]).rsqrt()
        shape = (train.num_boards, train.num_pins)
        edges = torch.stack([boards, pins])
        self.board_to_pin = torch.sparse_coo_tensor(edges, norm, shape).coalesce()
        self.pin_to_board = self.board_to_pin.t().coalesce()

    def vectors(self) -> tuple[torch.Tensor, torch.Tensor]:
        boards, pins = self.boards.weight, self.pins.weight
        board_sum, pin_sum = boards, pins
        for _ in range(self.num_layers):
            boards, pins = self.board_to_pin @ pins, self.pin_to_board @ boards
            board_sum, pin_sum = board_sum + boards, pin_sum + pins
        return board_sum / (self.num_layers + 1), pin_sum / (self.num_layers + 1)
