"""Any interactions table (Parquet/CSV/TSV), with optional pin features and test file."""

from __future__ import annotations

import pandas as pd
import torch

from datamodules.base import PinSageDataModule
from pinsage_dgl.graph import (
    SAVED_TO,
    PinBoardGraph,
    build_graph,
    read_saves,
    read_table,
)
from pinsage_dgl.split import EdgeSplit, given_test_out, leave_latest_out

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
    pin_col, board_col, timestamp_col, weight_col : str
        Column names (see :func:`pinsage_dgl.build_graph`).
    pin_features : str, optional
        Path of a pin feature table with a ``pin_col`` column.
    pin_feature_columns : dict, optional
        Feature column → kind (``numeric``, ``categorical``, ``text``, ``tags``).
    pin_title_col : str, optional
        Display-title column of the pin feature table.
    test_interactions : str, optional
        Path of a held-out table with the same columns.
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

    def _checked_table(self, path: str) -> pd.DataFrame:
        """The table at ``path``, its columns checked (errors name this file and its row)."""
        table = read_table(path)
        columns = {k: self.columns[k] for k in ("pin_col", "board_col", "weight_col")}
        read_saves(table, timestamp_col=self.timestamp_col, name=path, **columns)
        return table

    def load(self) -> tuple[PinBoardGraph, EdgeSplit, torch.Tensor | None]:
        table = self._checked_table(self.interactions)
        timestamp_col = self.timestamp_col
        if self.test_interactions is not None:
            # rank given test rows after every training row of their board
            order = "_pinsage_order"
            test = self._checked_table(self.test_interactions).assign(**{order: 1})
            table = pd.concat([table.assign(**{order: 0}), test], ignore_index=True)
            # test rows sort after every training row; training rows keep their own order
            table[order] = table[order] * TEST_OFFSET
            if timestamp_col is not None:
                table[order] += pd.to_numeric(table[timestamp_col])
            timestamp_col = order
        graph = build_graph(
            table,
            timestamp_col=timestamp_col,
            pin_features=self.pin_features,
            pin_feature_columns=self.pin_feature_columns,
            **self.columns,
        )
        if self.test_interactions is None:
            return graph, leave_latest_out(graph, seed=self.seed), None
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
