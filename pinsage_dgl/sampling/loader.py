"""Training batches a run can resume exactly: each batch a pure function of its position.

A minibatch's random draws (positives, walks, negatives, a board's history pins) come from
streams seeded by (seed, epoch, batch index) alone, and an epoch's order from (seed, epoch),
so batch ``i`` of epoch ``e`` is the same whether the run was interrupted or not, whichever
process or loader worker draws it. DGL keeps no random state that could be saved and
restored; this makes none necessary. The loader reports its position to Lightning (the
stateful loader protocol, ``state_dict`` / ``load_state_dict``), so a run resumed from a
mid-epoch checkpoint draws the rest of that epoch, not the whole epoch again.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

from pinsage_dgl.sampling.neighbors import stream_seeds


class BatchKey(NamedTuple):
    """Which training batch to draw: its epoch, its index in the epoch, and its edges."""

    epoch: int
    index: int
    edge_ids: torch.Tensor


class TrainingBatches(DistributedSampler):
    """The training batches of each epoch, as :class:`BatchKey` s, for one rank.

    Epoch ``e`` orders the edges by a permutation drawn from (``seed``, ``e``) alone and cuts
    them into batches of ``batch_size`` (the last may be smaller). Of ``num_replicas``
    ranks, rank ``r`` takes batches ``r, r + W, ...``, padded by wrapping around so every
    rank takes as many (as :class:`~torch.utils.data.DistributedSampler` pads). It is a
    ``DistributedSampler`` so that Lightning keeps it under DDP rather than wrapping it;
    Lightning calls :meth:`set_epoch` before each epoch.

    Parameters
    ----------
    edge_ids : torch.Tensor
        ``[E]`` the training edges to batch.
    batch_size : int
        Edges per batch.
    seed : int
        Seeds every epoch's order.
    num_replicas, rank : int
        The number of ranks and this one's.
    """

    def __init__(
        self,
        edge_ids: torch.Tensor,
        batch_size: int,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"TrainingBatches: batch_size must be >= 1, got {batch_size}")
        if len(edge_ids) == 0:
            raise ValueError("TrainingBatches: no training edges to batch")
        num_batches = math.ceil(len(edge_ids) / batch_size)
        super().__init__(
            range(num_batches), num_replicas=num_replicas, rank=rank, shuffle=False, seed=seed
        )
        self.edge_ids, self.batch_size, self.num_batches = edge_ids, batch_size, num_batches
        self.start = 0  # batches of the current epoch already drawn (a resumed epoch)

    def set_epoch(self, epoch: int) -> None:
        """Draw epoch ``epoch`` next (from its first batch, unless resuming that epoch)."""
        if epoch != self.epoch:
            self.start = 0
        self.epoch = epoch

    def resume(self, epoch: int, start: int) -> None:
        """Draw epoch ``epoch`` next, from this rank's ``start``-th batch on."""
        if not 0 <= start <= len(self):
            raise ValueError(
                f"TrainingBatches: cannot resume at batch {start}: this rank's epoch has "
                f"{len(self)} batches (was the checkpoint written with another batch size?)"
            )
        self.epoch, self.start = epoch, start

    def __len__(self) -> int:
        return math.ceil(self.num_batches / self.num_replicas)

    def __iter__(self) -> Iterator[BatchKey]:
        start, self.start = self.start, 0
        generator = torch.Generator().manual_seed(stream_seeds(self.seed, self.epoch, count=1)[0])
        # the permutation in the edge ids' type (int32 gives the same one, half the memory)
        permutation = torch.randperm(
            len(self.edge_ids), generator=generator, dtype=self.edge_ids.dtype
        )
        # index_select takes int32 positions as they are (indexing would copy them to int64)
        order = torch.index_select(self.edge_ids, 0, permutation)
        del permutation
        batches = list(range(self.num_batches))
        batches += batches[: len(self) * self.num_replicas - self.num_batches]  # pad
        for index in batches[self.rank :: self.num_replicas][start:]:
            # a copy: a view would take the whole epoch's order along to a loader worker
            edges = order[index * self.batch_size : (index + 1) * self.batch_size].clone()
            yield BatchKey(self.epoch, index, edges)


class SeededCollate:
    """A collate function drawing each batch from streams seeded by its key.

    Calls ``collate(edge_ids)`` with torch's generator (which the walks draw from too)
    seeded by (``seed``, epoch, batch index), and restored afterwards, so a loader without
    workers leaves the training process's own draws (dropout) untouched; a batch is the
    same in any process and on any thread.
    """

    def __init__(self, collate: Callable[[torch.Tensor], dict], seed: int) -> None:
        self.collate, self.seed = collate, seed

    def __call__(self, key: BatchKey) -> dict:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(stream_seeds(self.seed, key.epoch, key.index, count=1)[0])
            return self.collate(key.edge_ids)


class _Keys(Dataset):
    """The dataset of a :class:`ResumableLoader`: the sampler's keys are the items."""

    def __init__(self, batches: TrainingBatches) -> None:
        self.batches = batches

    def __getitem__(self, key: BatchKey) -> BatchKey:
        return key

    def __len__(self) -> int:
        return len(self.batches)


class ResumableLoader(DataLoader):
    """A DataLoader of :class:`TrainingBatches` that a checkpoint can resume mid-epoch.

    Its ``state_dict`` is the epoch and the number of batches it has handed out in it;
    Lightning saves it in each checkpoint and, on resume, passes it to
    :meth:`load_state_dict`, so the loader carries on from the next batch. Each batch is
    drawn by :class:`SeededCollate`, so with or without worker processes the batches are
    the same.

    Parameters
    ----------
    batches : TrainingBatches
        Which batches, in which order.
    collate : callable
        Edge ids → a minibatch (e.g. :meth:`Task.collator`).
    num_workers : int
        Worker processes that draw batches ahead (persistent across epochs).
    pin_memory : bool
        Page-locked batches, for copies to a GPU that overlap compute.
    """

    def __init__(
        self,
        batches: TrainingBatches,
        collate: Callable[[torch.Tensor], dict],
        num_workers: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__(
            _Keys(batches),
            batch_size=None,  # the sampler's keys are whole batches
            sampler=batches,
            collate_fn=SeededCollate(collate, batches.seed),
            num_workers=num_workers,
            persistent_workers=num_workers > 0,
            pin_memory=pin_memory,
            # its own generator for the workers' base seeds: the global stream is not drawn
            generator=torch.Generator().manual_seed(batches.seed),
        )
        self.batches = batches
        self._epoch, self._position = batches.epoch, 0

    def __iter__(self) -> Iterator[dict]:
        self._epoch, self._position = self.batches.epoch, self.batches.start
        for batch in super().__iter__():
            self._position += 1
            yield batch

    def state_dict(self) -> dict[str, Any]:
        """The epoch and how many of its batches this loader has handed out."""
        return {"epoch": self._epoch, "position": self._position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Carry on from ``state`` (a :meth:`state_dict`): the next batch is its position's."""
        self.batches.resume(int(state["epoch"]), int(state["position"]))
