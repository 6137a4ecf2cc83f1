import pytest
import torch

from pinsage_dgl.evaluation import evaluate, evaluate_batch, evaluate_boards, evaluate_each
from pinsage_dgl.history import BoardHistories, History
from pinsage_dgl.metrics import hit_rate, ideal_dcg, ndcg


class FixedScorer:
    """Scores from explicit tables (rows = query pin, or = board in the batch)."""

    def __init__(self, pin_scores, board_scores):
        self.pin_scores, self.board_scores = pin_scores, board_scores

    def score_pins(self, pins):
        return self.pin_scores[pins]

    def score_boards(self, history):
        return self.board_scores[history.boards]


def test_protocols_on_a_hand_case():
    # 5 pins; board 0 saw pins 0 (old), 1 (latest); held-out target pin 3
    history = History(
        rows=torch.tensor([0, 0]),
        pins=torch.tensor([0, 1]),
        age=torch.tensor([1, 0]),
        boards=torch.tensor([0]),
    )
    # from pin 1: pin 1 itself scores top, then pin 0, then the target 3
    pin_scores = torch.zeros(5, 5)
    pin_scores[1] = torch.tensor([0.9, 1.0, 0.1, 0.5, 0.2])
    board_scores = torch.tensor([[0.9, 0.8, 0.1, 0.7, 0.75]])
    scorer = FixedScorer(pin_scores, board_scores)
    out = evaluate_batch(
        scorer,
        boards=torch.tensor([0]),
        targets=torch.tensor([3]),
        history=history,
        candidates=torch.tensor([[3, 2, 4]]),
        k=1,
        k_full=1,
    )
    # item to item: pin 1 (the query) is left out, pin 0 beats the target: rank 2
    assert out["item_to_item/hit@1"].item() == 0.0
    assert out["item_to_item/mrr"].item() == pytest.approx(1.0)  # ⌈2 / 100⌉ = 1
    # latest pin: the board's pins 0, 1 masked: the target is first
    assert out["latest_pin/hits@1"].item() == 1.0
    # sampled: candidates 3 (0.7), 2 (0.1), 4 (0.75): rank 2
    assert out["sampled/hr@1"].item() == 0.0
    assert out["sampled/ndcg@1"].item() == 0.0
    # full ranking: seen 0, 1 masked; 4 (0.75) beats 3 (0.7)
    assert out["full_ranking/recall@1"].item() == 0.0


def perfect_for_x_useless_for_y(graph, pin_scores: torch.Tensor | None = None):
    """A scorer perfect for board x (two held-out pins, 4 and 5) and useless for board y
    (held-out pin 5), and those three held-out pairs."""
    x, y = graph.board_index(["x", "y"]).tolist()
    p4, p5, p0 = graph.pin_index([4, 5, 0]).tolist()
    board_scores = torch.zeros(graph.num_boards, graph.num_pins)
    board_scores[x, p4] = board_scores[x, p5] = 1.0
    board_scores[y, p0] = 1.0
    if pin_scores is None:
        pin_scores = torch.zeros(graph.num_pins, graph.num_pins)
    return FixedScorer(pin_scores, board_scores), torch.tensor([[x, p4], [y, p5], [x, p5]])


def test_evaluate_averages_full_ranking_over_boards(two_boards_graph):
    scorer, pairs = perfect_for_x_useless_for_y(two_boards_graph)
    result = evaluate(scorer, BoardHistories(two_boards_graph), pairs, ["full_ranking"], k_full=2)
    # x: recall 1; y: p5 ties p2, p4 behind p0, unseen pins p0 (1.0), p2, p4, p5 (0):
    # p5 lands 2nd..4th, in the top 2 with probability 1/3
    assert result["full_ranking/recall@2"] == pytest.approx((1.0 + 1 / 3) / 2)
    with pytest.raises(ValueError, match="unknown protocols"):
        evaluate(scorer, BoardHistories(two_boards_graph), pairs, ["top_secret"])


def test_evaluate_boards_keeps_each_boards_values_and_their_mean_is_evaluate(two_boards_graph):
    graph = two_boards_graph
    pin_scores = torch.rand(
        graph.num_pins, graph.num_pins, generator=torch.Generator().manual_seed(0)
    )
    scorer, pairs = perfect_for_x_useless_for_y(graph, pin_scores)
    x, y = graph.board_index(["x", "y"]).tolist()
    histories = BoardHistories(two_boards_graph)
    # batch size 1: each board is its own batch, so the boards come back sorted
    values = evaluate_boards(scorer, histories, pairs, batch_size=1, k_full=2)
    recall = values["full_ranking/recall@2"]
    assert recall.boards.tolist() == sorted([x, y])
    # one value per board (x: 1, y: 1/3; see the test above), not one per pair
    by_board = dict(zip(recall.boards.tolist(), recall.sums.tolist(), strict=True))
    assert by_board == pytest.approx({x: 1.0, y: 1 / 3})
    assert recall.counts.tolist() == [1, 1]
    # the item protocols count every pair: board x holds two
    hits = values["item_to_item/hit@10"]
    assert dict(zip(hits.boards.tolist(), hits.counts.tolist(), strict=True)) == {x: 2, y: 1}
    means = evaluate(scorer, histories, pairs, k_full=2)
    assert means == pytest.approx({name: v.mean() for name, v in values.items()})
    assert means["full_ranking/recall@2"] == pytest.approx((1.0 + 1 / 3) / 2)


