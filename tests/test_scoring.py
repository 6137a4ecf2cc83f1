import math

import pandas as pd
import pytest
import torch

from pinsage_dgl.graph import build_graph
from pinsage_dgl.history import BoardHistories, History
from pinsage_dgl.nn import BoardQuery
from pinsage_dgl.scoring import EmbeddingScorer, one_query_per_row


def _history(pins_oldest_first: list[int]) -> History:
    n = len(pins_oldest_first)
    return History(
        rows=torch.zeros(n, dtype=torch.int64),
        pins=torch.tensor(pins_oldest_first),
        age=torch.arange(n - 1, -1, -1),
        boards=torch.tensor([0]),
    )


def test_query_modes_on_hand_embeddings():
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    history = _history([0, 1])  # pin 1 is the latest
    mean = EmbeddingScorer(z, "mean").score_boards(history)
    assert mean[0].tolist() == pytest.approx(
        [1 / math.sqrt(2), 1 / math.sqrt(2), 1.4 / math.sqrt(2)]
    )
    # half-life 1: the older pin weighs 1/2, query ∝ (0.5, 1)
    recency = EmbeddingScorer(z, "recency", half_life=1.0).score_boards(history)
    q = torch.tensor([0.5, 1.0]) / math.sqrt(1.25)
    assert recency[0].tolist() == pytest.approx((z @ q).tolist())
    # multi-query: best match over the latest pins; with one recent pin it is that pin
    assert EmbeddingScorer(z, "multi", num_recent=1).score_boards(history)[0].tolist() == (
        pytest.approx([0.0, 1.0, 0.8])
    )
    assert EmbeddingScorer(z, "multi", num_recent=2).score_boards(history)[0].tolist() == (
        pytest.approx([1.0, 1.0, 0.8])
    )
    with pytest.raises(ValueError, match="query must be one of"):
        EmbeddingScorer(z, "median")


def walk_case():
    """Four pins on two boards (0 = {0, 1}, 1 = {1, 2, 3}), their walk term and
    embeddings with a bias, for the walk-term tests."""
    from pinsage_dgl.sampling import WalkScores

    table = pd.DataFrame({"pin": [0, 1, 1, 2, 3], "board": [0, 0, 1, 1, 1], "ts": [1, 2, 1, 2, 3]})
    graph = build_graph(table, timestamp_col="ts")
    embeddings = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [-1.0, 0.2]])
    bias = torch.tensor([0.0, 0.1, -0.2, 0.3])
    return graph, WalkScores(graph), embeddings, bias


def test_the_walk_term_adds_its_weighted_values_to_every_score():
    graph, walk, embeddings, bias = walk_case()
    history = BoardHistories(graph)(torch.arange(2))
    plain = EmbeddingScorer(embeddings, "mean", pin_bias=bias)
    walked = EmbeddingScorer(embeddings, "mean", pin_bias=bias, walk=walk, walk_weight=0.5)
    # board 0 = {0, 1}: W[0] + W[1] = {0: 1/4, 1: 1/2, 2: 1/6, 3: 1/6}, best 1/2;
    # board 1 = {1, 2, 3}: W[1] + W[2] + W[3] = {0: 1/4, 1: 2/3, 2: 1/2, 3: 1/2}, best 2/3
    extra = torch.tensor([[0.5, 1.0, 1 / 3, 1 / 3], [0.375, 1.0, 0.75, 0.75]])
    expected = plain.score_boards(history) + 0.5 * extra
    assert torch.allclose(walked.score_boards(history), expected)
    pins = torch.tensor([0, 3])
    alone = torch.tensor([[0.0, 1.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0]])  # W[3] = {1, 2}: 1/3
    assert torch.allclose(walked.score_pins(pins), plain.score_pins(pins) + 0.5 * alone)
    # weight 0 is the embeddings alone, with or without a term
    unweighted = EmbeddingScorer(embeddings, "mean", pin_bias=bias, walk=walk, walk_weight=0.0)
    assert unweighted.walk is None
    assert torch.equal(unweighted.score_boards(history), plain.score_boards(history))


