import pytest
import torch

from pinsage_dgl.nn import BoardQuery, recency_weights
from pinsage_dgl.nn.board_query import paired_scores, query_scores, segment_softmax

PINS = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
ROWS = torch.tensor([0, 0, 1])
AGE = torch.tensor([1, 0, 0])


def test_mean_and_recency_pool_by_hand():
    mean = BoardQuery(pooling="mean")(PINS, ROWS, 3)
    s = 2**-0.5
    assert torch.allclose(mean, torch.tensor([[s, s], [0.0, 1.0], [0.0, 0.0]]))  # no pins → 0
    recency = BoardQuery(pooling="recency", half_life=1.0)(PINS, ROWS, 2, AGE)
    # weights 0.5 (age 1) and 1 (age 0)
    expected = torch.nn.functional.normalize(torch.tensor([[0.5, 1.0]]), dim=1)
    assert torch.allclose(recency[0], expected[0])
    assert torch.allclose(recency_weights(torch.tensor([0, 2]), 2.0), torch.tensor([1.0, 0.5]))


def test_segment_softmax_sums_to_one_per_row():
    w = segment_softmax(torch.tensor([0.0, 1.0, 5.0, 100.0]), torch.tensor([0, 0, 1, 1]), 2)
    assert torch.allclose(w[:2], torch.softmax(torch.tensor([0.0, 1.0]), 0))
    assert torch.allclose(w[2:].sum(), torch.tensor(1.0))


def test_attention_starts_as_recency_and_learns():
    attention = BoardQuery(2, pooling="attention", half_life=1.0)
    recency = BoardQuery(pooling="recency", half_life=1.0)
    # the scorer's output layer starts at zero, the decay at ln 2 / half-life
    assert torch.allclose(attention(PINS, ROWS, 2, AGE), recency(PINS, ROWS, 2, AGE), atol=1e-6)
    plain = BoardQuery(2, pooling="attention", use_age=False)
    assert torch.allclose(plain(PINS, ROWS, 2, AGE), BoardQuery(pooling="mean")(PINS, ROWS, 2))
    # trained to prefer pin 0 of board 0, the query turns towards it
    optimizer = torch.optim.Adam(attention.parameters(), lr=0.1)
    for _ in range(50):
        q = attention(PINS, ROWS, 2, AGE)
        loss = -q[0, 0]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert attention(PINS, ROWS, 2, AGE)[0, 0] > 0.9


def test_bad_pooling_is_named():
    with pytest.raises(ValueError, match="pooling must be one of"):
        BoardQuery(pooling="median")
    with pytest.raises(ValueError, match="half_life"):
        BoardQuery(pooling="recency", half_life=0)


def test_a_known_board_adds_its_learned_vector_to_the_pooled_query():
    query = BoardQuery(2, pooling="mean", num_boards=2)
    pooled = BoardQuery(pooling="mean")(PINS, ROWS, 2)
    boards = torch.tensor([0, 7])  # board 7 is unknown: no vector
    # vectors start at 0: the pooled query exactly
    assert torch.allclose(query(PINS, ROWS, 2, boards=boards), pooled)
    with torch.no_grad():
        query.board_embedding.weight[0] = torch.tensor([-0.5, 0.0])
    s = 2**-0.5
    # row 0: normalize((s, s) + (-0.5, 0)); row 1 (unknown board): pooled
    expected = torch.nn.functional.normalize(torch.tensor([[s - 0.5, s]]), dim=1)
    got = query(PINS, ROWS, 2, boards=boards)
    assert torch.allclose(got[0], expected[0]) and torch.allclose(got[1], pooled[1])
    assert torch.equal(query(PINS, ROWS, 2), pooled)  # no board ids: pooled alone
    with pytest.raises(ValueError, match="num_boards must be >= 0"):
        BoardQuery(2, num_boards=-1)


def test_several_interests_are_heads_of_one_attention_each_as_a_single_query():
    torch.manual_seed(0)
    several = BoardQuery(2, pooling="attention", half_life=1.0, num_interests=3)
    pins = torch.randn(7, 2)
    rows, age = torch.tensor([0, 0, 0, 1, 1, 2, 2]), torch.tensor([2, 1, 0, 1, 0, 1, 0])
    queries = several(pins, rows, 4, age)
    assert queries.shape == (4, 3, 2)
    assert torch.equal(queries[3], torch.zeros(3, 2))  # a board without pins
    # each interest is the one-query pooling whose output layer is that head's row
    for head in range(3):
        single = BoardQuery(2, pooling="attention", half_life=1.0)
        single.load_state_dict(
            {**several.state_dict(), "scorer.2.weight": several.scorer[2].weight[head : head + 1]}
        )
        assert torch.allclose(queries[:, head], single(pins, rows, 4, age), atol=1e-6)
    # the heads start apart: equal heads would never part through the max
    assert not torch.allclose(queries[0, 0], queries[0, 1])
    # a board's own vector joins each of its interests
    with_vectors = BoardQuery(2, pooling="attention", num_boards=3, num_interests=2)
    assert with_vectors(pins, rows, 3, age, boards=torch.arange(3)).shape == (3, 2, 2)


def test_several_interests_need_attention():
    with pytest.raises(ValueError, match="num_interests"):
        BoardQuery(2, pooling="recency", num_interests=2)
    with pytest.raises(ValueError, match="num_interests"):
        BoardQuery(2, pooling="attention", num_interests=0)


def test_a_pin_scores_its_best_interest():
    single = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    several = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.6, 0.8], [-1.0, 0.0]]])  # [2, 2, 2]
    items = torch.tensor([[0.5, 0.8], [-0.5, 0.1], [0.0, -1.0]])
    # one query: plain dot products, shared or per query
    assert torch.allclose(query_scores(single, items), single @ items.T)
    assert torch.allclose(paired_scores(single, items[:2]), torch.tensor([0.5, 0.1]))
    # several: the best interest per item, by hand
    expected = torch.tensor([[0.8, 0.1, 0.0], [0.94, 0.5, 0.0]])
    assert torch.allclose(query_scores(several, items), expected)
    per_query = torch.stack([items, items.flip(0)])  # [2, 3, 2]: each query its own items
    assert torch.allclose(query_scores(several, per_query)[1], expected[1].flip(0))
    assert torch.allclose(paired_scores(several, items[:2]), torch.tensor([0.8, 0.5]))
    # the gradient reaches the interest that scored, not the others
    several.requires_grad_(True)
    paired_scores(several, items[:1].expand(2, -1)).sum().backward()
    assert torch.equal(several.grad[0, 0], torch.zeros(2))  # 0.5 < 0.8: head 1 won
    assert torch.equal(several.grad[0, 1], items[0])
