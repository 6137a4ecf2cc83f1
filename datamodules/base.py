"""The shared LightningDataModule: graph + split → sampler → train/val/test/predict loaders."""

from __future__ import annotations

from typing import Any

import dgl
import lightning as L
import torch
from lightning.pytorch.accelerators import CUDAAccelerator
from torch.utils.data import DataLoader

from pinsage_dgl.evaluation import HeldOutCollator, sample_candidates
from pinsage_dgl.graph import PinBoardGraph
from pinsage_dgl.history import BoardHistories
from pinsage_dgl.sampling import (
    HISTORIES,
    BoardCollator,
    ImportanceSampler,
    Neighborhood,
    PairCollator,
    TrainingGraph,
    seed_worker,
    trainable_edges,
)
from pinsage_dgl.split import EdgeSplit, fold_validation

TASKS = ("pairs", "boards")


class PinSageDataModule(L.LightningDataModule):
    """Base of every PinSage datamodule; subclasses implement :meth:`load`.

    The graph is built on first use (also before ``setup``, since the CLI links the feature
    spec and pin count into the model when it instantiates it).

    Parameters
    ----------
    batch_size : int
        Training pairs per minibatch.
    num_negatives : int
        Random negatives: the size of the pool shared by a minibatch's queries, or the
        number per query with ``shared_negatives=False``.
    shared_negatives : bool
        One random pool per minibatch (the paper's) rather than negatives per query.
    num_hard_negatives : int
        Hard negatives per query from the start (a ``HardNegativeCurriculum`` callback
        overrides it epoch by epoch).
    hard_negative_band : tuple of int
        PPR rank band of hard negatives before scaling to the catalogue (see
        ``pinsage_dgl.sampling.scaled_band``).
    hard_negative_walks : int
        PPR walks per query for hard negatives.
    task : str
        ``"boards"`` (default): board queries (up to ``max_history`` of a board's pins →
        one of its pins, the task of the leave-latest-out protocols); ``"pairs"``: co-saved
        pin pairs (query pin → positive pin, the paper's item-to-item task).
    max_history : int
        Pins drawn from a board to make its query (``task="boards"``).
    history : str
        Which of its pins make a board's query in training (``task="boards"``):
        ``"random"`` (drawn uniformly from the board's other pins) or ``"earlier"`` (the
        pins it saved just before the positive, as evaluation asks for its latest pins;
        see :class:`~pinsage_dgl.sampling.BoardCollator`). ``random`` is the default: it
        needs no timestamps and holds on every dataset measured, while ``earlier`` wins
        big on MovieLens-100K and loses big on the NCF split of MovieLens-1M, whose
        training file has no timestamps (so "earlier" is file order; see
        ``benchmarks/results/experiments.md``); the tuner searches it.
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
        (``False``). Default (``None``): full graph when a minibatch's receptive field
        would reach at least half the pins (medium catalogues, and the board task with its
        many history pins), where blocks would compute popular pins many times over.
    fold_validation : bool
        Train on the validation pins too (after settings were chosen on them: the final
        model of a benchmark, as published protocols train on the whole training file).
    num_workers : int
        DataLoader worker processes that sample minibatches while the model trains.
    eval_batch_size : int
        Held-out pairs per evaluation minibatch.
    seed : int
        Seeds the split, the walks and the shuffling.
    """

    #: negatives per held-out pin of the sampled (NCF) protocol; None: the data has none
    sampled_negatives: int | None = None

    def __init__(
        self,
        batch_size: int = 512,
        num_negatives: int = 1000,
        shared_negatives: bool = True,
        num_hard_negatives: int = 0,
        hard_negative_band: tuple[int, int] = (2000, 5000),
        hard_negative_walks: int = 200,
        task: str = "boards",
        max_history: int = 50,
        history: str = "random",
        num_layers: int = 2,
        neighborhood: Neighborhood = Neighborhood(),
        full_graph: bool | None = None,
        fold_validation: bool = False,
        num_workers: int = 0,
        eval_batch_size: int = 256,
        seed: int = 0,
    ) -> None:
        super().__init__()
        for name, value in (
            ("batch_size", batch_size),
            ("num_negatives", num_negatives),
            ("max_history", max_history),
            ("eval_batch_size", eval_batch_size),
            ("hard_negative_walks", hard_negative_walks),
        ):
            if value < 1:
                raise ValueError(f"{type(self).__name__}: {name} must be >= 1, got {value}")
        if task not in TASKS:
            raise ValueError(f"{type(self).__name__}: task must be one of {TASKS}, got {task!r}")
        if num_hard_negatives < 0 or num_layers < 0:
            raise ValueError(
                f"{type(self).__name__}: num_hard_negatives and num_layers must be >= 0, got "
                f"{num_hard_negatives} and {num_layers}"
            )
        if num_workers < 0:
            raise ValueError(f"{type(self).__name__}: num_workers must be >= 0, got {num_workers}")
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.num_negatives, self.num_workers, self.seed = num_negatives, num_workers, seed
        self.shared_negatives = shared_negatives
        self.hard_negative_settings = {
            "num_per_query": num_hard_negatives,
            "band": tuple(hard_negative_band),
            "num_walks": hard_negative_walks,
        }
        self.num_layers, self.neighborhood = num_layers, neighborhood
        if history not in HISTORIES:
            raise ValueError(
                f"{type(self).__name__}: history must be one of {HISTORIES}, got {history!r}"
            )
        self.task, self.max_history, self.history = task, max_history, history
        if full_graph and not neighborhood.table and num_layers > 0:
            raise ValueError(
                f"{type(self).__name__}: full_graph training needs a neighbour table "
                "(neighborhood.table=True)"
            )
        self._full_graph = full_graph
        self.fold_validation = fold_validation
        self._training_graph: TrainingGraph | None = None
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
            self._training_graph = TrainingGraph(train, sampler, self.hard_negative_settings)
        return self._training_graph

    def use_sampler(self, sampler: ImportanceSampler) -> None:
        """Train and embed with ``sampler`` (one built on this training graph, e.g. with a
        table walked already, or another sampler to compare) instead of building one."""
        self._training_graph = TrainingGraph(self.split.train, sampler, self.hard_negative_settings)

    @property
    def full_graph(self) -> bool:
        """Whether training steps embed the whole graph (see the ``full_graph`` option)."""
        if self._full_graph is not None:
            return self._full_graph
        if not self.neighborhood.table and self.num_layers > 0:
            return False
        per_query = (self.max_history + 1) if self.task == "boards" else 2
        pool = self.num_negatives * (1 if self.shared_negatives else self.batch_size)
        seeds = self.batch_size * per_query + pool
        reach = seeds * (1 + self.neighborhood.num_neighbors) ** self.num_layers
        return reach >= self.num_pins / 2

    @property
    def rank(self) -> int:
        """This process's global rank under DDP (0 otherwise)."""
        return self.trainer.global_rank if self.trainer is not None else 0

    def setup(self, stage: str | None = None) -> None:
        self._ensure_loaded()
        # the neighbour table first (before loader workers start): walked from the seed
        # alone, so every rank shares it
        self.training_graph  # noqa: B018
        # then every rank draws its own walks and negatives (loader workers are reseeded
        # from the loader's generator, which is offset by rank too)
        dgl.seed(self.seed + self.rank)
        if self.rank:
            torch.manual_seed(self.seed + self.rank)

    # --- loaders ----------------------------------------------------------------------------
    def _loader(self, dataset: Any, batch_size: int, collate: Any, shuffle: bool) -> DataLoader:
        # under DDP Lightning swaps in a DistributedSampler: disjoint shards per rank
        generator = torch.Generator().manual_seed(self.seed + self.rank)
        on_cuda = self.trainer is not None and isinstance(self.trainer.accelerator, CUDAAccelerator)
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            collate_fn=collate,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            worker_init_fn=seed_worker,
            generator=generator,
            pin_memory=on_cuda,  # page-locked batches: copies to the GPU overlap compute
        )

    def train_dataloader(self) -> DataLoader:
        edges = trainable_edges(self.split.train)
        if len(edges) == 0:
            raise ValueError(
                f"{type(self).__name__}: no board has two training pins, so there are no "
                "positive pairs to train on"
            )
        training = self.training_graph
        negatives = (
            training.sampler,
            self.num_negatives,
            self.shared_negatives,
            training.hard_negatives,
        )
        if self.task == "boards":
            collate = BoardCollator(
                *negatives,
                max_history=self.max_history,
                full_graph=self.full_graph,
                history=self.history,
            )
        else:
            collate = PairCollator(*negatives, full_graph=self.full_graph)
        return self._loader(edges, self.batch_size, collate, shuffle=True)

    def _held_out_loader(
        self, pairs: torch.Tensor, candidates: torch.Tensor | None, known: torch.Tensor | None
    ) -> DataLoader:
        collate = HeldOutCollator(self.split.train, pairs, candidates, known)
        return self._loader(torch.arange(len(pairs)), self.eval_batch_size, collate, False)

    def val_dataloader(self) -> DataLoader:
        return self._held_out_loader(self.split.val, self.val_candidates, None)

    def test_dataloader(self) -> DataLoader:
        # validation pins precede test pins: part of the board's history at test time
        known = None if self.fold_validation else self.split.val
        return self._held_out_loader(self.split.test, self.test_candidates, known)

    def predict_dataloader(self) -> DataLoader:
        return DataLoader(torch.arange(self.num_pins), batch_size=self.eval_batch_size * 16)
