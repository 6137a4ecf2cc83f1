"""PinSageModule: trains PinSage and evaluates held-out pins under the four protocols."""

from __future__ import annotations

from typing import Any

import dgl
import lightning as L
import numpy as np
import torch

from pinsage_dgl.evaluation import (
    PROTOCOLS,
    WALK_WEIGHTS,
    best_walk_weight,
    board_values,
    evaluate_batch,
)
from pinsage_dgl.features import FeatureSpec
from pinsage_dgl.graph import PinBoardGraph, id_positions, ids_from_tensors
from pinsage_dgl.inference import embed_all_pins, embed_new_pins
from pinsage_dgl.io import InputError, notice
from pinsage_dgl.nn import (
    LOSSES,
    BoardQuery,
    LossInputs,
    LossSettings,
    PinSage,
    PopularityPrior,
    make_loss,
)
from pinsage_dgl.recommend import Recommender
from pinsage_dgl.retrieval import Index
from pinsage_dgl.sampling import TrainingBatch, TrainingGraph, neighbor_graph, stream_seeds
from pinsage_dgl.scoring import QUERY_MODES, EmbeddingScorer, Scorer

# a checkpoint's record of the graph it was trained on (raw pin and board ids)
GRAPH_IDS = "pinsage_graph_ids"
# state entries with one row per pin, and per board, of the graph trained on
PIN_ROWS = ("model.encoder.id_embedding.weight", "model.popularity_prior.log_count")
BOARD_ROWS = ("model.board_query.board_embedding.weight",)


