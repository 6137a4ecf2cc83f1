"""The training minibatch: what the collators give and the training step consumes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace

import dgl
import torch

from pinsage_dgl.history import History

__all__ = ["TrainingBatch"]


@dataclass
class TrainingBatch:
    """A training minibatch of ``B`` queries, each with its positive and its negatives.

    A query is a pin (``query``, the item-to-item task) or a board's pins (``history``,
    the board task): exactly one of the two is given. Pins are named by position among the
    output nodes of ``blocks`` (a step on DGL blocks, with the input features ``inputs``)
    or, without ``blocks``, by pin id (a whole-graph step embeds every pin once per layer).

    Attributes
    ----------
    edge_ids : torch.Tensor
        The loader's items the batch was drawn from: ``[B]`` training edges (saves), or
        for the ``halves`` task the ``[B / 2]`` boards (two query rows each).
    positive : torch.Tensor
        ``[B]`` each query's positive pin.
    negatives : torch.Tensor
        ``[N]`` random negative pins shared by every query, or ``[B, N]`` per query.
    hard_negatives : torch.Tensor
        ``[B, H]`` each query's hard negatives (``H`` may be 0).
    mask : torch.Tensor
        ``[2, M]`` (row, pin): the pins each row's board already holds, never a negative
        of that row (accidental positives).
    boards : torch.Tensor
        ``[B]`` each query's board.
    positive_log_q : torch.Tensor
        ``[B]`` (``[P]``) log of the expected number of times each positive is drawn as an
        in-batch negative (a sampled softmax's logQ correction).
    negative_log_q : torch.Tensor
        log of the expected number of draws of each random negative (a scalar: uniform).
    query : torch.Tensor, optional
        ``[B]`` query pins (item-to-item task).
    history : History, optional
        The pins that make each row's board query, with their rows and ages, and
        ``history.boards`` = ``boards`` (board task).
    blocks : list of dgl.DGLGraph, optional
        The DGL blocks from the input pins to the batch's pins (a step on blocks).
    inputs : dict of torch.Tensor, optional
        Pin features of the first block's input nodes, with their pin ids as ``"_id"``.
    positive_rows : torch.Tensor, optional
        ``[P]`` the row of each positive, ascending (several positives per query: the
        ``halves`` task); None: ``positive[i]`` is row ``i``'s.
    """

    edge_ids: torch.Tensor
    positive: torch.Tensor
    negatives: torch.Tensor
    hard_negatives: torch.Tensor
    mask: torch.Tensor
    boards: torch.Tensor
    positive_log_q: torch.Tensor
    negative_log_q: torch.Tensor
    query: torch.Tensor | None = None
    history: History | None = None
    blocks: list[dgl.DGLGraph] | None = None
    inputs: dict[str, torch.Tensor] | None = None
    positive_rows: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if (self.query is None) == (self.history is None):
            raise ValueError("TrainingBatch: give exactly one of query (pins) and history")
        if (self.blocks is None) != (self.inputs is None):
            raise ValueError("TrainingBatch: blocks and their inputs come together")

    def __len__(self) -> int:
        """The number of queries (rows)."""
        return len(self.boards)

    @property
    def on_blocks(self) -> bool:
        """Whether pins are positions among ``blocks``' outputs (else pin ids)."""
        return self.blocks is not None

    def seeds(self) -> torch.Tensor | None:
        """Pin ids of the positions a batch on blocks refers to (its last block's
        destinations; with no convolutions, its input pins); None when pins are ids."""
        if self.blocks is None:
            return None
        if self.blocks:
            return self.blocks[-1].dstdata[dgl.NID]
        return self.inputs["_id"]

    def to(self, device: torch.device | str, non_blocking: bool = False) -> TrainingBatch:
        """The batch on ``device`` (its blocks too)."""
        batch = self._map(lambda t: t.to(device, non_blocking=non_blocking))
        if self.blocks is not None:
            batch.blocks = [block.to(device, non_blocking=non_blocking) for block in self.blocks]
        return batch

    def pin_memory(self) -> TrainingBatch:
        """The batch's tensors in page-locked memory (called by a DataLoader with
        ``pin_memory``; the blocks are left as they are)."""
        return self._map(torch.Tensor.pin_memory)

    def _map(self, apply: Callable[[torch.Tensor], torch.Tensor]) -> TrainingBatch:
        changes = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, torch.Tensor):
                changes[field.name] = apply(value)
            elif isinstance(value, History):
                changes[field.name] = History(
                    *(apply(t) for t in (value.rows, value.pins, value.age, value.boards))
                )
            elif isinstance(value, dict):
                changes[field.name] = {name: apply(t) for name, t in value.items()}
        return replace(self, **changes)
