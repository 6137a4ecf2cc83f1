"""Negatives: their settings, and hard negatives ranked in a band by personalised PageRank."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pinsage_dgl.graph import PinBoardGraph, SavedPairs
from pinsage_dgl.sampling.neighbors import ranked_visits

PAPER_BAND = (2000, 5000)


def scaled_band(num_pins: int, band: tuple[int, int] = PAPER_BAND) -> tuple[int, int]:
    """The PPR rank band ``[lo, hi)`` to draw hard negatives from, for a catalogue size.

    The paper's band, ranks 2000–5000, is for billions of pins; in a small catalogue it would
    reach past the related pins (or past the catalogue). Where ``hi > num_pins / 5`` the
    band is clipped to ``[num_pins // 20, num_pins // 5)``: pins in the top 5–20% by PPR,
    related to the query but less than its positives (e.g. ranks 185–741 of 3,706 movies).
    Nearer pins are too often unlabelled positives (the comparison with the top 1.25–5% is
    in ``benchmarks/results/experiments.md``).
    """
    lo, hi = band
    if not 0 <= lo < hi:
        raise ValueError(f"hard-negative band must satisfy 0 <= lo < hi, got {band}")
    if hi > num_pins // 5:
        lo, hi = min(lo, num_pins // 20), min(hi, num_pins // 5)
    return lo, max(hi, lo + 1)


@dataclass(frozen=True)
class Negatives:
    """What each training query is contrasted with: the one set of these settings and their
    defaults, shared by the collators, :class:`HardNegativeSampler`, the datamodules and
    the CLI (``--data.init_args.negatives.num_random 2000``).

    Attributes
    ----------
    num_random : int
        Uniform random pins: the size of the pool shared by a minibatch's queries, or the
        number per query with ``shared=False``.
    shared : bool
        One random pool per minibatch (the paper's: cheap, and large) rather than random
        negatives per query.
    num_hard : int
        Hard negatives per query from the start (a ``HardNegativeCurriculum`` callback
        overrides it epoch by epoch; 0: none until it does).
    hard_band : tuple of int
        PPR rank band ``[lo, hi)`` of hard negatives before scaling to the catalogue
        (:func:`scaled_band`; default the paper's 2000–5000).
    hard_walks, hard_walk_length, hard_restart_prob
        The PPR walks from each query that rank the hard negatives (:func:`ranked_visits`).
    """

    num_random: int = 1000
    shared: bool = True
    num_hard: int = 0
    hard_band: tuple[int, int] = PAPER_BAND
    hard_walks: int = 200
    hard_walk_length: int = 3
    hard_restart_prob: float = 0.3

    def __post_init__(self) -> None:
        for name in ("num_random", "hard_walks", "hard_walk_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"Negatives: {name} must be >= 1, got {getattr(self, name)}")
        if self.num_hard < 0:
            raise ValueError(f"Negatives: num_hard must be >= 0, got {self.num_hard}")
        lo, hi = self.hard_band
        if not 0 <= lo < hi:
            raise ValueError(
                f"Negatives: hard_band must satisfy 0 <= lo < hi, got {self.hard_band}"
            )
        if not 0.0 <= self.hard_restart_prob < 1.0:
            raise ValueError(
                f"Negatives: hard_restart_prob must be in [0, 1), got {self.hard_restart_prob}"
            )
        # a YAML or JSON list becomes the tuple the field declares
        object.__setattr__(self, "hard_band", (int(lo), int(hi)))


class HardNegativeSampler:
    """Draws per-query hard negatives from a PPR rank band.

    PPR from each query is approximated by ``num_walks`` walks of up to ``walk_length``
    pin→board→pin hops that stop with ``restart_prob`` at each step (:func:`ranked_visits`).
    Negatives are drawn uniformly from the pins ranked in :func:`scaled_band`, never the
    query's positive, and (when the queries' boards are given) never a pin the board already
    holds: on dense data (a MovieLens user holds ~5% of the catalogue) many band pins are the
    board's own, and training against them pushes true positives away. Where the walks reach
    too few pins to fill the band, the missing negatives are uniform random pins.

    ``num_per_query`` lives in shared memory, so a curriculum that changes it in the main
    process reaches DataLoader workers that are already running.

    Parameters
    ----------
    graph : PinBoardGraph
        The training graph.
    negatives : Negatives
        The count to start from (``num_hard``; 0 = off until a curriculum raises it), the
        unscaled rank band and the PPR walks.
    """

    def __init__(self, graph: PinBoardGraph, negatives: Negatives = Negatives()) -> None:
        self.graph = graph
        self.band = scaled_band(graph.num_pins, negatives.hard_band)
        self.walks = {
            "num_walks": negatives.hard_walks,
            "walk_length": negatives.hard_walk_length,
            "restart_prob": negatives.hard_restart_prob,
            "prob": graph.walk_weights,
        }
        self._num_per_query = torch.zeros(1, dtype=torch.int64).share_memory_()
        self.num_per_query = negatives.num_hard
        self.holds = SavedPairs(graph)

    @property
    def num_per_query(self) -> int:
        return int(self._num_per_query[0])

    @num_per_query.setter
    def num_per_query(self, value: int) -> None:
        if value < 0:
            raise ValueError(f"num_per_query must be >= 0, got {value}")
        self._num_per_query[0] = value

    def __call__(
        self,
        queries: torch.Tensor,
        positives: torch.Tensor,
        boards: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``[B, num_per_query]`` hard negative pin ids for each (query, positive).

        ``boards`` (``[B]``, optional): the board each query is for; its pins are skipped.
        """
        k = self.num_per_query
        out = torch.randint(self.graph.num_pins, (len(queries), k))
        if k == 0 or len(queries) == 0:
            return out
        row, pin, _, rank = ranked_visits(self.graph.graph, queries, **self.walks)
        lo, hi = self.band
        keep = (rank >= lo) & (rank < hi) & (pin != positives[row])
        row, pin = row[keep], pin[keep]
        if boards is not None:
            own = self.holds(boards[row], pin)
            row, pin = row[~own], pin[~own]
        # a uniform sample of k per row: random keys, sorted within rows, first k kept
        order = torch.argsort(torch.rand(len(row)))
        order = order[torch.sort(row[order], stable=True).indices]
        row, pin = row[order], pin[order]
        per_row = torch.bincount(row, minlength=len(queries))
        slot = torch.arange(len(row)) - (torch.cumsum(per_row, 0) - per_row)[row]
        take = slot < k
        out[row[take], slot[take]] = pin[take]
        return out
