import lightning as L
import pandas as pd
import pytest
import torch

from datamodules import SyntheticDataModule, TableDataModule, make_synthetic
from pinsage_dgl.evaluation import evaluate
from pinsage_dgl.graph import build_graph, ids_from_tensors
from pinsage_dgl.history import BoardHistories, History
from pinsage_dgl.io import InputError
from pinsage_dgl.lit import PinSageModule
from pinsage_dgl.lit.module import BOARD_ROWS, GRAPH_IDS, PIN_ROWS
from pinsage_dgl.nn import LOSSES, LossInputs, TrainingLoss
from pinsage_dgl.sampling import Negatives, Neighborhood, Task
from tests.conftest import popularity_recall, small_trainer


def test_bad_hyperparameters_are_named():
    with pytest.raises(ValueError, match="margin=-1"):
        PinSageModule(pin_spec=None, id_embedding=True, num_pins=3, margin=-1)


@pytest.mark.slow
def test_training_beats_popularity_on_the_synthetic_graph(tmp_path):
    L.seed_everything(0)
    dm = SyntheticDataModule(
        num_pins=1500,
        num_boards=600,
        num_topics=8,
        batch_size=128,
        negatives=Negatives(num_random=20),
    )
    model = PinSageModule(pin_spec=dm.feature_spec, hidden_dim=64, out_dim=32, lr=3e-3)
    trainer = small_trainer(max_epochs=4, default_root_dir=tmp_path)
    trainer.fit(model, dm)
    (result,) = trainer.test(model, dm)
    # boards follow planted clusters, which popularity ignores
    assert result["test/full_ranking/recall@20"] > popularity_recall(dm) + 0.05


@pytest.mark.slow
@pytest.mark.parametrize(
    ("data", "model"),
    [
        ({}, {"id_embedding": True}),  # board queries (the default task), ids + graph
        ({"full_graph": False}, {"id_embedding": True}),  # on DGL blocks
        ({"neighborhood": Neighborhood(kind="uniform")}, {}),  # GraphSAGE
        ({"num_layers": 0}, {}),  # features only
        (  # the softmax recipe with a learned board query
            {},
            {
                "id_embedding": True,
                "loss": "softmax",
                "query": "attention",
                "layer_combination": "mean",
                "dropout": 0.1,
            },
        ),
        ({"task": Task(kind="pairs"), "full_graph": False}, {"loss": "softmax"}),
        ({}, {"id_embedding": True, "popularity_prior": True}),
        ({}, {"query": "attention", "board_embedding": True}),
        ({"task": Task(kind="halves")}, {"loss": "softmax", "id_embedding": True}),
    ],
    ids=[
        "boards",
        "boards-blocks",
        "uniform",
        "features-only",
        "softmax",
        "pairs-blocks",
        "popularity-prior",
        "board-embedding",
        "halves",
    ],
)
def test_every_variant_trains_and_logs_every_protocol(data, model):
    L.seed_everything(0)
    dm = SyntheticDataModule(
        num_pins=1500,
        num_boards=600,
        num_topics=8,
        batch_size=128,
        negatives=Negatives(num_random=50),
        **data,
    )
    module = PinSageModule(
        pin_spec=dm.feature_spec,
        num_pins=dm.num_pins,
        num_boards=dm.num_boards,
        num_layers=dm.num_layers,
        hidden_dim=64,
        out_dim=32,
        lr=3e-3,
        **{"query": "recency", **model},
    )
    trainer = small_trainer(max_epochs=3)
    trainer.fit(module, dm)
    (result,) = trainer.test(module, dm)
    for name in ("full_ranking/recall@20", "item_to_item/hit@10", "latest_pin/hits@10"):
        assert 0.0 <= result[f"test/{name}"] <= 1.0
    # every variant learns the planted clusters that popularity ignores
    assert result["test/full_ranking/recall@20"] > popularity_recall(dm) + 0.05


