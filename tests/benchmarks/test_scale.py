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
    compare = size["layerwise_vs_naive"]  # (its ratio is a timing: not asserted)
    assert compare["layerwise_pins_per_s"] > 0 and compare["naive_pins_measured"] == 512
    assert compare["layerwise_float16_pins_per_s"] > 0
    assert set(compare["pool_seconds"]) == set(compare["pool_ceiling_fraction_of_bound"])
    assert set(compare["pool_seconds"]) == {"float32", "float16"}
    assert size["embed_storage"] == "memory, float32"
    exact = size["ann"][0]
    assert exact["index"] == "exact (torch)" and exact["recall@10"] == 1.0
    best = max(a["recall@10"] for a in size["ann"][1:])
    assert best > 0.95  # the widest searches find nearly everything exact search does
    saved = json.loads((tmp_path / "scale-quick.json").read_text())
    assert saved["sizes"]["6000"]["pins"] == size["pins"]
    table = (tmp_path / "scale-quick.md").read_text()
    assert "| embed |" in table and "| 6,000 | float16 |" in table


@pytest.mark.slow
def test_a_run_of_another_size_updates_the_report_and_embeds_on_disk(tmp_path):
    scale.main(["--sizes", "6000", "--quick", "--out", str(tmp_path), "--compare-max-pins=0"])
    report = scale.main(
        [
            *("--sizes", "5000", "--quick", "--out", str(tmp_path)),
            *("--disk-min-pins=5000", "--compare-max-pins=0", "--hnsw-max-pins=0"),
            *("--train-max-pins=4999", f"--workdir={tmp_path}"),
        ]
    )
    # the earlier size is kept, in size order, each with the command that measured it
    assert list(report["sizes"]) == ["5000", "6000"]
    assert "--disk-min-pins=5000" in report["sizes"]["5000"]["command"]
    assert "--disk-min-pins" not in report["sizes"]["6000"]["command"]
    assert report["sizes"]["5000"]["embed_storage"] == "disk, float16 messages"
    assert "index hnsw" not in report["sizes"]["5000"]["stages"]
    assert "train" not in report["sizes"]["5000"]["stages"]  # above --train-max-pins
    text = (tmp_path / "scale-quick.md").read_text()
    assert "| 5,000 pins (" in text and "| embed layers | disk, float16 messages |" in text
    assert "| train steps/s | skipped |" in text
    # nothing left in the work directory but the report
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scale-quick.json", "scale-quick.md"]
    fresh = scale.main(["--sizes", "5000", "--quick", "--out", str(tmp_path), "--fresh"])
    assert list(fresh["sizes"]) == ["5000"]


@pytest.mark.slow
def test_a_size_that_dies_keeps_the_stages_it_finished(tmp_path):
    # more IVF lists than vectors: faiss refuses, after every earlier stage has run
    report = scale.main(
        [
            *("--sizes", "3000", "--quick", "--out", str(tmp_path), "--ivf-nlist=100000"),
            *("--compare-max-pins=0", "--partition-max-pins=0", "--hnsw-max-pins=0"),
        ]
    )
    size = report["sizes"]["3000"]
    assert size["failed"]["stage"] == "index ivf" and size["failed"]["exit_code"] != 0
    assert {"generate", "build graph", "neighbour table", "train", "embed"} <= set(size["stages"])
    assert "index ivf" not in size["stages"] and "running" not in size
    text = (tmp_path / "scale-quick.md").read_text()
    assert "3,000 pins: the process died in stage 'index ivf'" in text


@pytest.mark.slow
def test_no_graph_is_alive_while_embedding(monkeypatch, tmp_path):
    # at 30M pins the graph is ~12 GiB that the memory-mapped layers need (a graph kept
    # alive by a stale reference once made the embed stage thrash the page cache)
    import gc

    from pinsage_dgl import PinBoardGraph, inference

    def graphs_alive() -> int:
        gc.collect()
        return sum(isinstance(o, PinBoardGraph) for o in gc.get_objects())

    before = graphs_alive()
    during = []
    real = inference.embed_all_pins

    def embed_all_pins(*args, **kwargs):
        during.append(graphs_alive())
        return real(*args, **kwargs)

    monkeypatch.setattr(inference, "embed_all_pins", embed_all_pins)
    result = scale.main(
        [
            *("--run-one", "3000", "--result", str(tmp_path / "size.json"), "--quick"),
            *("--compare-max-pins=0", "--partition-max-pins=0", "--hnsw-max-pins=0"),
        ]
    )
    assert during == [before]
    assert "train" in result["stages"] and result["rss_before_embed_gib"] > 0
    assert result["queries"] == 500
