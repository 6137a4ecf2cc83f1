import dataclasses
from pathlib import Path

from benchmarks import methods
from datamodules import LightGCNDataModule, NCFDataModule, SyntheticDataModule
from pinsage_dgl.sampling import Neighborhood


def test_every_benchmark_dataset_is_the_data_of_its_config(tmp_path):
    # paths of the configs (../shared/data/...) land under the run's --data-root
    cls, arguments = methods.config_data("gowalla", tmp_path)
    assert cls is LightGCNDataModule
    assert arguments == {"path": str(tmp_path / "gowalla"), "val_share": 0.2,
                         "eval_batch_size": 512}  # fmt: skip
    cls, arguments = methods.config_data("ncf-movielens-1m", tmp_path)
    assert cls is NCFDataModule
    assert arguments["path"] == str(tmp_path / "ncf-movielens-1m")
    assert arguments["movies_path"] == str(tmp_path / "movielens-1m")
    # a group of settings stays a dict until merged with a row's (then its dataclass)
    cls, arguments = methods.config_data("synthetic")
    assert cls is SyntheticDataModule and arguments["neighborhood"] == {"num_walks": 20}
    assert (arguments["num_pins"], arguments["num_boards"]) == (5000, 2000)
    # every dataset but a user's table has its config
    named = set(methods.datasets(tmp_path)) - {"table"}
    assert named == set(methods.DATASETS) - {"table"}
    assert all((methods.CONFIGS / f"{name}.yaml").is_file() for name in named)


def test_a_configs_data_is_built_with_the_benchmarks_settings_over_it(monkeypatch):
    small = methods.config_data("synthetic-checkins")[1]
    assert (small["num_pins"], small["num_boards"], small["pin_features"]) == (41000, 30000, False)
    # the config's arguments, then the method's settings and the seed over them
    config = {"num_pins": 7, "neighborhood": {"num_walks": 20, "num_neighbors": 7}}
    monkeypatch.setattr(methods, "config_data", lambda name, root: (dict, config))
    dataset = methods.datasets(Path("unused"))["synthetic"]
    settings = {"data.neighborhood.num_walks": 5}
    built = methods.datamodule(dataset, settings, seed=3, fold_validation=True)
    # field by field within a group: the row's walks, the config's neighbours
    assert built["neighborhood"] == Neighborhood(num_walks=5, num_neighbors=7)
    assert built["num_pins"] == 7 and built["num_layers"] == 2  # the model's default depth
    assert built["seed"] == 3 and built["fold_validation"] is True


def test_a_pinsage_row_trains_to_the_same_embeddings_from_the_same_seed():
    import torch

    from datamodules import SyntheticDataModule
    from tests.benchmarks.test_tune import tiny_dataset

    dataset = dataclasses.replace(
        tiny_dataset(SyntheticDataModule),
        make=lambda **kw: SyntheticDataModule(num_pins=2000, num_boards=800, **kw),
    )
    settings = {"epochs": 2, "model.hidden_dim": 32, "model.walk_weight": 0.0}
    embeddings = []
    for _ in range(2):
        dm = methods.datamodule(dataset, settings, seed=0, fold_validation=False)
        embeddings.append(methods.train("PinSage", dm, dataset, settings, 0).embeddings)
    assert torch.equal(*embeddings)
