import pytest
import torch

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


def test_export_killed_mid_write_leaves_the_previous_file_intact(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    import numpy as np

    from pinsage_dgl.inference import load_embeddings, save_embeddings

    target = tmp_path / "emb.npz"
    save_embeddings(target, torch.ones(3, 2), np.array(["a", "b", "c"]))
    # a writer that stalls half-way through the new file, then is killed with SIGKILL
    script = f"""
import numpy as np, time, torch
from pinsage_dgl import inference
def stalling_savez(f, **arrays):
    f.write(b"PK\\x03\\x04 half a zip")
    f.flush()
    print("writing", flush=True)
    time.sleep(60)
inference.np.savez = stalling_savez
inference.save_embeddings({str(target)!r}, torch.zeros(5, 2), np.arange(5))
"""
    writer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "writing"
    time.sleep(0.2)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    emb, ids = load_embeddings(target)
    assert torch.equal(emb, torch.ones(3, 2)) and ids.tolist() == ["a", "b", "c"]


def test_atomic_writes_get_the_mode_a_plain_open_would(tmp_path):
    write_text_atomic(tmp_path / "report.md", "x")
    (tmp_path / "plain.md").write_text("x")
    assert (tmp_path / "report.md").stat().st_mode == (tmp_path / "plain.md").stat().st_mode
