import json

import pytest

from benchmarks import roofline


def test_each_stage_is_bound_by_its_flops_or_its_bytes_and_the_report_says_both(tmp_path):
    argv = ["--pins", "3000", "--neighbors", "5", "--hidden", "8", "--numeric", "2"]
    argv += ["--message-dtype", "float16"]
    report = roofline.main([*argv, "--chunk", "1000", "--triad-mb", "4", "--out", str(tmp_path)])
    r = report["result"]
    assert [s["kind"] for s in r["stages"]] == [
        "encode", "message", "convolve", "message", "convolve", "head",
    ]  # fmt: skip
    assert [s["stage"] for s in r["stages"]] == ["h0", "m1", "h1", "m2", "h2", "embeddings"]
    # by hand: a convolution over T = 5 neighbours at hidden 8
    convolve = r["stages"][2]
    assert convolve["flops_per_pin"] == 2 * 5 * 8 + 2 * 16 * 8
    assert convolve["bytes_per_pin"] == 5 * (8 + 4 + 8 * 2) + 2 * 8 * 4  # float16 messages
    assert convolve["gathered_bytes_per_pin"] == 5 * 8 * 2  # the neighbours' message rows
    assert r["stages"][1]["bytes_per_pin"] == 8 * 4 + 8 * 2  # h0 in, float16 messages out
    for stage in r["stages"]:
        assert stage["roofline_s"] == pytest.approx(
            max(stage["compute_s"], stage["memory_s"]), abs=2e-6
        )
    assert r["triad_gb_per_s"] == max(r["triad_gb_per_s_before_after"])
    assert r["gather_gb_per_s"] > 0 and r["matmul_gflop_per_s"] > 0
    # the gathers at the triad's bandwidth: a bound no larger in time
    assert r["triad_roofline_s"] <= r["roofline_s"] or r["gather_gb_per_s"] > r["triad_gb_per_s"]
    assert r["fraction_of_roofline"] == pytest.approx(r["roofline_s"] / r["pass_s"], rel=0.02)
    assert json.loads((tmp_path / "roofline.json").read_text())["result"] == r
    assert "roofline / measured" in (tmp_path / "roofline.md").read_text()
