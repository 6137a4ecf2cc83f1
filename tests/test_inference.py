import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch

from datamodules import SyntheticDataModule, TableDataModule
from datamodules.synthetic import make_synthetic
from pinsage_dgl.inference import (
    Stage,
    convolve_chunk,
    embed_all_pins,
    embed_new_pins,
    encode_chunk,
    feature_neighbors,
    head_chunk,
    load_embeddings,
    message_chunk,
    run_stage,
    save_embeddings,
    stage_plan,
)
from pinsage_dgl.lit import PinSageModule
from pinsage_dgl.nn import PinSage
from pinsage_dgl.sampling import ImportanceSampler, Negatives, Neighborhood, neighbor_graph


def test_layerwise_inference_equals_blockwise_forward():
    dm = SyntheticDataModule(num_pins=200, num_boards=80, num_topics=4, subtopics=2)
    train = dm.split.train
    sampler = ImportanceSampler(
        train, 2, Neighborhood(num_neighbors=4, num_walks=8, table=False), chunk_size=64
    )
    nbrs, w = sampler.neighbor_table()
    model = PinSage(train.pin_spec, hidden_dim=16, out_dim=8, num_layers=2).eval()
    layerwise = embed_all_pins(model, train.pin_features, nbrs, w, batch_size=37)
    assert layerwise.shape == (train.num_pins, 8)
    assert torch.allclose(layerwise.norm(dim=1), torch.ones(train.num_pins), atol=1e-5)

    # the same neighbour table, used as a per-seed tree, gives the same embeddings
    class TableSampler(ImportanceSampler):
        def neighbors(self, pins):
            return nbrs[pins], w[pins]

    tree = TableSampler(train, num_layers=2)
    seeds = torch.tensor([0, 5, 17, train.num_pins - 1])
    blocks = tree.sample_blocks(seeds)
    with torch.no_grad():
        blockwise = model(blocks, tree.input_features(blocks))
    assert torch.allclose(blockwise, layerwise[seeds], atol=1e-5)


def test_chunk_stages_read_a_slice_as_its_pin_ids():
    # whole-graph passes hand the stages slices (views, no row copies); shards hand them ids
    dm = SyntheticDataModule(num_pins=120, num_boards=50, num_topics=3, subtopics=2)
    train = dm.split.train
    nbrs, w = ImportanceSampler(
        train, neighborhood=Neighborhood(num_neighbors=3, num_walks=6, table=False)
    ).neighbor_table()
    n = train.num_pins  # the last 10 have no id vector
    model = PinSage(train.pin_spec, hidden_dim=8, out_dim=4, num_layers=1, num_ids=n - 10).eval()
    conv = model.convs[0]
    ids, rows = torch.arange(n - 30, n), slice(n - 30, n)
    with torch.no_grad():
        h = encode_chunk(model, torch.arange(train.num_pins), train.pin_features)
        m = message_chunk(conv, torch.arange(train.num_pins), h)
        stages = [
            lambda pins: encode_chunk(model, pins, train.pin_features),
            lambda pins: message_chunk(conv, pins, h),
            lambda pins: convolve_chunk(conv, pins, h, m, nbrs, w),
            lambda pins: head_chunk(model, pins, [h]),
        ]
        for stage in stages:
            assert torch.equal(stage(rows), stage(ids))


def test_layerwise_inference_memory_mapped_equals_in_memory(tmp_path):
    dm = SyntheticDataModule(num_pins=150, num_boards=60, num_topics=3, subtopics=2)
    train = dm.split.train
    nbrs, w = ImportanceSampler(
        train, neighborhood=Neighborhood(num_neighbors=3, num_walks=6, table=False)
    ).neighbor_table()
    nbrs[0] = -1  # a pin without neighbours pools to 0
    model = PinSage(train.pin_spec, hidden_dim=8, out_dim=4, num_layers=2, num_ids=train.num_pins)
    in_memory = embed_all_pins(model, train.pin_features, nbrs, w, batch_size=64)
    mapped = embed_all_pins(model, train.pin_features, nbrs, w, batch_size=50, workdir=tmp_path)
    assert torch.allclose(in_memory, mapped, atol=1e-6)
    assert list(tmp_path.iterdir()) == []  # layer files removed
    with pytest.raises(ValueError, match="batch_size"):
        embed_all_pins(model, train.pin_features, nbrs, w, batch_size=0)
    # half-precision messages, in memory or mapped: the same embeddings to ~1e-3, float32
    half = {"message_dtype": torch.float16, "batch_size": 50}
    for workdir in (None, tmp_path):
        out = embed_all_pins(model, train.pin_features, nbrs, w, **half, workdir=workdir)
        assert out.dtype == torch.float32
        assert torch.allclose(out, in_memory, atol=2e-3) and not torch.equal(out, in_memory)
    with pytest.raises(ValueError, match="message_dtype must be one of"):
        embed_all_pins(model, train.pin_features, nbrs, w, message_dtype=torch.bfloat16)


