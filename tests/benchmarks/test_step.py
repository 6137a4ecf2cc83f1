import json

from benchmarks import step


def test_steps_of_this_checkout_and_a_peer_and_where_the_time_goes(tmp_path):
    # the peer is this very commit (a worktree of HEAD): both rows measure the same code
    argv = ["--datasets", "synthetic", "--shapes", "dgl-example", "recipe", "--steps", "1"]
    report = step.main([*argv, "--peer", "HEAD", "--out", str(tmp_path)])
    rows = {row["shape"]: row for row in report["steps"]}
    assert set(rows) == {"dgl-example", "recipe"}
    for row in rows.values():
        assert row["ours"]["seconds_per_step"] > 0 and row["peer"]["seconds_per_step"] > 0
        assert row["ours"]["full_graph"] == row["peer"]["full_graph"]  # the same rule
        assert row["ours"]["pins"] == row["peer"]["pins"] == 4853
    # the DGL example's 32 pairs reach a fraction of the pins: blocks; the recipe's 512
    # boards reach nearly all of them: the whole graph
    assert not rows["dgl-example"]["ours"]["full_graph"]
    assert rows["recipe"]["ours"]["full_graph"]
    (paths,) = report["paths"]
    assert set(paths["seconds"]) == {"layer-wise pass", "full-graph step", "block step"}
    assert paths["block pins per layer"][-1] <= paths["block pins per layer"][0] <= 4853
    assert json.loads((tmp_path / "step.json").read_text())["steps"] == report["steps"]
    table = (tmp_path / "step.md").read_text()
    assert "| synthetic (4,853 pins) | dgl-example |" in table and "HEAD / ours" in table


def test_a_profile_names_where_a_steps_time_goes(tmp_path):
    shapes = ["--shapes", "recipe", "halves"]
    argv = ["--datasets", "synthetic", *shapes, "--steps", "1", "--peer", "none"]
    report = step.main([*argv, "--no-paths", "--profile", "--out", str(tmp_path)])
    assert [p["shape"] for p in report["profiles"]] == ["recipe", "halves"]
    for profile in report["profiles"]:
        assert profile["dataset"] == "synthetic" and profile["pins"] == 4853
        operators = profile["operators"]
        assert 0 < len(operators) <= 12
        shares = [o["share"] for o in operators]
        assert shares == sorted(shares, reverse=True) and 0 < sum(shares) <= 1.0 + 1e-9
        assert all(o["calls_per_step"] >= 1 for o in operators)
    halves = {row["shape"]: row["ours"] for row in report["steps"]}["halves"]
    assert halves["full_graph"]  # the recipe file asks for whole-graph steps
    table = (tmp_path / "step.md").read_text()
    assert "Profile of a recipe step on synthetic" in table
    assert "Profile of a halves step on synthetic" in table


def test_the_halves_shape_is_the_recipe_file_the_cli_stacks():
    assert step.shape_settings("halves") == {
        "data.batch_size": 256,
        "data.full_graph": True,
        "data.task.kind": "halves",
        "trainer.precision": "bf16-mixed",
    }
