"""A synthetic pins/boards graph with planted structure: the demo's and the tests' data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from datamodules.base import PinSageDataModule
from pinsage_dgl.graph import PinBoardGraph, build_graph
from pinsage_dgl.split import EdgeSplit, leave_latest_out

SYNTHETIC_FEATURES = {"visual": "numeric", "text": "text"}


def make_synthetic(
    num_pins: int = 5000,
    num_boards: int = 2000,
    num_topics: int = 20,
    subtopics: int = 4,
    mean_board_size: int = 30,
    visual_dim: int = 8,
    visual_noise: float = 1.0,
    subtopic_signal: float = 0.5,
    noise_rate: float = 0.1,
    seed: int = 0,
    string_ids: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generate interactions and pin features with known structure.

    Every pin has a topic and a subtopic ("cluster"). Its dense "visual" features are its
    topic's centre, plus ``subtopic_signal`` times its cluster's offset, plus Gaussian noise
    of scale ``visual_noise``; its text holds words of its topic's vocabulary and common
    words. So one pin's features show its topic clearly and its cluster only faintly.
    Boards are drawn from one cluster (70%) or two (30%), with a ``noise_rate`` share of
    random pins; pins are picked in proportion to a heavy-tailed (Pareto) popularity. The
    graph thus carries what features alone blur (averaging the features of a pin's
    importance neighbours sharpens the cluster signal), and popularity alone is a weak
    recommender.

    Vectorised: a million pins take seconds.

    Returns
    -------
    interactions : DataFrame
        ``pin``, ``board`` (``"p12"``, ``"b3"``; integers with ``string_ids=False``),
        ``timestamp`` (int).
    pins : DataFrame
        ``pin``, ``title``, ``text``, ``visual_0..visual_{d-1}``, and the ground truth
        ``topic`` and ``cluster`` (not used as features).
    """
    if min(num_pins, num_boards, num_topics, subtopics, mean_board_size, visual_dim) < 1:
        raise ValueError("make_synthetic: every size must be >= 1")
    rng = np.random.default_rng(seed)
    model = _PinModel(rng, num_pins, num_topics, subtopics)
    board, pick = model.boards(rng, 0, num_boards, mean_board_size, noise_rate)
    timestamp = rng.integers(0, 10**6, size=len(board))
    pin_name = np.char.add("p", pick.astype(str)) if string_ids else pick
    board_name = np.char.add("b", board.astype(str)) if string_ids else board
    interactions = pd.DataFrame({"pin": pin_name, "board": board_name, "timestamp": timestamp})
    centres = rng.normal(size=(num_topics, visual_dim))
    offsets = rng.normal(size=(model.num_clusters, visual_dim))
    pins = model.pins(
        rng, np.arange(num_pins), centres, offsets, subtopic_signal, visual_noise, string_ids
    )
    # pins no board picked are dropped: a graph node needs an interaction
    pins = pins[np.isin(np.arange(num_pins), np.unique(pick))].reset_index(drop=True)
    return interactions, pins