@pytest.fixture(scope="module")
def cold_start(tmp_path_factory):
    """A model trained on the synthetic graph with 40 pins left out entirely."""
    # a module-scoped fixture runs before the per-test seeding: seed every stream here
    L.seed_everything(0, verbose=False)
    tmp = tmp_path_factory.mktemp("cold")
    interactions, pins = make_synthetic(num_pins=1500, num_boards=600, num_topics=6, seed=1)
    new = pins.sample(40, random_state=0)
    interactions = interactions[~interactions["pin"].isin(new["pin"])]
    pins = pins[~pins["pin"].isin(new["pin"])]
    interactions.to_parquet(tmp / "saves.parquet")
    features = ["pin", "text", *[c for c in pins.columns if c.startswith("visual_")]]
    pins[features].to_parquet(tmp / "pins.parquet")
    dm = TableDataModule(
        str(tmp / "saves.parquet"),
        timestamp_col="timestamp",
        pin_features=str(tmp / "pins.parquet"),
        negatives=Negatives(num_random=100),
        neighborhood=Neighborhood(num_walks=10),
    )
    module = PinSageModule(
        pin_spec=dm.feature_spec, num_pins=dm.num_pins, hidden_dim=32, out_dim=16, lr=3e-3
    )
    L.Trainer(
        max_steps=150,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        limit_val_batches=0,
        enable_model_summary=False,
    ).fit(module, datamodule=dm)
    topic = dict(zip(pins["pin"], pins["topic"], strict=True))
    graph_topic = torch.tensor([topic[p] for p in dm.split.train.pin_ids])
    return module.model, dm, new, graph_topic


def test_new_pins_get_neighbours_of_their_topic(cold_start):
    model, dm, new, graph_topic = cold_start
    train = dm.split.train
    features, (nbrs, w) = train.pin_features, dm.training_graph.inference_inputs()[1:]
    known = embed_all_pins(model, features, nbrs, w)
    new_features = train.pin_spec.encode(new, "new pins")
    fresh = embed_new_pins(model, features, nbrs, w, new_features)
    assert fresh.shape == (40, 16)
    assert torch.allclose(fresh.norm(dim=1), torch.ones(40), atol=1e-5)
    top = torch.topk(fresh @ known.T, 10, dim=1).indices
    same_topic = graph_topic[top] == torch.from_numpy(new["topic"].to_numpy())[:, None]
    # 6 topics: chance is about 1/6 (measured 0.62 with these seeds)
    assert same_topic.float().mean() > 0.5
    # appending new pins leaves the graph's own embeddings unchanged
    again = embed_new_pins(model, features, nbrs, w, new_features, batch_size=333)
    assert torch.allclose(again, fresh, atol=1e-5)


def test_feature_neighbors_are_the_most_similar_graph_pins(cold_start):
    model, dm, _, _ = cold_start
    train = dm.split.train
    # a graph pin's own features find itself first
    own = {k: v[:5] for k, v in train.pin_features.items()}
    nbrs, weights = feature_neighbors(model, train.pin_features, own, num_neighbors=3)
    assert nbrs.shape == weights.shape == (5, 3)
    assert nbrs[:, 0].tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="num_neighbors"):
        feature_neighbors(model, train.pin_features, own, num_neighbors=0)


def test_new_pins_need_the_graphs_feature_columns(cold_start):
    model, dm, _, _ = cold_start
    train = dm.split.train
    _, nbrs, w = dm.training_graph.inference_inputs()
    with pytest.raises(ValueError, match="lack feature columns"):
        embed_new_pins(model, train.pin_features, nbrs, w, {"text": train.pin_features["text"]})


@pytest.mark.parametrize("suffix", [".npz", ".parquet"])
@pytest.mark.parametrize("ids", [np.array(["p1", "p2", "p3"]), np.array([7, 8, 9])])
def test_embeddings_round_trip(tmp_path, suffix, ids):
    emb = torch.randn(3, 5)
    path = tmp_path / f"emb{suffix}"
    save_embeddings(path, emb, ids)
    loaded, loaded_ids = load_embeddings(path)
    assert torch.equal(loaded, emb) and loaded_ids.tolist() == ids.tolist()
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    with pytest.raises(ValueError, match=r"\.npz or \.parquet"):
        save_embeddings(tmp_path / "emb.csv", emb, ids)
    with pytest.raises(ValueError, match="3 embeddings but 2 pin ids"):
        save_embeddings(path, emb, ids[:2])


