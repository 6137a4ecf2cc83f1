"""Scores of pins from embeddings: for a query pin, and for a board by its board query.

The one place where a board becomes queries and queries become scores, below both the
evaluation protocols (:mod:`pinsage_dgl.evaluation`) and serving
(:class:`~pinsage_dgl.recommend.Recommender`). A board's queries are a flat list of vectors,
each with its board's row (:meth:`EmbeddingScorer.board_query_rows`): one pooled query per
board, ``K`` per board for a multi-interest query, or the board's recent pins themselves
(``multi``); a pin's score for a board is its best over that board's queries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp
import torch

from pinsage_dgl.history import History
from pinsage_dgl.nn.board_query import BoardQuery
from pinsage_dgl.sampling.walk_scores import WalkScores

QUERY_MODES = ("mean", "recency", "attention", "multi")
#: query-pin scores computed at once when a board has several queries (bounds the
#: ``[queries, pins]`` block held while taking each board's best)
SCORED_PER_CHUNK = 2**25
__all__ = ["QUERY_MODES", "EmbeddingScorer", "Scorer", "one_query_per_row"]


class Scorer(Protocol):
    """What the protocols need from a model (see module docstring)."""

    def score_pins(self, pins: torch.Tensor) -> torch.Tensor:
        """``[B, P]`` scores of every pin for each query pin."""

    def score_boards(self, history: History) -> torch.Tensor:
        """``[B, P]`` scores of every pin for each board of ``history``."""


class EmbeddingScorer:
    """Scores by dot product of pin embeddings; a board's query comes from its pins.

    Query modes (by default the pooling of the given ``board_query``, the one the model
    trained, as ``PinSageModule.scorer`` gives it; ``recency`` without one; how the modes
    compare on each dataset is in the quality section of benchmarks/README.md):

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
    query : str, optional
        One of :data:`QUERY_MODES` (default: ``board_query``'s pooling, else ``recency``).
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
        query: str | None = None,
        half_life: float = 10.0,
        num_recent: int = 10,
        board_query: BoardQuery | None = None,
        pin_bias: torch.Tensor | None = None,
        walk: WalkScores | None = None,
        walk_weight: float = 0.0,
    ) -> None:
        if query is None:
            query = "recency" if board_query is None else board_query.pooling
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
        queries, rows = self.board_query_rows(history)
        chosen = z[candidates.clamp(min=0)]
        if one_query_per_row(rows, history.num_boards):
            scores = torch.einsum("bd,bcd->bc", queries, chosen)
        else:
            per_query = torch.einsum("qd,qcd->qc", queries, chosen[rows])
            scores = _best_per_row(per_query, rows, history.num_boards).nan_to_num(neginf=0.0)
        scores = self._bias_at(scores, candidates)
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
        if self.query == "multi":
            raise ValueError("query='multi' has no pooled board query: see board_query_rows")
        z = self.embeddings
        pins = z[history.pins.to(z.device)]
        return self.pooler.to(z.device)(
            pins, history.rows, history.num_boards, history.age, history.boards
        )

    @torch.no_grad()
    def board_query_rows(self, history: History) -> tuple[torch.Tensor, torch.Tensor]:
        """Every query of the boards of ``history``: ``[Q, d]`` vectors and ``[Q]`` the row
        (board) each belongs to, grouped by row. A pin's score for a board is its best
        over the board's queries, plus ``pin_bias`` (a board without queries: the bias
        alone, as a pooled query of a board without pins).

        One per board for a pooled query (``mean``, ``recency``, ``attention``), ``K`` per
        board for a ``K``-interest query, and for ``multi`` the embeddings of the board's
        pins younger than ``num_recent`` saves.
        """
        z = self.embeddings
        if self.query == "multi":
            recent = history.age < self.num_recent
            return z[history.pins[recent].to(z.device)], history.rows[recent].to(z.device)
        queries = self.board_queries(history)
        rows = torch.arange(history.num_boards, device=z.device)
        if queries.dim() == 2:
            return queries, rows
        return queries.flatten(0, 1), rows.repeat_interleave(queries.shape[1])

    def score_boards(self, history: History) -> torch.Tensor:
        scores = self._fresh("boards", _history_key(history), lambda: self._board_products(history))
        if self.walk is not None:
            self._add_walk(scores, self.walk_term(history))
        return scores

    def _board_products(self, history: History) -> torch.Tensor:
        queries, rows = self.board_query_rows(history)
        z = self.embeddings
        if one_query_per_row(rows, history.num_boards):
            return self._with_bias(queries @ z.T)
        scores = torch.full((history.num_boards, len(z)), float("-inf"), device=z.device)
        chunk = max(1, SCORED_PER_CHUNK // max(len(z), 1))
        for start in range(0, len(rows), chunk):
            part = slice(start, start + chunk)
            _best_per_row(queries[part] @ z.T, rows[part], history.num_boards, out=scores)
        return self._with_bias(scores.nan_to_num(neginf=0.0))


def one_query_per_row(rows: torch.Tensor, num_rows: int) -> bool:
    """Whether :meth:`EmbeddingScorer.board_query_rows` gave each row exactly one query,
    in row order (a pin's score is then that query's alone)."""
    return len(rows) == num_rows and bool((rows == torch.arange(num_rows).to(rows)).all())


def _best_per_row(
    per_query: torch.Tensor, rows: torch.Tensor, num_rows: int, out: torch.Tensor | None = None
) -> torch.Tensor:
    """``[num_rows, N]`` the best of each row's queries' scores ``per_query`` (``[Q, N]``,
    query ``i`` of row ``rows[i]``), ``-inf`` in a row without queries; taken into ``out``
    (whose values compete too) if given."""
    if out is None:
        out = per_query.new_full((num_rows, per_query.shape[1]), float("-inf"))
    index = rows.to(per_query.device)[:, None].expand_as(per_query)
    return out.scatter_reduce_(0, index, per_query, reduce="amax")


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