def write_synthetic(
    directory: str | Path,
    num_pins: int,
    num_boards: int,
    num_topics: int = 20,
    subtopics: int = 4,
    mean_board_size: int = 30,
    visual_dim: int = 8,
    visual_noise: float = 1.0,
    subtopic_signal: float = 0.5,
    noise_rate: float = 0.1,
    seed: int = 0,
    string_ids: bool = True,
    chunk_boards: int = 200_000,
    chunk_pins: int = 1_000_000,
) -> tuple[Path, Path]:
    """:func:`make_synthetic`'s graph streamed to ``interactions.parquet`` and
    ``pins.parquet`` in ``directory``, ``chunk_boards`` boards and ``chunk_pins`` pins at a
    time: memory grows with the pins (a few arrays of ``num_pins``), not with the saves.

    With chunks at least as large as the graph it writes exactly :func:`make_synthetic`'s
    tables; smaller chunks draw the same model from the same seed in another order (other
    rows). Files are written under temporary names and renamed when complete.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pinsage_dgl.io import atomic_path

    if min(num_pins, num_boards, num_topics, subtopics, mean_board_size, visual_dim) < 1:
        raise ValueError("write_synthetic: every size must be >= 1")
    if min(chunk_boards, chunk_pins) < 1:
        raise ValueError("write_synthetic: chunk sizes must be >= 1")
    directory = Path(directory)
    rng = np.random.default_rng(seed)
    model = _PinModel(rng, num_pins, num_topics, subtopics)
    picked = np.zeros(num_pins, dtype=bool)
    paths = directory / "interactions.parquet", directory / "pins.parquet"
    with atomic_path(paths[0]) as tmp:
        writer = None
        for first in range(0, num_boards, chunk_boards):
            count = min(chunk_boards, num_boards - first)
            board, pick = model.boards(rng, first, count, mean_board_size, noise_rate)
            picked[pick] = True
            frame = pd.DataFrame(
                {
                    "pin": np.char.add("p", pick.astype(str)) if string_ids else pick,
                    "board": np.char.add("b", board.astype(str)) if string_ids else board,
                    "timestamp": rng.integers(0, 10**6, size=len(board)),
                }
            )
            table = pa.Table.from_pandas(frame, preserve_index=False)
            writer = writer or pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table)
        writer.close()
    centres = rng.normal(size=(num_topics, visual_dim))
    offsets = rng.normal(size=(model.num_clusters, visual_dim))
    with atomic_path(paths[1]) as tmp:
        writer = None
        for first in range(0, num_pins, chunk_pins):
            ids = np.arange(first, min(first + chunk_pins, num_pins))
            frame = model.pins(
                rng, ids, centres, offsets, subtopic_signal, visual_noise, string_ids
            )[picked[ids]]
            table = pa.Table.from_pandas(frame, preserve_index=False)
            writer = writer or pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table)
        writer.close()
    return paths


class _PinModel:
    """Each pin's topic, cluster and popularity, and the draws built on them: the boards
    of a range of board ids and the feature rows of a range of pins (each draws from the
    generator in one fixed order, so one call over everything repeats the whole graph)."""

    def __init__(
        self, rng: np.random.Generator, num_pins: int, num_topics: int, subtopics: int
    ) -> None:
        self.num_pins, self.subtopics = num_pins, subtopics
        self.num_clusters = num_topics * subtopics
        self.cluster = rng.integers(self.num_clusters, size=num_pins)
        self.topic = self.cluster // subtopics
        popularity = rng.pareto(1.2, size=num_pins) + 1.0
        # a pin of a cluster in proportion to popularity: inverse CDF over the pins sorted
        # by cluster
        self.by_cluster = np.argsort(self.cluster, kind="stable")
        self.cumulative = np.cumsum(popularity[self.by_cluster])
        ends = np.searchsorted(
            self.cluster[self.by_cluster], np.arange(self.num_clusters), side="right"
        )
        starts = np.concatenate([[0], ends[:-1]])
        self.below = np.where(starts > 0, self.cumulative[np.maximum(starts - 1, 0)], 0.0)
        self.mass = np.where(
            ends > starts, self.cumulative[np.maximum(ends - 1, 0)] - self.below, 0.0
        )

    def boards(
        self,
        rng: np.random.Generator,
        first: int,
        count: int,
        mean_board_size: int,
        noise_rate: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(board, pin) of boards ``first .. first + count - 1``, sorted by board then pin.

        Each board draws from one cluster (70%) or two, and a size; slots are drawn with
        replacement, then de-duplicated per board (so sizes come out a little below the
        drawn ones); a ``noise_rate`` share of slots is any pin, by popularity."""
        num_clusters, num_pins = self.num_clusters, self.num_pins
        two = rng.random(count) >= 0.7
        first_cluster = rng.integers(num_clusters, size=count)
        second = np.where(
            two,
            (first_cluster + rng.integers(1, num_clusters, size=count)) % num_clusters,
            first_cluster,
        )
        size = 2 + rng.geometric(1.0 / max(mean_board_size - 1, 1), size=count)
        board = np.repeat(np.arange(count), size)
        slot_cluster = np.where(rng.random(len(board)) < 0.5, first_cluster[board], second[board])
        target = self.below[slot_cluster] + rng.random(len(board)) * self.mass[slot_cluster]
        pick = self.by_cluster[np.minimum(np.searchsorted(self.cumulative, target), num_pins - 1)]
        noisy = (rng.random(len(board)) < noise_rate) | (self.mass[slot_cluster] == 0)
        pick[noisy] = np.minimum(
            np.searchsorted(self.cumulative, rng.random(int(noisy.sum())) * self.cumulative[-1]),
            num_pins - 1,
        )
        pick[noisy] = self.by_cluster[pick[noisy]]
        keys = np.unique(board.astype(np.int64) * num_pins + pick)
        return keys // num_pins + first, keys % num_pins

    def pins(
        self,
        rng: np.random.Generator,
        ids: np.ndarray,
        centres: np.ndarray,
        offsets: np.ndarray,
        subtopic_signal: float,
        visual_noise: float,
        string_ids: bool,
    ) -> pd.DataFrame:
        """The feature rows of pins ``ids``: dense "visual" features (the topic's centre,
        ``subtopic_signal`` times the cluster's offset, Gaussian noise) and text of the
        topic's words and common words, plus the ground truth ``topic`` and ``cluster``."""
        topic, cluster = self.topic[ids], self.cluster[ids]
        visual = (
            centres[topic]
            + subtopic_signal * offsets[cluster]
            + visual_noise * rng.normal(size=(len(ids), centres.shape[1]))
        )
        topic_words = rng.integers(10, size=(len(ids), 2)) + 10 * topic[:, None]
        common_words = rng.integers(50, size=(len(ids), 3))
        texts = [
            f"t{a // 10}w{a % 10} t{b // 10}w{b % 10} common{c} common{d} common{e}"
            for (a, b), (c, d, e) in zip(topic_words.tolist(), common_words.tolist(), strict=True)
        ]
        pins = pd.DataFrame(
            {
                "pin": np.char.add("p", ids.astype(str)) if string_ids else ids,
                "title": [
                    f"topic {t} / cluster {c} / pin {i}"
                    for i, t, c in zip(ids.tolist(), topic.tolist(), cluster.tolist(), strict=True)
                ],
                "text": texts,
                "topic": topic,
                "cluster": cluster,
            }
        )
        for d in range(visual.shape[1]):
            pins[f"visual_{d}"] = visual[:, d]
        return pins


