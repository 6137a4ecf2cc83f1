"""Matrix factorisation trained with BPR (Rendle et al., 2009): the classic learned baseline."""

from __future__ import annotations

import torch
from torch import nn
from tqdm.auto import tqdm

from pinsage_dgl.evaluation import History
from pinsage_dgl.graph import SAVED_TO, PinBoardGraph


class MatrixFactorization(nn.Module):
    r"""Board and pin vectors with :math:`s(b, p) = u_b^\top v_p + c_p`, fitted by BPR.

    BPR maximises :math:`\log \sigma(s(b, p) - s(b, n))` over training saves (b, p) and
    uniform random pins n, with L2 regularisation of the vectors in the batch. Pin
    queries (item-to-item) use the cosine of the pin vectors.

    Parameters
    ----------
    num_boards, num_pins : int
        Table sizes.
    dim : int
        Vector size.
    """

    def __init__(self, num_boards: int, num_pins: int, dim: int = 64) -> None:
        super().__init__()
        self.boards = nn.Embedding(num_boards, dim)
        self.pins = nn.Embedding(num_pins, dim)
        self.pin_bias = nn.Parameter(torch.zeros(num_pins))
        nn.init.normal_(self.boards.weight, std=0.1)
        nn.init.normal_(self.pins.weight, std=0.1)

    def fit(
        self,
        train: PinBoardGraph,
        epochs: int = 30,
        batch_size: int = 4096,
        lr: float = 5e-3,
        l2: float = 1e-4,
        seed: int = 0,
        progress: bool = False,
    ) -> MatrixFactorization:
        """Train on every ``saved_to`` edge of ``train`` for ``epochs`` passes."""
        if epochs < 1 or batch_size < 1 or lr <= 0 or l2 < 0:
            raise ValueError(
                f"need epochs >= 1, batch_size >= 1, lr > 0, l2 >= 0; got {epochs}, "
                f"{batch_size}, {lr}, {l2}"
            )
        pins, boards = train.graph.edges(etype=SAVED_TO)
        generator = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.Adam(self.parameters(), lr=lr)
        for _ in tqdm(range(epochs), desc="MF-BPR", disable=not progress):
            for index in torch.randperm(len(pins), generator=generator).split(batch_size):
                b, p = boards[index], pins[index]
                n = torch.randint(self.pins.num_embeddings, (len(index),), generator=generator)
                u, vp, vn = self.boards(b), self.pins(p), self.pins(n)
                margin = (u * (vp - vn)).sum(1) + self.pin_bias[p] - self.pin_bias[n]
                reg = u.square().sum(1) + vp.square().sum(1) + vn.square().sum(1)
                loss = -nn.functional.logsigmoid(margin).mean() + l2 * reg.mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        return self

    @torch.no_grad()
    def score_pins(self, pins: torch.Tensor) -> torch.Tensor:
        v = nn.functional.normalize(self.pins.weight, dim=1)
        return v[pins] @ v.T

    @torch.no_grad()
    def score_boards(self, history: History) -> torch.Tensor:
        return self.boards(history.boards) @ self.pins.weight.T + self.pin_bias