def test_unknown_protocol_or_query_is_named():
    with pytest.raises(ValueError, match="unknown protocols"):
        PinSageModule(pin_spec=None, id_embedding=True, num_pins=3, protocols=["psychic"])
    with pytest.raises(ValueError, match="query must be one of"):
        PinSageModule(pin_spec=None, id_embedding=True, num_pins=3, query="median")


def _three_steps(**model) -> tuple[PinSageModule, SyntheticDataModule]:
    """A small module with ``model`` options after 3 training steps on a tiny graph."""
    module, dm = _small(**model)
    trainer = small_trainer(max_steps=3)
    trainer.fit(module, dm)
    return module, dm


def _small(**model) -> tuple[PinSageModule, SyntheticDataModule]:
    """A small module with ``model`` options, untrained, and its tiny graph."""
    L.seed_everything(0)
    dm = SyntheticDataModule(
        num_pins=400,
        num_boards=150,
        num_topics=4,
        batch_size=32,
        negatives=Negatives(num_random=20),
    )
    module = PinSageModule(
        pin_spec=dm.feature_spec,
        num_pins=dm.num_pins,
        num_boards=dm.num_boards,
        hidden_dim=16,
        out_dim=8,
        lr=1e-2,
        **model,
    )
    return module, dm


def test_popularity_prior_learns_from_training_counts_and_serves_the_scorers_scores():
    module, dm = _three_steps(popularity_prior=True)
    prior = module.model.popularity_prior
    assert torch.equal(prior.log_count, torch.log1p(dm.training_graph.pin_saves()))
    assert prior.weight.item() != 0.0  # learned from 0 by the softmax loss
    embeddings = module.embed_all()
    scorer = module.scorer(embeddings)
    items = scorer.index_items()
    assert items.shape == (dm.num_pins, embeddings.shape[1] + 1)
    pins = torch.tensor([0, 5, 7])
    assert torch.allclose(
        scorer.index_queries(embeddings[pins]) @ items.T, scorer.score_pins(pins), atol=1e-5
    )
    history = BoardHistories(dm.split.train)(torch.tensor([0, 1]))
    assert torch.allclose(
        scorer.index_queries(scorer.board_queries(history)) @ items.T,
        scorer.score_boards(history),
        atol=1e-5,
    )
    # the module's recommender serves those scores: a board's best unsaved pin
    recommender = module.recommender()
    best = scorer.score_boards(history)
    best[history.rows, history.pins] = float("-inf")
    assert torch.equal(recommender.boards(torch.tensor([0, 1]), k=1)[1][:, 0], best.argmax(1))


class ToyLoss(TrainingLoss):
    """A loss outside the library: 1 - the mean cosine of each query and its positive.
    Keeps its last inputs and value."""

    def __init__(self, margin: float) -> None:
        super().__init__()
        self.margin = margin
        self.seen: list[tuple[LossInputs, torch.Tensor]] = []

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        value = 1 - (inputs.query * inputs.positive).sum(-1).mean()
        self.seen.append((inputs, value.detach()))
        return value


def test_a_new_loss_is_a_class_and_a_registry_entry(monkeypatch):
    monkeypatch.setitem(LOSSES, "toy", lambda settings: ToyLoss(settings.margin))
    module, dm = _small(loss="toy", margin=0.25)
    toy = module.model.criterion
    assert isinstance(toy, ToyLoss) and toy.margin == 0.25
    assert module.model.popularity_prior is None  # the toy scores no pin bias
    before = module.model.G2.weight.detach().clone()
    small_trainer(max_steps=3).fit(module, dm)
    assert len(toy.seen) == 3  # every training step went through it
    inputs, value = toy.seen[-1]
    assert inputs.query.shape == inputs.positive.shape == (len(inputs), 8)
    assert inputs.pin_bias is None
    logged = module.trainer.callback_metrics["train/loss"]
    assert logged.item() == pytest.approx(value.item())
    assert not torch.equal(module.model.G2.weight, before)  # trained by it
    with pytest.raises(ValueError, match="loss must be one of"):
        _small(loss="hinge")


def test_popularity_prior_needs_the_softmax_loss():
    with pytest.raises(ValueError, match="popularity_prior needs a loss that scores pins with it"):
        PinSageModule(
            pin_spec=None, id_embedding=True, num_pins=3, loss="margin", popularity_prior=True
        )


