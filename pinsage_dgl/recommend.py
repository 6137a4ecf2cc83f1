"""Recommendations for pins, boards and new pins: trained embeddings, an index, the board
query of evaluation, and the graph's id maps, behind one object."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from pinsage_dgl.graph import PinBoardGraph
from pinsage_dgl.history import BoardHistories
from pinsage_dgl.retrieval import Index, build_index, multi_query_search
from pinsage_dgl.scoring import EmbeddingScorer, one_query_per_row

#: a new pins' feature table (encoded, as ``PinBoardGraph.pin_spec.encode`` gives it) →
#: their ``[N, d]`` embeddings
NewPinEmbedder = Callable[[dict[str, torch.Tensor]], torch.Tensor]


class Recommender:
    """The top-``k`` pins for pins, boards and new pins, from Python and the CLI alike.

    Scores are the evaluation's (:class:`~pinsage_dgl.scoring.EmbeddingScorer`): a pin
    is queried by its embedding, a board by the scorer's board query over its known pins
    (the model's own query, trained in the board task), and the scorer's per-pin bias (a
    learned popularity prior) rides along as a last index column
    (:meth:`EmbeddingScorer.index_items`), so an exact index returns exactly the
    evaluation's top ``k``. A pin is never recommended to itself, nor a board's own pins to
    it.

    Parameters
    ----------
    scorer : EmbeddingScorer
        The embeddings with their query settings (e.g. ``PinSageModule.scorer``).
    graph : PinBoardGraph
        The training graph: its id maps and every board's known pins.
    index : Index or str
        An index of ``scorer.index_items()`` (e.g. a saved one; refused if it was built
        from other vectors, :meth:`~pinsage_dgl.retrieval.Index.check_items`), or the kind
        to build (see
        :func:`~pinsage_dgl.retrieval.build_index`; default exact search).
    new_pin_embedder : callable, optional
        Encoded features → embeddings of pins outside the graph (see
        :func:`~pinsage_dgl.inference.embed_new_pins`); without it :meth:`new_pins` refuses.
    known : torch.Tensor, optional
        ``[m, 2]`` more (board, pin) pairs the boards hold beyond the training graph.
    """

    def __init__(
        self,
        scorer: EmbeddingScorer,
        graph: PinBoardGraph,
        index: Index | str = "exact",
        new_pin_embedder: NewPinEmbedder | None = None,
        known: torch.Tensor | None = None,
    ) -> None:
        items = scorer.index_items()
        if len(items) != graph.num_pins:
            raise ValueError(
                f"Recommender: {len(items)} embeddings for a graph of {graph.num_pins} pins"
            )
        if isinstance(index, str):
            index = build_index(items, index)
        else:
            index.check_items(items)  # an index of another model's vectors is refused
        self.scorer, self.graph, self.index = scorer, graph, index
        self.new_pin_embedder = new_pin_embedder
        self.histories = BoardHistories(graph, known)

    # --- by position ----------------------------------------------------------------------
    def pins(self, pins: torch.Tensor, k: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
        """``[Q, k]`` scores and pin positions for each pin of ``pins`` (positions in the
        graph), best first; ``-1`` where fewer than ``k`` remain."""
        pins = torch.as_tensor(pins, dtype=torch.int64)
        itself = torch.stack([torch.arange(len(pins)), pins])
        queries = self.scorer.index_queries(self.scorer.embeddings[pins])
        found = self.index.search(queries, k, exclude=itself)
        term = self.scorer.walk_term(pins=pins)
        if term is None:
            return found
        return _rescored(
            found[1],
            term,
            itself,
            k,
            lambda candidates: self.scorer.score_pins_at(pins, candidates, term),
        )

    def boards(self, boards: torch.Tensor, k: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, k]`` scores and pin positions for each board of ``boards`` (positions),
        its own pins excluded."""
        history = self.histories(torch.as_tensor(boards, dtype=torch.int64))
        queries, rows = self.scorer.board_query_rows(history)
        queries = self.scorer.index_queries(queries)
        if one_query_per_row(rows, history.num_boards):
            found = self.index.search(queries, k, history.seen)
        else:  # several queries per board (multi, several interests): a pin keeps its best
            found = multi_query_search(
                self.index, queries, rows, history.num_boards, k, history.seen
            )
        term = self.scorer.walk_term(history)
        if term is None:
            return found
        return _rescored(
            found[1],
            term,
            history.seen,
            k,
            lambda candidates: self.scorer.score_boards_at(history, candidates, term),
        )

    def new_pins(
        self, features: dict[str, torch.Tensor], k: int = 10
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``[N, k]`` scores and pin positions for pins outside the graph, from their
        encoded features."""
        if self.new_pin_embedder is None:
            raise ValueError("Recommender: no new-pin embedder was given: new pins have no input")
        embeddings = self.new_pin_embedder(features)
        return self.index.search(self.scorer.index_queries(embeddings), k)

    # --- by raw id ------------------------------------------------------------------------
    def for_pin_ids(self, ids: Sequence[Any], k: int = 10) -> list[list[tuple[Any, float]]]:
        """``[(pin id, score), ...]`` for each raw pin id (a ``KeyError`` names an unknown
        one)."""
        return self.named(*self.pins(self.graph.pin_index(list(ids)), k))

    def for_board_ids(self, ids: Sequence[Any], k: int = 10) -> list[list[tuple[Any, float]]]:
        """``[(pin id, score), ...]`` for each raw board id."""
        return self.named(*self.boards(self.graph.board_index(list(ids)), k))

    def named(self, scores: torch.Tensor, pins: torch.Tensor) -> list[list[tuple[Any, float]]]:
        """Search results as raw pin ids with their scores (missing slots dropped)."""
        return [
            [
                (self.graph.pin_ids[pin], score)
                for score, pin in zip(row_scores, row_pins, strict=True)
                if pin >= 0
            ]
            for row_scores, row_pins in zip(scores.tolist(), pins.tolist(), strict=True)
        ]


def _rescored(
    found: torch.Tensor,
    term: sp.csr_matrix,
    exclude: torch.Tensor,
    k: int,
    score_at: Callable[[torch.Tensor], torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor]:
    """The top ``k`` of each row among the index's ``found`` ids (``[B, k]``, ``-1`` for
    none) and the pins where the nonnegative extra ``term`` (``[B, P]`` sparse) is
    nonzero, ``exclude``'d (row, pin) pairs dropped, by their exact scores (``score_at``
    of ``[B, C]`` candidates). A pin outside both keeps its embedding score, below the
    ``k`` found, so with an exact index this is the exact top ``k`` of the full scores."""
    num_rows, num_pins = term.shape
    lifted = term.tocoo()
    rows = torch.arange(num_rows)[:, None].expand_as(found)
    valid = found >= 0
    keys = torch.cat(
        [
            rows[valid] * num_pins + found[valid],
            torch.from_numpy(lifted.row.astype(np.int64) * num_pins + lifted.col),
        ]
    )
    keys = torch.unique(keys)  # sorted: grouped by row
    if exclude.numel():
        keys = keys[~torch.isin(keys, exclude[0] * num_pins + exclude[1])]
    row, pin = keys // num_pins, keys % num_pins
    per_row = torch.bincount(row, minlength=num_rows)
    slot = torch.arange(len(keys)) - torch.repeat_interleave(
        torch.cumsum(per_row, 0) - per_row, per_row
    )
    candidates = torch.full((num_rows, max(int(per_row.max()) if num_rows else 0, k)), -1)
    candidates[row, slot] = pin
    scores = score_at(candidates).cpu()
    order = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :k]
    scores, ids = scores.gather(1, order), candidates.gather(1, order)
    return scores, ids.masked_fill(torch.isinf(scores), -1)
