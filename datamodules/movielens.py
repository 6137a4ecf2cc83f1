"""MovieLens 100K / 1M in the GroupLens layouts: movies are pins, users are boards."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from datamodules.base import PinSageDataModule
from pinsage_dgl.graph import PinBoardGraph, build_graph
from pinsage_dgl.split import EdgeSplit, leave_latest_out

MOVIE_FEATURES = {"name": "text", "genres": "tags", "year": "numeric"}


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{what}: {path} not found")
    return path


def movie_features(movie_ids: pd.Series, titles: pd.Series, genres: pd.Series) -> pd.DataFrame:
    """Pin feature table of movies: ``name`` (title without year), ``genres`` (``|``-joined
    tags), ``year`` (from the title; missing years get the median), ``title`` (display)."""
    year = pd.to_numeric(titles.str.extract(r"\((\d{4})\)\s*$")[0], errors="coerce")
    year = year.fillna(year.median() if year.notna().any() else 0)
    return pd.DataFrame(
        {
            "pin": movie_ids.to_numpy(),
            "title": titles.to_numpy(),
            "name": titles.str.replace(r"\s*\(\d{4}\)\s*$", "", regex=True).to_numpy(),
            "genres": genres.to_numpy(),
            "year": year.to_numpy(dtype=np.float64),
        }
    )


def read_movielens(path: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Interactions (``pin``, ``board``, ``timestamp`` or none) and movie features.

    Recognises MovieLens 100K (``u.data`` + ``u.item``) and 1M (``movies.dat`` +
    ``ratings.dat``, or ``ratings-pairs.parquet`` without ratings and timestamps).
    """
    path = Path(path)
    if (path / "u.data").exists():
        ratings = pd.read_csv(
            path / "u.data", sep="\t", names=["board", "pin", "rating", "timestamp"]
        )
        genre_names = pd.read_csv(
            _require(path / "u.genre", "MovieLens 100K genres"), sep="|", names=["g", "i"]
        )["g"].tolist()
        items = pd.read_csv(
            _require(path / "u.item", "MovieLens 100K items"),
            sep="|",
            encoding="latin-1",
            header=None,
        )
        flags = items.iloc[:, 5 : 5 + len(genre_names)].to_numpy(dtype=bool)
        genres = pd.Series(["|".join(np.asarray(genre_names)[row]) for row in flags])
        return ratings, movie_features(items[0], items[1].astype(str), genres)
    if (path / "movies.dat").exists():
        movies = pd.read_csv(
            path / "movies.dat",
            sep="::",
            engine="python",
            encoding="latin-1",
            names=["pin", "title", "genres"],
        )
        if (path / "ratings.dat").exists():
            ratings = pd.read_csv(
                path / "ratings.dat",
                sep="::",
                engine="python",
                names=["board", "pin", "rating", "timestamp"],
            )
        else:
            pairs = pd.read_parquet(
                _require(path / "ratings-pairs.parquet", "MovieLens 1M ratings")
            )
            ratings = pd.DataFrame(
                {
                    "board": pairs["userID"].astype(np.int64),
                    "pin": pairs["movieID"].astype(np.int64),
                }
            )
        return ratings, movie_features(movies["pin"], movies["title"], movies["genres"])
    raise FileNotFoundError(
        f"{path}: no MovieLens files found (expected u.data + u.item for 100K, or movies.dat "
        "+ ratings.dat / ratings-pairs.parquet for 1M)"
    )


class MovieLensDataModule(PinSageDataModule):
    """MovieLens 100K or 1M (detected from the files in ``path``), split leave-latest-out.

    Users are boards, movies are pins; features are the title words, genres and year.
    Each user's latest movie (by timestamp; a seeded random one where the data has no
    timestamps, as ``ratings-pairs.parquet``) is the test pin, the next the validation pin.

    Parameters
    ----------
    path : str
        Directory with the GroupLens files.
    min_rating : float, optional
        Keep only ratings at least this high (default: every rating is an interaction).
    **kwargs
        Loader and sampler settings of :class:`PinSageDataModule`.
    """

    def __init__(
        self, path: str = "../shared/data/movielens-100k", min_rating: float | None = None, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.path, self.min_rating = path, min_rating

    def load(self) -> tuple[PinBoardGraph, EdgeSplit, torch.Tensor | None]:
        ratings, movies = read_movielens(self.path)
        if self.min_rating is not None:
            if "rating" not in ratings.columns:
                raise ValueError(f"{self.path}: min_rating given but these files have no ratings")
            ratings = ratings[ratings["rating"] >= self.min_rating]
        movies = movies[movies["pin"].isin(set(ratings["pin"]))]
        graph = build_graph(
            ratings,
            timestamp_col="timestamp" if "timestamp" in ratings.columns else None,
            pin_features=movies,
            pin_feature_columns=MOVIE_FEATURES,
            pin_title_col="title",
        )
        return graph, leave_latest_out(graph, seed=self.seed), None