class PinSageModule(L.LightningModule):
    """Lightning wrapper of :class:`PinSage`.

    Training logs ``train/loss`` (the paper's max-margin, or a sampled softmax with
    in-batch negatives and logQ correction; over random and, if any, hard negatives) on
    the datamodule's task: co-saved pin pairs (the paper's) or board queries (a board's
    other pins → one of its pins). Validation and test embed every pin layer-wise once
    per epoch and score held-out pins under the protocols of
    :mod:`pinsage_dgl.evaluation`, logging ``{stage}/{protocol}/{metric}`` (e.g.
    ``val/full_ranking/recall@20``, ``test/sampled/hr@10`` where the data has sampled
    candidates); baselines are scored by the benchmarks, not here. The data side is
    read only through the datamodule's ``training_graph``
    (:class:`~pinsage_dgl.sampling.TrainingGraph`). Each evaluation batch holds whole
    boards, and ``full_ranking`` is averaged over boards, so the loop reports the numbers
    of :func:`pinsage_dgl.evaluation.evaluate` on the same embeddings.

    Parameters
    ----------
    pin_spec : dict
        Pin feature spec (``FeatureSpec.to_dict()``); linked from the datamodule by the CLI.
    num_pins : int
        Pins in the graph (for ``id_embedding`` and ``popularity_prior``); linked from the
        datamodule by the CLI.
    hidden_dim : int
        Width of the convolutions' hidden layers (see :class:`PinSage`).
    out_dim : int
        Width of the embeddings.
    num_layers : int
        Convolutions, one hop each (the CLI links it into the data's blocks); 0 is the
        features-only model.
    id_embedding : bool, optional
        Add a learned per-pin embedding beside the features (transductive: new pins get
        none, and are embedded from their features alone). Needs ``num_pins``; default
        (None): on when it is given.
    dropout : float
        Dropout on the input and each convolution's output (see :class:`PinSage`).
    layer_combination : str
        Readout of the layers: ``last`` (the paper's), ``mean`` or ``concat``.
    loss : str
        ``margin`` (the paper's max-margin), ``softmax``
        (:class:`~pinsage_dgl.nn.SampledSoftmaxLoss`), or any loss registered in
        :data:`pinsage_dgl.nn.LOSSES`.
    margin : float
        Δ of the max-margin loss.
    temperature : float
        τ of the softmax loss (the start, with ``learn_temperature``).
    learn_temperature : bool
        Learn τ (1/τ capped at 100).
    in_batch : bool
        Softmax loss: the other queries' positives are negatives too.
    logq_correction : bool
        Softmax loss: subtract the log sampling frequency of each negative.
    popularity_prior : bool, optional
        Add a learned ``w log(1 + saves)`` to every pin's score
        (:class:`~pinsage_dgl.nn.PopularityPrior`; the counts come from the training graph's
        ``pin_saves`` when training starts), in training, evaluation and serving. Needs
        the softmax loss and ``num_pins``; default (None): on when both are given.
    num_boards : int
        Boards of the training graph (the CLI links it from the datamodule).
    board_embedding : bool
        Give every known board a learned vector added to its pooled query
        (:class:`~pinsage_dgl.nn.BoardQuery`'s ``num_boards``; transductive: new boards get
        the pooled query alone). Needs ``num_boards``.
    lr, weight_decay : float
        Adam settings.
    lr_decay : float
        Multiply the learning rate by this after every epoch (``ExponentialLR``); 1 (the
        default) keeps it constant. In (0, 1].
    query : str
        How a board's pins make its query, in training (the board task), evaluation and
        serving: ``mean``, ``recency``, ``attention`` (learned) or ``multi`` (several
        queries at evaluation, trained as ``mean``); see
        :class:`~pinsage_dgl.scoring.EmbeddingScorer`.
    half_life : float
        Recency half-life in saves (``query=recency``, and the start of ``attention``).
    num_recent : int
        Latest pins that each query (``query=multi``).
    num_interests : int
        Learned queries per board (``query=attention`` only): a pin scores its best one,
        in training as in evaluation and serving (:class:`~pinsage_dgl.nn.BoardQuery`).
    walk_weight : float, optional
        Weight of the graph's one-hop walk term added to every score in evaluation and
        serving (:class:`~pinsage_dgl.sampling.WalkScores`: 1 at the pin a board's pins
        lead to most often, 0 where none leads); 0 scores by the embeddings alone.
        Training does not see it. Default (None): chosen among
        :data:`~pinsage_dgl.evaluation.WALK_WEIGHTS` at
        every validation, by the validation metric (``full_ranking/recall@k_full`` where
        evaluated), and kept in the checkpoint (:attr:`chosen_walk_weight`); validation
        then costs one evaluation per weight, and without validation the weight is 0.
    walk_top : int, optional
        Next pins kept per pin in that term (bounds its memory; None keeps all).
    protocols : list of str
        Protocols evaluated (default: all of :data:`~pinsage_dgl.evaluation.PROTOCOLS`).
    k : int
        Cut-off of the sampled and item-to-item metrics.
    k_full : int
        Cut-off of the full-ranking metrics.
    """

    def __init__(
        self,
        pin_spec: dict[str, Any] | None = None,
        num_pins: int = 0,
        hidden_dim: int = 128,
        out_dim: int = 64,
        num_layers: int = 2,
        id_embedding: bool | None = None,
        dropout: float = 0.0,
        layer_combination: str = "last",
        loss: str = "softmax",
        margin: float = 0.1,
        temperature: float = 0.07,
        learn_temperature: bool = True,
        in_batch: bool = True,
        logq_correction: bool = True,
        popularity_prior: bool | None = None,
        num_boards: int = 0,
        board_embedding: bool = False,
        lr: float = 3e-3,
        weight_decay: float = 0.0,
        lr_decay: float = 1.0,
        query: str = "attention",
        half_life: float = 10.0,
        num_recent: int = 10,
        num_interests: int = 1,
        walk_weight: float | None = None,
        walk_top: int | None = 200,
        protocols: list[str] | None = None,
        k: int = 10,
        k_full: int = 20,
    ) -> None:
        super().__init__()
        if margin < 0 or lr <= 0 or weight_decay < 0 or k < 1 or k_full < 1:
            raise ValueError(
                f"PinSageModule: need margin >= 0, lr > 0, weight_decay >= 0, k >= 1, "
                f"k_full >= 1; got margin={margin}, lr={lr}, weight_decay={weight_decay}, "
                f"k={k}, k_full={k_full}"
            )
        if (walk_weight is not None and walk_weight < 0) or (walk_top is not None and walk_top < 1):
            raise ValueError(
                "PinSageModule: need walk_weight >= 0 and walk_top >= 1 (or None); got "
                f"walk_weight={walk_weight}, walk_top={walk_top}"
            )
        if not 0.0 < lr_decay <= 1.0:
            raise ValueError(f"PinSageModule: lr_decay must be in (0, 1], got {lr_decay}")
        if query not in QUERY_MODES:
            raise ValueError(f"PinSageModule: query must be one of {QUERY_MODES}, got {query!r}")
        if loss not in LOSSES:
            raise ValueError(f"PinSageModule: loss must be one of {tuple(LOSSES)}, got {loss!r}")
        criterion = make_loss(
            loss, LossSettings(margin, temperature, learn_temperature, in_batch, logq_correction)
        )
        if id_embedding is None:
            id_embedding = num_pins >= 1
        if id_embedding and num_pins < 1:
            raise ValueError(f"PinSageModule: id_embedding needs num_pins >= 1, got {num_pins}")
        if popularity_prior is None:
            popularity_prior = criterion.uses_pin_bias and num_pins >= 1
        if popularity_prior and (not criterion.uses_pin_bias or num_pins < 1):
            raise ValueError(
                "PinSageModule: popularity_prior needs a loss that scores pins with it "
                "(loss='softmax') and num_pins >= 1, got "
                f"loss={loss!r}, num_pins={num_pins}"
            )
        if num_interests < 1 or (num_interests > 1 and query != "attention"):
            raise ValueError(
                "PinSageModule: num_interests must be >= 1, and > 1 only with "
                f"query='attention'; got num_interests={num_interests}, query={query!r}"
            )
        if board_embedding and num_boards < 1:
            raise ValueError(
                f"PinSageModule: board_embedding needs num_boards >= 1, got {num_boards}"
            )
        if board_embedding and query == "multi":
            # multi scores each recent pin alone: the board vectors would be trained, not used
            raise ValueError(
                "PinSageModule: board_embedding needs a pooled query (mean, recency or "
                "attention), got query='multi'"
            )
        protocols = list(PROTOCOLS if protocols is None else protocols)
        unknown = set(protocols) - set(PROTOCOLS)
        if unknown:
            raise ValueError(f"PinSageModule: unknown protocols {sorted(unknown)}; use {PROTOCOLS}")
        self.save_hyperparameters()
        self.protocols = protocols
        self.model = PinSage(
            FeatureSpec.from_dict(pin_spec),
            hidden_dim=hidden_dim,
            out_dim=out_dim,
            num_layers=num_layers,
            num_ids=num_pins if id_embedding else 0,
            dropout=dropout,
            layer_combination=layer_combination,
            board_query=BoardQuery(
                out_dim,
                "mean" if query == "multi" else query,
                half_life=half_life,
                num_boards=num_boards if board_embedding else 0,
                num_interests=num_interests,
            ),
            loss=criterion,
            popularity_prior=PopularityPrior(num_pins) if popularity_prior else None,
        )
        # the walk weight in use: fixed, or chosen at each validation (saved in checkpoints)
        self.register_buffer("chosen_walk_weight", torch.tensor(float(walk_weight or 0.0)))
        self._walk_choice: dict[float, dict[str, torch.Tensor]] = {}
        self._at_walk_weights: dict[float, EmbeddingScorer] = {}  # validation's, per weight
        # fails early on a bad query setting
        EmbeddingScorer(
            torch.zeros(1, out_dim), query, half_life, num_recent, self.model.board_query
        )
        self.embeddings: torch.Tensor | None = None
        self._graph_inputs: tuple | None = None

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.Adam(
            self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )
        if self.hparams.lr_decay == 1.0:
            return optimizer
        decay = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=self.hparams.lr_decay)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": decay, "interval": "epoch"}}

    # --- training ------------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # the graph it was trained on, so a checkpoint applied to other data maps by raw id
        graph = self._attached_graph()
        if graph is not None:
            checkpoint[GRAPH_IDS] = graph.node_ids()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # a checkpoint from before the walk term scored by the embeddings alone
        state = checkpoint.get("state_dict")
        if isinstance(state, dict):
            state.setdefault("chosen_walk_weight", torch.tensor(0.0))
        graph = self._attached_graph()
        if graph is not None:
            resuming = self.trainer.state.fn == "fit"
            source = str(self.trainer.ckpt_path or "checkpoint")
            self.fit_checkpoint_to_graph(checkpoint, graph, resuming=resuming, source=source)

    def fit_checkpoint_to_graph(
        self,
        checkpoint: dict[str, Any],
        graph: PinBoardGraph,
        resuming: bool = False,
        source: str = "checkpoint",
    ) -> None:
        """Make ``checkpoint``'s per-pin and per-board rows (id embeddings, board vectors,
        popularity counts) those of ``graph``'s nodes, by raw id, in place.

        A checkpoint records the ids of the graph it was trained on. Where ``graph`` has
        other pins or boards (a changed table), each shared pin and board keeps its learned
        rows; a pin or board new to the checkpoint gets the rows of one unseen in training
        (no id vector: embedded from its features, as a cold-start pin); this is said in
        one line. Rows of ``PIN_ROWS`` / ``BOARD_ROWS`` absent from the checkpoint (options
        off) are left alone.

        Raises
        ------
        InputError
            Naming ``source``, when ``resuming`` training on other data (the optimizer's
            state belongs to the old rows), or when a checkpoint without recorded ids has
            rows for another number of pins or boards.
        """
        state = checkpoint.get("state_dict")
        if not isinstance(state, dict):
            return
        recorded = checkpoint.get(GRAPH_IDS)
        current = {"pins": graph.pin_ids, "boards": graph.board_ids}
        keys = {"pins": PIN_ROWS, "boards": BOARD_ROWS}
        if recorded is None:
            for kind, names in keys.items():
                for name in names:
                    if name in state and len(state[name]) != len(current[kind]):
                        raise InputError(
                            f"{source}: trained on {len(state[name]):,} {kind}, this data has "
                            f"{len(current[kind]):,}, and the checkpoint (from an older "
                            "pinsage-dgl) does not record which: train again on this data"
                        )
            return
        old = {kind: ids_from_tensors(recorded[kind]) for kind in current}
        if all(np.array_equal(old[kind], current[kind]) for kind in current):
            return
        positions = {kind: id_positions(current[kind], old[kind]) for kind in current}
        new = {kind: int((positions[kind] < 0).sum()) for kind in current}
        gone = {kind: len(old[kind]) - (len(current[kind]) - new[kind]) for kind in current}
        change = "; ".join(
            f"{kind}: {new[kind]:,} new, {gone[kind]:,} gone"
            + (
                f" (first new: {current[kind][int(np.flatnonzero(positions[kind] < 0)[0])]!r})"
                if new[kind]
                else ""
            )
            for kind in current
            if new[kind] or gone[kind]
        )
        if resuming:
            raise InputError(
                f"{source}: trained on other data than this ({change}); resuming training "
                "needs the same pins and boards: fit anew, or restore the data it was trained on"
            )
        for kind, names in keys.items():
            where = torch.from_numpy(positions[kind])
            shared = where >= 0
            for name in names:
                if name in state:
                    rows = state[name]
                    moved = rows.new_zeros((len(where), *rows.shape[1:]))
                    moved[shared] = rows[where[shared]]
                    state[name] = moved
        notice(
            f"{source}: trained on other data than this ({change}): shared pins and boards "
            "keep their learned vectors by id; new ones are embedded from their features "
            "alone, as cold-start pins and boards"
        )

    def _attached_graph(self) -> PinBoardGraph | None:
        """The graph of the attached PinSage datamodule, or None without one."""
        datamodule = self.trainer.datamodule if self._trainer is not None else None
        graph = getattr(datamodule, "training_graph", None)
        return graph.graph if isinstance(graph, TrainingGraph) else None

    def on_fit_start(self) -> None:
        if self.model.popularity_prior is not None:
            self.model.popularity_prior.set_counts(self._training_graph().pin_saves())

    def on_train_epoch_start(self) -> None:
        self._graph_inputs = None  # the neighbour table may have been re-walked

    def use_graph(
        self, features: dict[str, torch.Tensor], neighbors: torch.Tensor, weights: torch.Tensor
    ) -> None:
        """Give full-graph steps their pin features and ``[P, T]`` neighbour table directly
        (by default from the attached datamodule's ``training_graph``)."""
        self._graph_inputs = (
            {k: v.to(self.device) for k, v in features.items()},
            neighbor_graph(neighbors, weights).to(self.device),
        )

    def graph_inputs(self) -> tuple[dict[str, torch.Tensor], dgl.DGLGraph]:
        """Pin features and the neighbour graph on this module's device (full-graph steps)."""
        if self._graph_inputs is None:
            self.use_graph(*self._training_graph().inference_inputs())
        return self._graph_inputs

    def training_step(self, batch: TrainingBatch, batch_idx: int) -> torch.Tensor:
        # the step's own draws (dropout) come from a stream seeded by (the process's seed,
        # step, rank): a run resumed from a checkpoint draws what the uninterrupted run drew
        seed = stream_seeds(torch.initial_seed(), self.global_step, self.global_rank, count=1)
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed[0])
            return self._training_loss(batch)

    def _training_loss(self, batch: TrainingBatch) -> torch.Tensor:
        if batch.on_blocks:
            z = self.model(batch.blocks, batch.inputs)
        else:  # the batch reaches most of the graph: every pin once per layer
            z = self.model.embed_graph(*self.graph_inputs())
        history = batch.history
        if history is not None:  # board task: the query pools the board's other pins
            query = self.model.board_query(
                z[history.pins], history.rows, len(batch), history.age, history.boards
            )
        else:
            query = z[batch.query]
        inputs = LossInputs(
            query=query,
            positive=z[batch.positive],
            negatives=z[batch.negatives],
            positive_ids=batch.positive,
            negative_ids=batch.negatives,
            hard_negatives=z[batch.hard_negatives],
            hard_negative_ids=batch.hard_negatives,
            positive_log_q=batch.positive_log_q,
            negative_log_q=batch.negative_log_q,
            mask=batch.mask,
            positive_rows=batch.positive_rows,
        )
        # on blocks the ids above are positions among the seeds: the prior must score the
        # pins at those positions
        loss = self.model.loss(inputs, seeds=batch.seeds())
        self.log("train/loss", loss, prog_bar=True, batch_size=len(query))
        for name, value in self.model.criterion.logged().items():
            self.log(f"train/{name}", value, batch_size=len(query))
        return loss

    # --- whole-graph embeddings ----------------------------------------------------------
    def _training_graph(self) -> TrainingGraph:
        """The attached datamodule's :class:`~pinsage_dgl.sampling.TrainingGraph`: the one
        seam between this module and the data side."""
        datamodule = self.trainer.datamodule if self._trainer is not None else None
        graph = getattr(datamodule, "training_graph", None)
        if not isinstance(graph, TrainingGraph):
            raise RuntimeError(
                "PinSageModule needs a datamodule with a training_graph (a PinSageDataModule)"
                f" to embed the graph; got {type(datamodule).__name__}"
            )
        return graph

    def embed_all(self, progress: bool = False) -> torch.Tensor:
        """Embeddings of every pin of the attached datamodule's graph (layer-wise, on CPU)."""
        features, neighbors, weights = self._training_graph().inference_inputs(progress)
        return embed_all_pins(
            self.model, features, neighbors, weights, device=self.device, progress=progress
        )

    def scorer(
        self,
        embeddings: torch.Tensor,
        training: TrainingGraph | None = None,
        walk_weight: float | None = None,
    ) -> EmbeddingScorer:
        """The evaluation scorer of ``embeddings`` with this module's query settings and
        walk term (over ``training``, default: the attached datamodule's graph), weighted
        by ``walk_weight`` (default: :attr:`chosen_walk_weight`)."""
        prior = self.model.popularity_prior
        walk_weight = float(self.chosen_walk_weight) if walk_weight is None else walk_weight
        walk = None
        if walk_weight > 0:
            training = training if training is not None else self._training_graph()
            walk = training.walk_scores(self.hparams.walk_top)
        return EmbeddingScorer(
            embeddings,
            self.hparams.query,
            self.hparams.half_life,
            self.hparams.num_recent,
            board_query=self.model.board_query,
            pin_bias=None if prior is None else prior.scores(len(embeddings)),
            walk=walk,
            walk_weight=walk_weight,
        )

    def recommender(
        self, index: Index | str = "exact", training: TrainingGraph | None = None
    ) -> Recommender:
        """A :class:`~pinsage_dgl.recommend.Recommender` over every pin of ``training``
        (default: the attached datamodule's training graph), with this module's query
        settings, searching ``index`` (an index or the kind to build); new pins are
        embedded from their features over the same neighbour table."""
        training = training if training is not None else self._training_graph()
        features, neighbors, weights = training.inference_inputs(progress=True)
        embeddings = embed_all_pins(self.model, features, neighbors, weights, progress=True)

        def new_pins(new: dict[str, torch.Tensor]) -> torch.Tensor:
            return embed_new_pins(self.model, features, neighbors, weights, new)

        return Recommender(self.scorer(embeddings, training), training.graph, index, new_pins)

    # --- evaluation ----------------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        self.embeddings = self.embed_all().to(self.device)
        self._at_walk_weights = {}
        if self.hparams.walk_weight is None and not self.trainer.sanity_checking:
            # every weight is evaluated; the sanity check's few batches choose nothing
            walk = self._training_graph().walk_scores(self.hparams.walk_top)
            unweighted = self.scorer(self.embeddings, walk_weight=0.0)
            self._at_walk_weights = unweighted.at_walk_weights(walk, WALK_WEIGHTS)

    def on_test_epoch_start(self) -> None:
        self.embeddings = self.embed_all().to(self.device)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        if not self._at_walk_weights:  # a fixed weight, or the sanity check
            self._evaluate(self.scorer(self.embeddings), batch, "val")
            return
        # every weight's metrics, summed over the epoch; the best one's are logged at its end
        for weight, scorer in self._at_walk_weights.items():
            totals = self._walk_choice.setdefault(weight, {})
            for name, values in self._batch_values(scorer, batch).items():
                summed = torch.tensor([values.sums.sum(), float(values.counts.sum())])
                totals[name] = totals.get(name, torch.zeros(2, dtype=torch.float64)) + summed

    def on_validation_epoch_end(self) -> None:
        self._at_walk_weights = {}  # frees the last batch's shared scores
        if not self._walk_choice:
            return
        choice, self._walk_choice = self._walk_choice, {}
        means: dict[float, dict[str, float]] = {}
        for weight, totals in choice.items():
            means[weight] = {}
            for name, total in totals.items():
                total = self.all_gather(total.to(self.device)).reshape(-1, 2).sum(0)
                if total[1] > 0:
                    means[weight][name] = float(total[0] / total[1])
        primary = f"full_ranking/recall@{self.hparams.k_full}"
        if primary not in means[0.0]:
            primary = next(iter(means[0.0]), None)
        if primary is None:
            return
        best = best_walk_weight({w: means[w].get(primary, float("-inf")) for w in means})
        self.chosen_walk_weight.fill_(best)
        for name, value in means[best].items():
            self.log(f"val/{name}", value, prog_bar=True)
        self.log("val/walk_weight", best)

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluate(self.scorer(self.embeddings), batch, "test")

    def _batch_values(self, scorer: Scorer, batch: dict) -> dict:
        """The batch's metrics, board by board (:func:`board_values`)."""
        metrics = evaluate_batch(
            scorer,
            batch["boards"].cpu(),
            batch["targets"].cpu(),
            batch["history"].to("cpu"),
            self.protocols,
            batch["candidates"].cpu() if "candidates" in batch else None,
            self.hparams.k,
            self.hparams.k_full,
        )
        # the batch holds its boards' held-out pins whole (the datamodule's board_batches):
        # full ranking averages over boards, the other protocols over pairs, as evaluate()
        return board_values(metrics, batch["boards"])

    def _evaluate(self, scorer: Scorer, batch: dict, prefix: str) -> None:
        for name, values in self._batch_values(scorer, batch).items():
            count = int(values.counts.sum())
            if count:
                self.log(
                    f"{prefix}/{name}",
                    values.mean(),
                    batch_size=count,
                    sync_dist=True,
                    prog_bar=prefix == "val",
                )

    # --- predict -------------------------------------------------------------------------------
    def on_predict_epoch_start(self) -> None:
        self.embeddings = self.embed_all(progress=True)

    def predict_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        """Final embeddings of the pin ids in ``batch`` (computed once per predict run)."""
        return self.embeddings[batch.cpu()]
