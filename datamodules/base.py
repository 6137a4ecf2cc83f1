"""The shared LightningDataModule: graph + split → sampler → train/val/test/predict loaders."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.accelerators import CUDAAccelerator
from torch.utils.data import DataLoader

from pinsage_dgl.graph import PinBoardGraph
from pinsage_dgl.history import BoardHistories
from pinsage_dgl.io import InputError
from pinsage_dgl.sampling import (
    HeldOutCollator,
    ImportanceSampler,
    Negatives,
    Neighborhood,
    PairCollator,
    ResumableLoader,
    SeededCollate,
    Task,
    TrainingBatch,
    TrainingBatches,
    TrainingGraph,
    board_batches,
    computed_rows,
    sample_candidates,
)
from pinsage_dgl.split import EdgeSplit, fold_validation


class PinSageDataModule(L.LightningDataModule):
    """Base of every PinSage datamodule; subclasses implement :meth:`load`.

    The graph is built on first use (also before ``setup``, since the CLI links the feature
    spec and pin count into the model when it instantiates it).

    Parameters
    ----------
    batch_size : int
        Training queries per minibatch.
    task : Task
        What a training query is (board queries or co-saved pairs, how a board's history is
        drawn): see :class:`~pinsage_dgl.sampling.Task`.
    negatives : Negatives
        What each query is contrasted with (the random pool, hard negatives from the start,
        their PPR band; a ``HardNegativeCurriculum`` callback sets the hard count epoch by
        epoch): see :class:`~pinsage_dgl.sampling.Negatives`.
    num_layers : int
        K, hops of each minibatch's blocks; the CLI links it from the model's
        ``num_layers`` (0: features only).
    neighborhood : Neighborhood
        How neighbourhoods are drawn (T, the walks, importance or uniform, a table or
        fresh walks per minibatch; a ``NeighborTableRefresh`` callback re-walks a table
        on a schedule): see :class:`~pinsage_dgl.sampling.Neighborhood`.
    full_graph : bool, optional
        Train each step on every pin's embedding, computed once per layer from the
        neighbour table (``True``), or on DGL blocks of the minibatch's neighbourhoods
        (``False``). Default (``None``): measured on the first training batch, full graph
        when its blocks would compute at least ``FULL_GRAPH_SHARE`` of the pin rows a pass
        over the whole graph computes (small catalogues, where a minibatch reaches most
        pins and blocks only add their building), blocks otherwise.
    fold_validation : bool
        Train on the validation pins too (after settings were chosen on them: the final
        model of a benchmark, as published protocols train on the whole training file).
    num_workers : int
        DataLoader worker processes that sample minibatches while the model trains.
    eval_batch_size : int
        Held-out pairs per evaluation minibatch (about: a board's held-out pins stay in one).
    seed : int
        Seeds the split, the walks and the shuffling.
    """

    #: negatives per held-out pin of the sampled (NCF) protocol; None: the data has none
    sampled_negatives: int | None = None

    def __init__(
        self,
        batch_size: int = 512,
        task: Task = Task(),
        negatives: Negatives = Negatives(),
        num_layers: int = 2,
        neighborhood: Neighborhood = Neighborhood(),
        full_graph: bool | None = None,
        fold_validation: bool = False,
        num_workers: int = 0,
        eval_batch_size: int = 256,
        seed: int = 0,
    ) -> None:
        super().__init__()
        for name, value in (("batch_size", batch_size), ("eval_batch_size", eval_batch_size)):
            if value < 1:
                raise ValueError(f"{type(self).__name__}: {name} must be >= 1, got {value}")
        for name, value in (("num_layers", num_layers), ("num_workers", num_workers)):
            if value < 0:
                raise ValueError(f"{type(self).__name__}: {name} must be >= 0, got {value}")
        for name, value, settings_class in (
            ("task", task, Task),
            ("negatives", negatives, Negatives),
            ("neighborhood", neighborhood, Neighborhood),
        ):
            if not isinstance(value, settings_class):
                raise TypeError(
                    f"{type(self).__name__}: {name} must be a {settings_class.__name__}, got "
                    f"{type(value).__name__} (e.g. {name}={settings_class.__name__}(...))"
                )
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.num_workers, self.seed = num_workers, seed
        self.task, self.negatives = task, negatives
        self.num_layers, self.neighborhood = num_layers, neighborhood
        if full_graph and not neighborhood.table and num_layers > 0:
            raise ValueError(
                f"{type(self).__name__}: full_graph training needs a neighbour table "
                "(neighborhood.table=True)"
            )
        self._full_graph = full_graph
        self._measured_full_graph: bool | None = None
        self.fold_validation = fold_validation
        self._training_graph: TrainingGraph | None = None
        self._collator: PairCollator | None = None
        self._split: EdgeSplit | None = None
        self._graph: PinBoardGraph | None = None
        self._test_candidates: torch.Tensor | None = None
        self._val_candidates: torch.Tensor | None = None

    # --- what subclasses provide -------------------------------------------------------
    def load(self) -> tuple[PinBoardGraph, EdgeSplit, torch.Tensor | None]:
        """The full graph, its split and optional ``[n_test, C]`` test candidates."""
        raise NotImplementedError

    # --- graph and split ------------------------------------------------------------------
    def _ensure_loaded(self) -> None:
        if self._split is None:
            self._graph, self._split, self._test_candidates = self.load()
            if self.fold_validation:
                self._split = fold_validation(self._graph, self._split)

    @property
    def graph(self) -> PinBoardGraph:
        """All nodes and all edges (held-out ones included)."""
        self._ensure_loaded()
        return self._graph

    @property
    def split(self) -> EdgeSplit:
        self._ensure_loaded()
        return self._split

    @property
    def test_candidates(self) -> torch.Tensor | None:
        """``[n_test, C]`` candidate pins per test pair (target first), where the data has them."""
        self._ensure_loaded()
        return self._test_candidates

    @property
    def val_candidates(self) -> torch.Tensor | None:
        """Candidates of each validation pair for the sampled protocol, drawn as the test's
        were (the target, then ``sampled_negatives`` uniform pins its board never saved);
        None where the data has no sampled protocol."""
        if self.sampled_negatives is None:
            return None
        if self._val_candidates is None:
            self._val_candidates = sample_candidates(
                self.graph, self.split.val, self.sampled_negatives, self.seed
            )
        return self._val_candidates

    def test_histories(self) -> BoardHistories:
        """Each board's known pins at test time: training pins, then validation pins."""
        known = None if self.fold_validation else self.split.val
        return BoardHistories(self.split.train, known)

    @property
    def feature_spec(self) -> dict[str, Any]:
        """Pin feature spec as plain data (linked into the model by the CLI)."""
        return self.graph.pin_spec.to_dict()

    @property
    def num_pins(self) -> int:
        return self.graph.num_pins

    @property
    def num_boards(self) -> int:
        return self.graph.num_boards

    @property
    def training_graph(self) -> TrainingGraph:
        """The training graph with its importance sampler (and its one neighbour table) and
        hard-negative sampler: what the module, the callbacks and the benchmarks use."""
        if self._training_graph is None:
            train = self.split.train
            sampler = ImportanceSampler(train, self.num_layers, self.neighborhood, seed=self.seed)
            self._training_graph = TrainingGraph(train, sampler, self.negatives)
        return self._training_graph

    def reseed_training(self, seed: int) -> None:
        """Seed the walks, the shuffling and the negatives anew with ``seed``, keeping the
        graph and the split already drawn with the datamodule's own seed (the same test
        pins under several training seeds)."""
        self._ensure_loaded()
        if self.sampled_negatives is not None:
            self.val_candidates  # noqa: B018  (drawn with the split's seed, kept)
        self.seed = seed
        self._training_graph = None
        self._collator = None
        self._measured_full_graph = None

    def use_sampler(self, sampler: ImportanceSampler) -> None:
        """Train and embed with ``sampler`` (one built on this training graph, e.g. with a
        table walked already, or another sampler to compare) instead of building one."""
        self._training_graph = TrainingGraph(self.split.train, sampler, self.negatives)
        self._measured_full_graph = None
        self._collator = None

    # a whole-graph step computes (2K + 1) P pin rows, blocks their own count plus their
    # building: measured at 41k-100k pins, blocks at 0.4-0.6 of the rows take 0.4-0.6 of
    # the time, at 0.8-0.9 (a few thousand pins) as long or longer
    FULL_GRAPH_SHARE = 0.75

    @property
    def full_graph(self) -> bool:
        """Whether training steps embed the whole graph (see the ``full_graph`` option);
        by default measured once on the first training batch (after :meth:`setup`)."""
        if self._full_graph is not None:
            return self._full_graph
        if self.num_layers == 0 or not self.neighborhood.table:
            return False
        if self._measured_full_graph is None:
            self._measured_full_graph = (
                self._blocks_rows()
                >= self.FULL_GRAPH_SHARE
                * (2 * self.num_layers + 1)
                * self.training_graph.sampler.graph.num_pins
            )
        return self._measured_full_graph

    def _blocks_rows(self) -> int:
        """Pin rows the blocks of the first training batch compute (that batch as training
        draws it: from its own seeded streams, so nothing else's draws change)."""
        collate = self._training_collator()
        collate.full_graph = False  # the probe measures blocks
        batches = TrainingBatches(self._training_edges(), self.batch_size, self.seed)
        first = SeededCollate(collate, self.seed)(next(iter(batches)))
        return computed_rows(first.blocks)

    def _training_edges(self) -> torch.Tensor:
        """The trainable edges of the training graph (the collator's: computed once)."""
        return self._training_collator().trainable_edges

    def _training_collator(self) -> PairCollator:
        """The task's collator on the training graph, built once (its per-save arrays are
        the largest part of training's memory): the first-batch probe and the loader share
        it."""
        if self._collator is None:
            training = self.training_graph
            self._collator = self.task.collator(
                training.sampler, self.negatives, training.hard_negatives
            )
        return self._collator

    @property
    def rank(self) -> int:
        """This process's global rank under DDP (0 otherwise)."""
        return self.trainer.global_rank if self.trainer is not None else 0

    @property
    def source(self) -> str:
        """The data in messages: its file, or this datamodule's name."""
        return type(self).__name__

    def setup(self, stage: str | None = None) -> None:
        self._ensure_loaded()
        if stage == "fit":  # before Lightning prints a model it cannot train
            self._check_trainable()
        # the neighbour table first (before loader workers start): walked from the seed
        # alone, so every rank shares it; training batches draw from streams seeded by
        # their position (see TrainingBatches), so no other random state is set here
        self.training_graph  # noqa: B018

    # --- loaders ----------------------------------------------------------------------------
    def _on_cuda(self) -> bool:
        """Whether batches go to a GPU (page-locked batches: the copies overlap compute)."""
        return self.trainer is not None and isinstance(self.trainer.accelerator, CUDAAccelerator)

    def transfer_batch_to_device(
        self, batch: Any, device: torch.device, dataloader_idx: int
    ) -> Any:
        """Move a batch to ``device``: its DGL blocks as its tensors, without waiting where
        the batch is page-locked (Lightning's default would copy blocks synchronously)."""
        if isinstance(batch, TrainingBatch):
            return batch.to(device, non_blocking=True)
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def _held_out_batches(self, pairs: torch.Tensor, collate: Any) -> DataLoader:
        # each item a whole batch holding its boards' held-out pins together (full ranking
        # ranks them together, as evaluate() does); under DDP Lightning shards the batches
        return DataLoader(
            board_batches(pairs, self.eval_batch_size),
            batch_size=None,
            collate_fn=collate,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=self._on_cuda(),
        )

    def train_dataloader(self) -> DataLoader:
        edges = self._check_trainable()
        full_graph = self.full_graph  # (measured with the collator below, on first use)
        collate = self._training_collator()
        collate.full_graph = full_graph
        world = self.trainer.world_size if self.trainer is not None else 1
        batches = TrainingBatches(edges, self.batch_size, self.seed, world, self.rank)
        return ResumableLoader(batches, collate, self.num_workers, self._on_cuda())

    def _check_trainable(self) -> torch.Tensor:
        """The training edges, or an :class:`InputError` naming the data where there are
        none to train on."""
        edges = self._training_edges()
        if len(edges) == 0:
            raise InputError(
                f"{self.source}: no board has two training pins (after each board's held-out "
                f"pins: {self.graph.num_pins:,} pins and {self.graph.num_boards:,} boards in "
                "all), so there are no positive pairs to train on"
            )
        return edges

    def _held_out_loader(
        self, pairs: torch.Tensor, candidates: torch.Tensor | None, known: torch.Tensor | None
    ) -> DataLoader:
        collate = HeldOutCollator(self.split.train, pairs, candidates, known)
        return self._held_out_batches(pairs, collate)

    def val_dataloader(self) -> DataLoader:
        return self._held_out_loader(self.split.val, self.val_candidates, None)

    def test_dataloader(self) -> DataLoader:
        # validation pins precede test pins: part of the board's history at test time
        known = None if self.fold_validation else self.split.val
        return self._held_out_loader(self.split.test, self.test_candidates, known)

    def predict_dataloader(self) -> DataLoader:
        return DataLoader(torch.arange(self.num_pins), batch_size=self.eval_batch_size * 16)
