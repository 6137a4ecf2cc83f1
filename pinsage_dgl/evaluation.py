"""The four evaluation protocols, for any model that scores pins for a pin or a board.

A *scorer* (:class:`~pinsage_dgl.scoring.Scorer`) answers two questions: how much each
pin suits a query pin (``score_pins``), and how much each pin suits a board given its
history (``score_boards``). :class:`~pinsage_dgl.scoring.EmbeddingScorer` answers both from
pin embeddings; the baselines in :mod:`pinsage_dgl.baselines` answer them their own way.
The protocols (the README's "Evaluation" section shows them side by side):

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

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

import torch

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
from pinsage_dgl.sampling.held_out import board_batches
from pinsage_dgl.scoring import Scorer

PROTOCOLS = ("item_to_item", "sampled", "full_ranking", "latest_pin")
#: held-out pairs × pins from which :func:`evaluate` ranks with the compiled kernel (by
#: binary search, ~20 s of counting here; compiling costs 15-40 s once per process)
FUSED_MIN_WORK = 1_000_000_000
#: the walk weights (:class:`~pinsage_dgl.scoring.EmbeddingScorer`'s ``walk_weight``)
#: chosen among on validation
WALK_WEIGHTS = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0)
__all__ = [
    "FUSED_MIN_WORK",
    "PROTOCOLS",
    "WALK_WEIGHTS",
    "BoardValues",
    "best_walk_weight",
    "board_values",
    "evaluate",
    "evaluate_batch",
    "evaluate_boards",
    "evaluate_each",
]


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
    (:meth:`~pinsage_dgl.scoring.EmbeddingScorer.at_walk_weights`) then compute their
    shared parts once."""
    values = _evaluate_boards_each(
        scorers, histories, pairs, protocols, candidates, k, k_full, batch_size, fused
    )
    return {
        key: {name: board_values.mean() for name, board_values in named.items()}
        for key, named in values.items()
    }


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