@pytest.mark.parametrize("query", ["mean", "recency", "multi"])
def test_scores_at_candidates_are_the_full_scores_gathered(query):
    graph, walk, embeddings, bias = walk_case()
    history = BoardHistories(graph)(torch.arange(2))
    scorer = EmbeddingScorer(
        embeddings, query, half_life=1.0, num_recent=2, pin_bias=bias, walk=walk, walk_weight=2.0
    )
    candidates = torch.tensor([[3, 0, -1], [2, 1, 0]])
    at = scorer.score_boards_at(history, candidates)
    full = scorer.score_boards(history)
    assert torch.allclose(at[:, :2], full.gather(1, candidates[:, :2]))
    assert torch.allclose(at[1, 2], full[1, 0])
    assert at[0, 2] == float("-inf")  # an empty slot
    pins = torch.tensor([1, 2])
    pin_at = scorer.score_pins_at(pins, candidates)
    assert torch.allclose(pin_at[1], scorer.score_pins(pins)[1, candidates[1]])
    assert torch.allclose(pin_at[0, :2], scorer.score_pins(pins)[0, candidates[0, :2]])


class CountingWalk:
    """A walk term that counts how often each kind of row is scored."""

    def __init__(self, walk):
        self.walk, self.num_pins, self.calls = walk, walk.num_pins, []

    def score_boards(self, history):
        self.calls.append("boards")
        return self.walk.score_boards(history)

    def score_pins(self, pins):
        self.calls.append("pins")
        return self.walk.score_pins(pins)


@pytest.mark.parametrize("query", ["recency", "multi"])
def test_copies_at_several_weights_score_as_separate_scorers_and_share_their_parts(query):
    graph, walk, embeddings, bias = walk_case()
    counting = CountingWalk(walk)
    scorer = EmbeddingScorer(embeddings, query, half_life=1.0, num_recent=2, pin_bias=bias)
    weights = (0.0, 0.5, 2.0)
    copies = scorer.at_walk_weights(counting, weights)
    assert list(copies) == list(weights) and copies[0.0].walk is None
    histories = BoardHistories(graph)
    pins = torch.tensor([3, 0])
    for rows in (torch.arange(2), torch.tensor([1])):  # the second batch is scored anew
        history = histories(rows)
        for weight, copy in copies.items():
            alone = scorer.reweighted(walk if weight else None, weight)
            # the same values as a scorer of its own, twice (a shared part is not changed)
            for _ in range(2):
                assert torch.equal(copy.score_boards(history), alone.score_boards(history))
                assert torch.equal(copy.score_pins(pins), alone.score_pins(pins))
    # each batch's term computed once for boards and once for pins, for both weights > 0
    assert counting.calls == ["boards", "pins", "boards"]


def test_a_walk_weight_needs_a_term_of_the_same_pins():
    _, walk, embeddings, _ = walk_case()
    with pytest.raises(ValueError, match="walk_weight"):
        EmbeddingScorer(embeddings, "mean", walk_weight=1.0)
    with pytest.raises(ValueError, match="walk_weight"):
        EmbeddingScorer(embeddings, "mean", walk=walk, walk_weight=-1.0)
    with pytest.raises(ValueError, match="4 pins for 3 embeddings"):
        EmbeddingScorer(embeddings[:3], "mean", walk=walk, walk_weight=1.0)


def _two_boards() -> History:
    # board 0 holds pins 0, 1, 2 (2 the latest); board 1 holds nothing
    return History(
        rows=torch.tensor([0, 0, 0]),
        pins=torch.tensor([0, 1, 2]),
        age=torch.tensor([2, 1, 0]),
        boards=torch.tensor([0, 1]),
    )