def test_board_vectors_are_learned_and_used_by_the_scorer():
    module, dm = _three_steps(board_embedding=True)
    vectors = module.model.board_query.board_embedding.weight
    assert vectors.shape == (dm.num_boards, 8) and vectors.abs().sum() > 0  # learned from 0
    scorer = module.scorer(module.embed_all())
    history = BoardHistories(dm.split.train)(torch.arange(dm.num_boards))
    # the same pins as boards the model never saw: the pooled query alone
    unseen = History(history.rows, history.pins, history.age, history.boards + dm.num_boards)
    known, pooled = scorer.board_queries(history), scorer.board_queries(unseen)
    assert known.shape == pooled.shape and not torch.allclose(known, pooled, atol=1e-4)
    with pytest.raises(ValueError, match="board_embedding needs num_boards"):
        PinSageModule(pin_spec=None, id_embedding=True, num_pins=3, board_embedding=True)
    with pytest.raises(ValueError, match="board_embedding needs a pooled query"):
        PinSageModule(num_pins=3, num_boards=2, board_embedding=True, query="multi")


def test_several_interests_are_trained_and_scored_by_the_best():
    module, dm = _small(num_interests=2)
    heads = module.model.board_query.scorer[2].weight
    assert heads.shape == (2, 32)
    start = heads.detach().clone()
    small_trainer(max_steps=3).fit(module, dm)
    # the loss reached both heads' attention
    assert (heads.detach() - start).abs().sum(1).min() > 0
    scorer = module.scorer(module.embed_all())
    history = BoardHistories(dm.split.train)(torch.arange(5))
    queries = scorer.board_queries(history)
    assert queries.shape == (5, 2, 8)
    assert torch.allclose(
        scorer.score_boards(history),
        (queries @ scorer.embeddings.T).amax(1) + scorer.pin_bias,
        atol=1e-5,
    )
    with pytest.raises(ValueError, match="num_interests"):
        PinSageModule(num_pins=3, query="recency", num_interests=2)


@pytest.mark.parametrize("decay", [1.0, 0.5])
def test_lr_decay_multiplies_the_learning_rate_after_every_epoch(decay):
    L.seed_everything(0)
    dm = SyntheticDataModule(
        num_pins=200,
        num_boards=80,
        num_topics=4,
        batch_size=32,
        negatives=Negatives(num_random=10),
    )
    module = PinSageModule(
        pin_spec=dm.feature_spec, hidden_dim=8, out_dim=4, lr=1e-2, lr_decay=decay
    )
    trainer = small_trainer(max_epochs=3, limit_train_batches=1, limit_val_batches=0)
    trainer.fit(module, dm)
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(1e-2 * decay**3)
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match=f"lr_decay must be in \\(0, 1\\], got {bad}"):
            PinSageModule(lr_decay=bad)


def test_embedding_the_graph_without_a_datamodule_is_refused_by_name():
    module = PinSageModule(num_pins=5, id_embedding=True, hidden_dim=8, out_dim=4)
    with pytest.raises(RuntimeError, match="needs a datamodule with a training_graph"):
        module.embed_all()