class SyntheticDataModule(PinSageDataModule):
    """The synthetic graph of :func:`make_synthetic`, split leave-latest-out per board.

    Parameters
    ----------
    num_pins, num_boards, num_topics, subtopics, mean_board_size, visual_dim
        Generator sizes (see :func:`make_synthetic`).
    pin_features : bool
        Give pins their generated features (text and visual columns); without them the
        graph is interactions only, as a check-in table is (the model then needs
        ``id_embedding``).
    **kwargs
        Loader and sampler settings of :class:`PinSageDataModule` (``seed`` also seeds the
        generator).
    """

    def __init__(
        self,
        num_pins: int = 5000,
        num_boards: int = 2000,
        num_topics: int = 20,
        subtopics: int = 4,
        mean_board_size: int = 30,
        visual_dim: int = 8,
        pin_features: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.with_features = pin_features
        self.generator_settings = {
            "num_pins": num_pins,
            "num_boards": num_boards,
            "num_topics": num_topics,
            "subtopics": subtopics,
            "mean_board_size": mean_board_size,
            "visual_dim": visual_dim,
        }
        self.pin_table: pd.DataFrame | None = None

    def load(self) -> tuple[PinBoardGraph, EdgeSplit, torch.Tensor | None]:
        interactions, pins = make_synthetic(**self.generator_settings, seed=self.seed)
        self.pin_table = pins
        visual = [c for c in pins.columns if c.startswith("visual_")]
        graph = build_graph(
            interactions,
            timestamp_col="timestamp",
            pin_features=pins if self.with_features else None,
            pin_feature_columns=(
                {"text": "text", **dict.fromkeys(visual, "numeric")} if self.with_features else None
            ),
            pin_title_col="title" if self.with_features else None,
        )
        return graph, leave_latest_out(graph, seed=self.seed), None
