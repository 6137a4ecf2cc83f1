import json
import statistics

import pytest

from benchmarks import epochs


@pytest.mark.slow
def test_each_row_trains_its_epochs_and_is_timed_against_lightgcn(tmp_path):
    tuned = tmp_path / "tuned"
    tuned.mkdir()
    small = {"model.hidden_dim": 16, "model.out_dim": 16, "model.num_layers": 1}
    factors = {"dim": 16, "lr": 0.01, "l2": 1e-4, "batch_size": 4096}
    tuned.joinpath("synthetic.json").write_text(
        json.dumps(
            {
                "methods": {
                    "PinSage": {"settings": small},
                    "LightGCN-BPR": {"settings": {**factors, "num_layers": 1}},
                    "MF-BPR": {"settings": factors},
                }
            }
        )
    )
    rows = ["PinSage (halves)", "LightGCN-BPR", "MF-BPR"]
    argv = [
        "--dataset",
        "synthetic",
        "--epochs",
        "2",
        "--tuned",
        str(tuned),
        "--out",
        str(tmp_path),
    ]
    report = epochs.main([*argv, "--methods", *rows])
    assert list(report["rows"]) == rows
    halves = report["rows"]["PinSage (halves)"]["settings"]
    # the tuned record, the embeddings alone, and the halves run's own settings on top
    assert halves["model.hidden_dim"] == 16 and halves["model.walk_weight"] == 0.0
    assert {k: halves[k] for k in epochs.HALVES} == epochs.HALVES
    for row in report["rows"].values():
        curve = row["curve"]
        assert [point["epoch"] for point in curve] == [1, 2]
        assert sum(p["epoch_seconds"] for p in curve) == pytest.approx(
            curve[-1]["train_seconds"], abs=0.02
        )
        assert all(0 <= p[epochs.METRIC] <= 1 for p in curve)
        median = statistics.median(p["epoch_seconds"] for p in curve)
        assert row["seconds_per_epoch"] == median
    text = (tmp_path / "epochs.md").read_text()
    assert "| LightGCN-BPR |" in text and "| 1.00 |" in text  # the peer's own ratio
    assert json.loads((tmp_path / "epochs.json").read_text())["rows"].keys() == set(rows)
    with pytest.raises(SystemExit):
        epochs.main([*argv, "--methods", "PinSage (quarters)"])
