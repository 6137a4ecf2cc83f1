import numpy as np
import pandas as pd
import pytest
import torch

from pinsage_dgl.graph import build_graph
from pinsage_dgl.history import History
from pinsage_dgl.sampling import WalkScores, ranked_visits

# board 0 = {0, 1}, board 1 = {1, 2, 3}: pin degrees 1, 2, 1, 1; board degrees 2, 3
TABLE = pd.DataFrame({"pin": [0, 1, 1, 2, 3], "board": [0, 0, 1, 1, 1]})
# W[j, i] = sum_b 1/deg(j) * 1/deg(b) over boards holding both, the diagonal dropped
EXPECTED = np.array(
    [
        [0.0, 1 / 2, 0.0, 0.0],
        [1 / 4, 0.0, 1 / 6, 1 / 6],
        [0.0, 1 / 3, 0.0, 1 / 3],
        [0.0, 1 / 3, 1 / 3, 0.0],
    ]
)


def board_history(boards: list[list[int]]) -> History:
    rows = torch.tensor([r for r, pins in enumerate(boards) for _ in pins])
    pins = torch.tensor([p for board in boards for p in board])
    return History(rows, pins, torch.zeros_like(pins), torch.arange(len(boards)))


@pytest.mark.parametrize("chunk", [1, 3, 4096])
def test_one_step_probabilities_by_hand(chunk):
    walk = WalkScores(build_graph(TABLE), chunk=chunk)
    assert np.allclose(walk.matrix.toarray(), EXPECTED)
    assert walk.num_pins == 4


def test_a_board_sums_its_pins_rows_and_scales_its_best_to_one():
    walk = WalkScores(build_graph(TABLE))
    terms = walk.score_boards(board_history([[0, 2], [1], []])).toarray()
    # pins 0 and 2: {1: 1/2 + 1/3, 3: 1/3} → / (5/6)
    assert np.allclose(terms[0], [0.0, 1.0, 0.0, 0.4])
    assert np.allclose(terms[1], [1.0, 0.0, 2 / 3, 2 / 3])
    assert np.allclose(terms[2], 0.0)  # a board with no pins has no term
    # a pin alone is a board of one
    alone = walk.score_pins(torch.tensor([2, 0])).toarray()
    assert np.allclose(alone, [[0.0, 1.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0]])


def test_top_keeps_each_pins_most_likely_next_pins_ties_by_lower_id():
    walk = WalkScores(build_graph(TABLE), top=1)
    kept = walk.matrix.toarray()
    assert np.allclose(kept[0], [0.0, 0.5, 0.0, 0.0])
    assert np.allclose(kept[1], [0.25, 0.0, 0.0, 0.0])
    assert np.allclose(kept[2], [0.0, 1 / 3, 0.0, 0.0])  # 1 and 3 tie: 1 stays
    assert np.allclose(kept[3], [0.0, 1 / 3, 0.0, 0.0])
    assert np.allclose(WalkScores(build_graph(TABLE), top=3).matrix.toarray(), EXPECTED)


def test_weights_of_the_saves_weigh_the_steps():
    # pin 1 saved to board 0 with weight 3: from pin 1, board 0 is taken 3 times in 4, and
    # from board 0, pin 1 is reached 3 times in 4
    weighted = TABLE.assign(w=[1.0, 3.0, 1.0, 1.0, 1.0])
    walk = WalkScores(build_graph(weighted, weight_col="w"))
    matrix = walk.matrix.toarray()
    assert np.allclose(matrix[1], [3 / 4 * 1 / 4, 0.0, 1 / 4 * 1 / 3, 1 / 4 * 1 / 3])
    assert np.allclose(matrix[0], [0.0, 3 / 4, 0.0, 0.0])


def test_the_exact_probabilities_are_what_many_sampled_walks_converge_to():
    graph = build_graph(TABLE)
    torch.manual_seed(0)
    walks = 20_000
    row, pin, count, _ = ranked_visits(graph.graph, torch.arange(4), walks, 1)
    sampled = np.zeros((4, 4))
    sampled[row.numpy(), pin.numpy()] = count.numpy() / walks
    # a walk that returns to its start counts no visit, so rows sum to below 1 as W's do
    assert np.allclose(sampled, EXPECTED, atol=0.02)


def test_bad_settings_are_refused():
    graph = build_graph(TABLE)
    with pytest.raises(ValueError, match="top"):
        WalkScores(graph, top=0)
    with pytest.raises(ValueError, match="chunk"):
        WalkScores(graph, chunk=0)
