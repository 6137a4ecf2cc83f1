import math

import dgl
import pandas as pd
import pytest
import torch

from datamodules import SyntheticDataModule, base
from pinsage_dgl import build_graph
from pinsage_dgl.sampling import (
    BoardCollator,
    HalvesCollator,
    HardNegativeSampler,
    ImportanceSampler,
    Negatives,
    Neighborhood,
    PairCollator,
    Task,
    pairs,
    trainable_edges,
)


def small_module() -> SyntheticDataModule:
    return SyntheticDataModule(
        num_pins=300, num_boards=120, num_topics=4, subtopics=2, batch_size=32
    )


def test_pairs_are_co_saved_and_blocks_compute_the_seeds():
    dm = small_module()
    train = dm.split.train
    sampler = ImportanceSampler(train, 2, Neighborhood(num_neighbors=5, num_walks=10, table=False))
    batch = PairCollator(sampler, Negatives(num_random=3, shared=False))(
        trainable_edges(train)[:40]
    )
    blocks, b = batch.blocks, len(batch.query)
    assert b > 30 and batch.negatives.shape == (b, 3)
    assert batch.hard_negatives.shape == (b, 0)
    assert len(blocks) == 2
    # block k's destinations are block k+1's sources; the last block's are the seeds
    assert torch.equal(blocks[0].dstdata[dgl.NID], blocks[1].srcdata[dgl.NID])
    seeds = blocks[1].dstdata[dgl.NID]
    q, p = seeds[batch.query], seeds[batch.positive]
    assert (q != p).all()
    boards_of = lambda pin: set(train.graph.successors(pin, etype="saved_to").tolist())  # noqa: E731
    assert all(boards_of(a) & boards_of(c) for a, c in zip(q.tolist(), p.tolist(), strict=True))
    assert batch.inputs["text"].shape[0] == blocks[0].num_src_nodes()


def test_shared_pool_and_hard_negatives_in_a_batch():
    dm = small_module()
    train = dm.split.train
    hard = HardNegativeSampler(train, Negatives(num_hard=2, hard_walks=100))
    sampler = ImportanceSampler(train, 1, Neighborhood(num_neighbors=5, num_walks=10, table=False))
    batch = PairCollator(sampler, Negatives(num_random=50), hard_negatives=hard)(
        trainable_edges(train)[:20]
    )
    b = len(batch.query)
    assert batch.negatives.shape == (50,)  # one pool for the whole batch
    assert batch.hard_negatives.shape == (b, 2)
    seeds = batch.blocks[0].dstdata[dgl.NID]
    assert (seeds[batch.hard_negatives] != seeds[batch.positive].unsqueeze(1)).all()


def test_board_batch_queries_from_other_pins_of_the_board():
    dm = small_module()
    train = dm.split.train
    sampler = ImportanceSampler(train, 1, Neighborhood(num_neighbors=5, num_walks=10, table=False))
    hard = HardNegativeSampler(train, Negatives(num_hard=1, hard_walks=100))
    edges = trainable_edges(train)[:30]
    batch = BoardCollator(
        sampler, Negatives(num_random=20), hard, Task(max_history=8, history="random")
    )(edges)
    nodes = batch.blocks[-1].dstdata[dgl.NID]
    pins, boards = train.graph.edges(etype="saved_to")
    assert batch.negatives.shape == (20,) and batch.hard_negatives.shape == (30, 1)
    assert torch.equal(nodes[batch.positive], pins[edges])
    history_pins = nodes[batch.history.pins]
    assert len(history_pins) <= 30 * 8 and len(history_pins) > 0
    for row, pin in zip(batch.history.rows.tolist(), history_pins.tolist(), strict=True):
        board = boards[edges[row]]
        assert pin in train.graph.successors(board, etype="contains").tolist()
        assert pin != pins[edges[row]].item()  # never the pin to predict
    with pytest.raises(ValueError, match="max_history must be >= 1, got 0"):
        Task(max_history=0)


