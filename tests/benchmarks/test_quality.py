import json

import pytest

from benchmarks import quality
from datamodules.synthetic import make_synthetic
from tests.conftest import real_data


def test_checks_compare_the_primary_metric():
    setting = quality.Setting(
        make=None,
        primary="sampled/hr@10",
        budget_minutes=1,
        epochs=1,
        data={},
        model={},
        targets={"sampled/hr@10": 0.7},
    )
    results = {
        "popularity": {"sampled/hr@10": 0.45},
        "GraphSAGE": {"sampled/hr@10": 0.60},
        "PinSage, no hard negatives": {"sampled/hr@10": 0.65},
        "PinSage": {"sampled/hr@10": 0.64},
    }
    checks = quality.checks(results, setting)
    assert checks["PinSage ahead of every baseline"] is False  # its own ablation beats it
    assert checks["importance pooling beats mean pooling (GraphSAGE)"] is True
    assert checks["hard negatives help"] is False
    assert checks["the graph helps (over features only)"] is None  # not run
    assert checks["PinSage sampled/hr@10 >= 0.7"] is False


@pytest.mark.slow
def test_every_method_on_a_users_table_with_a_test_file(tmp_path):
    interactions, pins = make_synthetic(num_pins=400, num_boards=150, num_topics=4, seed=2)
    interactions = interactions.rename(columns={"pin": "item", "board": "user"})
    pins.drop(columns=["topic", "cluster"]).rename(columns={"pin": "item"}).to_csv(
        tmp_path / "items.csv", index=False
    )
    test = interactions.groupby("user").tail(2)  # two held-out pins per user
    interactions.drop(test.index).to_csv(tmp_path / "train.csv", index=False)
    test.to_parquet(tmp_path / "test.parquet")
    out = tmp_path / "results"
    quality.main(
        [
            "--quick",
            "--datasets",
            "table",
            "--table",
            str(tmp_path / "train.csv"),
            "--test-table",
            str(tmp_path / "test.parquet"),
            "--pin-features",
            str(tmp_path / "items.csv"),
            "--pin-col",
            "item",
            "--board-col",
            "user",
            "--out",
            str(out),
        ]
    )
    report = json.loads((out / "quality-quick.json").read_text())
    section = report["datasets"]["table"]
    assert list(section["methods"]) == list(quality.METHODS)
    assert section["test_pairs"] == len(test)
    for values in section["methods"].values():
        for metric in ("full_ranking/recall@20", "item_to_item/hit@10", "latest_pin/hits@10"):
            assert 0.0 <= values[metric] <= 1.0
    assert set(section["pinsage_query_modes"]) == {"mean", "recency", "multi"}
    assert "| PinSage |" in (out / "quality-quick.md").read_text()
    assert (out / "quality-quick.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in out.iterdir()) == [
        "quality-quick.json",
        "quality-quick.md",
        "quality-quick.png",
    ]  # no temporary files left behind


def test_table_dataset_needs_a_path():
    with pytest.raises(SystemExit):
        quality.main(["--datasets", "table"])


@pytest.mark.slow
def test_a_partial_run_updates_only_its_methods(tmp_path):
    root = real_data("movielens-100k").parent
    out = tmp_path / "results"
    common = [
        "--quick",
        "--datasets",
        "movielens-100k",
        "--data-root",
        str(root),
        "--out",
        str(out),
    ]
    quality.main([*common, "--methods", "popularity", "item kNN"])
    first = json.loads((out / "quality-quick.json").read_text())["datasets"]["movielens-100k"]
    quality.main([*common, "--methods", "popularity"])
    second = json.loads((out / "quality-quick.json").read_text())["datasets"]["movielens-100k"]
    assert list(second["methods"]) == ["popularity", "item kNN"]
    assert second["methods"]["item kNN"] == first["methods"]["item kNN"]
    assert len(second["runs"]) == 2