def test_board_query_rows_of_each_mode():
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [-1.0, 0.0]])
    history = _two_boards()
    queries, rows = EmbeddingScorer(z, "mean").board_query_rows(history)
    assert rows.tolist() == [0, 1] and one_query_per_row(rows, 2)
    assert queries[0].tolist() == pytest.approx([0.8 / math.sqrt(1.45), 0.9 / math.sqrt(1.45)])
    assert queries[1].tolist() == [0.0, 0.0]  # a board without pins: the zero query
    # multi: the pins younger than num_recent saves, each a query of its board
    queries, rows = EmbeddingScorer(z, "multi", num_recent=2).board_query_rows(history)
    assert rows.tolist() == [0, 0] and not one_query_per_row(rows, 2)
    assert torch.equal(queries, z[[1, 2]])
    # K interests: K queries per board, grouped by board
    interests = BoardQuery(2, "attention", 1.0, num_interests=3)
    scorer = EmbeddingScorer(z, "attention", board_query=interests)
    queries, rows = scorer.board_query_rows(history)
    assert rows.tolist() == [0, 0, 0, 1, 1, 1]
    assert torch.equal(queries.view(2, 3, 2), scorer.board_queries(history))
    with pytest.raises(ValueError, match="no pooled board query"):
        EmbeddingScorer(z, "multi").board_queries(history)


def test_a_pin_scores_its_best_over_a_boards_queries_plus_its_bias():
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [-1.0, 0.0]])
    bias = torch.tensor([0.5, 0.0, -0.5, 0.25])
    history = _two_boards()
    scores = EmbeddingScorer(z, "multi", num_recent=2, pin_bias=bias).score_boards(history)
    # board 0's queries are pins 1 and 2: max(z1 . zp, z2 . zp) + bias
    expected = torch.stack([z[[1, 2]] @ z[p] for p in range(4)]).amax(1) + bias
    assert torch.allclose(scores[0], expected)
    assert torch.equal(scores[1], bias)  # no queries: the bias alone, as a zero query
    # several interests: the best interest per pin, equal to scoring each interest alone
    interests = BoardQuery(2, "attention", 1.0, num_interests=3)
    scorer = EmbeddingScorer(z, "attention", board_query=interests, pin_bias=bias)
    each = torch.stack([q @ z.T for q in scorer.board_queries(history).unbind(1)])
    assert torch.allclose(scorer.score_boards(history), each.amax(0) + bias)


def test_scores_of_many_queries_are_the_same_in_chunks(monkeypatch):
    import pinsage_dgl.scoring as scoring

    g = torch.Generator().manual_seed(0)
    z = torch.randn(50, 8, generator=g)
    boards = 6
    rows = torch.arange(boards).repeat_interleave(torch.tensor([5, 0, 9, 1, 7, 3]))
    ages = torch.cat([torch.arange(n - 1, -1, -1) for n in [5, 0, 9, 1, 7, 3]])
    history = History(rows, torch.randint(50, (len(rows),), generator=g), ages, torch.arange(6))
    scorer = EmbeddingScorer(z, "multi", num_recent=4)
    whole = scorer.score_boards(history)
    monkeypatch.setattr(scoring, "SCORED_PER_CHUNK", 3 * len(z))  # 3 queries at a time
    # (matrix products of other shapes may round differently in the last bit)
    torch.testing.assert_close(scorer.score_boards(history), whole)
    recent = ages < 4
    for board in range(boards):
        mine = (rows == board) & recent
        expected = (z[history.pins[mine]] @ z.T).amax(0) if mine.any() else torch.zeros(50)
        torch.testing.assert_close(whole[board], expected)


def test_the_default_query_is_the_trained_board_querys_pooling():
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    assert EmbeddingScorer(z).query == "recency"  # no trained query: recency
    trained = BoardQuery(2, "attention", 1.0)
    scorer = EmbeddingScorer(z, board_query=trained)
    assert scorer.query == "attention" and scorer.pooler is trained
    assert EmbeddingScorer(z, board_query=BoardQuery(2, "mean")).query == "mean"
