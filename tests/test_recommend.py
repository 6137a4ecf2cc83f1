import pandas as pd
import pytest
import torch

from pinsage_dgl.graph import build_graph
from pinsage_dgl.nn import BoardQuery
from pinsage_dgl.recommend import Recommender
from pinsage_dgl.retrieval import build_index
from pinsage_dgl.scoring import EmbeddingScorer


@pytest.fixture
def graph(tiny_table):
    # b1 = {a, b, c}, b2 = {a, b, d}; pins sorted by id: a, b, c, d
    return build_graph(tiny_table, timestamp_col="ts")


# a and b point one way, c the other, d between
EMBEDDINGS = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.6, 0.8]])


def test_pins_are_answered_by_dot_product_never_with_themselves(graph):
    recommender = Recommender(EmbeddingScorer(EMBEDDINGS, "mean"), graph)
    scores, pins = recommender.pins(graph.pin_index(["a", "c"]), k=2)
    # a: b 0.8, d 0.6 (c 0.0); c: d 0.8, b 0.6
    assert pins.tolist() == [[1, 3], [3, 1]]
    assert torch.allclose(scores, torch.tensor([[0.8, 0.6], [0.8, 0.6]]))
    assert recommender.for_pin_ids(["a"], k=1) == [[("b", pytest.approx(0.8))]]
    with pytest.raises(KeyError, match="zz"):
        recommender.for_pin_ids(["zz"])


def test_boards_get_the_evaluation_query_and_never_their_own_pins(graph):
    scorer = EmbeddingScorer(EMBEDDINGS, "mean")
    recommender = Recommender(scorer, graph)
    boards = graph.board_index(["b1", "b2"])
    scores, pins = recommender.boards(boards, k=2)
    # each board holds three of the four pins: one answer, then an empty slot
    assert pins.tolist() == [[3, -1], [2, -1]]
    history = recommender.histories(boards)
    expected = scorer.score_boards(history)
    assert torch.allclose(scores[:, 0], expected[[0, 1], [3, 2]])
    assert recommender.for_board_ids(["b2"]) == [[("c", pytest.approx(float(expected[1, 2])))]]


@pytest.mark.parametrize("query", ["mean", "recency", "multi"])
def test_every_query_mode_and_a_pin_bias_rank_as_the_scorer_does(graph, query):
    bias = torch.tensor([0.0, 0.1, 2.0, -1.0])
    scorer = EmbeddingScorer(EMBEDDINGS, query, half_life=1.0, num_recent=2, pin_bias=bias)
    # an index of another kind, over the items the scorer serves (bias as a last column)
    recommender = Recommender(scorer, graph, build_index(scorer.index_items(), "flat"))
    history = recommender.histories(torch.arange(2))
    full = scorer.score_boards(history)
    full[history.rows, history.pins] = float("-inf")
    scores, pins = recommender.boards(torch.arange(2), k=1)
    assert torch.equal(pins[:, 0], full.argmax(1))
    assert torch.allclose(scores[:, 0], full.max(1).values, atol=1e-6)
    pin_scores, top = recommender.pins(torch.tensor([0]), k=3)
    assert top.tolist() == [[2, 1, 3]]  # c's bias 2.0 outweighs a's direction
    assert torch.allclose(pin_scores, scorer.score_pins(torch.tensor([0]))[:, [2, 1, 3]])


def test_new_pins_are_embedded_by_the_given_embedder(graph):
    seen = {}

    def embed(features):
        seen.update(features)
        return torch.tensor([[0.0, 1.0]])

    recommender = Recommender(EmbeddingScorer(EMBEDDINGS, "mean"), graph, new_pin_embedder=embed)
    scores, pins = recommender.new_pins({"x": torch.ones(1, 1)}, k=2)
    assert pins.tolist() == [[2, 3]] and "x" in seen
    assert torch.allclose(scores, torch.tensor([[1.0, 0.8]]))
    with pytest.raises(ValueError, match="no new-pin embedder"):
        Recommender(EmbeddingScorer(EMBEDDINGS, "mean"), graph).new_pins({}, k=1)


