import math

import pytest
import torch

from datamodules import SyntheticDataModule
from pinsage_dgl.baselines import (
    EASE,
    ItemKNN,
    LightGCN,
    MatrixFactorization,
    OneHopWalk,
    PixieWalks,
    Popularity,
)
from pinsage_dgl.evaluation import evaluate
from pinsage_dgl.graph import build_graph
from pinsage_dgl.history import BoardHistories


@pytest.fixture
def tiny(tiny_table):
    # b1 = {a, b, c}, b2 = {a, b, d}; pin e is saved to no board
    return build_graph(tiny_table, timestamp_col="ts", extra_pins=["e"])


def test_item_knn_is_cosine_of_board_sets(tiny):
    a, b, c, d, e = tiny.pin_index(list("abcde")).tolist()
    scores = ItemKNN(tiny, num_neighbors=None).score_pins(torch.tensor([a, c]))
    assert scores[0, b].item() == pytest.approx(1.0)  # same two boards
    assert scores[0, c].item() == pytest.approx(1 / math.sqrt(2))
    assert scores[0, a].item() == 0.0 and scores[0, e].item() == 0.0  # no self, no unsaved
    assert scores[1, d].item() == 0.0  # c and d never share a board
    # one neighbour per pin: a keeps only b
    top1 = ItemKNN(tiny, num_neighbors=1).score_pins(torch.tensor([a]))
    assert torch.nonzero(top1[0]).squeeze(1).tolist() == [b]
    # a board query sums its pins' similarities
    history = BoardHistories(tiny)(tiny.board_index(["b1"]))
    board = ItemKNN(tiny, num_neighbors=None).score_boards(history)[0]
    assert board[d].item() == pytest.approx(2 / math.sqrt(2))  # from a and from b


def test_one_hop_walk_scores_are_the_walk_term_on_its_own(tiny):
    a, b, c, d, e = tiny.pin_index(list("abcde")).tolist()
    walk = OneHopWalk(tiny, top=None)
    # from c: its board b1 (3 pins) → a, b with 1/3 each; scaled so the best is 1
    scores = walk.score_pins(torch.tensor([c, e]))
    assert scores[0, [a, b, c, d, e]].tolist() == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert scores[1].abs().sum().item() == 0.0  # an unsaved pin leads nowhere
    # board b2 = {a, b, d}: a → b 1/3, c 1/6, d 1/6; b → a 1/3, c 1/6, d 1/6; d → a, b 1/3
    history = BoardHistories(tiny)(tiny.board_index(["b2"]))
    board = walk.score_boards(history)[0]
    assert board[[a, b, c, d, e]].tolist() == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.0])


def test_pixie_visits_follow_the_graph(tiny):
    a, _, c, d, e = tiny.pin_index(list("abcde")).tolist()
    pixie = PixieWalks(tiny, num_walks=4000, walk_length=1, restart_prob=0.0)
    scores = pixie.score_pins(torch.tensor([c]))[0]
    # from c: its only board b1 → a, b (c itself is not counted); d and e are unreachable
    assert scores[d].item() == 0.0 and scores[e].item() == 0.0 and scores[c].item() == 0.0
    assert scores[a].item() == pytest.approx(4000 / 3, rel=0.1)
    # a board's query pins each walk; pins reached from several of them are boosted
    history = BoardHistories(tiny)(tiny.board_index(["b2"]))
    board = pixie.score_boards(history)[0]
    assert board[c].item() > 0 and board[e].item() == 0.0
    assert board[a].item() > board[c].item()  # a is reached from b and d; c only via a, b


def test_popularity_counts_boards(tiny):
    a, b, c, d, e = tiny.pin_index(list("abcde")).tolist()
    scores = Popularity(tiny).score_pins(torch.tensor([c, d]))
    assert scores.shape == (2, 5)
    assert scores[1, [a, b, c, d, e]].tolist() == [2.0, 2.0, 1.0, 1.0, 0.0]


def test_mf_bpr_learns_the_graph():
    dm = SyntheticDataModule(num_pins=600, num_boards=300, num_topics=4, seed=1)
    train = dm.split.train
    mf = MatrixFactorization(train.num_boards, train.num_pins, dim=16).fit(
        train, epochs=15, batch_size=256
    )
    histories = BoardHistories(train)
    learned = evaluate(mf, histories, dm.split.test, ["full_ranking"])
    popular = evaluate(Popularity(train), histories, dm.split.test, ["full_ranking"])
    assert learned["full_ranking/recall@20"] > popular["full_ranking/recall@20"] + 0.05
    with pytest.raises(ValueError, match="epochs"):
        mf.fit(train, epochs=0)


def test_ease_is_the_closed_form_with_a_zero_diagonal(tiny):
    ease = EASE(tiny, l2=2.0)
    pins, boards = tiny.graph.edges(etype="saved_to")
    x = torch.zeros(tiny.num_boards, tiny.num_pins, dtype=torch.float64)
    x[boards, pins] = 1.0
    p = torch.linalg.inv(x.T @ x + 2.0 * torch.eye(tiny.num_pins, dtype=torch.float64))
    expected = -p / p.diagonal()
    expected.fill_diagonal_(0.0)
    assert torch.allclose(ease.weights.double(), expected, atol=1e-5)
    history = BoardHistories(tiny)(tiny.board_index(["b1"]))
    assert torch.allclose(ease.score_boards(history)[0].double(), x[0] @ expected, atol=1e-5)
    with pytest.raises(ValueError, match="l2"):
        EASE(tiny, l2=0)


def test_lightgcn_propagation_is_the_normalised_layer_mean(tiny):
    model = LightGCN(tiny, num_layers=2, dim=3)
    pins, boards = tiny.graph.edges(etype="saved_to")
    a = torch.zeros(tiny.num_boards, tiny.num_pins)
    a[boards, pins] = 1.0
    norm = a / torch.sqrt(a.sum(1, keepdim=True) * a.sum(0, keepdim=True).clamp(min=1))
    e_b, e_p = model.boards.weight.detach(), model.pins.weight.detach()
    b1, p1 = norm @ e_p, norm.T @ e_b
    b2, p2 = norm @ p1, norm.T @ b1
    boards_out, pins_out = model.vectors()
    assert torch.allclose(boards_out, (e_b + b1 + b2) / 3, atol=1e-6)
    assert torch.allclose(pins_out, (e_p + p1 + p2) / 3, atol=1e-6)


@pytest.mark.parametrize(
    "make",
    [
        lambda train: MatrixFactorization(train.num_boards, train.num_pins, 16, loss="softmax"),
        lambda train: LightGCN(train, num_layers=2, dim=16, loss="bpr"),
        lambda train: LightGCN(train, num_layers=2, dim=16, loss="softmax"),
    ],
    ids=["mf-softmax", "lightgcn-bpr", "lightgcn-softmax"],
)
def test_factor_models_learn_the_graph(make):
    dm = SyntheticDataModule(num_pins=600, num_boards=300, num_topics=4, seed=1)
    train = dm.split.train
    epochs = []
    model = make(train).fit(
        train, epochs=10, batch_size=256, lr=1e-2, num_negatives=100, on_epoch=epochs.append
    )
    assert epochs == list(range(10))
    histories = BoardHistories(train)
    learned = evaluate(model, histories, dm.split.test, ["full_ranking"])
    popular = evaluate(Popularity(train), histories, dm.split.test, ["full_ranking"])
    assert learned["full_ranking/recall@20"] > popular["full_ranking/recall@20"] + 0.05
