import json

import pytest

from benchmarks import time_to_quality


def test_each_recipe_is_scored_on_validation_after_its_epochs(tmp_path):
    # a budget of a microsecond: each recipe stops after its first batch, whatever the
    # machine's load, and that cut epoch is scored on validation as any other
    tuned = tmp_path / "tuned"
    tuned.mkdir()
    tuned.joinpath("synthetic.json").write_text(
        json.dumps(
            {"methods": {"PinSage": {"settings": {"model.hidden_dim": 32, "model.num_layers": 1}}}}
        )
    )
    argv = ["--dataset", "synthetic", "--minutes", "1e-8", "--tuned", str(tuned)]
    report = time_to_quality.main([*argv, "--target", "0", "--out", str(tmp_path)])
    assert set(report["recipes"]) == {"DGL example's recipe", "PinSage"}
    dgl_recipe, ours = report["recipes"]["DGL example's recipe"], report["recipes"]["PinSage"]
    assert dgl_recipe["sampler"] == "dgl.sampling.PinSAGESampler"
    assert not dgl_recipe["full_graph_steps"]  # DGL's sampler builds blocks
    assert ours["source"] == "tuned on validation (synthetic.json)"
    assert ours["settings"]["model.hidden_dim"] == 32 and ours["settings"]["model.num_layers"] == 1
    for result in (dgl_recipe, ours):
        (point,) = result["curve"]
        assert point["epoch"] == 1 and 0 <= point["latest_pin/hits@10"] <= 1
        assert result["epochs_to_target"] == 1  # any value reaches a target of 0
        assert result["seconds_to_target"] == point["train_seconds"]
    saved = json.loads((tmp_path / "time_to_quality.json").read_text())
    assert saved["recipes"]["PinSage"]["curve"] == ours["curve"]
    assert "| PinSage | neighbour table |" in (tmp_path / "time_to_quality.md").read_text()
    # a target no model reaches is reported as such; an unknown recipe is refused
    out = tmp_path / "unreached"
    only_ours = ["--recipes", "PinSage", "--out", str(out)]
    report = time_to_quality.main([*argv, "--target", "2", *only_ours])
    assert report["recipes"]["PinSage"]["seconds_to_target"] is None
    assert "not reached" in (out / "time_to_quality.md").read_text()
    with pytest.raises(SystemExit):
        time_to_quality.main([*argv, "--recipes", "DGL's script"])
