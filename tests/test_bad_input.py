"""Bad input, table-driven: each case gets an error naming what is wrong and where, raised
by our own checks (not from deep inside DGL, torch or pandas)."""

from __future__ import annotations

import traceback
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
import torch

from datamodules import SyntheticDataModule, TableDataModule
from pinsage_dgl.features import FeatureSpec
from pinsage_dgl.graph import build_graph
from pinsage_dgl.lit import HardNegativeCurriculum, PinSageModule
from pinsage_dgl.nn import PinSageConv
from pinsage_dgl.retrieval import build_index
from pinsage_dgl.sampling import Negatives, Neighborhood, Task, importance_neighbors
from pinsage_dgl.scoring import EmbeddingScorer

SAVES = pd.DataFrame(
    {"pin": ["a", "b", "c", "a"], "board": ["x", "x", "y", "y"], "ts": [1, 2, 3, 4]}
)
PINS = pd.DataFrame({"pin": ["a", "b", "c"], "size": [1.0, 2.0, 3.0], "kind": ["u", "v", "u"]})


def saves(**changes) -> pd.DataFrame:
    table = SAVES.copy()
    for column, values in changes.items():
        table[column] = values
    return table


def graph():
    return build_graph(SAVES, timestamp_col="ts", pin_features=PINS)


def table_module(tmp_path, table: pd.DataFrame, **kwargs) -> TableDataModule:
    path = tmp_path / "saves.csv"
    table.to_csv(path, index=False)
    return TableDataModule(str(path), **kwargs)


