"""Any interactions table (Parquet/CSV/TSV), with optional pin features and test file."""

from __future__ import annotations

import pandas as pd
import torch

from datamodules.base import PinSageDataModule
from pinsage_dgl.graph import SAVED_TO, GraphInputError, PinBoardGraph, build_graph, read_saves
from pinsage_dgl.split import EdgeSplit, given_test_out, leave_latest_out
from pinsage_dgl.tables import ids

TEST_OFFSET = 2.0**62  # added to test rows' order key (training timestamps stay far below)


class TableDataModule(PinSageDataModule):
    """Interactions from a file the user names.

    Without ``test_interactions`` each board's latest pin (by ``timestamp_col``, or a
    seeded random pin) is held out for test and the next for validation (a time split per
    board); with it, every row of that table is a test pin (a board may have several;
    a pair also present in the training table counts as test) and each board's latest
    training pin is held out for validation.

    Parameters
    ----------
    interactions : str
        Path of the interactions table.
    pin_col : str
        Column of the pin (item) ids, in every table. Ids are integers or text: whole
        numbers however written (``27``, ``27.0``, ``"027"``) are integers, text loses
        surrounding spaces; each change is said in one line.
    board_col : str
        Column of the board (user, session, list) ids, the same way.
    timestamp_col : str, optional
        Column ordering each board's saves: numbers, or dates and times (ISO 8601 text in
        a CSV); the latest are held out. Default: a seeded random order.
    weight_col : str, optional
        Column of non-negative save weights (a random walk follows a save in proportion to
        it); default 1 per row, and a (pin, board) pair written on several rows weighs as
        many (said in one line).
    pin_features : str, optional
        Path of a pin feature table with a ``pin_col`` column. Pins without a row get
        default features (said in one line with their count); pins with a row and no save
        are kept as cold-start pins (embedded and recommended).
    pin_feature_columns : dict, optional
        Feature column → kind (``numeric``, ``categorical``, ``text``, ``tags``).
    pin_title_col : str, optional
        Display-title column of the pin feature table.
    test_interactions : str, optional
        Path of a held-out table with the same columns.
    require_pin_features : bool
        Refuse a pin with no row in ``pin_features`` instead of giving it defaults.
    **kwargs
        Loader and sampler settings of :class:`PinSageDataModule`.
    """

    def __init__(
        self,
        interactions: str,
        pin_col: str = "pin",
        board_col: str = "board",
        timestamp_col: str | None = None,
        weight_col: str | None = None,
        pin_features: str | None = None,
        pin_feature_columns: dict[str, str] | None = None,
        pin_title_col: str | None = None,
        test_interactions: str | None = None,
        require_pin_features: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.interactions, self.test_interactions = interactions, test_interactions
        self.columns = {
            "pin_col": pin_col,
            "board_col": board_col,
            "weight_col": weight_col,
            "pin_title_col": pin_title_col,
        }
        self.timestamp_col = timestamp_col
        self.pin_features, self.pin_feature_columns = pin_features, pin_feature_columns
        self.require_pin_features = require_pin_features

    @property
    def source(self) -> str:
        if self.test_interactions is None:
            return self.interactions
        return f"{self.interactions} and {self.test_interactions}"

    def _saves(self, path: str) -> pd.DataFrame:
        """The id, timestamp and weight columns of the table at ``path``, checked and read
        as :func:`~pinsage_dgl.build_graph` reads them (errors and notices name this file)."""
        pin_col, board_col = self.columns["pin_col"], self.columns["board_col"]
        weight_col = self.columns["weight_col"]
        saves = read_saves(path, pin_col, board_col, self.timestamp_col, weight_col, path)
        frame = pd.DataFrame(
            {
                col: ids(values, f"{path}: column {col!r}", GraphInputError).to_pandas()
                for col, values in ((pin_col, saves.pin), (board_col, saves.board))
            }
        )
        if saves.timestamp is not None:
            frame[self.timestamp_col] = saves.timestamp
        if saves.weight is not None:
            frame[weight_col] = saves.weight
        return frame

    def load(self) -> tuple[PinBoardGraph, EdgeSplit, torch.Tensor | None]:
        features = {
            "pin_features": self.pin_features,
            "pin_feature_columns": self.pin_feature_columns,
            "require_pin_features": self.require_pin_features,
        }
        if self.test_interactions is None:
            graph = build_graph(
                self.interactions, timestamp_col=self.timestamp_col, **features, **self.columns
            )
            return graph, leave_latest_out(graph, seed=self.seed), None
        # rank given test rows after every training row of their board; training rows
        # keep their own order (by timestamp, where there is one)
        order = "_pinsage_order"
        train, test = self._saves(self.interactions), self._saves(self.test_interactions)
        table = pd.concat([train.assign(**{order: 0.0}), test.assign(**{order: TEST_OFFSET})])
        if self.timestamp_col is not None:
            table[order] += table[self.timestamp_col]
        graph = build_graph(
            table.reset_index(drop=True),
            timestamp_col=order,
            name=self.source,
            **features,
            **self.columns,
        )
        is_test = graph.graph.edges[SAVED_TO].data["timestamp"] >= TEST_OFFSET / 2
        test_eids = torch.nonzero(is_test).squeeze(1)
        return graph, given_test_out(graph, test_eids, seed=self.seed), None


class GraphDataModule(PinSageDataModule):
    """A graph saved with :meth:`PinBoardGraph.save`, split leave-latest-out per board.

    Parameters
    ----------
    path : str
        Directory written by ``PinBoardGraph.save``.
    **kwargs
        Loader and sampler settings of :class:`PinSageDataModule`.
    """

    def __init__(self, path: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.path = path

    def load(self) -> tuple[PinBoardGraph, EdgeSplit, torch.Tensor | None]:
        graph = PinBoardGraph.load(self.path)
        return graph, leave_latest_out(graph, seed=self.seed), None
