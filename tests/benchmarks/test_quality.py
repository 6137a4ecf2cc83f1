import json

import pytest
import torch

from benchmarks import quality
from datamodules.synthetic import make_synthetic
from pinsage_dgl.evaluation import WALK_WEIGHTS, BoardValues
from tests.conftest import real_data


def section(results: dict, targets: dict | None = None) -> dict:
    return {"methods": results, "primary": "sampled/hr@10", "targets": targets or {}}


def board_values(per_board: list[float]) -> BoardValues:
    """Test values of one row on boards 0..n-1, one value per board."""
    n = len(per_board)
    return BoardValues(
        torch.arange(n),
        torch.tensor(per_board, dtype=torch.float64),
        torch.ones(n, dtype=torch.int64),
    )


def test_checks_say_ahead_tied_or_behind_from_paired_intervals():
    # 400 boards; EASE hits every board PinSage hits, and 40 more: behind beyond doubt.
    # GraphSAGE differs from PinSage on 2 boards out of 400 only: a tie, whatever the third
    # digit says (PinSage 0.500 vs 0.4975 here)
    pinsage = [1.0] * 200 + [0.0] * 200
    per_board = {
        "popularity": [0.0] * 400,
        "EASE": [1.0] * 240 + [0.0] * 160,
        "GraphSAGE (uniform neighbours)": [1.0] * 199 + [0.0] * 201,
        "PinSage": pinsage,
    }
    rows = {m: {"sampled/hr@10": sum(v) / 400} for m, v in per_board.items()}
    values = {m: {"sampled/hr@10": board_values(v)} for m, v in per_board.items()}
    # the curriculum: same primary values as PinSage, better item-to-item hits
    rows["PinSage, hard-negative curriculum"] = {"sampled/hr@10": 0.5}
    values["PinSage, hard-negative curriculum"] = {
        "sampled/hr@10": board_values(pinsage),
        "item_to_item/hit@10": board_values([1.0] * 300 + [0.0] * 100),
    }
    values["PinSage"]["item_to_item/hit@10"] = board_values([1.0] * 100 + [0.0] * 300)
    sec = section(rows, {"sampled/hr@10": 0.7})
    sec["comparisons"] = quality.compare(sec, values)
    checks = quality.checks(sec)
    assert checks["PinSage against the best baseline"] == "behind"  # EASE
    assert sec["comparisons"]["PinSage against the best baseline"]["rows"] == ["PinSage", "EASE"]
    assert checks["importance pooling against uniform neighbours (GraphSAGE)"] == "tied"
    assert checks["hard negatives on item-to-item (hit@10)"] == "ahead"
    assert checks["hard negatives on the primary metric"] == "tied"
    assert checks["the graph against features only"] is None  # not run
    assert checks["PinSage sampled/hr@10 >= 0.7"] is False
    difference = sec["comparisons"]["PinSage against the best baseline"]
    assert difference["difference"] == pytest.approx(-0.1)
    assert difference["interval"][1] < 0
    # each row against the best other method of the main table
    intervals = quality.row_intervals(sec, values)
    assert intervals["EASE"]["rival"] == "PinSage" and intervals["EASE"]["verdict"] == "ahead"
    assert intervals["PinSage"]["rival"] == "EASE"
    low, high = intervals["PinSage"]["interval"]
    assert low < 0.5 < high
    # an ablation row is compared with the main table's best, not with itself
    assert intervals["PinSage, hard-negative curriculum"]["rival"] == "EASE"
    sec["intervals"] = intervals
    line = quality.summary({"datasets": {"ncf": sec}})[2]
    assert line.startswith("| ncf | sampled/hr@10 | 0.500 [")
    assert "| EASE 0.600 [" in line and "| **behind** -0.100 [" in line


def test_paired_rows_must_share_their_boards():
    a = board_values([1.0, 0.0])
    b = BoardValues(torch.tensor([0, 2]), a.sums, a.counts)
    with pytest.raises(ValueError, match="different boards"):
        quality.paired_difference(a, b)


def test_board_values_round_trip_through_the_npz(tmp_path):
    values = {"ncf": {"EASE": {"sampled/hr@10": board_values([0.25, 1.0, 0.0])}}}
    quality.save_values(tmp_path / "v.npz", values)
    loaded = quality.load_values(tmp_path / "v.npz")
    got = loaded["ncf"]["EASE"]["sampled/hr@10"]
    assert got.boards.tolist() == [0, 1, 2] and got.sums.tolist() == [0.25, 1.0, 0.0]
    assert got.counts.tolist() == [1, 1, 1]
    assert quality.load_values(tmp_path / "absent.npz") == {}


def test_chosen_settings_come_from_the_tuner_and_variants_change_one_switch():
    tuned = {"PinSage": {"settings": {"model.lr": 0.01, "model.loss": "softmax"}, "epochs": 4}}
    settings, source = quality.chosen_settings("PinSage", tuned, quick=False)
    assert settings == {"model.lr": 0.01, "model.loss": "softmax", "epochs": 4}
    assert source == "tuned"
    variant, source = quality.chosen_settings("PinSage, max-margin", tuned, quick=False)
    assert variant == {
        "model.lr": 0.01,
        "model.loss": "margin",
        "model.query": "mean",
        "model.popularity_prior": False,  # the prior is trained by the softmax loss only
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
    assert set(section["pinsage_query_modes"]) >= {"mean", "recency", "attention", "multi"}
    # untuned, PinSage's walk weight is chosen on validation, as `pinsage fit` chooses it
    pinsage = section["methods"]["PinSage"]
    assert pinsage["settings"]["model.walk_weight"] in WALK_WEIGHTS
    assert "chosen on validation" in pinsage["source"] and pinsage["walk_choice_seconds"] > 0
    assert "model.walk_weight" not in section["methods"]["MF-BPR"]["settings"]
    text = (out / "quality-quick.md").read_text()
    assert "| PinSage |" in text and "Ablation" in text and "Not tuned" in text
    assert (out / "quality-quick.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in out.iterdir()) == [
        "quality-quick-boards.npz",
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
