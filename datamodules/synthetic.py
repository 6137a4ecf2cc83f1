"""A synthetic pins/boards graph with planted structure: the demo's and the tests' data."""

from __future__ import annotations

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
    num_clusters = num_topics * subtopics
    cluster = rng.integers(num_clusters, size=num_pins)
    topic = cluster // subtopics
    popularity = rng.pareto(1.2, size=num_pins) + 1.0

    # boards: one cluster (70%) or two, and a size; slots drawn with replacement, then
    # de-duplicated per board (so sizes come out a little below the drawn ones)
    two = rng.random(num_boards) >= 0.7
    first = rng.integers(num_clusters, size=num_boards)
    second = np.where(
        two, (first + rng.integers(1, num_clusters, size=num_boards)) % num_clusters, first
    )
    size = 2 + rng.geometric(1.0 / max(mean_board_size - 1, 1), size=num_boards)
    board = np.repeat(np.arange(num_boards), size)
    slot_cluster = np.where(rng.random(len(board)) < 0.5, first[board], second[board])
    # a pin of the slot's cluster in proportion to popularity: inverse CDF over the pins
    # sorted by cluster
    by_cluster = np.argsort(cluster, kind="stable")
    cumulative = np.cumsum(popularity[by_cluster])
    ends = np.searchsorted(cluster[by_cluster], np.arange(num_clusters), side="right")
    starts = np.concatenate([[0], ends[:-1]])
    below = np.where(starts > 0, cumulative[np.maximum(starts - 1, 0)], 0.0)
    mass = np.where(ends > starts, cumulative[np.maximum(ends - 1, 0)] - below, 0.0)
    target = below[slot_cluster] + rng.random(len(board)) * mass[slot_cluster]
    pick = by_cluster[np.minimum(np.searchsorted(cumulative, target), num_pins - 1)]
    # a noise_rate share of slots: any pin, in proportion to popularity
    noisy = (rng.random(len(board)) < noise_rate) | (mass[slot_cluster] == 0)
    pick[noisy] = np.minimum(
        np.searchsorted(cumulative, rng.random(int(noisy.sum())) * cumulative[-1]), num_pins - 1
    )
    pick[noisy] = by_cluster[pick[noisy]]
    keys = np.unique(board.astype(np.int64) * num_pins + pick)
    board, pick = keys // num_pins, keys % num_pins
    timestamp = rng.integers(0, 10**6, size=len(board))
    pin_name = np.char.add("p", pick.astype(str)) if string_ids else pick
    board_name = np.char.add("b", board.astype(str)) if string_ids else board
    interactions = pd.DataFrame({"pin": pin_name, "board": board_name, "timestamp": timestamp})

    centres = rng.normal(size=(num_topics, visual_dim))
    offsets = rng.normal(size=(num_clusters, visual_dim))
    visual = (
        centres[topic]
        + subtopic_signal * offsets[cluster]
        + visual_noise * rng.normal(size=(num_pins, visual_dim))
    )
    topic_words = rng.integers(10, size=(num_pins, 2)) + 10 * topic[:, None]
    common_words = rng.integers(50, size=(num_pins, 3))
    texts = [
        f"t{a // 10}w{a % 10} t{b // 10}w{b % 10} common{c} common{d} common{e}"
        for (a, b), (c, d, e) in zip(topic_words.tolist(), common_words.tolist(), strict=True)
    ]
    ids = np.arange(num_pins)
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
    for d in range(visual_dim):
        pins[f"visual_{d}"] = visual[:, d]
    # pins no board picked are dropped: a graph node needs an interaction
    pins = pins[np.isin(ids, np.unique(pick))].reset_index(drop=True)
    return interactions, pins


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
