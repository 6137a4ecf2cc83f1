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
    mean_board_size: int = 20,
    visual_dim: int = 8,
    visual_noise: float = 1.0,
    subtopic_signal: float = 0.5,
    noise_rate: float = 0.1,
    seed: int = 0,
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

    Returns
    -------
    interactions : DataFrame
        ``pin`` (str), ``board`` (str), ``timestamp`` (int).
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
    members = [np.flatnonzero(cluster == c) for c in range(num_clusters)]
    global_p = popularity / popularity.sum()

    pins_col, boards_col, times_col = [], [], []
    for board in range(num_boards):
        chosen = rng.choice(num_clusters, size=1 if rng.random() < 0.7 else 2, replace=False)
        pool = np.concatenate([members[c] for c in chosen])
        size = int(min(len(pool), 2 + rng.geometric(1.0 / max(mean_board_size - 1, 1))))
        if size < 1:
            continue
        p = popularity[pool] / popularity[pool].sum()
        picked = rng.choice(pool, size=size, replace=False, p=p)
        noisy = rng.random(size) < noise_rate
        picked[noisy] = rng.choice(num_pins, size=int(noisy.sum()), p=global_p)
        picked = np.unique(picked)
        pins_col.append(picked)
        boards_col.append(np.full(len(picked), board))
        times_col.append(np.sort(rng.integers(0, 10**6, size=len(picked))))
    pin_idx = np.concatenate(pins_col)
    interactions = pd.DataFrame(
        {
            "pin": [f"p{i}" for i in pin_idx],
            "board": [f"b{b}" for b in np.concatenate(boards_col)],
            "timestamp": np.concatenate(times_col),
        }
    )

    centres = rng.normal(size=(num_topics, visual_dim))
    offsets = rng.normal(size=(num_clusters, visual_dim))
    visual = (
        centres[topic]
        + subtopic_signal * offsets[cluster]
        + visual_noise * rng.normal(size=(num_pins, visual_dim))
    )
    words = [f"t{t}w{w}" for t in range(num_topics) for w in range(10)]
    common = [f"common{w}" for w in range(50)]
    texts = [
        " ".join(
            [words[t * 10 + w] for w in rng.integers(10, size=2)] + list(rng.choice(common, size=3))
        )
        for t in topic
    ]
    pins = pd.DataFrame(
        {
            "pin": [f"p{i}" for i in range(num_pins)],
            "title": [
                f"topic {t} / cluster {c} / pin {i}"
                for i, (t, c) in enumerate(zip(topic, cluster, strict=True))
            ],
            "text": texts,
            "topic": topic,
            "cluster": cluster,
        }
    )
    for d in range(visual_dim):
        pins[f"visual_{d}"] = visual[:, d]
    # pins no board picked are dropped: a graph node needs an interaction
    pins = pins[pins["pin"].isin(set(interactions["pin"]))].reset_index(drop=True)
    return interactions, pins


class SyntheticDataModule(PinSageDataModule):
    """The synthetic graph of :func:`make_synthetic`, split leave-latest-out per board.

    Parameters
    ----------
    num_pins, num_boards, num_topics, subtopics, mean_board_size, visual_dim
        Generator sizes (see :func:`make_synthetic`).
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
        mean_board_size: int = 20,
        visual_dim: int = 8,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
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
            pin_features=pins,
            pin_feature_columns={"text": "text", **dict.fromkeys(visual, "numeric")},
            pin_title_col="title",
        )
        return graph, leave_latest_out(graph, seed=self.seed), None