def test_full_graph_batches_carry_pin_ids_and_softmax_inputs():
    dm = small_module()
    train = dm.split.train
    sampler = ImportanceSampler(train, 2, Neighborhood(num_neighbors=5, num_walks=10, table=True))
    edges = trainable_edges(train)[:40]
    torch.manual_seed(3)
    kw = {"negatives": Negatives(num_random=50), "task": Task(max_history=4, history="random")}
    full = BoardCollator(sampler, **kw, full_graph=True)(edges)
    torch.manual_seed(3)
    blocks = BoardCollator(sampler, **kw)(edges)
    assert not full.on_blocks and blocks.on_blocks and full.seeds() is None
    seeds = blocks.seeds()
    assert torch.equal(seeds, blocks.blocks[-1].dstdata[dgl.NID])
    # the same draws: block positions map to the full-graph batch's pin ids
    assert torch.equal(seeds[blocks.history.pins], full.history.pins)
    assert torch.equal(blocks.history.rows, full.history.rows)
    assert torch.equal(blocks.history.boards, full.boards)
    for key in ("positive", "negatives", "hard_negatives"):
        assert torch.equal(seeds[getattr(blocks, key)], getattr(full, key))
    # mask: every pin the row's board holds (blocks: those among the batch's pins)
    boards = train.graph.edges(etype="saved_to")[1][edges]
    expected = {
        (row, pin)
        for row in range(len(boards))
        for pin in train.graph.successors(boards[row], etype="contains").tolist()
    }
    assert set(map(tuple, full.mask.T.tolist())) == expected
    in_batch = {(r, p) for r, p in expected if p in set(seeds.tolist())}
    rows, pins = blocks.mask[0].tolist(), seeds[blocks.mask[1]].tolist()
    block_mask = set(zip(rows, pins, strict=True))
    assert block_mask == in_batch
    # log Q: uniform pool N/P; in-batch B × the pin's share of trainable edges
    assert full.negative_log_q.item() == pytest.approx(math.log(50 / train.num_pins))
    pin = full.positive[0]
    share = (train.graph.edges(etype="saved_to")[0][trainable_edges(train)] == pin).float().mean()
    assert full.positive_log_q[0].item() == pytest.approx(math.log(40 * share.item()), rel=1e-5)
    # ages: 0 is the board's latest pin by timestamp
    ts = train.graph.edges["saved_to"].data["timestamp"]
    pins_of = train.graph.edges(etype="saved_to")
    row = full.history.rows[0]
    on_board = pins_of[1] == boards[row]
    order = pins_of[0][on_board][torch.argsort(ts[on_board], stable=True)].flip(0).tolist()
    assert order.index(full.history.pins[0].item()) == full.history.age[0].item()


def test_full_graph_needs_a_neighbour_table():
    dm = small_module()
    sampler = ImportanceSampler(
        dm.split.train, 2, Neighborhood(num_neighbors=5, num_walks=10, table=False)
    )
    with pytest.raises(ValueError, match="neighbour table"):
        PairCollator(sampler, full_graph=True)


def test_earlier_history_is_what_the_board_held_before_the_positive(tiny_table):
    # b1 saved a, b, c at times 1, 2, 3; b2 saved a, b, d
    graph = build_graph(tiny_table, timestamp_col="ts")
    sampler = ImportanceSampler(graph, 1, Neighborhood(num_neighbors=2, num_walks=4, table=True))
    collate = BoardCollator(
        sampler, Negatives(num_random=2), task=Task(max_history=5, history="earlier")
    )
    batch = collate(torch.arange(graph.graph.num_edges("saved_to")))
    named = lambda pins: [graph.pin_ids[p] for p in pins]  # noqa: E731
    # first saves (a on each board) have no history and are skipped: 4 rows remain
    assert len(batch.positive) == 4
    for row, positive in enumerate(named(batch.positive.tolist())):
        on_row = batch.history.rows == row
        history = named(batch.history.pins[on_row].tolist())
        ages = batch.history.age[on_row].tolist()
        expected = {"b": ["a"], "c": ["b", "a"], "d": ["b", "a"]}[positive]
        assert history == expected and ages == list(range(len(expected)))
    with pytest.raises(ValueError, match="history must be one of"):
        Task(history="future")