def test_the_test_loop_gives_evaluates_numbers_when_boards_hold_out_several_pins(tmp_path):
    # three held-out pins per board (LightGCN-style test files); batches of 7 pairs would
    # split boards if the loop did not keep each board's pins together
    interactions, _ = make_synthetic(num_pins=300, num_boards=100, num_topics=4, seed=1)
    test = interactions.groupby("board").tail(3)
    interactions.drop(test.index).to_csv(tmp_path / "train.csv", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    L.seed_everything(0)
    dm = TableDataModule(
        str(tmp_path / "train.csv"),
        test_interactions=str(tmp_path / "test.csv"),
        eval_batch_size=7,
        negatives=Negatives(num_random=20),
    )
    assert (torch.bincount(dm.split.test[:, 0]) >= 3).sum() > 50
    module = PinSageModule(
        pin_spec=dm.feature_spec, num_pins=dm.num_pins, id_embedding=True, hidden_dim=16, out_dim=8
    )
    (logged,) = small_trainer().test(module, dm)
    embeddings = module.embed_all()
    expected = evaluate(module.scorer(embeddings), dm.test_histories(), dm.split.test)
    for name, value in expected.items():
        assert logged[f"test/{name}"] == pytest.approx(value, abs=1e-6), name


@pytest.mark.parametrize("task", ["boards", "halves"])
def test_a_step_on_blocks_has_the_loss_of_the_same_step_on_the_whole_graph(task):
    # the same batch (same key, same streams) collated for blocks and for the whole graph,
    # with a popularity prior that scores pins differently: one loss (the prior must look
    # up the pins behind the blocks' positions, not the positions)
    from pinsage_dgl.sampling import SeededCollate, TrainingBatches

    settings = {"num_pins": 400, "num_boards": 150, "num_topics": 4, "batch_size": 16}
    losses = []
    for full_graph in (True, False):
        dm = SyntheticDataModule(
            **settings,
            negatives=Negatives(num_random=30),
            full_graph=full_graph,
            task=Task(kind=task),
        )
        dm.setup("fit")
        training = dm.training_graph
        collate = dm.task.collator(
            training.sampler, dm.negatives, training.hard_negatives, full_graph
        )
        key = next(iter(TrainingBatches(collate.trainable_edges, 16, seed=0)))
        batch = SeededCollate(collate, 0)(key)
        torch.manual_seed(0)
        module = PinSageModule(
            pin_spec=dm.feature_spec,
            num_pins=dm.num_pins,
            hidden_dim=16,
            out_dim=8,
            popularity_prior=True,
        )
        module.model.popularity_prior.set_counts(training.pin_saves())
        module.model.popularity_prior.weight.data.fill_(0.5)
        module.use_graph(*training.inference_inputs())
        losses.append(module._training_loss(batch))
    assert batch.on_blocks  # the last one collated for blocks
    assert (batch.positive_rows is not None) == (task == "halves")
    assert torch.allclose(losses[0], losses[1], atol=1e-5), losses


def test_mixed_precision_steps_keep_the_softmax_in_float32():
    # bf16-mixed (Lightning's autocast): the graph's matrix products in bfloat16, the loss
    # in float32, within bfloat16's rounding of the float32 step's loss
    from pinsage_dgl.sampling import SeededCollate, TrainingBatches

    dm = SyntheticDataModule(
        num_pins=400,
        num_boards=150,
        num_topics=4,
        batch_size=32,
        full_graph=True,
        negatives=Negatives(num_random=30),
        task=Task(kind="halves"),
    )
    dm.setup("fit")
    training = dm.training_graph
    collate = dm.task.collator(training.sampler, dm.negatives, None, True)
    batch = SeededCollate(collate, 0)(next(iter(TrainingBatches(collate.trainable_edges, 32))))
    torch.manual_seed(0)
    module = PinSageModule(
        pin_spec=dm.feature_spec, num_pins=dm.num_pins, hidden_dim=32, out_dim=16
    )
    module.use_graph(*training.inference_inputs())
    exact = module._training_loss(batch)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        z = module.model.embed_graph(*module.graph_inputs())
        mixed = module._training_loss(batch)
    assert z.dtype == torch.bfloat16  # the graph ran in bfloat16
    assert mixed.dtype == torch.float32 and torch.isfinite(mixed)
    assert mixed.item() == pytest.approx(exact.item(), rel=0.05)
    mixed.backward()
    assert all(torch.isfinite(p.grad).all() for p in module.parameters() if p.grad is not None)


def test_the_walk_weight_adds_the_training_graphs_walk_term_in_evaluation_and_serving():
    module, dm = _three_steps(walk_weight=0.5, walk_top=5)
    embeddings = module.embed_all()
    scorer = module.scorer(embeddings)
    assert scorer.walk is dm.training_graph.walk_scores(5)  # built once, kept by the data side
    assert scorer.walk.matrix.getnnz(axis=1).max() <= 5
    history = BoardHistories(dm.split.train)(torch.tensor([0, 1]))
    term = torch.from_numpy(scorer.walk.score_boards(history).toarray())
    assert torch.allclose(
        scorer.score_boards(history),
        module.scorer(embeddings, walk_weight=0.0).score_boards(history) + 0.5 * term,
    )
    # metrics logged by the module are the walked scorer's
    (logged,) = small_trainer().test(module, dm, verbose=False)
    expected = evaluate(scorer, dm.test_histories(), dm.split.test)
    assert logged["test/full_ranking/recall@20"] == pytest.approx(
        expected["full_ranking/recall@20"], abs=1e-6
    )
    best = scorer.score_boards(history)
    best[history.rows, history.pins] = float("-inf")
    served = module.recommender().boards(torch.tensor([0, 1]), k=3)
    assert torch.equal(served[1], torch.topk(best, 3).indices)
    with pytest.raises(ValueError, match="walk_weight=-1"):
        PinSageModule(num_pins=3, walk_weight=-1)


def test_without_a_walk_weight_validation_chooses_the_best_and_the_checkpoint_keeps_it(tmp_path):
    from pinsage_dgl.evaluation import WALK_WEIGHTS

    module, dm = _three_steps()
    assert module.hparams.walk_weight is None and float(module.chosen_walk_weight) == 0.0
    (logged,) = small_trainer().validate(module, dm, verbose=False)
    embeddings = module.embed_all()
    history = BoardHistories(dm.split.train)
    recall = {
        w: evaluate(
            module.scorer(embeddings, walk_weight=w), history, dm.split.val, ["full_ranking"]
        )["full_ranking/recall@20"]
        for w in WALK_WEIGHTS
    }
    chosen = float(module.chosen_walk_weight)
    assert logged["val/walk_weight"] == chosen
    assert recall[chosen] == max(recall.values())
    assert chosen == min(w for w in WALK_WEIGHTS if recall[w] == recall[chosen])  # ties: smaller
    assert logged["val/full_ranking/recall@20"] == pytest.approx(recall[chosen], abs=1e-6)
    # the weight rides in the checkpoint; one saved before the walk term loads as weight 0
    trainer = small_trainer()
    trainer.strategy.connect(module)
    trainer.save_checkpoint(tmp_path / "walk.ckpt")
    loaded = PinSageModule.load_from_checkpoint(tmp_path / "walk.ckpt")
    assert float(loaded.chosen_walk_weight) == chosen
    old = torch.load(tmp_path / "walk.ckpt", weights_only=True)
    del old["state_dict"]["chosen_walk_weight"]
    torch.save(old, tmp_path / "old.ckpt")
    assert float(PinSageModule.load_from_checkpoint(tmp_path / "old.ckpt").chosen_walk_weight) == 0


# --- a checkpoint knows the graph it was trained on ----------------------------------------
def _module_of(pins: list[str], boards: list[str]) -> tuple[PinSageModule, object]:
    """A module with every per-node part (id vectors, board vectors, popularity counts) for
    a graph of these raw ids, its rows filled with distinct values, and the graph."""
    graph = build_graph(pd.DataFrame({"pin": pins, "board": boards}))
    module = _every_per_node_part(graph.num_pins, graph.num_boards)
    with torch.no_grad():
        for name in (*PIN_ROWS, *BOARD_ROWS):
            rows = module.get_parameter(name) if "weight" in name else module.get_buffer(name)
            rows.copy_(torch.arange(rows.numel(), dtype=rows.dtype).view_as(rows))
    return module, graph


def test_checkpoint_rows_follow_raw_ids_on_other_data(caplog):
    old, old_graph = _module_of(["a", "b", "c"], ["x", "y", "x"])
    checkpoint = {"state_dict": old.state_dict(), GRAPH_IDS: old_graph.node_ids()}
    # this data: a gone, d new; boards y kept, z new
    new, new_graph = _module_of(["b", "c", "d"], ["y", "z", "y"])
    new.fit_checkpoint_to_graph(checkpoint, new_graph, source="run.ckpt")
    new.load_state_dict(checkpoint["state_dict"])
    ids = new.model.encoder.id_embedding.weight
    old_ids = old.model.encoder.id_embedding.weight
    assert torch.equal(ids[:2], old_ids[1:]) and ids[2].abs().sum() == 0  # b, c moved; d new
    counts = new.model.popularity_prior.log_count
    assert counts.tolist() == [old.model.popularity_prior.log_count[i].item() for i in (1, 2)] + [0]
    vectors = new.model.board_query.board_embedding.weight
    assert torch.equal(vectors[0], old.model.board_query.board_embedding.weight[1])  # y
    assert vectors[1].abs().sum() == 0  # z
    assert (
        "run.ckpt: trained on other data than this (pins: 1 new, 1 gone (first new: 'd'); "
        "boards: 1 new, 1 gone (first new: 'z')): shared pins and boards keep their learned "
        "vectors by id"
    ) in caplog.text
    # a new pin's id vector is zero: exactly what an id beyond the table gets
    features = {"_id": torch.tensor([2, 99])}
    encoded = new.model.encoder(features)
    assert torch.equal(encoded[0], encoded[1])


def test_checkpoint_on_the_same_data_is_untouched_and_resuming_on_other_data_is_refused(caplog):
    old, graph = _module_of(["a", "b", "c"], ["x", "y", "x"])
    checkpoint = {"state_dict": old.state_dict(), GRAPH_IDS: graph.node_ids()}
    before = {k: v.clone() for k, v in checkpoint["state_dict"].items()}
    old.fit_checkpoint_to_graph(checkpoint, graph, resuming=True)
    assert all(torch.equal(before[k], v) for k, v in checkpoint["state_dict"].items())
    assert caplog.text == ""
    _, other = _module_of(["a", "b", "e"], ["x", "y", "x"])
    with pytest.raises(
        InputError,
        match=r"run.ckpt: trained on other data than this \(pins: "
        r"1 new, 1 gone \(first new: 'e'\)\); resuming training needs the same",
    ):
        old.fit_checkpoint_to_graph(checkpoint, other, resuming=True, source="run.ckpt")


def test_a_checkpoint_without_recorded_ids_must_fit_the_data():
    old, graph = _module_of(["a", "b", "c"], ["x", "y", "x"])
    legacy = {"state_dict": old.state_dict()}
    old.fit_checkpoint_to_graph(legacy, graph)  # same sizes: used as it is
    _, bigger = _module_of(["a", "b", "c", "d"], ["x", "y", "x", "y"])
    with pytest.raises(InputError, match=r"old.ckpt: trained on 3 pins, this data has 4, and"):
        old.fit_checkpoint_to_graph(legacy, bigger, source="old.ckpt")


def _every_per_node_part(num_pins: int, num_boards: int, **options) -> PinSageModule:
    return PinSageModule(
        pin_spec=None,
        num_pins=num_pins,
        num_boards=num_boards,
        id_embedding=True,
        board_embedding=True,
        query="attention",
        loss="softmax",
        popularity_prior=True,
        hidden_dim=8,
        out_dim=4,
        **options,
    )


def test_every_per_node_state_entry_is_mapped_by_id():
    # sizes no other dimension has: an entry with 11 (13) rows is a per-pin (per-board) one
    state = _every_per_node_part(11, 13, num_interests=2).state_dict()
    assert {k for k, v in state.items() if v.dim() and len(v) == 11} == set(PIN_ROWS)
    assert {k for k, v in state.items() if v.dim() and len(v) == 13} == set(BOARD_ROWS)


def test_a_fitted_checkpoint_records_its_graphs_ids(tmp_path):
    module, dm = _three_steps()
    path = tmp_path / "m.ckpt"
    module.trainer.save_checkpoint(path)
    saved = torch.load(path, weights_only=True)
    assert ids_from_tensors(saved[GRAPH_IDS]["pins"]).tolist() == dm.graph.pin_ids.tolist()
    assert ids_from_tensors(saved[GRAPH_IDS]["boards"]).tolist() == dm.graph.board_ids.tolist()
