import math

import pandas as pd
import pytest
import torch

from pinsage_dgl.evaluation import (
    BoardHistories,
    EmbeddingScorer,
    History,
    board_batches,
    evaluate,
    evaluate_batch,
    evaluate_boards,
    evaluate_each,
)
from pinsage_dgl.graph import build_graph
from pinsage_dgl.metrics import hit_rate, ideal_dcg, ndcg


@pytest.fixture
def graph():
    # board x saves p0, p1, p2 in time order (rows shuffled); board y saves p3 then p1
    table = pd.DataFrame(
        {
            "pin": [2, 0, 1, 1, 3],
            "board": ["x", "x", "x", "y", "y"],
            "ts": [30, 10, 20, 50, 40],
        }
    )
    return build_graph(table, timestamp_col="ts", extra_pins=[4, 5])


def test_histories_are_time_ordered_and_known_pins_come_last(graph):
    x, y = graph.board_index(["x", "y"]).tolist()
    known = torch.tensor([[y, int(graph.pin_index([4])[0])]])
    history = BoardHistories(graph, known)(torch.tensor([x, y]))
    ids = graph.pin_ids[history.pins.numpy()].tolist()
    assert list(zip(history.rows.tolist(), ids, history.age.tolist(), strict=True)) == [
        (0, 0, 2), (0, 1, 1), (0, 2, 0), (1, 3, 2), (1, 1, 1), (1, 4, 0),
    ]  # fmt: skip
    assert graph.pin_ids[history.latest().numpy()].tolist() == [2, 4]


def test_pins_saved_at_one_time_share_an_age():
    # board x saves p0, then p1 and p2 at once, then p3; board y has no timestamps
    table = pd.DataFrame(
        {"pin": [0, 1, 2, 3, 4, 5], "board": ["x"] * 4 + ["y"] * 2, "ts": [10, 20, 20, 30, 0, 0]}
    )
    graph = build_graph(table, timestamp_col="ts")
    history = BoardHistories(graph)(graph.board_index(["x", "y"]))
    ids = graph.pin_ids[history.pins.numpy()].tolist()
    assert list(zip(ids, history.age.tolist(), strict=True)) == [
        (0, 3), (1, 1), (2, 1), (3, 0), (4, 0), (5, 0),
    ]  # fmt: skip
    # the latest pin is the last in order (file order breaks ties)
    assert graph.pin_ids[history.latest().numpy()].tolist() == [3, 5]


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


def test_evaluate_averages_full_ranking_over_boards(graph):
    scorer, pairs = perfect_for_x_useless_for_y(graph)
    result = evaluate(scorer, BoardHistories(graph), pairs, ["full_ranking"], k_full=2)
    # x: recall 1; y: p5 ties p2, p4 behind p0, unseen pins p0 (1.0), p2, p4, p5 (0):
    # p5 lands 2nd..4th, in the top 2 with probability 1/3
    assert result["full_ranking/recall@2"] == pytest.approx((1.0 + 1 / 3) / 2)
    with pytest.raises(ValueError, match="unknown protocols"):
        evaluate(scorer, BoardHistories(graph), pairs, ["top_secret"])


def test_evaluate_boards_keeps_each_boards_values_and_their_mean_is_evaluate(graph):
    pin_scores = torch.rand(
        graph.num_pins, graph.num_pins, generator=torch.Generator().manual_seed(0)
    )
    scorer, pairs = perfect_for_x_useless_for_y(graph, pin_scores)
    x, y = graph.board_index(["x", "y"]).tolist()
    histories = BoardHistories(graph)
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


def test_board_batches_keep_each_boards_pins_together():
    # board 0 holds 1 held-out pin, board 1 holds 4, board 2 holds 2 (pairs interleaved)
    pairs = torch.tensor([[1, 10], [0, 11], [2, 12], [1, 13], [1, 14], [2, 15], [1, 16]])
    batches = board_batches(pairs, batch_size=3)
    boards = [pairs[b, 0].tolist() for b in batches]
    # cut at the first board boundary at or after 3 pairs: board 1 is not split
    assert boards == [[0, 1, 1, 1, 1], [2, 2]]
    assert sorted(torch.cat(batches).tolist()) == list(range(len(pairs)))
    assert [pairs[b, 0].tolist() for b in board_batches(pairs, 100)] == [[0, 1, 1, 1, 1, 2, 2]]
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        board_batches(pairs, 0)


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


def test_evaluate_each_is_evaluate_of_each_scorer(graph):
    pin_scores = torch.rand(
        graph.num_pins, graph.num_pins, generator=torch.Generator().manual_seed(1)
    )
    useful, pairs = perfect_for_x_useless_for_y(graph)
    noisy, _ = perfect_for_x_useless_for_y(graph, pin_scores)
    histories = BoardHistories(graph)
    each = evaluate_each({"a": useful, "b": noisy}, histories, pairs, batch_size=1, k_full=2)
    assert each == {
        "a": evaluate(useful, histories, pairs, k_full=2),
        "b": evaluate(noisy, histories, pairs, k_full=2),
    }


def test_a_walk_weight_needs_a_term_of_the_same_pins():
    _, walk, embeddings, _ = walk_case()
    with pytest.raises(ValueError, match="walk_weight"):
        EmbeddingScorer(embeddings, "mean", walk_weight=1.0)
    with pytest.raises(ValueError, match="walk_weight"):
        EmbeddingScorer(embeddings, "mean", walk=walk, walk_weight=-1.0)
    with pytest.raises(ValueError, match="4 pins for 3 embeddings"):
        EmbeddingScorer(embeddings[:3], "mean", walk=walk, walk_weight=1.0)
