import dgl
import pytest
import torch

from datamodules import SyntheticDataModule
from pinsage_dgl.graph import SAVED_TO
from pinsage_dgl.sampling import ImportanceSampler, Negatives, Neighborhood, Task, TrainingGraph
from pinsage_dgl.sampling.compare import dgl_pinsage_neighbors, top_t_overlap


@pytest.fixture(scope="module")
def train():
    return SyntheticDataModule(num_pins=1000, num_boards=400, num_topics=5).split.train


def test_table_sampler_indexes_its_table_and_refreshes_in_place(train):
    sampler = ImportanceSampler(
        train, neighborhood=Neighborhood(num_neighbors=5, num_walks=20, table=True), chunk_size=300
    )
    neighbors, weights = sampler.table
    assert neighbors.shape == (train.num_pins, 5) and neighbors.is_shared()
    assert neighbors.dtype == torch.int32  # pin ids fit: half the memory of int64
    pins = torch.tensor([3, 1, 3])
    got = sampler.neighbors(pins)
    assert torch.equal(got[0], neighbors[pins]) and torch.equal(got[1], weights[pins])
    before = neighbors.clone()
    torch.manual_seed(123)  # an unseeded sampler walks from torch's global stream
    sampler.refresh()
    assert sampler.table[0].data_ptr() == neighbors.data_ptr()  # same storage: workers see it
    assert not torch.equal(before, neighbors)  # fresh walks (20 per pin) change some rows
    blocks = sampler.sample_blocks(torch.tensor([0, 7]))
    assert blocks[-1].dstdata[dgl.NID].tolist() == [0, 7]


def test_a_walked_table_releases_the_walk_arrays_and_a_refresh_rebuilds_them(train):
    from pinsage_dgl.sampling.walks import WalkGraph

    walk_graph = WalkGraph.of(train.graph)
    neighborhood = Neighborhood(num_neighbors=5, num_walks=20)
    sampler = ImportanceSampler(train, neighborhood=neighborhood, seed=3)
    assert sampler.walk_graph is walk_graph and walk_graph._steps == {}  # nothing kept
    sampler.refresh()
    assert walk_graph._steps == {}
    # rebuilt for the refresh: the same table as a sampler walking that refresh afresh
    again = ImportanceSampler(train, neighborhood=neighborhood, seed=3)
    again.refresh()
    assert torch.equal(sampler.table[0], again.table[0])
    # fresh walks per minibatch keep them: they walk at every batch
    ImportanceSampler(train, neighborhood=Neighborhood(num_neighbors=5, table=False)).neighbors(
        torch.tensor([0])
    )
    assert walk_graph._steps != {}


def test_table_walking_and_dgl_give_the_same_top_t_in_distribution(train):
    # near-ties in visit counts around rank T make any two runs differ a little; DGL's top T
    # must agree with ours as well as two independent runs of ours agree with each other
    settings = {"num_neighbors": 10, "num_walks": 2000, "walk_length": 2}
    seeds = torch.arange(0, train.num_pins, 25)
    table = ImportanceSampler(train, 2, Neighborhood(table=True, **settings)).neighbors(seeds)[0]
    walking = ImportanceSampler(train, 2, Neighborhood(table=False, **settings)).neighbors(seeds)
    walking = walking[0]
    theirs = dgl_pinsage_neighbors(train.graph, seeds, 10, 2000, 2)
    ours_vs_ours = top_t_overlap(table, [set(r[r >= 0].tolist()) for r in walking])
    ours_vs_dgl = top_t_overlap(table, theirs)
    assert ours_vs_ours > 0.7 and ours_vs_dgl > 0.7
    assert abs(ours_vs_dgl - ours_vs_ours) < 0.08
    assert abs(top_t_overlap(walking, theirs) - ours_vs_ours) < 0.08


@pytest.mark.parametrize("table", [True, False])
def test_seeded_tables_differ_per_refresh_and_repeat_per_refresh_count(train, table):
    settings = {"neighborhood": Neighborhood(num_neighbors=5, num_walks=3, table=table), "seed": 7}
    sampler = ImportanceSampler(train, **settings)
    tables = [sampler.neighbor_table()[0].clone()]
    assert sampler.neighbor_table()[0].data_ptr() == sampler.neighbor_table()[0].data_ptr()
    for _ in range(2):
        torch.manual_seed(0)  # whatever the global stream holds, (seed, count) decides
        sampler.refresh()
        tables.append(sampler.neighbor_table()[0].clone())
    assert sampler.refreshes == 2
    assert not torch.equal(tables[0], tables[1]) and not torch.equal(tables[1], tables[2])
    again = ImportanceSampler(train, **settings)
    for count, expected in enumerate(tables):
        assert again.refreshes == count and torch.equal(again.neighbor_table()[0], expected)
        again.refresh()