def test_pins_saved_together_share_an_age_in_the_board_task():
    # b1 saved a, then b and c at once, then d
    table = pd.DataFrame({"pin": list("abcd"), "board": ["b1"] * 4, "ts": [1, 2, 2, 3]})
    graph = build_graph(table, timestamp_col="ts")
    sampler = ImportanceSampler(graph, 1, Neighborhood(num_neighbors=2, num_walks=4, table=True))
    named = lambda pins: [graph.pin_ids[p] for p in pins]  # noqa: E731
    edges = torch.arange(4)
    earlier = BoardCollator(
        sampler, Negatives(num_random=2), task=Task(max_history=5, history="earlier")
    )(edges)
    ages = {}
    for row, positive in enumerate(named(earlier.positive.tolist())):
        on_row = earlier.history.rows == row
        pins = named(earlier.history.pins[on_row].tolist())
        ages[positive] = list(zip(pins, earlier.history.age[on_row].tolist(), strict=True))
    # strictly later saves among those before the positive: b and c tie
    assert ages == {
        "b": [("a", 0)],
        "c": [("b", 0), ("a", 1)],
        "d": [("c", 0), ("b", 0), ("a", 2)],
    }
    randomly = BoardCollator(sampler, Negatives(num_random=2), task=Task(max_history=50))(edges)
    expected_age = {"a": 3, "b": 1, "c": 1, "d": 0}  # saves strictly later on b1
    drawn = named(randomly.history.pins.tolist())
    assert randomly.history.age.tolist() == [expected_age[p] for p in drawn]


def test_earlier_history_needs_timestamps():
    table = pd.DataFrame({"pin": list("abc"), "board": ["b1"] * 3, "ts": [0, 0, 0]})
    graph = build_graph(table, timestamp_col="ts")
    sampler = ImportanceSampler(graph, 1, Neighborhood(num_neighbors=2, num_walks=4, table=True))
    with pytest.raises(ValueError, match="every save of the training graph has timestamp 0"):
        BoardCollator(sampler, task=Task(history="earlier"))
    BoardCollator(sampler, task=Task(history="random"))  # the default is fine


def test_the_datamodule_builds_one_collator_for_its_probe_and_its_loader(monkeypatch):
    # the collator's per-save arrays are the bulk of training memory: built once
    built = []
    original = Task.collator

    def counting(self, *args, **kwargs):
        built.append(original(self, *args, **kwargs))
        return built[-1]

    monkeypatch.setattr(Task, "collator", counting)
    walks = []  # ... and the trainable edges once, by that collator

    def counted(graph):
        walks.append(graph)
        return trainable_edges(graph)

    for module in (pairs, base):  # wherever it may be called from
        monkeypatch.setattr(module, "trainable_edges", counted, raising=False)
    dm = small_module()
    dm.setup("fit")
    full_graph = dm.full_graph  # the first-batch probe: blocks
    loader = dm.train_dataloader()
    assert len(built) == 1 and walks == [dm.split.train]
    assert torch.equal(built[0].trainable_edges, trainable_edges(dm.split.train))
    assert loader.collate_fn.collate is built[0]
    assert built[0].full_graph == full_graph
    assert next(iter(loader)).on_blocks != full_graph  # the probe left it as measured
    dm.train_dataloader()
    assert len(built) == 1
    # a new sampler is a new training graph: its own collator
    dm.use_sampler(ImportanceSampler(dm.split.train, 2, Neighborhood(num_neighbors=5)))
    dm.train_dataloader()
    assert len(built) == 2


def test_a_collator_refuses_full_graph_without_a_table():
    sampler = ImportanceSampler(
        small_module().split.train, 2, Neighborhood(num_neighbors=5, table=False)
    )
    collate = PairCollator(sampler)
    with pytest.raises(ValueError, match="full_graph training needs the sampler's neighbour"):
        collate.full_graph = True
    with pytest.raises(ValueError, match="full_graph training needs the sampler's neighbour"):
        PairCollator(sampler, full_graph=True)


