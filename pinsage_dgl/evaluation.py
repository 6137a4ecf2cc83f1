"""The four evaluation protocols, for any model that scores pins for a pin or a board.

A *scorer* answers two questions: how much each pin suits a query pin
(``score_pins``), and how much each pin suits a board given its history
(``score_boards``). :class:`EmbeddingScorer` answers both from pin embeddings; the
baselines in :mod:`pinsage_dgl.baselines` answer them their own way. The protocols
(the README's "Evaluation" section shows them side by side):

``item_to_item``
    The paper's: each held-out pin is the answer to its board's latest known pin; rank it
    among all other pins; ``hit@k`` and the scaled MRR (``⌈rank / 100⌉``).
``sampled``
    NCF's: rank the held-out pin among its sampled candidates from the board's query;
    ``hr@k`` and ``ndcg@k``.
``full_ranking``
    LightGCN's: rank every held-out pin of a board among all pins it has not saved;
    ``recall@k`` and ``ndcg@k`` (``k`` = 20 by convention).
``latest_pin``
    DGL's PinSAGE example: nearest neighbours of the board's latest known pin, the board's
    pins masked; ``hits@k``.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp
import torch

from pinsage_dgl.graph import PinBoardGraph, SavedPairs
from pinsage_dgl.history import BoardHistories, History
from pinsage_dgl.metrics import (
    full_ranking,
    grouped_rank_counts,
    hit_rate,
    left_out,
    ndcg,
    rank_counts,
    reciprocal_rank,
)
from pinsage_dgl.nn.board_query import BoardQuery, query_scores
from pinsage_dgl.sampling.walk_scores import WalkScores

PROTOCOLS = ("item_to_item", "sampled", "full_ranking", "latest_pin")
#: held-out pairs × pins from which :func:`evaluate` ranks with the compiled kernel (by
#: binary search, ~20 s of counting here; compiling costs 15-40 s once per process)
FUSED_MIN_WORK = 1_000_000_000
QUERY_MODES = ("mean", "recency", "attention", "multi")
#: the walk weights (:class:`EmbeddingScorer`'s ``walk_weight``) chosen among on validation
WALK_WEIGHTS = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0)
__all__ = [
    "FUSED_MIN_WORK",
    "PROTOCOLS",
    "QUERY_MODES",
    "WALK_WEIGHTS",
    "BoardValues",
    "EmbeddingScorer",
    "HeldOutCollator",
    "Scorer",
    "best_walk_weight",
    "evaluate",
    "evaluate_batch",
    "evaluate_boards",
    "evaluate_each",
    "sample_candidates",
]


class Scorer(Protocol):
    """What the protocols need from a model (see module docstring)."""

    def score_pins(self, pins: torch.Tensor) -> torch.Tensor:
        """``[B, P]`` scores of every pin for each query pin."""

    def score_boards(self, history: History) -> torch.Tensor:
        """``[B, P]`` scores of every pin for each board of ``history``."""


class EmbeddingScorer:
    """Scores by dot product of pin embeddings; a board's query comes from its pins.

    Query modes (``recency`` is the default; how the modes compare on each dataset is in
    the quality section of benchmarks/README.md):

    ``mean``
        the normalised mean of the board's pin embeddings;
    ``recency``
        the normalised mean weighted by ``2^(-age / half_life)`` (age 0 = latest pin);
    ``attention``
        the model's learned attention pooling (``board_query``, trained in the board task);
    ``multi``
        each pin's score is its best dot product with the board's ``num_recent`` latest
        pins (several queries, max-pooled: a board with two themes keeps both).

    Parameters
    ----------
    embeddings : torch.Tensor
        ``[P, d]`` pin embeddings.
    query : str
        One of :data:`QUERY_MODES`.
    half_life : float
        Recency half-life in saves (``recency``).
    num_recent : int
        Latest pins used as queries (``multi``).
    board_query : BoardQuery, optional
        The model's own board query (``PinSage.board_query``): required by ``attention``,
        and used by ``mean`` and ``recency`` when it pools that way (it may hold learned
        board vectors); otherwise a parameter-free one is made from ``half_life``.
    pin_bias : torch.Tensor, optional
        ``[P]`` a score added to each pin's dot products (the model's learned popularity
        prior, ``PinSage.popularity_prior``).
    walk : WalkScores, optional
        The graph's one-hop walk term (:class:`~pinsage_dgl.sampling.WalkScores`), added to
        every score times ``walk_weight``: a board's term is 1 at the pin its pins' walks
        reach most often and 0 where none reaches.
    walk_weight : float
        Weight of ``walk`` (``>= 0``; 0 leaves the embeddings' scores alone).
    """

    def __init__(
        self,
        embeddings: torch.Tensor,
        query: str = "recency",
        half_life: float = 10.0,
        num_recent: int = 10,
        board_query: BoardQuery | None = None,
        pin_bias: torch.Tensor | None = None,
        walk: WalkScores | None = None,
        walk_weight: float = 0.0,
    ) -> None:
        if query not in QUERY_MODES:
            raise ValueError(f"query must be one of {QUERY_MODES}, got {query!r}")
        if half_life <= 0 or num_recent < 1:
            raise ValueError(
                f"need half_life > 0 and num_recent >= 1, got {half_life} and {num_recent}"
            )
        if pin_bias is not None and pin_bias.shape != embeddings.shape[:1]:
            raise ValueError(
                f"pin_bias must hold one score per pin: {tuple(pin_bias.shape)} for "
                f"{len(embeddings)} pins"
            )
        if walk_weight < 0 or (walk_weight > 0 and walk is None):
            raise ValueError(
                f"walk_weight must be >= 0 and needs a walk term when > 0; got {walk_weight}"
                f" with{'out' if walk is None else ''} one"
            )
        if walk is not None and walk.num_pins != len(embeddings):
            raise ValueError(
                f"walk: a term over {walk.num_pins} pins for {len(embeddings)} embeddings"
            )
        self.embeddings = embeddings
        self.pin_bias = None if pin_bias is None else pin_bias.detach().to(embeddings)
        self.walk = walk if walk_weight > 0 else None
        self.walk_weight = walk_weight
        self._shared: _LastScored | None = None  # set by at_walk_weights
        self.query, self.half_life, self.num_recent = query, half_life, num_recent
        if query == "attention":
            if board_query is None or board_query.pooling != "attention":
                raise ValueError(
                    "query='attention' needs the model's trained attention board query "
                    "(train with query pooling 'attention')"
                )
            self.pooler = board_query
        elif board_query is not None and board_query.pooling == query:
            self.pooler = board_query  # the trained one, with its board vectors if any
        elif query in ("mean", "recency"):
            self.pooler = BoardQuery(pooling=query, half_life=half_life)

    def reweighted(self, walk: WalkScores | None, walk_weight: float) -> EmbeddingScorer:
        """The same scorer with another walk term and weight (embeddings shared)."""
        return EmbeddingScorer(
            self.embeddings,
            self.query,
            self.half_life,
            self.num_recent,
            board_query=getattr(self, "pooler", None),
            pin_bias=self.pin_bias,
            walk=walk,
            walk_weight=walk_weight,
        )

    def at_walk_weights(
        self, walk: WalkScores, weights: Iterable[float]
    ) -> dict[float, EmbeddingScorer]:
        """This scorer at each of ``weights`` of ``walk`` (weight → scorer). The copies
        share the embeddings' scores and the unweighted term of the rows scored last, so
        one batch scored at every weight in turn computes each part once."""
        shared = _LastScored()
        scorers = {}
        for weight in weights:
            scorers[weight] = self.reweighted(walk if weight > 0 else None, weight)
            scorers[weight]._shared = shared
        return scorers

    def index_items(self) -> torch.Tensor:
        """``[P, d]`` vectors a nearest-neighbour index holds so that inner products with
        :meth:`index_queries` are this scorer's scores: the embeddings, plus ``pin_bias``
        as a last column ``[P, d + 1]`` when there is one."""
        if self.pin_bias is None:
            return self.embeddings
        return torch.cat([self.embeddings, self.pin_bias[:, None]], 1)

    def index_queries(self, queries: torch.Tensor) -> torch.Tensor:
        """Queries (pin embeddings or :meth:`board_queries`) that search :meth:`index_items`:
        ``[q, 1]`` when there is a ``pin_bias``."""
        if self.pin_bias is None:
            return queries
        return torch.cat([queries, queries.new_ones(len(queries), 1)], 1)

    def score_pins(self, pins: torch.Tensor) -> torch.Tensor:
        scores = self._fresh("pins", (pins,), lambda: self._pin_products(pins))
        if self.walk is not None:
            self._add_walk(scores, self.walk_term(pins=pins))
        return scores

    def walk_term(
        self, history: History | None = None, pins: torch.Tensor | None = None
    ) -> sp.csr_matrix | None:
        """The unweighted walk term of each board of ``history`` (or of each of ``pins``
        alone): ``[B, P]`` sparse, nonzero only at the pins it can lift; None without a
        term."""
        if self.walk is None:
            return None
        if pins is not None:
            return self._part("pins", (pins,), "term", lambda: self.walk.score_pins(pins))
        return self._part(
            "boards", _history_key(history), "term", lambda: self.walk.score_boards(history)
        )

    def _part(self, kind: str, key: tuple, part: str, compute: Callable[[], Any]) -> Any:
        """``compute()``, or its value for the same rows from a copy at another weight."""
        return compute() if self._shared is None else self._shared.get(kind, key, part, compute)

    def _fresh(self, kind: str, key: tuple, products: Callable[[], torch.Tensor]) -> torch.Tensor:
        """The embeddings' scores of the rows, a tensor the caller may change."""
        if self._shared is None:
            return products()
        return self._part(kind, key, "products", products).clone()

    def _pin_products(self, pins: torch.Tensor) -> torch.Tensor:
        return self._with_bias(self.embeddings[pins.to(self.embeddings.device)] @ self.embeddings.T)

    def _with_bias(self, scores: torch.Tensor) -> torch.Tensor:
        return scores if self.pin_bias is None else scores + self.pin_bias

    def _add_walk(self, scores: torch.Tensor, term: sp.csr_matrix) -> None:
        """``scores += walk_weight * term`` in place, over the term's nonzeros alone."""
        coo = term.tocoo()
        rows = torch.from_numpy(coo.row.astype(np.int64)).to(scores.device)
        cols = torch.from_numpy(coo.col.astype(np.int64)).to(scores.device)
        values = torch.from_numpy(coo.data).to(scores)
        scores.index_put_((rows, cols), self.walk_weight * values, accumulate=True)

    def score_pins_at(
        self, pins: torch.Tensor, candidates: torch.Tensor, term: sp.csr_matrix | None = None
    ) -> torch.Tensor:
        """``[Q, C]`` the :meth:`score_pins` scores of ``candidates`` (``[Q, C]`` pin
        positions, ``-1`` for none: scored ``-inf``) alone, for each query pin; ``term``:
        the pins' :meth:`walk_term` if already computed."""
        z = self.embeddings
        pins = torch.as_tensor(pins, dtype=torch.int64).to(z.device)
        scores = torch.einsum("qd,qcd->qc", z[pins], z[candidates.clamp(min=0).to(z.device)])
        scores = self._bias_at(scores, candidates)
        if self.walk is not None:
            term = self.walk_term(pins=pins) if term is None else term
            scores = scores + self._walk_at(term, candidates)
        return scores.masked_fill(candidates.to(z.device) < 0, float("-inf"))

    def score_boards_at(
        self, history: History, candidates: torch.Tensor, term: sp.csr_matrix | None = None
    ) -> torch.Tensor:
        """``[B, C]`` the :meth:`score_boards` scores of ``candidates`` (``[B, C]`` pin
        positions, ``-1`` for none: scored ``-inf``) alone, for each board; ``term``: the
        boards' :meth:`walk_term` if already computed."""
        z = self.embeddings
        candidates = candidates.to(z.device)
        chosen = z[candidates.clamp(min=0)]
        if self.query != "multi":
            scores = self._bias_at(query_scores(self.board_queries(history), chosen), candidates)
        else:
            recent = history.age < self.num_recent
            rows, pins = history.rows[recent].to(z.device), history.pins[recent].to(z.device)
            per_pin = self._bias_at(
                torch.einsum("nd,ncd->nc", z[pins], chosen[rows]), candidates[rows]
            )
            scores = torch.full(candidates.shape, float("-inf"), device=z.device)
            scores.scatter_reduce_(0, rows[:, None].expand_as(per_pin), per_pin, reduce="amax")
            scores = scores.nan_to_num(neginf=0.0)
        if self.walk is not None:
            term = self.walk_term(history) if term is None else term
            scores = scores + self._walk_at(term, candidates)
        return scores.masked_fill(candidates < 0, float("-inf"))

    def _bias_at(self, scores: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        if self.pin_bias is None:
            return scores
        return scores + self.pin_bias[candidates.clamp(min=0)]

    def _walk_at(self, term: sp.csr_matrix, candidates: torch.Tensor) -> torch.Tensor:
        """``walk_weight`` × the term's values at ``candidates`` (``[B, C]``)."""
        term = term.tocsr()
        term.sort_indices()
        coo = term.tocoo()  # sorted by (row, pin): its keys are sorted
        keys = torch.from_numpy(coo.row.astype(np.int64) * self.walk.num_pins + coo.col)
        values = torch.from_numpy(coo.data)
        out = torch.zeros(candidates.shape)
        if len(keys):
            cand = candidates.cpu()
            wanted = torch.arange(len(cand))[:, None] * self.walk.num_pins + cand.clamp(min=0)
            position = torch.searchsorted(keys, wanted).clamp(max=len(keys) - 1)
            hit = (keys[position] == wanted) & (cand >= 0)
            out = torch.where(hit, values[position], out)
        return (self.walk_weight * out).to(candidates.device)

    @torch.no_grad()
    def board_queries(self, history: History) -> torch.Tensor:
        """``[B, d]`` query of each board (every mode but ``multi``); ``[B, K, d]`` from a
        trained board query with ``K`` interests (a pin scores its best)."""
        z = self.embeddings
        pins = z[history.pins.to(z.device)]
        return self.pooler.to(z.device)(
            pins, history.rows, history.num_boards, history.age, history.boards
        )

    def score_boards(self, history: History) -> torch.Tensor:
        scores = self._fresh("boards", _history_key(history), lambda: self._board_products(history))
        if self.walk is not None:
            self._add_walk(scores, self.walk_term(history))
        return scores

    def _board_products(self, history: History) -> torch.Tensor:
        if self.query != "multi":
            return self._with_bias(query_scores(self.board_queries(history), self.embeddings))
        recent = history.age < self.num_recent
        rows, pins = history.rows[recent], history.pins[recent]
        scores = torch.full(
            (history.num_boards, len(self.embeddings)), float("-inf"), device=self.embeddings.device
        )
        if len(rows):
            per_pin = self._pin_products(pins)
            scores.scatter_reduce_(
                0, rows.to(scores.device)[:, None].expand_as(per_pin), per_pin, reduce="amax"
            )
        return scores.nan_to_num(neginf=0.0)


def _history_key(history: History) -> tuple[torch.Tensor, ...]:
    return (history.rows, history.pins, history.age, history.boards)


class _LastScored:
    """Parts of the scores (the embeddings' scores, the unweighted walk term) of the rows
    each kind of query (``"boards"``, ``"pins"``) was last asked for, by the rows' key
    tensors: what copies of a scorer at several walk weights share."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[tuple[torch.Tensor, ...], dict[str, Any]]] = {}

    def get(self, kind: str, key: tuple, part: str, compute: Callable[[], Any]) -> Any:
        last = self._last.get(kind)
        if last is None or not all(map(torch.equal, last[0], key)):
            last = (tuple(tensor.clone() for tensor in key), {})
            self._last[kind] = last
        if part not in last[1]:
            last[1][part] = compute()
        return last[1][part]


def best_walk_weight(metric: dict[float, float]) -> float:
    """The walk weight with the best validation ``metric`` (weight → value); a tie keeps
    the smaller weight (the embeddings alone where the term adds nothing)."""
    return max(metric, key=lambda weight: (metric[weight], -weight))


def evaluate_batch(
    scorer: Scorer,
    boards: torch.Tensor,
    targets: torch.Tensor,
    history: History,
    protocols: Iterable[str] = PROTOCOLS,
    candidates: torch.Tensor | None = None,
    k: int = 10,
    k_full: int = 20,
    fused: bool = False,
) -> dict[str, torch.Tensor]:
    """Per-pair metrics of held-out (board, target) pairs under the given protocols.

    Each distinct board is scored once (``score_boards``, and ``score_pins`` of its
    latest pin), and all its held-out pins are ranked against that row, with exact tie
    handling (:func:`~pinsage_dgl.metrics.grouped_rank_counts`). A board's held-out pins
    are never masked from its ranking, even one it also saved before.

    Parameters
    ----------
    scorer : Scorer
        The model.
    boards, targets : torch.Tensor
        ``[B]`` held-out pairs (a board may appear more than once).
    history : History
        Known pins of each row's board (``BoardHistories(...)(boards)``).
    protocols : iterable of str
        Among :data:`PROTOCOLS`; ``sampled`` is skipped when ``candidates`` is None.
    candidates : torch.Tensor, optional
        ``[B, C]`` candidate pins, the target first (``sampled``).
    k, k_full : int
        Cut-offs of the sampled / item protocols and of ``full_ranking``.
    fused : bool
        Count ranks with the compiled kernel (for large evaluations; see
        :func:`~pinsage_dgl.metrics.grouped_rank_counts`).

    Returns
    -------
    dict
        ``"{protocol}/{metric}"`` → ``[B]`` values (average them over all pairs).
        ``full_ranking`` values are per pair too: each pair's board row carries its
        recall and NDCG, repeated once per held-out pin of that board in the batch.
    """
    protocols = list(protocols)
    unknown = set(protocols) - set(PROTOCOLS)
    if unknown:
        raise ValueError(f"unknown protocols {sorted(unknown)}; choose from {PROTOCOLS}")
    out: dict[str, torch.Tensor] = {}
    # each distinct board is scored once; its held-out pins are ranked against its row
    unique, row_of_pair = torch.unique(boards.cpu(), return_inverse=True)
    first_row = torch.full((len(unique),), len(boards), dtype=torch.int64)
    first_row.scatter_reduce_(0, row_of_pair, torch.arange(len(boards)), reduce="amin")
    board_history = history.of_rows(first_row)
    targets = targets.cpu()
    pairs = torch.stack([row_of_pair, targets])
    seen = board_history.seen.cpu()
    if "sampled" in protocols or "full_ranking" in protocols:
        scores = scorer.score_boards(board_history).cpu()
        if "sampled" in protocols and candidates is not None:
            sampled = scores[row_of_pair[:, None], candidates.cpu()]
            greater, ties = rank_counts(sampled, torch.zeros(len(boards), dtype=torch.int64))
            out[f"sampled/hr@{k}"] = hit_rate(greater, ties, k)
            out[f"sampled/ndcg@{k}"] = ndcg(greater, ties, k)
        if "full_ranking" in protocols:
            recall, gain = full_ranking(scores, pairs, k_full, exclude=seen, fused=fused)
            out[f"full_ranking/recall@{k_full}"] = recall[row_of_pair]
            out[f"full_ranking/ndcg@{k_full}"] = gain[row_of_pair]
    if "item_to_item" in protocols or "latest_pin" in protocols:
        latest = board_history.latest().cpu()
        has_query = (latest >= 0)[row_of_pair]
        scores = masked = scorer.score_pins(latest.clamp(min=0)).cpu()
        if "item_to_item" in protocols:
            # all pins compete except the query pin itself
            queried = torch.nonzero(latest >= 0).squeeze(1)
            query = torch.stack([queried, latest[queried]])
            masked = left_out(scores, query, pairs)
            greater, ties = grouped_rank_counts(masked, row_of_pair, targets, fused=fused)
            out[f"item_to_item/hit@{k}"] = _where(has_query, hit_rate(greater, ties, k))
            out["item_to_item/mrr"] = _where(has_query, reciprocal_rank(greater, ties, scale=100))
        if "latest_pin" in protocols:
            # a board's pins include its latest (the query): mask them onto that copy
            masked = left_out(masked, seen, pairs, copy=masked is scores)
            greater, ties = grouped_rank_counts(masked, row_of_pair, targets, fused=fused)
            out[f"latest_pin/hits@{k}"] = _where(has_query, hit_rate(greater, ties, k))
    return out


class HeldOutCollator:
    """Indices of held-out (board, pin) pairs → an evaluation minibatch.

    Returns ``boards``, ``targets`` (``[B]`` node ids), ``history`` (a
    :class:`~pinsage_dgl.history.History`: each row's board's pins known before the
    target, oldest first; they build the board's query and are masked from its
    ranking) and, when candidates are given, ``candidates`` (``[B, C]`` pin ids, the
    target first).

    Parameters
    ----------
    train : PinBoardGraph
        The training graph: its edges are every board's known pins.
    pairs : torch.Tensor
        ``[n, 2]`` (board, pin) held-out pairs to evaluate.
    candidates : torch.Tensor, optional
        ``[n, C]`` candidate pins per pair, target first (sampled-negative protocols).
    known : torch.Tensor, optional
        ``[m, 2]`` more (board, pin) pairs known at evaluation time, e.g. the validation
        pins when testing: they join the board's history (as its latest pins) instead of
        competing with the target.
    """

    def __init__(
        self,
        train: PinBoardGraph,
        pairs: torch.Tensor,
        candidates: torch.Tensor | None = None,
        known: torch.Tensor | None = None,
    ) -> None:
        self.histories = BoardHistories(train, known)
        self.pairs = pairs
        self.candidates = candidates

    def __call__(self, index: list[int] | torch.Tensor) -> dict:
        index = torch.as_tensor(index, dtype=torch.int64)
        boards, targets = self.pairs[index, 0], self.pairs[index, 1]
        batch = {"boards": boards, "targets": targets, "history": self.histories(boards)}
        if self.candidates is not None:
            batch["candidates"] = self.candidates[index]
        return batch


def sample_candidates(
    graph: PinBoardGraph, pairs: torch.Tensor, num_negatives: int = 99, seed: int = 0
) -> torch.Tensor:
    """``[n, 1 + num_negatives]`` candidates per held-out (board, pin): the pin, then
    uniform pins the board never saved in ``graph`` (NCF's protocol, for a split that has
    no candidate file, e.g. validation pins).

    Parameters
    ----------
    graph : PinBoardGraph
        A graph holding every known save (held-out ones included), so no candidate is a
        positive of its board.
    pairs : torch.Tensor
        ``[n, 2]`` (board, pin).
    """
    if num_negatives < 1:
        raise ValueError(f"num_negatives must be >= 1, got {num_negatives}")
    saved = SavedPairs(graph)
    generator = torch.Generator().manual_seed(seed)
    boards = pairs[:, 0]
    out = torch.randint(graph.num_pins, (len(pairs), num_negatives), generator=generator)
    for _ in range(100):
        bad = saved(boards[:, None], out)
        if not bad.any():
            break
        out[bad] = torch.randint(graph.num_pins, (int(bad.sum()),), generator=generator)
    else:
        raise ValueError(f"could not draw {num_negatives} unsaved pins for some boards")
    return torch.cat([pairs[:, 1:], out], 1)


def _where(valid: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """NaN where a row has no query (averages skip it)."""
    return torch.where(valid, values, torch.full_like(values, float("nan")))


@dataclass
class BoardValues:
    """One metric of :func:`evaluate_boards`, board by board: the mean over all pairs is
    ``sums.sum() / counts.sum()``, and resampling boards (:func:`board_bootstrap`)
    resamples these rows.

    Attributes
    ----------
    boards : torch.Tensor
        ``[n]`` board node ids, ascending.
    sums : torch.Tensor
        ``[n]`` float64: the board's value (``full_ranking``: one per board) or the sum
        over its held-out pairs (the other protocols).
    counts : torch.Tensor
        ``[n]`` int64: how many values entered ``sums`` (0 where a board had no query).
    """

    boards: torch.Tensor
    sums: torch.Tensor
    counts: torch.Tensor

    def mean(self) -> float:
        return float(self.sums.sum() / max(int(self.counts.sum()), 1))


def evaluate_boards(
    scorer: Scorer,
    histories: BoardHistories,
    pairs: torch.Tensor,
    protocols: Iterable[str] = PROTOCOLS,
    candidates: torch.Tensor | None = None,
    k: int = 10,
    k_full: int = 20,
    batch_size: int = 1024,
    fused: bool | None = None,
) -> dict[str, BoardValues]:
    """:func:`evaluate_batch` over all held-out ``[n, 2]`` (board, pin) ``pairs``, kept
    board by board (for intervals over boards; :func:`evaluate` gives the means).

    ``full_ranking`` has one value per board (with all its held-out pins); the other
    protocols one per pair. Pairs without a query pin (boards with no known pin) are
    skipped by the item protocols. ``fused`` counts ranks with the compiled kernel; by
    default it is used from :data:`FUSED_MIN_WORK` pair-pin comparisons on (held-out
    pairs × pins), where it repays its compilation.
    """
    return _evaluate_boards_each(
        {None: scorer}, histories, pairs, protocols, candidates, k, k_full, batch_size, fused
    )[None]


def _evaluate_boards_each(
    scorers: Mapping[Hashable, Scorer],
    histories: BoardHistories,
    pairs: torch.Tensor,
    protocols: Iterable[str],
    candidates: torch.Tensor | None,
    k: int,
    k_full: int,
    batch_size: int,
    fused: bool | None,
) -> dict[Hashable, dict[str, BoardValues]]:
    """:func:`evaluate_boards` of each of ``scorers``, batch by batch (every scorer scores
    a batch in turn)."""
    if fused is None:
        fused = len(pairs) * histories.num_pins >= FUSED_MIN_WORK
    if len(pairs) == 0:
        raise ValueError("evaluate: no held-out pairs")
    protocols = list(protocols)
    parts: dict[Hashable, dict[str, list[BoardValues]]] = {key: {} for key in scorers}
    for index in board_batches(pairs, batch_size):
        batch_boards = pairs[index, 0]
        history = histories(batch_boards)
        for key, scorer in scorers.items():
            result = evaluate_batch(
                scorer,
                batch_boards,
                pairs[index, 1],
                history,
                protocols,
                None if candidates is None else candidates[index],
                k,
                k_full,
                fused,
            )
            for name, values in board_values(result, batch_boards).items():
                parts[key].setdefault(name, []).append(values)
    out: dict[Hashable, dict[str, BoardValues]] = {}
    for key, named in parts.items():
        out[key] = {}
        for name, chunks in named.items():
            boards, sums, counts = (
                torch.cat([getattr(chunk, field) for chunk in chunks])
                for field in ("boards", "sums", "counts")
            )
            order = torch.argsort(boards)  # batches hold boards whole: each board once
            out[key][name] = BoardValues(boards[order], sums[order], counts[order])
    return out


def evaluate(
    scorer: Scorer,
    histories: BoardHistories,
    pairs: torch.Tensor,
    protocols: Iterable[str] = PROTOCOLS,
    candidates: torch.Tensor | None = None,
    k: int = 10,
    k_full: int = 20,
    batch_size: int = 1024,
    fused: bool | None = None,
) -> dict[str, float]:
    """Mean of :func:`evaluate_batch` over all held-out ``[n, 2]`` (board, pin) ``pairs``.

    ``full_ranking`` is averaged over boards (each board once, with all its held-out
    pins); the other protocols over pairs (see :func:`evaluate_boards`, which keeps the
    values board by board).
    """
    return evaluate_each(
        {None: scorer}, histories, pairs, protocols, candidates, k, k_full, batch_size, fused
    )[None]


def evaluate_each(
    scorers: Mapping[Hashable, Scorer],
    histories: BoardHistories,
    pairs: torch.Tensor,
    protocols: Iterable[str] = PROTOCOLS,
    candidates: torch.Tensor | None = None,
    k: int = 10,
    k_full: int = 20,
    batch_size: int = 1024,
    fused: bool | None = None,
) -> dict[Hashable, dict[str, float]]:
    """:func:`evaluate` of each of ``scorers`` (key → scorer) on the same pairs, batch by
    batch: copies of one scorer at several walk weights
    (:meth:`EmbeddingScorer.at_walk_weights`) then compute their shared parts once."""
    values = _evaluate_boards_each(
        scorers, histories, pairs, protocols, candidates, k, k_full, batch_size, fused
    )
    return {
        key: {name: board_values.mean() for name, board_values in named.items()}
        for key, named in values.items()
    }


def board_batches(pairs: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    """Indices of the ``[n, 2]`` (board, pin) ``pairs``, sorted by board, in batches that
    keep each board's held-out pins together (so full ranking ranks them together): each
    batch ends at the first board boundary at or after ``batch_size`` pairs."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = torch.argsort(pairs[:, 0], stable=True)
    boards = pairs[order, 0]
    cut = torch.nonzero(boards[1:] != boards[:-1]).squeeze(1) + 1
    starts = [0, *(int(c) for c in cut)]
    batches, begin = [], 0
    while begin < len(pairs):
        at = bisect.bisect_left(starts, begin + batch_size)
        end = starts[at] if at < len(starts) else len(pairs)  # > begin: begin is a start
        batches.append(order[begin:end])
        begin = end
    return batches


def board_values(metrics: dict[str, torch.Tensor], boards: torch.Tensor) -> dict:
    """:func:`evaluate_batch`'s per-pair ``metrics`` of the pairs of ``boards``, summed board
    by board (:class:`BoardValues`): ``full_ranking`` counts each board once (its pairs
    carry the board's value), the other protocols every pair; NaNs (pairs without a query
    pin) are left out. The batch must hold each board's pairs whole
    (:func:`board_batches`)."""
    boards = boards.cpu()
    unique, row = torch.unique(boards, return_inverse=True)
    first = torch.full((len(unique),), len(boards), dtype=torch.int64)
    first.scatter_reduce_(0, row, torch.arange(len(boards)), reduce="amin")
    once = torch.zeros(len(boards), dtype=torch.bool)
    once[first] = True
    out = {}
    for name, values in metrics.items():
        values = values.double().cpu()
        valid = ~torch.isnan(values)
        if name.startswith("full_ranking/"):
            valid &= once
        sums = torch.zeros(len(unique), dtype=torch.float64).index_add_(
            0, row[valid], values[valid]
        )
        counts = torch.bincount(row[valid], minlength=len(unique))
        out[name] = BoardValues(unique, sums, counts)
    return out
