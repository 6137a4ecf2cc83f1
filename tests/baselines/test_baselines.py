import math

import pytest
import torch

from datamodules import SyntheticDataModule
from pinsage_dgl.baselines import ItemKNN, MatrixFactorization, PixieWalks, Popularity
from pinsage_dgl.evaluation import BoardHistories, evaluate
from pinsage_dgl.graph import build_graph


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
