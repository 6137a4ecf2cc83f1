import dgl
import pandas as pd
import pytest
import torch

from pinsage_dgl.graph import build_graph
from pinsage_dgl.sampling import block_from_neighbors, computed_rows, importance_neighbors
from tests.conftest import bipartite


def test_star_board_visits_every_other_pin_equally():
    # one board holding pins 0..4: a one-hop walk from pin 0 lands on 0..4 uniformly
    g = bipartite([(p, 0) for p in range(5)])
    nbrs, w = importance_neighbors(
        g, torch.tensor([0]), num_neighbors=4, num_walks=4000, walk_length=1
    )
    assert sorted(nbrs[0].tolist()) == [1, 2, 3, 4]  # the seed itself never counts
    assert w[0].sum().item() == pytest.approx(1.0)
    assert w[0].tolist() == pytest.approx([0.25] * 4, abs=0.03)


def test_path_graph_ranks_closer_pins_higher():
    # pins 0-1 on board 0, 1-2 on board 1, 2-3 on board 2: a chain
    g = bipartite([(0, 0), (1, 0), (1, 1), (2, 1), (2, 2), (3, 2)])
    nbrs, w = importance_neighbors(
        g, torch.tensor([0]), num_neighbors=3, num_walks=3000, walk_length=3
    )
    assert nbrs[0, 0].item() == 1  # the co-saved pin is the most visited
    assert w[0, 0] > w[0, 1] > 0
    # T smaller than the visited set keeps the top ones; rows stay L1-normalised
    top1, w1 = importance_neighbors(
        g, torch.tensor([0, 3]), num_neighbors=1, num_walks=500, walk_length=3
    )
    assert top1[:, 0].tolist() == [1, 2] and w1[:, 0].tolist() == [1.0, 1.0]


def test_isolated_pin_has_no_neighbours_and_bad_settings_fail():
    g = dgl.heterograph(
        {
            ("pin", "saved_to", "board"): ([0, 1], [0, 0]),
            ("board", "contains", "pin"): ([0, 0], [0, 1]),
        },
        num_nodes_dict={"pin": 3, "board": 1},
    )
    nbrs, w = importance_neighbors(g, torch.tensor([2, 0]), num_neighbors=2, num_walks=10)
    assert nbrs[0].tolist() == [-1, -1] and w[0].sum() == 0
    assert nbrs[1].tolist() == [1, -1] and w[1].tolist() == [1.0, 0.0]
    with pytest.raises(ValueError, match="num_neighbors"):
        importance_neighbors(g, torch.tensor([0]), num_neighbors=0)


@pytest.mark.parametrize("num_nodes", [None, 12])  # relabelled by sorting, or by a dense map
def test_block_keeps_destinations_first_and_weights_on_edges(num_nodes):
    nbrs = torch.tensor([[7, 5, 11], [5, 3, -1]])
    w = torch.tensor([[0.5, 0.25, 0.25], [0.625, 0.375, 0.0]])
    block = block_from_neighbors(torch.tensor([5, 9]), nbrs, w, num_nodes)
    assert block.num_dst_nodes() == 2 and block.srcdata[dgl.NID].tolist() == [5, 9, 3, 7, 11]
    src, dst = block.edges()
    named = sorted(
        zip(
            block.srcdata[dgl.NID][src].tolist(),
            dst.tolist(),
            block.edata["weight"].tolist(),
            strict=True,
        )
    )
    assert named == [(3, 1, 0.375), (5, 0, 0.25), (5, 1, 0.625), (7, 0, 0.5), (11, 0, 0.25)]

    # rows a pass computes: 5 input encodings, 5 messages, 2 combinations
    assert computed_rows([block]) == 5 + 5 + 2
    assert computed_rows([]) == 0


def test_popularity_penalty_prefers_specific_neighbours():
    # seed 0 shares board 0 with pins 1 (also on boards 1-4) and 2 (only board 0)
    edges = [(0, 0), (1, 0), (2, 0)] + [(1, b) for b in range(1, 5)] + [(3, b) for b in range(1, 5)]
    graph = bipartite(edges)
    seeds = torch.tensor([0])
    plain, _ = importance_neighbors(graph, seeds, num_neighbors=2, num_walks=4000, walk_length=1)
    assert sorted(plain[0].tolist()) == [1, 2]  # one hop: both visited about equally
    nbrs, weights = importance_neighbors(
        graph, seeds, num_neighbors=2, num_walks=4000, walk_length=1, popularity_penalty=1.0
    )
    # visits / degree: pin 2 (1 board) outranks pin 1 (5 boards), weights ≈ 5/6 and 1/6
    assert nbrs[0].tolist() == [2, 1]
    assert weights[0].tolist() == pytest.approx([5 / 6, 1 / 6], abs=0.03)
    with pytest.raises(ValueError, match="popularity_penalty"):
        importance_neighbors(graph, seeds, popularity_penalty=-1.0)


def test_walks_follow_the_weights_of_the_saves():
    # pin 0 is on boards 0 (with pin 1) and 1 (with pin 2); board 1's saves weigh w
    table = pd.DataFrame({"pin": [0, 1, 0, 2], "board": [0, 0, 1, 1], "w": [1.0, 1.0, 1.0, 1.0]})

    def visits(w: float) -> dict[int, float]:
        graph = build_graph(table.assign(w=[1.0, 1.0, w, w]), weight_col="w")
        torch.manual_seed(0)
        nbrs, weights = importance_neighbors(
            graph.graph, torch.tensor([0]), 2, 4000, 1, prob=graph.walk_weights
        )
        return {p: x for p, x in zip(nbrs[0].tolist(), weights[0].tolist(), strict=True)}

    assert build_graph(table, weight_col="w").walk_weights is None  # uniform: DGL's fast path
    assert visits(1.0)[1] == pytest.approx(0.5, abs=0.03)
    assert visits(3.0)[2] == pytest.approx(0.75, abs=0.03)  # 3 : 1 for board 1, then pin 2
    assert visits(0.0) == {1: 1.0, -1: 0.0}  # a zero-weight save is never walked
