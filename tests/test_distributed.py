import pytest
import torch

from datamodules import SyntheticDataModule
from pinsage_dgl.inference import embed_all_pins, neighbor_table
from pinsage_dgl.nn import PinSage
from pinsage_dgl.sampling import ImportanceSampler

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
    nbrs, w = neighbor_table(ImportanceSampler(train, num_neighbors=5, num_walks=10))
    model = PinSage(train.pin_spec, hidden_dim=16, out_dim=8, num_layers=2, num_ids=train.num_pins)
    expected = embed_all_pins(model, train.pin_features, nbrs, w, batch_size=128)
    got = embed_all_pins_ray(model, train.pin_features, nbrs, w, batch_size=128, num_actors=2)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=1e-6)
    with pytest.raises(ValueError, match="num_actors"):
        embed_all_pins_ray(model, train.pin_features, nbrs, w, num_actors=0)
