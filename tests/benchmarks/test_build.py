import json

from benchmarks import build
from datamodules import write_synthetic


def test_measure_builds_the_tables_and_reports_memory_per_edge(tmp_path, capsys):
    write_synthetic(tmp_path, num_pins=1500, num_boards=500, string_ids=False, seed=0)
    build.main(["--measure", str(tmp_path)])
    measured = json.loads(capsys.readouterr().out)
    assert measured["idtype"] == "torch.int32" and measured["edges"] > 0
    assert measured["peak_bytes_per_edge"] >= measured["own_peak_bytes_per_edge"] > 0
    build.main(["--measure", str(tmp_path), "--result", str(tmp_path / "r.json")])
    again = json.loads((tmp_path / "r.json").read_text())
    assert again["digest"] == measured["digest"]  # the same graph from the same files