def test_an_index_or_embeddings_of_another_shape_are_refused(graph):
    scorer = EmbeddingScorer(EMBEDDINGS, "mean")
    with pytest.raises(ValueError, match="indexes 4 x 3 vectors, but this model serves 4 x 2"):
        Recommender(scorer, graph, build_index(torch.ones(4, 3), "exact"))
    with pytest.raises(ValueError, match="3 embeddings for a graph of 4 pins"):
        Recommender(EmbeddingScorer(EMBEDDINGS[:3], "mean"), graph)


@pytest.mark.parametrize("query", ["mean", "recency", "multi", "interests"])
@pytest.mark.parametrize("index_kind", ["exact", "flat"])
def test_a_walk_term_is_served_exactly(query, index_kind):
    from pinsage_dgl.sampling import WalkScores

    # five pins on three boards, so that a board has several pins left to rank
    table = pd.DataFrame(
        {"pin": [0, 1, 1, 2, 3, 3, 4, 0], "board": [0, 0, 1, 1, 1, 2, 2, 2], "ts": range(8)}
    )
    graph = build_graph(table, timestamp_col="ts")
    embeddings = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [-1.0, 0.2], [0.3, -0.9]])
    bias = torch.tensor([0.0, 0.1, -0.2, 0.3, 0.05])
    # a weight large enough to reorder what the embeddings alone would serve
    board_query = None
    if query == "interests":  # a learned board query with two interests per board
        torch.manual_seed(0)
        query, board_query = "attention", BoardQuery(2, "attention", 1.0, num_interests=2)
    scorer = EmbeddingScorer(
        embeddings,
        query,
        1.0,
        2,
        board_query=board_query,
        pin_bias=bias,
        walk=WalkScores(graph),
        walk_weight=3.0,
    )
    recommender = Recommender(scorer, graph, build_index(scorer.index_items(), index_kind))
    history = recommender.histories(torch.arange(3))
    full = scorer.score_boards(history)
    full[history.rows, history.pins] = float("-inf")
    scores, pins = recommender.boards(torch.arange(3), k=2)
    best = torch.sort(full, dim=1, descending=True, stable=True)
    assert torch.equal(pins, best.indices[:, :2].masked_fill(best.values[:, :2].isinf(), -1))
    assert torch.allclose(scores, best.values[:, :2])
    pin_full = scorer.score_pins(torch.arange(5))
    pin_full.fill_diagonal_(float("-inf"))
    pin_scores, top = recommender.pins(torch.arange(5), k=3)
    expected = torch.sort(pin_full, dim=1, descending=True, stable=True)
    assert torch.equal(top, expected.indices[:, :3])
    assert torch.allclose(pin_scores, expected.values[:, :3])


@pytest.mark.parametrize("index_kind", ["exact", "flat"])
def test_several_interests_per_board_are_served_as_scored(index_kind):
    table = pd.DataFrame(
        {"pin": [0, 1, 2, 3, 4, 2, 5, 6, 7], "board": [0, 0, 0, 1, 1, 1, 2, 2, 2], "ts": range(9)}
    )
    graph = build_graph(table, timestamp_col="ts")
    generator = torch.Generator().manual_seed(2)
    embeddings = torch.nn.functional.normalize(torch.randn(8, 3, generator=generator), dim=1)
    torch.manual_seed(0)
    board_query = BoardQuery(3, "attention", 1.0, num_interests=3)
    scorer = EmbeddingScorer(embeddings, "attention", board_query=board_query)
    recommender = Recommender(scorer, graph, build_index(scorer.index_items(), index_kind))
    history = recommender.histories(torch.arange(2))
    full = scorer.score_boards(history)
    # by hand: each pin's best over the board's three queries
    queries = board_query(embeddings[history.pins], history.rows, 2, history.age)
    assert torch.allclose(full, (queries @ embeddings.T).amax(1))
    full[history.rows, history.pins] = float("-inf")
    scores, pins = recommender.boards(torch.arange(2), k=3)
    best = torch.sort(full, dim=1, descending=True, stable=True)
    assert torch.equal(pins, best.indices[:, :3])
    assert torch.allclose(scores, best.values[:, :3])
