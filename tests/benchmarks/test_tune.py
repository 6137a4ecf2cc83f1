import json

import pytest
import torch

from benchmarks import methods, tune
from datamodules import SyntheticDataModule
from pinsage_dgl.evaluation import WALK_WEIGHTS, best_walk_weight, evaluate
from pinsage_dgl.history import BoardHistories
from pinsage_dgl.scoring import EmbeddingScorer


class Untouchable:
    """Stands in for test pairs: any use fails the test."""

    def __getattr__(self, name):
        raise AssertionError(f"the tuner read the test pairs ({name})")

    def __len__(self):
        raise AssertionError("the tuner read the test pairs (len)")

    def __getitem__(self, key):
        raise AssertionError("the tuner read the test pairs (indexing)")


class NoTestPairs(SyntheticDataModule):
    """A synthetic graph whose test pairs and candidates cannot be read."""

    def load(self):
        graph, split, _ = super().load()
        split.test = Untouchable()
        return graph, split, Untouchable()


def tiny_dataset(make) -> methods.Dataset:
    return methods.Dataset(
        make=lambda **kw: make(num_pins=300, num_boards=120, num_topics=4, subtopics=2, **kw),
        primary="full_ranking/recall@20",
        note="tiny",
        trial_minutes=600.0,  # never binds: the epoch cap decides, however busy the machine
        max_epochs=2,
    )


@pytest.mark.slow
@pytest.mark.parametrize("method", ["EASE", "MF-softmax", "PinSage"])
def test_the_tuner_never_reads_test_pairs(method, monkeypatch):
    small = {
        "model.hidden_dim": 16,
        "model.out_dim": 8,
        "data.neighborhood.num_walks": 5,
        "data.negatives.num_random": 50,
    }
    spec = methods.METHODS[method]
    if method == "PinSage":  # small sizes; search the learning rate only
        monkeypatch.setattr(spec, "defaults", {**spec.defaults, **small})
        monkeypatch.setattr(
            spec,
            "space",
            lambda t, d: {"model.lr": t.suggest_float("model.lr", 1e-3, 1e-2, log=True)},
        )
    hidden = tune.tune(method, tiny_dataset(NoTestPairs), trials=2, seed=0, progress=False)
    plain = tune.tune(method, tiny_dataset(SyntheticDataModule), trials=2, seed=0, progress=False)
    # the same choice and the same validation numbers whether or not test pairs exist
    assert hidden["settings"] == plain["settings"]
    assert hidden["val"] == pytest.approx(plain["val"])
    assert len(hidden["trials"]) == 2
    if spec.learned:
        assert 1 <= hidden["epochs"] <= 2
        assert [len(point) for point in hidden["curve"]] == [2] * len(hidden["curve"])


def test_main_writes_the_choice_and_a_stackable_config(tmp_path, monkeypatch):
    monkeypatch.setattr(
        methods,
        "datasets",
        lambda root, table=None: {"synthetic": tiny_dataset(SyntheticDataModule)},
    )
    tune.main(
        [
            "--datasets",
            "synthetic",
            "--methods",
            "item kNN",
            "--trials",
            "2",
            "--out",
            str(tmp_path / "tuned"),
            "--configs",
            str(tmp_path / "configs"),
        ]
    )
    report = json.loads((tmp_path / "tuned" / "synthetic.json").read_text())
    assert report["budget"]["trials"] == 2 and "TPE" in report["budget"]["sampler"]
    chosen = report["methods"]["item kNN"]
    assert chosen["settings"]["num_neighbors"] in (20, 50, 200, 500)
    assert chosen["val"]["full_ranking/recall@20"] == max(
        t["val"]["full_ranking/recall@20"] for t in chosen["trials"]
    )


def test_pinsage_config_stacks_data_and_model_blocks():
    settings = {"model.lr": 0.01, "data.batch_size": 256, "model.num_layers": 1}
    text = tune.pinsage_config(settings, epochs=3)
    assert "data:\n  init_args:\n    batch_size: 256\nmodel:\n" in text
    # a group's settings land in the datamodule's group
    grouped = tune.pinsage_config(
        {
            "data.negatives.num_random": 500,
            "data.task.history": "random",
            "data.neighborhood.num_walks": 9,
        },
        1,
    )
    assert "    negatives:\n      num_random: 500\n" in grouped
    assert "    neighborhood:\n      num_walks: 9\n" in grouped
    assert '    task:\n      history: "random"\n' in grouped
    # the model owns its depth (the CLI links it into the data)
    assert "model:\n  lr: 0.01\n  num_layers: 1\n" in text
    assert "trainer:\n  max_epochs: 3" in text


