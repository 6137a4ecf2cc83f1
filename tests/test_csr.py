import pytest
import torch

from pinsage_dgl.csr import group_by, whole_groups


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1000])
def test_group_by_is_a_stable_sort_by_key_in_any_chunk_size(chunk):
    keys = torch.randint(6, (50,), generator=torch.Generator().manual_seed(0), dtype=torch.int32)
    keys[keys == 4] = 5  # a key with no positions
    indptr, order = group_by(keys, 7, chunk=chunk)
    assert order.tolist() == torch.argsort(keys, stable=True).tolist()
    assert indptr.tolist() == [0, *torch.cumsum(torch.bincount(keys, minlength=7), 0).tolist()]
    assert order.dtype == torch.int32 and indptr.dtype == torch.int64
    for group in range(7):  # each group's positions hold its key, ascending
        positions = order[indptr[group] : indptr[group + 1]]
        assert (keys[positions.long()] == group).all()
        assert (positions.diff() > 0).all()


def test_group_by_of_nothing_and_its_errors():
    indptr, order = group_by(torch.zeros(0, dtype=torch.int64), 3)
    assert indptr.tolist() == [0, 0, 0, 0] and len(order) == 0
    with pytest.raises(ValueError, match=r"keys must be in \[0, 3\), got 0..3"):
        group_by(torch.tensor([0, 3]), 3)
    with pytest.raises(ValueError, match="chunk must be >= 1"):
        group_by(torch.tensor([0]), 1, chunk=0)


def test_whole_groups_cover_every_position_and_never_split_a_group():
    indptr = torch.tensor([0, 2, 2, 7, 8, 9, 12])  # groups of 2, 0, 5, 1, 1, 3
    assert whole_groups(indptr, 3) == [(0, 2), (2, 7), (7, 9), (9, 12)]
    assert whole_groups(indptr, 100) == [(0, 12)]
    assert whole_groups(indptr, 1) == [(0, 2), (2, 7), (7, 8), (8, 9), (9, 12)]
    assert whole_groups(torch.tensor([0, 0]), 4) == []
