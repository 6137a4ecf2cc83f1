import json
import zipfile

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from pinsage_dgl.retrieval import (
    ExactIndex,
    FaissIndex,
    IndexFileError,
    build_index,
    load_index,
    multi_query_search,
)


@pytest.fixture
def items() -> torch.Tensor:
    return F.normalize(torch.randn(3000, 16), dim=1)


def test_exact_index_orders_by_inner_product():
    items = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    scores, ids = ExactIndex(items, batch_size=1).search(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), 2)
    assert ids.tolist() == [[0, 2], [1, 2]]
    assert torch.allclose(scores, torch.tensor([[1.0, 0.6], [1.0, 0.8]]))


@pytest.mark.parametrize(("batch_size", "item_block"), [(1, 1), (7, 13), (64, 3000), (1024, None)])
def test_exact_search_in_blocks_is_the_top_k_of_all_scores(batch_size, item_block):
    # integer-valued vectors: scores exact in float32, with many ties at the k-th score
    gen = torch.Generator().manual_seed(0)
    items = torch.randint(-2, 3, (301, 4), generator=gen).float()
    queries = torch.randint(-2, 3, (50, 4), generator=gen).float()
    index = ExactIndex(items, batch_size=batch_size, item_block=item_block)
    scores, ids = index.search(queries, 12)
    all_scores = queries @ items.T
    # a top-k: the 12 best scores, best first, each the score of its (distinct) item
    assert torch.equal(scores, torch.sort(all_scores, dim=1, descending=True).values[:, :12])
    assert torch.equal(scores, all_scores.gather(1, ids))
    assert all(len(set(row)) == 12 for row in ids.tolist())


def test_exact_index_refuses_bad_block_sizes():
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        ExactIndex(torch.ones(3, 2), batch_size=0)
    with pytest.raises(ValueError, match="item_block must be >= 1, got 0"):
        ExactIndex(torch.ones(3, 2), item_block=0)


def test_exclusion_drops_pairs_and_pads_when_too_few_remain():
    items = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    index = build_index(items, "exact")
    exclude = torch.tensor([[0, 0, 1], [0, 2, 1]])  # row 0 loses items 0 and 2, row 1 item 1
    scores, ids = index.search(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), 2, exclude=exclude)
    assert ids.tolist() == [[1, -1], [2, 0]]
    assert scores[0, 1] == float("-inf")


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
def test_faiss_indexes_agree_with_exact_search(items, kind):
    queries = F.normalize(torch.randn(200, 16), dim=1)
    exact_scores, exact_ids = build_index(items, "exact").search(queries, 10)
    index = build_index(items, kind, nprobe=20, ef_search=64)
    scores, ids = index.search(queries, 10)
    recall = np.mean(
        [len(set(a) & set(b)) / 10 for a, b in zip(ids.tolist(), exact_ids.tolist(), strict=True)]
    )
    assert recall == 1.0 if kind == "flat" else recall > 0.9
    if kind == "flat":
        assert torch.allclose(scores, exact_scores, atol=1e-5)


def test_faiss_exclusion_matches_exact(items):
    queries = items[:5]
    exclude = torch.stack([torch.arange(5), torch.arange(5)])  # each query's own item
    _, exact = build_index(items, "exact").search(queries, 5, exclude=exclude)
    _, flat = build_index(items, "flat").search(queries, 5, exclude=exclude)
    assert torch.equal(exact, flat) and not (flat == torch.arange(5)[:, None]).any()


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
def test_save_and_load_round_trip(items, kind, tmp_path):
    index = build_index(items, kind, nprobe=7, ef_search=33)
    path = tmp_path / "pins.index.npz"
    index.save(path)
    loaded = load_index(path)
    assert loaded.kind == kind and loaded.settings == index.settings
    queries = items[:20]
    assert torch.equal(loaded.search(queries, 5)[1], index.search(queries, 5)[1])
    assert [p.name for p in tmp_path.iterdir()] == ["pins.index.npz"]  # no temporary left
    loaded.check_items(items)  # it knows the vectors it was built from
    loaded.check_items(items + 1e-6)  # (recomputed on another thread count: still them)
    with pytest.raises(ValueError, match=r"was built from other vectors .*row \d+ differs"):
        loaded.check_items(items + 0.01 * torch.randn_like(items))  # another model's


