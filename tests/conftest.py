"""Shared fixtures: tiny graphs whose answers are known, and the real-data location."""

from __future__ import annotations

from pathlib import Path

import dgl
import pandas as pd
import pytest
import torch

from pinsage_dgl.graph import CONTAINS, SAVED_TO, build_graph

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def real_data(name: str) -> Path:
    """``../shared/data/<name>``, or skip the test with the reason."""
    path = DATA / name
    if not path.exists():
        pytest.skip(f"real data {path} is absent (see ../shared/data/README.md)")
    return path


def small_trainer(**settings):
    """A quiet CPU-test Trainer (no logger, checkpoints, progress bar or model summary)."""
    import lightning as L

    quiet = {
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
    }
    return L.Trainer(**{**quiet, **settings})


def popularity_recall(dm) -> float:
    """Full-ranking recall@20 of the popularity baseline on ``dm``'s test pins: the bar a
    trained model must clear on planted clusters (which popularity ignores)."""
    from pinsage_dgl.baselines import Popularity
    from pinsage_dgl.evaluation import evaluate

    popular = Popularity(dm.split.train)
    return evaluate(popular, dm.test_histories(), dm.split.test, ["full_ranking"])[
        "full_ranking/recall@20"
    ]


def bipartite(pin_board_edges: list[tuple[int, int]]) -> dgl.DGLGraph:
    """A pin/board heterograph from (pin, board) pairs."""
    pins = torch.tensor([p for p, _ in pin_board_edges])
    boards = torch.tensor([b for _, b in pin_board_edges])
    return dgl.heterograph({SAVED_TO: (pins, boards), CONTAINS: (boards, pins)})


@pytest.fixture
def tiny_table() -> pd.DataFrame:
    """Two boards: b1 = {a, b, c}, b2 = {a, b, d}; timestamps increase within a board."""
    return pd.DataFrame(
        {
            "pin": ["a", "b", "c", "a", "b", "d"],
            "board": ["b1", "b1", "b1", "b2", "b2", "b2"],
            "ts": [1, 2, 3, 1, 2, 3],
        }
    )


@pytest.fixture
def two_boards_graph():
    """Board x saves p0, p1, p2 in time order (rows shuffled), board y p3 then p1; pins 4
    and 5 saved by no board."""
    table = pd.DataFrame(
        {
            "pin": [2, 0, 1, 1, 3],
            "board": ["x", "x", "x", "y", "y"],
            "ts": [30, 10, 20, 50, 40],
        }
    )
    return build_graph(table, timestamp_col="ts", extra_pins=[4, 5])


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)  # the walks draw from it too