# (case, action, expected exception, pattern the message must contain)
CASES: list[tuple[str, Callable, type[BaseException], str]] = [
    # --- interactions tables -------------------------------------------------------------
    (
        "missing pin column",
        lambda t: build_graph(SAVES.drop(columns="pin")),
        ValueError,
        r"missing column 'pin'",
    ),
    (
        "missing board column",
        lambda t: build_graph(SAVES, board_col="user"),
        ValueError,
        r"missing column 'user'",
    ),
    (
        "null pin id",
        lambda t: build_graph(saves(pin=["a", None, "c", "a"])),
        ValueError,
        r"null id in column 'pin'",
    ),
    (
        "text timestamp",
        lambda t: build_graph(saves(ts=["1", "later", "3", "4"]), timestamp_col="ts"),
        ValueError,
        r"'ts'",
    ),
    (
        "negative weight",
        lambda t: build_graph(saves(w=[1, -1, 1, 1]), weight_col="w"),
        ValueError,
        r"column 'w' needs finite non-negative weights",
    ),
    (
        "NaN weight",
        lambda t: build_graph(saves(w=[1, np.nan, 1, 1]), weight_col="w"),
        ValueError,
        r"column 'w'",
    ),
    (
        "weight beyond float32 (would become inf)",
        lambda t: build_graph(saves(w=[1, 1e308, 1, 1]), weight_col="w"),
        ValueError,
        r"column 'w' needs finite non-negative weights up to 3\.4e\+38; bad value at row 1",
    ),
    (
        "repeated saves whose weights sum beyond float32",
        lambda t: build_graph(
            pd.DataFrame({"pin": ["a", "a"], "board": ["x", "x"], "w": [3e38, 3e38]}),
            weight_col="w",
        ),
        ValueError,
        r"the saves of pin 'a' to board 'x' sum to 6e\+38",
    ),
    ("empty table", lambda t: build_graph(SAVES.iloc[:0]), ValueError, r"empty"),
    (
        "table file absent",
        lambda t: build_graph(t / "nope.parquet"),
        FileNotFoundError,
        r"nope\.parquet",
    ),
    ("unknown table format", lambda t: build_graph(t / "saves.xlsx"), Exception, r"saves\.xlsx"),
    # --- feature tables --------------------------------------------------------------------
    (
        "a pin without features where every pin needs them",
        lambda t: build_graph(SAVES, pin_features=PINS.head(2), require_pin_features=True),
        ValueError,
        r"pin feature table: no row for 1 pin of the 3 \(the first: 'c'\)",
    ),
    (
        "a fractional id",
        lambda t: build_graph(saves(pin=[1.0, 2.5, 3.0, 1.0])),
        ValueError,
        r"interactions: column 'pin': ids must be integers or text, not 2\.5",
    ),
    (
        "duplicated pin in features",
        lambda t: build_graph(SAVES, pin_features=pd.concat([PINS, PINS.head(1)])),
        ValueError,
        r"duplicated pin id",
    ),
    (
        "feature table without its id column",
        lambda t: build_graph(SAVES, pin_features=PINS.rename(columns={"pin": "item"})),
        ValueError,
        r"missing id column 'pin'",
    ),
    (
        "NaN numeric feature",
        lambda t: build_graph(SAVES, pin_features=PINS.assign(size=[1.0, np.nan, 3.0])),
        ValueError,
        r"'size' has a missing, non-numeric or non-finite value",
    ),
    (
        "infinite numeric feature",
        lambda t: build_graph(SAVES, pin_features=PINS.assign(size=[1.0, np.inf, 3.0])),
        ValueError,
        r"'size'.*non-finite value inf",
    ),
    (
        "new pins missing a feature column",
        lambda t: graph().pin_spec.encode(PINS.drop(columns="size"), "new.csv"),
        ValueError,
        r"new\.csv: missing feature column 'size'",
    ),
    (
        "unknown feature kind",
        lambda t: build_graph(SAVES, pin_features=PINS, pin_feature_columns={"size": "image"}),
        ValueError,
        r"image",
    ),
    # --- lookups -----------------------------------------------------------------------------
    ("unknown pin id", lambda t: graph().pin_index(["a", "nope"]), KeyError, r"'nope'"),
    ("unknown board id", lambda t: graph().board_index(["nope"]), KeyError, r"'nope'"),
    # --- datamodule and model settings (the config keys) ----------------------------------
    ("batch size 0", lambda t: SyntheticDataModule(batch_size=0), ValueError, r"batch_size"),
    (
        "T = 0 neighbours",
        lambda t: Neighborhood(num_neighbors=0),
        ValueError,
        r"num_neighbors must be >= 1, got 0",
    ),
    ("K = -1 layers", lambda t: SyntheticDataModule(num_layers=-1), ValueError, r"num_layers"),
    (
        "unknown task",
        lambda t: Task(kind="triples"),
        ValueError,
        r"kind must be one of \('boards', 'pairs', 'halves'\), got 'triples'",
    ),
    (
        "no random negatives",
        lambda t: Negatives(num_random=0),
        ValueError,
        r"num_random must be >= 1, got 0",
    ),
    (
        "unknown neighbourhood",
        lambda t: Neighborhood(kind="random"),
        ValueError,
        r"kind must be one of \('importance', 'uniform'\), got 'random'",
    ),
    (
        "no board with two pins",
        lambda t: table_module(
            t, pd.DataFrame({"pin": ["a", "b"], "board": ["x", "y"]})
        ).train_dataloader(),
        ValueError,
        r"no board has two training pins",
    ),
    (
        "learning rate 0",
        lambda t: PinSageModule(pin_spec=graph().pin_spec.to_dict(), lr=0),
        ValueError,
        r"lr=0",
    ),
    (
        "unknown protocol",
        lambda t: PinSageModule(pin_spec=graph().pin_spec.to_dict(), protocols=["auc"]),
        ValueError,
        r"'auc'",
    ),
    (
        "unknown board query",
        lambda t: EmbeddingScorer(torch.zeros(2, 2), query="median"),
        ValueError,
        r"'median'",
    ),
    (
        "hard-negative band upside down",
        lambda t: Negatives(hard_band=(50, 10)),
        ValueError,
        r"\(50, 10\)",
    ),
    (
        "negative curriculum cap",
        lambda t: HardNegativeCurriculum(max_per_query=-2),
        ValueError,
        r"max_per_query",
    ),
    (
        "zero walks",
        lambda t: importance_neighbors(graph().graph, torch.tensor([0]), num_walks=0),
        ValueError,
        r"num_walks",
    ),
    ("convolution of width 0", lambda t: PinSageConv(0, 4, 4), ValueError, r"in_feats"),
    (
        "pins with no features and no ids",
        lambda t: PinSageModule(pin_spec=FeatureSpec().to_dict()),
        ValueError,
        r"no features",
    ),
    # --- retrieval ---------------------------------------------------------------------------
    (
        "index of NaN embeddings",
        lambda t: build_index(torch.full((3, 2), np.nan), "flat"),
        ValueError,
        r"NaN",
    ),
    (
        "unknown index kind",
        lambda t: build_index(torch.zeros(3, 2), "annoy"),
        ValueError,
        r"'annoy'",
    ),
]


@pytest.mark.parametrize(("case", "action", "error", "pattern"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_a_clear_error(case, action, error, pattern, tmp_path):
    (tmp_path / "saves.xlsx").write_bytes(b"not a table")
    with pytest.raises(error, match=pattern) as caught:
        action(tmp_path)
    # raised by our own code, not from deep inside a library
    innermost = traceback.extract_tb(caught.value.__traceback__)[-1].filename
    assert "site-packages" not in innermost, f"{case}: raised inside {innermost}"


def test_there_are_at_least_25_cases():
    assert len(CASES) >= 25
