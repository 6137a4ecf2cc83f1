import numpy as np
import pytest
import torch

from pinsage_dgl.graph import PinBoardGraph
from pinsage_dgl.sampling import HardNegativeSampler, Negatives, ranked_visits, scaled_band
from tests.conftest import bipartite


def test_band_is_the_papers_for_large_catalogues_and_scaled_for_small():
    assert scaled_band(10_000_000) == (2000, 5000)
    assert scaled_band(100_000) == (2000, 5000)
    assert scaled_band(20_000) == (1000, 4000)
    assert scaled_band(3706) == (185, 741)
    assert scaled_band(10) == (0, 2)
    with pytest.raises(ValueError, match="lo < hi"):
        scaled_band(1000, (5, 5))


def test_ranked_visits_rank_by_count_within_each_seed():
    g = bipartite([(0, 0), (1, 0), (1, 1), (2, 1), (2, 2), (3, 2)])  # a chain of pins
    row, pin, count, rank = ranked_visits(g, torch.tensor([0, 3]), num_walks=500, walk_length=3)
    for r in (0, 1):
        mine = row == r
        assert rank[mine].tolist() == list(range(int(mine.sum())))
        assert (count[mine][:-1] >= count[mine][1:]).all()
    assert pin[(row == 0) & (rank == 0)].item() == 1 and pin[(row == 1) & (rank == 0)].item() == 2
    with pytest.raises(ValueError, match="restart_prob"):
        ranked_visits(g, torch.tensor([0]), 1, 1, restart_prob=1.0)


def _pin_board(graph):
    return PinBoardGraph(
        graph, np.arange(graph.num_nodes("pin")), np.arange(graph.num_nodes("board"))
    )


def test_hard_negatives_come_from_the_band_and_skip_the_positive():
    # pins 0..9 on a chain of boards: PPR from pin 0 ranks 1, 2, 3, ... in order
    g = bipartite([(p, b) for b in range(9) for p in (b, b + 1)])
    walks = {"hard_walks": 3000, "hard_walk_length": 6, "hard_restart_prob": 0.2}
    sampler = HardNegativeSampler(_pin_board(g), Negatives(num_hard=2, hard_band=(2, 4), **walks))
    assert sampler.band == (0, 2)  # 10 pins: clipped to [10 // 20, 10 // 5)
    sampler.band = (2, 4)  # the 3rd and 4th most visited pins from 0 are 3 and 4
    neg = sampler(torch.tensor([0, 0, 0, 0]), torch.tensor([1, 3, 1, 1]))
    assert sorted(neg[0].tolist()) == [3, 4]
    # positive 3 leaves one pin in the band; the other slot falls back to a random pin
    assert neg[1, 0].item() == 4
    sampler.num_per_query = 0
    assert sampler(torch.tensor([0]), torch.tensor([1])).shape == (1, 0)
    with pytest.raises(ValueError, match="num_per_query"):
        sampler.num_per_query = -1


def test_hard_negatives_skip_the_boards_own_pins():
    # the chain of the test above; board 3 holds pins 3 and 4, the whole band from pin 0
    g = bipartite([(p, b) for b in range(9) for p in (b, b + 1)])
    walks = {"hard_walks": 3000, "hard_walk_length": 6, "hard_restart_prob": 0.2}
    sampler = HardNegativeSampler(_pin_board(g), Negatives(num_hard=2, **walks))
    sampler.band = (2, 4)
    torch.manual_seed(0)
    neg = sampler(torch.tensor([0] * 50), torch.tensor([1] * 50), boards=torch.tensor([3] * 50))
    # both band pins are the board's: every slot falls back to a uniform random pin, so 3
    # and 4 turn up at chance (1 in 10 each) instead of filling every row
    assert (neg == 3).float().mean() < 0.25 and (neg == 4).float().mean() < 0.25
    # for board 0 (pins 0, 1) the band pins 3 and 4 are kept
    kept = sampler(torch.tensor([0]), torch.tensor([1]), boards=torch.tensor([0]))
    assert sorted(kept[0].tolist()) == [3, 4]