def test_an_index_refuses_vectors_it_was_not_built_from(items):
    index = build_index(items, "exact")
    index.check_items(items)
    with pytest.raises(ValueError, match="indexes 3000 x 16 vectors, but this model serves 5 x 16"):
        index.check_items(items[:5])
    shuffled = items[torch.randperm(len(items), generator=torch.Generator().manual_seed(0))]
    with pytest.raises(ValueError, match="was built from other vectors"):
        index.check_items(shuffled)


def test_damaged_or_foreign_files_get_a_clear_error(items, tmp_path):
    path = tmp_path / "pins.index.npz"
    build_index(items, "hnsw").save(path)
    data = path.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexFileError, match=r"cut\.npz"):
        load_index(tmp_path / "cut.npz")
    np.savez(
        tmp_path / "other.npz", header=np.array(json.dumps({"format": "x"})), index=np.zeros(3)
    )
    with pytest.raises(IndexFileError, match="not a pinsage-dgl index"):
        load_index(tmp_path / "other.npz")
    with zipfile.ZipFile(path) as z:
        header = json.loads(np.load(z.open("header.npy")).item())
    header["version"] = 99
    with np.load(path) as d:
        np.savez(tmp_path / "new.npz", header=np.array(json.dumps(header)), index=d["index"])
    with pytest.raises(IndexFileError, match="version 99"):
        load_index(tmp_path / "new.npz")
    with np.load(path) as d:  # an index of the version before probes (or probe lost)
        np.savez(tmp_path / "old.npz", header=d["header"], index=d["index"])
    with pytest.raises(IndexFileError, match=r"old\.npz: damaged index \(its probe"):
        load_index(tmp_path / "old.npz")
    with np.load(path) as d:
        np.savez(tmp_path / "bad.npz", header=d["header"], index=d["index"][:100])
    with pytest.raises(IndexFileError, match=r"bad\.npz"):
        load_index(tmp_path / "bad.npz")


def test_bad_arguments_are_named(items):
    with pytest.raises(ValueError, match="kind"):
        build_index(items, "annoy")
    with pytest.raises(ValueError, match="nprobe"):
        FaissIndex(items, "ivf", nprobe=0)
    with pytest.raises(ValueError, match=r"\[B, 16\]"):
        build_index(items, "exact").search(torch.zeros(2, 8), 3)
    with pytest.raises(ValueError, match="k must be"):
        build_index(items, "exact").search(items[:1], 0)
    with pytest.raises(ValueError, match="NaN"):
        build_index(torch.full((3, 2), float("nan")), "flat")


def test_multi_query_search_equals_max_pooled_exact_scores(items):
    index = build_index(items, "exact")
    queries, rows = items[100:106], torch.tensor([0, 0, 0, 2, 2, 2])  # row 1 has no queries
    exclude = torch.tensor([[0, 0, 2], [100, 101, 104]])
    scores, ids = multi_query_search(index, queries, rows, 3, k=8, exclude=exclude)
    full = torch.full((3, len(items)), float("-inf"))
    for q, r in zip(queries, rows.tolist(), strict=True):
        full[r] = torch.maximum(full[r], items @ q)
    full[exclude[0], exclude[1]] = float("-inf")
    expected_scores, expected_ids = torch.topk(full, 8, dim=1)
    assert torch.equal(ids[[0, 2]], expected_ids[[0, 2]])
    assert torch.allclose(scores[[0, 2]], expected_scores[[0, 2]])
    assert (ids[1] == -1).all()


def test_ivf_trains_on_the_sample_it_is_given(items):
    index = build_index(items, "ivf", nlist=20, train_per_list=40, nprobe=20)
    assert index.index.cp.max_points_per_centroid == 40  # faiss samples 20 × 40 vectors
    assert index.settings["train_per_list"] == 40
    # every list searched: exact whatever the lists are
    _, ids = index.search(items[:10], 1)
    assert ids[:, 0].tolist() == list(range(10))
    with pytest.raises(ValueError, match="train_per_list must be >= 1, got 0"):
        build_index(items, "ivf", train_per_list=0)
