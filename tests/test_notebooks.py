"""The notebooks are committed without outputs (`make notebooks` writes executed copies)."""

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert [n.name for n in NOTEBOOKS] == [
        "01-explore-graph.ipynb",
        "02-train-and-recommend.ipynb",
        "03-benchmarks.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code, f"{path.name} has no code"
    for cell in code:
        assert not cell.outputs and cell.execution_count is None, (
            f"{path.name} has outputs: clear them before committing"
        )
