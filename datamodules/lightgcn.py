"""The LightGCN split layout (Gowalla, Yelp2018, Amazon-book): ``train.txt`` and ``test.txt``."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from datamodules.base import PinSageDataModule
from pinsage_dgl.graph import SAVED_TO, GraphInputError, PinBoardGraph, build_graph
from pinsage_dgl.split import EdgeSplit, given_test_out


def read_user_item_lists(path: str | os.PathLike) -> pd.DataFrame:
    """``board`` and ``pin`` columns (int64) of a file of lines ``user item item ...``.

    The layout LightGCN, NGCF, SGL and their successors distribute their splits in: one
    line per user, space-separated non-negative integer ids, the user first. A line with
    a user and no item holds nothing; blank lines are skipped. A pair repeated within the
    file counts once (a warning says how many repeats were dropped).

    Raises
    ------
    FileNotFoundError
        Where ``path`` does not exist.
    GraphInputError
        For a token that is not a non-negative integer (naming the file, line and token)
        or a user with two lines.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found (the LightGCN layout: train.txt, test.txt)")
    boards, pins = [], []
    seen_users: dict[int, int] = {}
    with path.open() as lines:
        for number, line in enumerate(lines, start=1):
            tokens = line.split()
            if not tokens:
                continue
            try:
                ids = np.array(tokens, dtype=np.int64)
            except ValueError:
                bad = next(t for t in tokens if not t.isdigit())
                raise GraphInputError(
                    f"{path}, line {number}: {bad!r} is not an integer id (expected "
                    "'user item item ...', space-separated)"
                ) from None
            if (ids < 0).any():
                raise GraphInputError(
                    f"{path}, line {number}: negative id {int(ids[ids < 0][0])} (ids are >= 0)"
                )
            user = int(ids[0])
            if user in seen_users:
                raise GraphInputError(
                    f"{path}, line {number}: user {user} already has line {seen_users[user]} "
                    "(one line per user)"
                )
            seen_users[user] = number
            boards.append(np.full(len(ids) - 1, user, dtype=np.int64))
            pins.append(ids[1:])
    if not boards:
        raise GraphInputError(f"{path}: no users (empty file)")
    table = pd.DataFrame({"board": np.concatenate(boards), "pin": np.concatenate(pins)})
    unique = table.drop_duplicates(ignore_index=True)
    if len(unique) < len(table):
        warnings.warn(
            f"{path}: {len(table) - len(unique)} repeated (user, item) pairs counted once",
            stacklevel=2,
        )
    return unique


def read_lightgcn(path: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training and test pairs (``board``, ``pin``) of a LightGCN-layout directory."""
    path = Path(path)
    return read_user_item_lists(path / "train.txt"), read_user_item_lists(path / "test.txt")


class LightGCNDataModule(PinSageDataModule):
    """A split in LightGCN's layout: ``train.txt`` → graph, ``test.txt`` → test pins.

    Users are boards, items are pins (no features: the recipe's per-pin id embeddings
    carry them). The protocol is LightGCN's full ranking: for each user, every item is
    scored, its training items masked, and recall@20 / NDCG@20 taken over all its test
    items (``test/full_ranking/recall@20``). Validation comes from the training file only:
    ``val_share`` of each user's training items (seeded random; the files have no
    timestamps), held out the way ``test.txt`` holds out about a fifth. Final models
    train on the whole training file (``fold_validation=True``), as published runs do.
    A pair in both files is a test pair (held out of training), with a warning.

    Parameters
    ----------
    path : str
        Directory with ``train.txt`` and ``test.txt``.
    val_share : float
        Share of each user's training items held out for validation.
    **kwargs
        Loader and sampler settings of :class:`PinSageDataModule`.
    """

    def __init__(
        self, path: str = "../shared/data/gowalla", val_share: float = 0.2, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        if not 0.0 < val_share < 1.0:
            raise ValueError(f"LightGCNDataModule: val_share must be in (0, 1), got {val_share}")
        self.path, self.val_share = path, val_share

    def load(self) -> tuple[PinBoardGraph, EdgeSplit, torch.Tensor | None]:
        train, test = read_lightgcn(self.path)
        both = train.merge(test, on=["board", "pin"])
        if len(both):
            warnings.warn(
                f"{self.path}: {len(both)} (user, item) pairs are in train.txt and test.txt; "
                "they are test pairs",
                stacklevel=2,
            )
            key = ["board", "pin"]
            train = train[~train.set_index(key).index.isin(both.set_index(key).index)]
        table = pd.concat(
            [train.assign(order=0), test.assign(order=1)], ignore_index=True, copy=False
        )
        graph = build_graph(table, timestamp_col="order")
        is_test = graph.graph.edges[SAVED_TO].data["timestamp"] > 0
        test_eids = torch.nonzero(is_test).squeeze(1)
        split = given_test_out(graph, test_eids, seed=self.seed, val_share=self.val_share)
        return graph, split, None