@pytest.mark.parametrize("suffix", [".npz", ".parquet"])
def test_embeddings_of_another_format_version_are_refused(tmp_path, suffix):
    from pinsage_dgl import inference

    path = tmp_path / f"emb{suffix}"
    inference.EMBEDDINGS_VERSION = 2  # as a future version would write
    try:
        save_embeddings(path, torch.randn(2, 3), np.array([1, 2]))
    finally:
        inference.EMBEDDINGS_VERSION = 1
    with pytest.raises(ValueError, match="embeddings format version 2"):
        load_embeddings(path)


def test_a_pin_without_saves_is_embedded_from_its_features():
    from pinsage_dgl.graph import build_graph

    interactions, pins = make_synthetic(num_pins=300, num_boards=100, num_topics=3)
    lonely = pins.head(1).assign(pin="lonely")
    graph = build_graph(
        interactions,
        pin_features=pd.concat([pins, lonely]).drop(columns=["title", "topic", "cluster"]),
        extra_pins=["lonely"],
    )
    nbrs, w = ImportanceSampler(
        graph, neighborhood=Neighborhood(num_neighbors=4, num_walks=8, table=False)
    ).neighbor_table()
    index = int(graph.pin_index(["lonely"])[0])
    assert (nbrs[index] == -1).all()  # no saves, no walks, no neighbours
    model = PinSage(graph.pin_spec, hidden_dim=8, out_dim=4)
    emb = embed_all_pins(model, graph.pin_features, nbrs, w)
    assert torch.isfinite(emb).all() and abs(emb[index].norm().item() - 1) < 1e-5


@pytest.mark.parametrize("combination", ["last", "mean", "concat"])
def test_full_graph_forward_equals_layerwise_inference_and_blocks(combination):
    dm = SyntheticDataModule(num_pins=200, num_boards=80, num_topics=4, subtopics=2)
    train = dm.split.train
    sampler = ImportanceSampler(train, 2, Neighborhood(num_neighbors=4, num_walks=8, table=True))
    nbrs, w = sampler.neighbor_table()
    model = PinSage(
        train.pin_spec,
        hidden_dim=16,
        out_dim=8,
        num_layers=2,
        num_ids=train.num_pins,
        dropout=0.3,
        layer_combination=combination,
    ).eval()
    full = model.embed_graph(train.pin_features, neighbor_graph(nbrs, w))
    assert full.requires_grad  # differentiable: the training path
    layerwise = embed_all_pins(model, train.pin_features, nbrs, w, batch_size=37)
    assert torch.allclose(full, layerwise, atol=1e-5)
    seeds = torch.tensor([0, 5, 17, train.num_pins - 1])
    blocks = sampler.sample_blocks(seeds)
    with torch.no_grad():
        blockwise = model(blocks, sampler.input_features(blocks))
    assert torch.allclose(blockwise, layerwise[seeds], atol=1e-5)
    # dropout acts in training only
    dropped = model.train().embed_graph(train.pin_features, neighbor_graph(nbrs, w))
    assert not torch.allclose(dropped, full)


@pytest.mark.parametrize("combination", ["last", "concat"])
def test_the_stage_plan_names_each_array_and_what_reads_it(combination):
    from pinsage_dgl.features import FeatureSpec

    model = PinSage(FeatureSpec(), hidden_dim=8, out_dim=4, num_layers=2, num_ids=5,
                    layer_combination=combination)  # fmt: skip
    plan = stage_plan(model)
    assert [(s.kind, s.output, s.inputs) for s in plan[:-1]] == [
        ("encode", "h0", ("features",)),
        ("message", "m1", ("h0",)),
        ("convolve", "h1", ("h0", "m1", "neighbors", "weights")),
        ("message", "m2", ("h1",)),
        ("convolve", "h2", ("h1", "m2", "neighbors", "weights")),
    ]
    head = plan[-1]
    assert (head.kind, head.output, head.dim) == ("head", "embeddings", 4)
    assert head.inputs == (("h2",) if combination == "last" else ("h0", "h1", "h2"))
    assert [s.layer for s in plan if s.kind == "convolve"] == [0, 1]
    assert [s.output for s in plan if s.message] == ["m1", "m2"]
    assert {s.gathered for s in plan} == {None, "m1", "m2"}
    with pytest.raises(ValueError, match="unknown stage kind 'pool'"):
        run_stage(model, Stage("pool", "x", (), 1), slice(0, 1), {})