def test_halves_split_each_board_and_score_each_half_against_the_other(tiny_table):
    graph = build_graph(tiny_table, timestamp_col="ts")
    sampler = ImportanceSampler(graph, 1, Neighborhood(num_neighbors=2, num_walks=4, table=True))
    task = Task(kind="halves", max_history=50)
    collate = task.collator(sampler, Negatives(num_random=3), full_graph=True)
    assert isinstance(collate, HalvesCollator)
    boards = collate.trainable_edges  # the loader batches boards: both hold >= 2 pins
    assert boards.tolist() == list(range(graph.num_boards))
    torch.manual_seed(0)
    batch = collate(boards)
    board_pins = {
        b: sorted(graph.graph.successors(b, etype="contains").tolist())
        for b in range(graph.num_boards)
    }
    assert len(batch) == 2 * graph.num_boards and batch.boards.tolist() == [0, 0, 1, 1]
    rows = batch.positive_rows
    assert torch.equal(rows, torch.sort(rows).values)
    for board in range(graph.num_boards):
        first, second = (
            sorted(batch.positive[rows == r].tolist()) for r in (2 * board, 2 * board + 1)
        )
        # the two halves split the board's pins: ceil(n/2) pins, then the rest
        assert sorted(first + second) == board_pins[board] and not set(first) & set(second)
        assert len(second) == (len(board_pins[board]) + 1) // 2  # row 2b+1 predicts half 1
        # a half's query is its own pins (all: max_history 50), its positives the other's
        for row, own in ((2 * board, second), (2 * board + 1, first)):
            assert sorted(batch.history.pins[batch.history.rows == row].tolist()) == own
    assert batch.negatives.shape == (3,) and batch.hard_negatives.shape == (4, 0)
    # log Q of each positive as an in-batch draw: 4 rows × its share of trainable saves
    share = {0: 2 / 6, 1: 2 / 6, 2: 1 / 6, 3: 1 / 6}  # a and b are on both boards
    expected = [math.log(4 * share[p]) for p in batch.positive.tolist()]
    assert batch.positive_log_q.tolist() == pytest.approx(expected, rel=1e-6)


def test_halves_visit_every_save_once_an_epoch_and_cap_the_query():
    dm = small_module()
    train = dm.split.train
    sampler = ImportanceSampler(train, 2, Neighborhood(num_neighbors=5, num_walks=10, table=True))
    collate = HalvesCollator(sampler, Negatives(num_random=10), task=Task("halves", max_history=3))
    boards = collate.trainable_edges
    torch.manual_seed(1)
    seen = []
    for part in torch.split(boards, 17):
        batch = collate(part)
        seeds = batch.seeds()
        pins = seeds[batch.positive]
        row_boards = batch.boards[batch.positive_rows]
        seen += list(zip(row_boards.tolist(), pins.tolist(), strict=True))
        counts = torch.bincount(batch.history.rows, minlength=len(batch))
        assert int(counts.max()) <= 3 and int(counts.min()) >= 1
    saved_pins, saved_boards = train.graph.edges(etype="saved_to")
    holds = torch.bincount(saved_boards, minlength=train.num_boards) >= 2
    expected = sorted(
        (b, p) for p, b in zip(saved_pins.tolist(), saved_boards.tolist(), strict=True) if holds[b]
    )
    assert sorted(seen) == expected  # every save of a splittable board, exactly once


def test_halves_refuse_what_they_cannot_train():
    dm = small_module()
    sampler = ImportanceSampler(
        dm.split.train, 1, Neighborhood(num_neighbors=5, num_walks=10, table=True)
    )
    with pytest.raises(ValueError, match=r"halves.*num_hard to 0"):
        HalvesCollator(sampler, Negatives(num_hard=2), task=Task(kind="halves"))
    with pytest.raises(ValueError, match="halves' splits each board at random"):
        Task(kind="halves", history="earlier")
