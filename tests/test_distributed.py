import pytest
import torch

from datamodules import SyntheticDataModule
from pinsage_dgl.inference import embed_all_pins
from pinsage_dgl.nn import PinSage
from pinsage_dgl.sampling import ImportanceSampler, Neighborhood

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'ray[data]'")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.slow
def test_ray_actor_pool_embeds_exactly_as_one_process(local_ray):
    from pinsage_dgl.distributed import embed_all_pins_ray

    dm = SyntheticDataModule(num_pins=600, num_boards=200, num_topics=4, subtopics=2)
    train = dm.split.train
    nbrs, w = ImportanceSampler(
        train, neighborhood=Neighborhood(num_neighbors=5, num_walks=10, table=False)
    ).neighbor_table()
    model = PinSage(train.pin_spec, hidden_dim=16, out_dim=8, num_layers=2, num_ids=train.num_pins)
    expected = embed_all_pins(model, train.pin_features, nbrs, w, batch_size=128)
    got = embed_all_pins_ray(model, train.pin_features, nbrs, w, batch_size=128, num_actors=2)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=1e-6)
    with pytest.raises(ValueError, match="num_actors"):
        embed_all_pins_ray(model, train.pin_features, nbrs, w, num_actors=0)


def test_partitions_for_distdgl_cover_every_pin_and_edge_once(tmp_path):
    import dgl

    from pinsage_dgl.distributed import partition_for_distdgl

    dm = SyntheticDataModule(num_pins=400, num_boards=150, num_topics=4, subtopics=2)
    graph = dm.graph
    config = partition_for_distdgl(graph, tmp_path / "parts", num_parts=2, method="random")
    assert config.exists()
    owned_pins = owned_edges = 0
    for part in range(2):
        g, node_feats, _, _, _, ntypes, _ = dgl.distributed.load_partition(str(config), part)
        inner = g.ndata["inner_node"].bool()
        owned_pins += int((inner & (g.ndata[dgl.NTYPE] == ntypes.index("pin"))).sum())
        owned_edges += int(g.edata["inner_edge"].sum())
        assert "pin/text" in node_feats  # the pins' features travel with their part
    assert owned_pins == graph.num_pins
    assert owned_edges == 2 * graph.graph.num_edges("saved_to")  # both directions
    with pytest.raises(ValueError, match="num_parts"):
        partition_for_distdgl(graph, tmp_path / "none", num_parts=0)