def test_a_training_time_cap_stops_pinsage_within_its_first_epoch(monkeypatch):
    from pinsage_dgl.lit import PinSageModule

    steps = []
    step = PinSageModule.training_step
    monkeypatch.setattr(
        PinSageModule, "training_step", lambda self, *a: steps.append(1) or step(self, *a)
    )
    dataset = tiny_dataset(SyntheticDataModule)
    dataset.trial_minutes = 0.0  # reached after the first batch, whatever the machine's speed
    settings = {"data.batch_size": 32, "data.negatives.num_random": 20}
    dm = methods.datamodule(dataset, settings, seed=0, fold_validation=False)
    epochs = []
    methods.train("PinSage", dm, dataset, settings, 0, on_epoch=lambda e, s, sc: epochs.append(e))
    # an epoch of this graph is many batches of 32: the cap cut it after the first, and the
    # cut epoch was still handed to on_epoch (so the tuner scores it)
    assert len(dm.train_dataloader()) > 1
    assert len(steps) == 1 and epochs == [0]


def test_pinsage_searches_time_ordered_histories_only_where_saves_have_times():
    import optuna

    space = methods.METHODS["PinSage"].space
    timeless = tiny_dataset(SyntheticDataModule)
    timeless.timestamps = False
    timed = tiny_dataset(SyntheticDataModule)

    def histories(dataset):  # one study per dataset, as the tuner makes
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        return {space(study.ask(), dataset)["data.task.history"] for _ in range(20)}

    assert histories(timeless) == {"random"}
    assert histories(timed) == {"random", "earlier"}


@pytest.mark.parametrize("dataset", methods.TUNED_DATASETS)
def test_committed_tuned_configs_are_what_the_tuner_writes_from_its_report(dataset):
    report = json.loads((tune.TUNED / f"{dataset}.json").read_text())
    chosen = report["methods"]["PinSage"]
    expected = tune.pinsage_config(chosen["settings"], chosen["epochs"])
    assert (tune.CONFIGS / f"{dataset}.yaml").read_text() == expected


def test_evaluations_are_spaced_geometrically_where_the_dataset_asks():
    # every epoch without growth; with 0.25, once training time grew by a quarter
    assert tune.evaluation_due(10.0, 10.0, 0.0)
    assert not tune.evaluation_due(12.4, 10.0, 0.25)
    assert tune.evaluation_due(12.5, 10.0, 0.25)
    assert tune.evaluation_due(0.5, 0.0, 0.25)  # the first epoch is always scored


def test_a_spaced_run_scores_its_first_and_last_epochs():
    dataset = tiny_dataset(SyntheticDataModule)
    dataset.max_epochs = 4
    dataset.eval_growth = 1e9  # no epoch in between is ever due
    spaced = tune.run_trial("MF-BPR", dataset, methods.METHODS["MF-BPR"].defaults, 0, False)
    assert len(spaced["curve"]) == 2 and spaced["epochs"] in (1, 4)
    dataset.eval_growth = 0.0
    every = tune.run_trial("MF-BPR", dataset, methods.METHODS["MF-BPR"].defaults, 0, False)
    assert len(every["curve"]) == 4
    # the same training (seeded): the spaced run's two scores are the first and the last
    assert [v for _, v in spaced["curve"]] == [every["curve"][0][1], every["curve"][3][1]]


def test_the_walk_weight_chosen_is_the_best_on_validation():
    dm = SyntheticDataModule(num_pins=200, num_boards=80, num_topics=4, subtopics=2, seed=0)
    generator = torch.Generator().manual_seed(0)
    embeddings = torch.randn(dm.graph.num_pins, 8, generator=generator)
    scorer = EmbeddingScorer(embeddings, "recency")
    primary = "full_ranking/recall@20"
    chosen, weight = methods.choose_walk_weight(scorer, dm, {"model.walk_weight": None}, primary)
    walk = dm.training_graph.walk_scores(200)
    histories = BoardHistories(dm.split.train)
    by_weight = {
        w: evaluate(
            scorer.reweighted(walk if w else None, w), histories, dm.split.val, ["full_ranking"]
        )[primary]
        for w in WALK_WEIGHTS
    }
    assert len(set(by_weight.values())) > 1  # the weights differ here: the choice matters
    assert weight == best_walk_weight(by_weight)
    assert chosen.walk_weight == weight and (chosen.walk is walk) == (weight > 0)
    # a fixed weight, or another kind of scorer, is left as it is
    assert methods.choose_walk_weight(scorer, dm, {"model.walk_weight": 0.0}, primary) == (
        scorer,
        None,
    )