def test_training_graph_is_the_one_seam_to_the_samplers(train):
    sampler = ImportanceSampler(
        train, neighborhood=Neighborhood(num_neighbors=5, num_walks=3, table=True), seed=1
    )
    training = TrainingGraph(train, sampler, Negatives(hard_walks=10))
    features, neighbors, weights = training.inference_inputs()
    assert all(torch.equal(features[k], v) for k, v in train.pin_features.items())
    assert neighbors is sampler.table[0] and weights is sampler.table[1]
    before = neighbors.clone()
    training.refresh_neighbors()
    assert sampler.refreshes == 1 and not torch.equal(before, training.inference_inputs()[1])
    training.hard_negatives_per_query = 3
    assert training.hard_negatives.num_per_query == 3 == training.hard_negatives_per_query
    saves = training.pin_saves()
    assert saves.sum() == train.graph.num_edges(etype=SAVED_TO) and saves.shape == (train.num_pins,)
    other = SyntheticDataModule(num_pins=50, num_boards=20, num_topics=2).split.train
    message = f"graph of {other.num_pins} pins, the training graph has {train.num_pins}"
    with pytest.raises(ValueError, match=message):
        TrainingGraph(
            train,
            ImportanceSampler(
                other, neighborhood=Neighborhood(num_neighbors=2, num_walks=2, table=False)
            ),
        )


def test_the_sampler_and_the_datamodules_share_one_set_of_neighbourhood_defaults(train):
    default = Neighborhood()
    assert ImportanceSampler(train, num_layers=0).neighborhood == default
    assert SyntheticDataModule(num_pins=50, num_boards=20).neighborhood == default
    with pytest.raises(TypeError, match="must be a Neighborhood, got dict"):
        ImportanceSampler(train, 1, {"num_walks": 3})


def test_negatives_and_task_have_one_set_of_defaults_from_datamodule_to_collator(train):
    dm = SyntheticDataModule(num_pins=50, num_boards=20)
    assert dm.negatives == Negatives() and dm.task == Task()
    sampler = ImportanceSampler(train, 1, Neighborhood(num_neighbors=2, num_walks=2))
    collate = Task().collator(sampler, Negatives())
    assert type(collate).__name__ == "BoardCollator" and collate.max_history == 50
    assert collate.num_negatives == Negatives().num_random and collate.shared_negatives
    assert type(Task(kind="pairs").collator(sampler, Negatives())).__name__ == "PairCollator"
    hard = TrainingGraph(train, sampler).hard_negatives
    assert hard.num_per_query == 0 and hard.walks["num_walks"] == Negatives().hard_walks
    # a YAML list is the tuple the band declares
    assert Negatives(hard_band=[10, 20]).hard_band == (10, 20)
    for name, wrong in (("task", "pairs"), ("negatives", {"num_random": 5})):
        with pytest.raises(TypeError, match=f"{name} must be a"):
            SyntheticDataModule(**{name: wrong})


def test_the_datamodule_measures_its_training_step_on_the_first_batch():
    from pinsage_dgl.sampling import computed_rows

    settings = {"num_pins": 3000, "num_boards": 1000, "num_topics": 5, "batch_size": 16}
    small = SyntheticDataModule(**settings, negatives=Negatives(num_random=20))
    small.setup("fit")
    blocks = SyntheticDataModule(**settings, negatives=Negatives(num_random=20), full_graph=False)
    blocks.setup("fit")
    first = next(iter(blocks.train_dataloader()))
    # the choice is the rule applied to the loader's own first batch ...
    rows = computed_rows(first.blocks)
    whole = (2 * small.num_layers + 1) * small.split.train.num_pins
    assert small.full_graph == (rows >= small.FULL_GRAPH_SHARE * whole)
    assert not small.full_graph  # 16 boards reach a fraction of 3,000 pins
    # ... measured without changing what training draws
    again = next(iter(small.train_dataloader()))
    assert torch.equal(again.positive, first.positive)
    assert [b.num_edges() for b in again.blocks] == [b.num_edges() for b in first.blocks]
    # a batch that reaches most pins trains on the whole graph; an explicit choice stands
    big = SyntheticDataModule(**{**settings, "batch_size": 1024})
    big.setup("fit")
    assert big.full_graph
    assert not next(iter(big.train_dataloader())).on_blocks
    forced = SyntheticDataModule(**{**settings, "batch_size": 1024}, full_graph=False)
    assert not forced.full_graph
    walking = SyntheticDataModule(**settings, neighborhood=Neighborhood(table=False))
    assert not walking.full_graph  # fresh walks per batch: there is no table to train on


def test_seeded_chunks_are_walked_alike_in_any_order_and_process(train):
    settings = {
        "neighborhood": Neighborhood(num_neighbors=5, num_walks=3, table=True),
        "chunk_size": 64,
        "seed": 3,
    }
    sampler = ImportanceSampler(train, **settings)
    neighbors, weights = sampler.table
    untabled = Neighborhood(num_neighbors=5, num_walks=3, table=False)
    other = ImportanceSampler(train, **{**settings, "neighborhood": untabled})
    assert other.num_chunks == -(-train.num_pins // 64) > 2
    for index in reversed(range(other.num_chunks)):  # backwards, the global stream elsewhere
        torch.manual_seed(index)
        chunk_neighbors, chunk_weights = other.walk_chunk(index)
        rows = slice(index * 64, (index + 1) * 64)
        assert torch.equal(chunk_neighbors, neighbors[rows])
        assert torch.equal(chunk_weights, weights[rows])
    with pytest.raises(IndexError, match=f"chunk {other.num_chunks} of {other.num_chunks}"):
        other.walk_chunk(other.num_chunks)