@pytest.mark.slow
def test_the_sharded_pipeline_embeds_exactly_as_one_process(local_ray, tmp_path):
    # a readout of every layer: the head stage reads the shards of all of them (the
    # default readout, layer K alone, is the path of the in-memory test above)
    import numpy as np

    from pinsage_dgl.distributed import embed_all_pins_sharded
    from pinsage_dgl.shards import ShardedArray

    dm = SyntheticDataModule(num_pins=500, num_boards=180, num_topics=4, subtopics=2)
    train = dm.split.train
    nbrs, w = ImportanceSampler(
        train, neighborhood=Neighborhood(num_neighbors=5, num_walks=10, table=False)
    ).neighbor_table()
    nbrs[3, 2:] = -1  # a pin with fewer neighbours than T
    model = PinSage(
        train.pin_spec, hidden_dim=16, out_dim=8, num_layers=2, layer_combination="concat"
    )
    expected = embed_all_pins(model, train.pin_features, nbrs, w, batch_size=96)

    def shard(name, value):
        return ShardedArray.from_array(tmp_path / "in" / name, value.numpy(), shard_rows=96)

    features = {k: shard(f"feature-{k}", v) for k, v in train.pin_features.items()}
    workers = {}
    out = embed_all_pins_sharded(
        model,
        features,
        shard("neighbors", nbrs),
        shard("weights", w),
        tmp_path / "out",
        workers=workers,
    )
    assert set(workers) == {"h0", "m1", "h1", "m2", "h2", "out"}
    for used in workers.values():
        assert used["peak_gib"] > used["private_gib"] > 0 and used["nodes"] == 1
    assert out.num_shards == -(-train.num_pins // 96) and out.missing() == []
    np.testing.assert_allclose(out.to_array(), expected.numpy(), atol=1e-6)
    # the layers are gone; the embeddings stay
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out"]
    # another model into the same directory: its own embeddings, none of the first's
    other = PinSage(train.pin_spec, hidden_dim=16, out_dim=8, num_layers=1)
    again = embed_all_pins_sharded(
        other, features, shard("neighbors", nbrs), shard("weights", w), tmp_path / "out"
    )
    expected = embed_all_pins(other, train.pin_features, nbrs, w, batch_size=96)
    np.testing.assert_allclose(again.to_array(), expected.numpy(), atol=1e-6)


@pytest.mark.slow
def test_the_sharded_pipeline_refuses_inputs_sharded_differently(local_ray, tmp_path):
    import numpy as np

    from pinsage_dgl.distributed import embed_all_pins_sharded
    from pinsage_dgl.shards import ShardedArray

    dm = SyntheticDataModule(num_pins=200, num_boards=80, num_topics=4, subtopics=2)
    train = dm.split.train
    model = PinSage(train.pin_spec, hidden_dim=8, out_dim=4, num_layers=1)
    table = np.zeros((train.num_pins, 3), dtype=np.int64)
    neighbors = ShardedArray.from_array(tmp_path / "n", table, 64)
    weights = ShardedArray.from_array(tmp_path / "w", table.astype(np.float32), 64)
    features = {
        k: ShardedArray.from_array(tmp_path / f"f-{k}", v.numpy(), 50)
        for k, v in train.pin_features.items()
    }
    with pytest.raises(ValueError, match=r"f-.* in shards of 50, but the neighbour table"):
        embed_all_pins_sharded(model, features, neighbors, weights, tmp_path / "out")


@pytest.mark.slow
def test_sharded_walks_give_the_samplers_table_and_carry_on_after_a_stop(local_ray, tmp_path):
    from pinsage_dgl.distributed import walk_neighbors_sharded

    dm = SyntheticDataModule(num_pins=500, num_boards=180, num_topics=4, subtopics=2)
    train = dm.split.train
    train.save(tmp_path / "graph")
    neighborhood = Neighborhood(num_neighbors=5, num_walks=10)
    sampler = ImportanceSampler(train, 2, neighborhood, chunk_size=128, seed=4)
    sampler.refresh()  # the table of refresh count 1
    neighbors, weights = walk_neighbors_sharded(
        tmp_path / "graph", tmp_path / "table", neighborhood, seed=4, shard_rows=128, refreshes=1
    )
    assert neighbors.num_shards == 4
    # the walkers read the graph's walk arrays, written into its directory by one task
    assert (tmp_path / "graph" / "walks" / "meta.json").exists()
    assert torch.equal(torch.from_numpy(neighbors.to_array()), sampler.table[0])
    assert torch.equal(torch.from_numpy(weights.to_array()), sampler.table[1])
    # a stop part-way: the missing shards are walked again, alike
    neighbors.path(2).unlink()
    weights.path(2).unlink()
    again, _ = walk_neighbors_sharded(
        tmp_path / "graph", tmp_path / "table", neighborhood, seed=4, shard_rows=128, refreshes=1
    )
    assert torch.equal(torch.from_numpy(again.to_array()), sampler.table[0])
    # another seed into the same directory: a new table, no shard of the old one kept
    other, _ = walk_neighbors_sharded(
        tmp_path / "graph", tmp_path / "table", neighborhood, seed=5, shard_rows=128
    )
    expected = ImportanceSampler(train, 2, neighborhood, chunk_size=128, seed=5).table[0]
    assert torch.equal(torch.from_numpy(other.to_array()), expected)