def per_pair_reference(scorer, boards, targets, history, candidates, k, k_full):
    """The protocols by their definition, one pair at a time (each pair's board scored on
    its own row; a board's held-out pins are never masked from its ranking)."""
    board_scores = scorer.score_boards(history)
    latest = history.latest()
    pin_scores = scorer.score_pins(latest.clamp(min=0))
    seen = [set(history.pins[history.rows == row].tolist()) for row in range(len(boards))]
    held = {b: set(targets[boards == b].tolist()) for b in boards.tolist()}
    out = {name: [] for name in ("sampled", "item", "latest", "full_hit", "full_gain")}

    def counts(row_scores, target, left_out):
        others = [i for i in range(len(row_scores)) if i != target and i not in left_out]
        t = row_scores[target]
        return (
            torch.tensor([sum(bool(row_scores[i] > t) for i in others)]),
            torch.tensor([sum(bool(row_scores[i] == t) for i in others)]),
        )

    for row, (board, target) in enumerate(zip(boards.tolist(), targets.tolist(), strict=True)):
        g, t = counts(board_scores[row][candidates[row]], 0, set())
        out["sampled"].append(hit_rate(g, t, k))
        g, t = counts(board_scores[row], target, seen[row] - held[board])
        out["full_hit"].append(hit_rate(g, t, k_full))
        out["full_gain"].append(ndcg(g, t, k_full))
        if latest[row] < 0:
            out["item"].append(torch.tensor([float("nan")]))
            out["latest"].append(torch.tensor([float("nan")]))
            continue
        g, t = counts(pin_scores[row], target, {int(latest[row])} - held[board])
        out["item"].append(hit_rate(g, t, k))
        g, t = counts(pin_scores[row], target, seen[row] - held[board])
        out["latest"].append(hit_rate(g, t, k))
    values = {name: torch.cat(v) for name, v in out.items()}
    # full ranking: a board's recall and NDCG, repeated on each of its pairs
    per_board = {}
    for b in held:
        mine = boards == b
        n = int(mine.sum())
        per_board[b] = (
            values["full_hit"][mine].sum() / n,
            values["full_gain"][mine].sum() / ideal_dcg(torch.tensor([n]), k_full)[0],
        )
    return {
        f"sampled/hr@{k}": values["sampled"],
        f"item_to_item/hit@{k}": values["item"],
        f"latest_pin/hits@{k}": values["latest"],
        f"full_ranking/recall@{k_full}": torch.stack([per_board[b][0] for b in boards.tolist()]),
        f"full_ranking/ndcg@{k_full}": torch.stack([per_board[b][1] for b in boards.tolist()]),
    }


@pytest.mark.parametrize("seed", range(5))
def test_per_board_scoring_equals_the_per_pair_definition_with_ties(seed):
    # 40 pins, 7 boards, several held-out pins per board, scores on a coarse grid (ties),
    # one board with no known pin (no query for the item protocols)
    g = torch.Generator().manual_seed(seed)
    num_pins, num_boards = 40, 7
    board_scores = torch.randint(0, 5, (num_boards, num_pins), generator=g).float()
    pin_scores = torch.randint(0, 5, (num_pins, num_pins), generator=g).float()
    scorer = FixedScorer(pin_scores, board_scores)
    saved = [torch.randperm(num_pins, generator=g)[: int(n)] for n in [0, 3, 5, 1, 8, 2, 4]]
    boards = torch.randint(0, num_boards, (30,), generator=g)
    targets = torch.randint(0, num_pins, (30,), generator=g)
    targets[0] = saved[4][0]  # a held-out pin the board also saved before: never masked
    boards[0] = 4
    history = History(
        rows=torch.cat([torch.full((len(saved[b]),), r) for r, b in enumerate(boards.tolist())]),
        pins=torch.cat([saved[b] for b in boards.tolist()]),
        age=torch.cat([torch.arange(len(saved[b]) - 1, -1, -1) for b in boards.tolist()]),
        boards=boards,
    )
    candidates = torch.cat([targets[:, None], torch.randint(0, num_pins, (30, 6), generator=g)], 1)
    got = evaluate_batch(scorer, boards, targets, history, candidates=candidates, k=3, k_full=5)
    expected = per_pair_reference(scorer, boards, targets, history, candidates, 3, 5)
    for name, values in expected.items():
        torch.testing.assert_close(got[name], values.float(), equal_nan=True, msg=name)


def test_evaluate_each_is_evaluate_of_each_scorer(two_boards_graph):
    graph = two_boards_graph
    pin_scores = torch.rand(
        graph.num_pins, graph.num_pins, generator=torch.Generator().manual_seed(1)
    )
    useful, pairs = perfect_for_x_useless_for_y(two_boards_graph)
    noisy, _ = perfect_for_x_useless_for_y(graph, pin_scores)
    histories = BoardHistories(two_boards_graph)
    each = evaluate_each({"a": useful, "b": noisy}, histories, pairs, batch_size=1, k_full=2)
    assert each == {
        "a": evaluate(useful, histories, pairs, k_full=2),
        "b": evaluate(noisy, histories, pairs, k_full=2),
    }
