"""Pixie-like recommendations: random-walk visit counts, no learning (Eksombatchai et al., 2018)."""

from __future__ import annotations

import torch

from pinsage_dgl.graph import PinBoardGraph
from pinsage_dgl.history import History
from pinsage_dgl.sampling.neighbors import ranked_visits


class PixieWalks:
    r"""Scores pins by how often short pin→board→pin walks from the query reach them.

    A pin query counts the visits of ``num_walks`` walks. A board query walks from its
    ``num_recent`` latest pins (``num_walks`` split between them) and combines the
    per-query counts with Pixie's multi-hit boost
    :math:`s(p) = (\sum_q \sqrt{c_q(p)})^2`, which favours pins reached from several of
    the board's pins. Walks restart (stop) with ``restart_prob`` at each step, so counts
    approximate personalised PageRank.

    Parameters
    ----------
    train : PinBoardGraph
        The training graph.
    num_walks : int
        Walks per query (pin or board).
    walk_length : int
        Pin→board→pin hops per walk at most.
    restart_prob : float
        Stop probability per step.
    num_recent : int
        Latest pins of a board that start walks.

    The defaults were chosen on the NCF split (numbers in
    ``benchmarks/results/experiments.md``): longer walks drift to popular pins, and fewer
    walks per board leave most candidates unvisited.
    """

    def __init__(
        self,
        train: PinBoardGraph,
        num_walks: int = 10000,
        walk_length: int = 1,
        restart_prob: float = 0.0,
        num_recent: int = 100,
    ) -> None:
        if num_walks < 1 or walk_length < 1 or num_recent < 1:
            raise ValueError(
                "num_walks, walk_length and num_recent must be >= 1; got "
                f"{num_walks}, {walk_length}, {num_recent}"
            )
        self.graph = train.graph
        self.num_pins = train.num_pins
        self.num_walks, self.walk_length = num_walks, walk_length
        self.restart_prob, self.num_recent = restart_prob, num_recent
        self.prob = train.walk_weights  # walks follow the saves' weights, if any

    def score_pins(self, pins: torch.Tensor) -> torch.Tensor:
        row, pin, count, _ = ranked_visits(
            self.graph, pins, self.num_walks, self.walk_length, self.restart_prob, self.prob
        )
        scores = torch.zeros(len(pins), self.num_pins)
        scores[row, pin] = count.float()
        return scores

    def score_boards(self, history: History) -> torch.Tensor:
        recent = history.age < self.num_recent
        rows, seeds = history.rows[recent], history.pins[recent]
        # each board's walks are split evenly between its query pins
        seeds_per_board = torch.bincount(rows, minlength=history.num_boards)
        walks = (self.num_walks + seeds_per_board - 1) // seeds_per_board.clamp(min=1)
        seed_of_walk = torch.repeat_interleave(torch.arange(len(seeds)), walks[rows])
        walk, pin, count, _ = ranked_visits(
            self.graph, seeds[seed_of_walk], 1, self.walk_length, self.restart_prob, self.prob
        )
        # visits per (query pin, pin), then the multi-hit boost per (board, pin)
        keys, slot = torch.unique(seed_of_walk[walk] * self.num_pins + pin, return_inverse=True)
        visits = torch.zeros(len(keys)).index_add_(0, slot, count.float())
        board_pin = rows[keys // self.num_pins] * self.num_pins + keys % self.num_pins
        boost = torch.zeros(history.num_boards * self.num_pins)
        boost.index_add_(0, board_pin, visits.sqrt())
        return boost.view(history.num_boards, self.num_pins).square()
