import json

import pytest

from benchmarks import scale


def test_flops_per_pin_counts_each_layer():
    # hidden 4, out 2, K = 1, T = 3, one numeric column, 2 tokens:
    # encoder 2*1*4 + 2*4 = 16; layer 2*16 + 2*3*4 + 2*8*4 = 120; head 2*16 + 2*4*2 = 48
    assert scale.flops_per_pin(4, 2, 1, 3, numeric=1, tokens=2) == 16 + 120 + 48
    assert scale.flops_per_pin(4, 2, 2, 3, numeric=1, tokens=2) == 16 + 2 * 120 + 48


def test_stages_record_time_and_peak_memory():
    stages = scale.Stages()
    with stages("allocate"):
        block = bytearray(200 * 2**20)  # 200 MiB, touched
        block[::4096] = b"x" * len(block[::4096])
    record = stages.results["allocate"]
    assert record["seconds"] >= 0
    assert record["peak_gib"] >= record["rss_after_gib"] > 0.15
    del block


@pytest.mark.slow
def test_quick_run_writes_every_stage_and_the_comparison(tmp_path):
    report = scale.main(["--sizes", "6000", "--quick", "--out", str(tmp_path)])
    size = report["sizes"]["6000"]
    assert {
        "generate",
        "build graph",
        "neighbour table",
        "train",
        "embed",
        "exact queries",
        "index ivf",
        "index hnsw",
    } <= set(size["stages"])
    compare = size["layerwise_vs_naive"]
    assert compare["ratio"] > 1 and compare["layerwise_pins_per_s"] > 0
    exact = size["ann"][0]
    assert exact["index"] == "exact (torch)" and exact["recall@10"] == 1.0
    best = max(a["recall@10"] for a in size["ann"][1:])
    assert best > 0.95  # the widest searches find nearly everything exact search does
    saved = json.loads((tmp_path / "scale-quick.json").read_text())
    assert saved["sizes"]["6000"]["pins"] == size["pins"]
    assert "| embed |" in (tmp_path / "scale-quick.md").read_text()
