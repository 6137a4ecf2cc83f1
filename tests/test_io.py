import pytest

from pinsage_dgl.io import atomic_path, write_text_atomic


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "sub" / "report.json"
    write_text_atomic(target, "one")
    write_text_atomic(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["report.json"]


def test_failed_write_keeps_the_previous_file(tmp_path):
    target = tmp_path / "report.md"
    write_text_atomic(target, "previous")
    with pytest.raises(RuntimeError, match="disk on fire"), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk on fire")
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]
