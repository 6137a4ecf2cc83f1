import json

import pytest

from benchmarks import quality
from datamodules.synthetic import make_synthetic
from tests.conftest import real_data


def section(results: dict, targets: dict | None = None) -> dict:
    return {"methods": results, "primary": "sampled/hr@10", "targets": targets or {}}


def test_checks_compare_the_primary_metric():
    results = {
        "popularity": {"sampled/hr@10": 0.45},
        "EASE": {"sampled/hr@10": 0.66},
        "GraphSAGE (uniform neighbours)": {"sampled/hr@10": 0.60},
        "PinSage": {"sampled/hr@10": 0.65, "item_to_item/hit@10": 0.10},
        "PinSage, hard-negative curriculum": {
            "sampled/hr@10": 0.647,
            "item_to_item/hit@10": 0.12,
        },
    }
    checks = quality.checks(section(results, {"sampled/hr@10": 0.7}))
    assert checks["PinSage ahead of every baseline"] is False  # EASE beats it
    assert checks["importance pooling beats uniform neighbours (GraphSAGE)"] is True
    assert checks["hard negatives help item-to-item (hit@10)"] is True
    assert checks["hard negatives do not hurt the primary metric (within 0.005)"] is True
    assert checks["the graph helps (over features only)"] is None  # not run
    assert checks["PinSage sampled/hr@10 >= 0.7"] is False
    # an ablation row beating PinSage is not a baseline beating it, except GraphSAGE and
    # features only, which are methods of their own
    results["EASE"]["sampled/hr@10"] = 0.5
    results["PinSage, max-margin"] = {"sampled/hr@10": 0.7}
    assert quality.checks(section(results))["PinSage ahead of every baseline"] is True
    results["GraphSAGE (uniform neighbours)"]["sampled/hr@10"] = 0.7
    assert quality.checks(section(results))["PinSage ahead of every baseline"] is False


def test_chosen_settings_come_from_the_tuner_and_variants_change_one_switch():
    tuned = {"PinSage": {"settings": {"lr": 0.01, "loss": "softmax"}, "epochs": 4}}
    settings, source = quality.chosen_settings("PinSage", tuned, quick=False)
    assert settings == {"lr": 0.01, "loss": "softmax", "epochs": 4} and source == "tuned"
    variant, source = quality.chosen_settings("PinSage, max-margin", tuned, quick=False)
    assert variant == {
        "lr": 0.01,
        "loss": "margin",
        "query": "mean",
        "popularity_prior": False,  # the prior is trained by the softmax loss only
        "epochs": 4,
    }
    assert source == "PinSage's tuned settings"
    default, source = quality.chosen_settings("EASE", tuned, quick=False)
    assert default == {"l2": 500.0} and source == "defaults (not tuned)"


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
            "--tuned",
            str(tmp_path / "no-tuning"),
        ]
    )
    report = json.loads((out / "quality-quick.json").read_text())
    section = report["datasets"]["table"]
    assert list(section["methods"]) == list(quality.METHODS)
    assert section["test_pairs"] == len(test)
    for values in section["methods"].values():
        for metric in ("full_ranking/recall@20", "item_to_item/hit@10", "latest_pin/hits@10"):
            assert 0.0 <= values[metric] <= 1.0
    assert set(section["pinsage_query_modes"]) == {"mean", "recency", "attention", "multi"}
    text = (out / "quality-quick.md").read_text()
    assert "| PinSage |" in text and "Ablation" in text and "Not tuned" in text
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
    report = json.loads((out / "quality-quick.json").read_text())
    first = report["datasets"]["movielens-100k"]
    # a section this run cannot load (a user's table, given by --table in an earlier run)
    report["datasets"] = {"table": first, **report["datasets"]}
    (out / "quality-quick.json").write_text(json.dumps(report))
    quality.main([*common, "--methods", "popularity"])
    report = json.loads((out / "quality-quick.json").read_text())
    second = report["datasets"]["movielens-100k"]
    assert list(second["methods"]) == ["popularity", "item kNN"]
    assert second["methods"]["item kNN"] == first["methods"]["item kNN"]
    assert len(second["runs"]) == 2
    assert list(report["datasets"]) == ["movielens-100k", "table"]  # kept, after the others
    assert report["datasets"]["table"]["methods"] == first["methods"]


def test_the_table_names_the_methods_that_were_not_tuned():
    row = {"sampled/hr@10": 0.5, "fit_seconds": 1.0, "settings": {}}
    report = {
        "datasets": {
            "ncf-movielens-1m": {
                **section(
                    {
                        "MF-BPR": {**row, "source": "tuned"},
                        "LightGCN-BPR": {**row, "source": "defaults (not tuned)"},
                    }
                ),
                "note": "a note",
                "pins": 3,
                "boards": 2,
                "test_pairs": 2,
                "runs": [{"command": "python -m benchmarks.quality", "machine": "m"}],
                "budget": {"trials": 6, "sampler": "s", "max_epochs": 6, "trial_minutes": 8},
                "pinsage_query_modes": {},
            }
        }
    }
    text = quality.markdown(report)
    assert "Tuning budget per method: 6 runs" in text
    assert "Not tuned, at their defaults: LightGCN-BPR." in text
