"""The NCF split files (He et al., WWW 2017): leave-latest-out test pins with 99 negatives."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from datamodules.base import PinSageDataModule
from datamodules.movielens import MOVIE_FEATURES, read_movielens
from pinsage_dgl.graph import PinBoardGraph, build_graph
from pinsage_dgl.split import EdgeSplit, leave_latest_out

NCF_COLUMNS = ["board", "pin", "rating", "timestamp"]


def _find(path: Path, suffix: str) -> Path:
    found = sorted(path.glob(f"*{suffix}"))
    if not found:
        raise FileNotFoundError(f"{path}: no *{suffix} file (the NCF split layout)")
    return found[0]


def read_ncf(path: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Train and test interactions and the ``[n_test, 99]`` negatives of an NCF split.

    Reads ``*.train.rating``, ``*.test.rating`` (user, item, rating, timestamp) and
    ``*.test.negative`` (``(user,item)`` then 99 items), and checks they line up.
    """
    path = Path(path)
    train = pd.read_csv(_find(path, ".train.rating"), sep="\t", names=NCF_COLUMNS)
    test = pd.read_csv(_find(path, ".test.rating"), sep="\t", names=NCF_COLUMNS)
    negative_file = _find(path, ".test.negative")
    raw = pd.read_csv(negative_file, sep="\t", header=None)
    key = raw[0].str.strip("()").str.split(",", expand=True).astype(np.int64)
    if len(key) != len(test) or not (
        (key[0].to_numpy() == test["board"].to_numpy()).all()
        and (key[1].to_numpy() == test["pin"].to_numpy()).all()
    ):
        raise ValueError(f"{negative_file}: rows do not match the test.rating rows in order")
    negatives = raw.iloc[:, 1:].dropna(axis=1).to_numpy(dtype=np.int64)
    return train, test, negatives


class NCFDataModule(PinSageDataModule):
    """An NCF split: train file → graph, test file → test pins, negatives → candidates.

    Validation holds out one seeded random training pin per user (the NCF train file has
    no usable timestamps), ranked among 99 pins the user never rated, drawn as NCF drew the
    test negatives. Test logs every protocol; NCF's is ``test/sampled/hr@10`` and
    ``test/sampled/ndcg@10``: the held-out pin among its 99 negatives.

    Parameters
    ----------
    path : str
        Directory with ``*.train.rating``, ``*.test.rating``, ``*.test.negative``.
    movies_path : str, optional
        A MovieLens 1M directory (``movies.dat``); with ``item-to-movieid.tsv`` in ``path``
        it gives items title/genre/year features.
    **kwargs
        Loader and sampler settings of :class:`PinSageDataModule`.
    """

    sampled_negatives = 99

    def __init__(
        self,
        path: str = "../shared/data/ncf-movielens-1m",
        movies_path: str | None = "../shared/data/movielens-1m",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.path, self.movies_path = path, movies_path

    def _item_features(self) -> pd.DataFrame | None:
        if self.movies_path is None:
            return None
        mapping = pd.read_csv(Path(self.path) / "item-to-movieid.tsv", sep="\t")
        _, movies = read_movielens(self.movies_path)
        features = mapping.merge(movies, left_on="movie_id", right_on="pin", how="inner")
        return features.drop(columns=["pin", "movie_id"]).rename(columns={"ncf_item": "pin"})

    def load(self) -> tuple[PinBoardGraph, EdgeSplit, torch.Tensor | None]:
        train, test, negatives = read_ncf(self.path)
        # the test pin of each user is its latest interaction; training ones tie, so the
        # validation pin is a seeded random training pin (leave_latest_out breaks ties)
        train, test = train.assign(timestamp=0), test.assign(timestamp=1)
        table = pd.concat([train, test], ignore_index=True)
        features = self._item_features()
        graph = build_graph(
            table,
            timestamp_col="timestamp",
            pin_features=features,
            pin_feature_columns=MOVIE_FEATURES if features is not None else None,
            pin_title_col="title" if features is not None else None,
            extra_pins=np.unique(negatives),
        )
        split = leave_latest_out(graph, seed=self.seed)
        # candidates in the order of split.test: target first, then the user's negatives
        test_boards = graph.board_index(test["board"].to_numpy())
        row_of_board = torch.full((graph.num_boards,), -1, dtype=torch.int64)
        row_of_board[test_boards] = torch.arange(len(test))
        rows = row_of_board[split.test[:, 0]]
        if (rows < 0).any() or not torch.equal(
            split.test[:, 1], graph.pin_index(test["pin"].to_numpy())[rows]
        ):
            raise ValueError(f"{self.path}: a user has more than one test row")
        negative_ids = graph.pin_index(negatives.reshape(-1)).view(negatives.shape)
        candidates = torch.cat([split.test[:, 1:], negative_ids[rows]], dim=1)
        return graph, split, candidates
