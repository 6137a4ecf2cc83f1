import json

import pytest

pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'ray[data]'")


@pytest.mark.slow
def test_a_quick_run_reports_driver_and_actor_memory_per_stage(tmp_path):
    from benchmarks import sharded

    report = sharded.main(
        ["--sizes", "3000", "--quick", "--out", str(tmp_path), f"--workdir={tmp_path}"]
    )
    size = report["sizes"]["3000"]
    assert list(size["stages"]) == [
        "prepare (own process: generate, build, save, shard features)",
        "walk (Ray)",
        "embed (Ray)",
    ]
    assert size["shards"] == -(-size["pins"] // 1024)
    # every layer stage's actors and the walkers reported their memory and node
    assert set(size["workers"]) == {"walk", "h0", "m1", "h1", "m2", "h2", "embeddings"}
    for used in size["workers"].values():
        assert used["peak_gib"] > used["private_gib"] > 0 and used["nodes"] == 1
    saved = json.loads((tmp_path / "sharded-quick.json").read_text())
    assert saved["sizes"]["3000"]["edges"] == size["edges"]
    text = (tmp_path / "sharded-quick.md").read_text()
    assert "| walk (Ray) |" in text and "| embed (Ray) |" in text
    # the work directory is removed: only the report is left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sharded-quick.json", "sharded-quick.md"]


@pytest.mark.slow
def test_a_cluster_run_spreads_every_stage_over_separate_nodes_and_stops_them(tmp_path):
    import ray

    from benchmarks import sharded

    report = sharded.main(
        ["--sizes", "2000", "--quick", "--cluster", "--out", str(tmp_path), f"--workdir={tmp_path}"]
    )
    assert report["cluster"] is True
    # one actor on each of the two worker nodes (the head has no CPUs), in every stage
    workers = report["sizes"]["2000"]["workers"]
    assert set(workers) == {"walk", "h0", "m1", "h1", "m2", "h2", "embeddings"}
    assert all(used["nodes"] == 2 for used in workers.values())
    assert "separate nodes on this machine" in (tmp_path / "sharded-quick.md").read_text()
    # the nodes were stopped: nothing is left to connect to
    with pytest.raises(ConnectionError):
        ray.init(address="auto")
