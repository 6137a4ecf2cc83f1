import pytest
import torch

from datamodules import SyntheticDataModule
from pinsage_dgl.sampling import (
    ImportanceSampler,
    Negatives,
    Neighborhood,
    PairCollator,
    ResumableLoader,
    TrainingBatches,
    trainable_edges,
)
from pinsage_dgl.sampling.walks import random_walk
from tests.conftest import bipartite


def draws(edge_ids: torch.Tensor) -> dict:
    """A collate function drawing from torch's global stream, as the samplers' walks do."""
    graph = bipartite([(0, 0), (1, 0), (1, 1), (2, 1)])
    starts = torch.zeros(4, dtype=torch.int64)
    walks = random_walk(graph, starts, metapath=["saved_to", "contains"] * 3)
    return {"edges": edge_ids, "noise": torch.rand(3), "walks": walks}


def keys(batches: TrainingBatches) -> list[tuple[int, int, list[int]]]:
    return [(k.epoch, k.index, k.edge_ids.tolist()) for k in batches]


def test_an_epoch_is_a_seeded_permutation_cut_into_batches():
    batches = TrainingBatches(torch.arange(10, 20), batch_size=3, seed=5)
    first = keys(batches)
    assert [k[:2] for k in first] == [(0, 0), (0, 1), (0, 2), (0, 3)]
    assert [len(k[2]) for k in first] == [3, 3, 3, 1]
    assert sorted(e for k in first for e in k[2]) == list(range(10, 20))
    assert keys(TrainingBatches(torch.arange(10, 20), 3, seed=5)) == first  # the seed decides
    batches.set_epoch(1)
    second = keys(batches)
    assert [k[2] for k in second] != [k[2] for k in first]  # a new order each epoch
    assert sorted(e for k in second for e in k[2]) == list(range(10, 20))
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        TrainingBatches(torch.arange(3), batch_size=0)


def test_ranks_take_disjoint_batches_as_many_each():
    ranks = [TrainingBatches(torch.arange(10), 2, seed=1, num_replicas=2, rank=r) for r in (0, 1)]
    taken = [[k[1] for k in keys(b)] for b in ranks]
    # five batches: rank 0 takes 0, 2, 4; rank 1 takes 1, 3 and wraps around to 0
    assert taken == [[0, 2, 4], [1, 3, 0]] and len(ranks[0]) == len(ranks[1]) == 3
    whole = dict((k[1], k[2]) for k in keys(TrainingBatches(torch.arange(10), 2, seed=1)))
    assert all(whole[k[1]] == k[2] for b in ranks for k in keys(b))  # one order for all


@pytest.mark.parametrize("num_workers", [0, 2])
def test_a_resumed_loader_draws_the_rest_of_the_epoch_as_the_uninterrupted_one(num_workers):
    def loader() -> ResumableLoader:
        return ResumableLoader(TrainingBatches(torch.arange(20), 4, seed=3), draws, num_workers)

    whole = loader()
    epoch0 = list(whole)
    whole.batches.set_epoch(1)
    epoch1 = list(whole)
    assert whole.state_dict() == {"epoch": 1, "position": 5}

    interrupted = loader()
    iterator = iter(interrupted)
    seen = [next(iterator), next(iterator)]
    state = interrupted.state_dict()
    assert state == {"epoch": 0, "position": 2}
    resumed = loader()  # a new process: nothing but the state carries over
    resumed.load_state_dict(state)
    rest = list(resumed)
    assert len(rest) == 3 and resumed.state_dict() == {"epoch": 0, "position": 5}
    resumed.batches.set_epoch(1)
    after = list(resumed)
    for got, expected in zip(seen + rest + after, epoch0 + epoch1, strict=True):
        assert all(torch.equal(got[k], expected[k]) for k in expected)
    # the batches' draws differ from one another (each has its own stream)
    assert not torch.equal(epoch0[0]["noise"], epoch0[1]["noise"])
    with pytest.raises(ValueError, match="cannot resume at batch 9: this rank's epoch has 5"):
        loader().load_state_dict({"epoch": 0, "position": 9})


def test_training_batches_are_the_same_with_and_without_workers():
    train = SyntheticDataModule(num_pins=300, num_boards=120, num_topics=4).split.train
    sampler = ImportanceSampler(train, 1, Neighborhood(num_neighbors=3, num_walks=4, table=False))
    collate = PairCollator(sampler, Negatives(num_random=5, shared=False))
    edges = trainable_edges(train)[:200]
    alone = list(ResumableLoader(TrainingBatches(edges, 64, seed=2), collate))
    pooled = list(ResumableLoader(TrainingBatches(edges, 64, seed=2), collate, num_workers=2))
    runs = [alone, pooled]
    for alone, pooled in zip(*runs, strict=True):
        ids = alone.seeds(), pooled.seeds()
        for key in ("positive", "negatives", "query"):
            assert torch.equal(ids[0][getattr(alone, key)], ids[1][getattr(pooled, key)])
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    list(ResumableLoader(TrainingBatches(edges, 64, seed=2), collate))
    assert torch.equal(torch.rand(1), before)  # the caller's own stream is left as it was


def test_int32_edge_ids_give_the_batches_of_int64_ones():
    # the epoch's permutation is drawn in the ids' type (half the memory at 300M saves)
    wide = TrainingBatches(torch.arange(1000, 3000), batch_size=64, seed=7)
    narrow = TrainingBatches(torch.arange(1000, 3000, dtype=torch.int32), batch_size=64, seed=7)
    assert keys(narrow) == keys(wide)
    assert {k.edge_ids.dtype for k in narrow} == {torch.int32}
    # each batch owns its ids (a view would take the epoch's order along to a worker)
    first = next(iter(narrow))
    assert first.edge_ids.untyped_storage().nbytes() == 64 * 4
