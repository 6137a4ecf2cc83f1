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
        "prepare (generate, build, save, shard features)",
        "walk (Ray)",
        "embed (Ray)",
    ]
    assert size["shards"] == -(-size["pins"] // 1024)
    # every layer stage's actors and the walkers reported their peak
    assert set(size["worker_peak_gib"]) == {"walk", "h0", "m1", "h1", "m2", "h2", "embeddings"}
    assert all(peak > 0 for peak in size["worker_peak_gib"].values())
    saved = json.loads((tmp_path / "sharded-quick.json").read_text())
    assert saved["sizes"]["3000"]["edges"] == size["edges"]
    text = (tmp_path / "sharded-quick.md").read_text()
    assert "| walk (Ray) |" in text and "| embed (Ray) |" in text
    # the work directory is removed: only the report is left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sharded-quick.json", "sharded-quick.md"]
