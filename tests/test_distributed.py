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
