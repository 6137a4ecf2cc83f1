"""The README's Python snippets run as written (those that need no files of your own)."""

import re
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)


def block(first_line: str) -> str:
    """The README's Python block whose code includes ``first_line``."""
    found = [b for b in BLOCKS if first_line in b]
    assert len(found) == 1, f"no single README block with {first_line!r}"
    return found[0]


@pytest.mark.slow
def test_the_evaluation_serving_and_step_by_step_snippets_run_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the snippets write emb.parquet and pins.index.npz
    namespace: dict = {}
    exec(block("histories = data.test_histories()"), namespace)  # defines data, model
    exec(block("recommender = model.recommender("), namespace)
    # the step-by-step block, up to its Ray part (an optional extra, tested elsewhere)
    steps = block("emb = embed_all_pins(model.model")
    exec(steps.split("# the same embeddings from a Ray")[0], namespace)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["emb.parquet", "pins.index.npz"]
    assert namespace["scores"].shape == (3, 10)  # the three new pins' top 10
