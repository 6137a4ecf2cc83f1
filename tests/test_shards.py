import numpy as np
import pytest

from pinsage_dgl.shards import ShardedArray


def test_an_array_round_trips_through_shards_and_rows_come_from_their_shard(tmp_path):
    values = np.arange(10 * 3, dtype=np.float32).reshape(10, 3)
    sharded = ShardedArray.from_array(tmp_path / "a", values, shard_rows=4)
    assert sharded.num_shards == 3
    assert [sharded.bounds(s) for s in range(3)] == [(0, 4), (4, 8), (8, 10)]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "meta.json",
        "shard-000000.npy",
        "shard-000001.npy",
        "shard-000002.npy",
    ]
    reopened = ShardedArray.open(tmp_path / "a")
    assert reopened == sharded
    np.testing.assert_array_equal(reopened.to_array(), values)
    rows = np.array([9, 0, 4, 4, 3, 8])  # any order, repeats, across shards
    np.testing.assert_array_equal(reopened.take(rows), values[rows])
    assert reopened.take(np.array([], dtype=np.int64)).shape == (0, 3)
    assert reopened.missing() == []


def test_shards_not_written_are_missing_and_reads_name_them(tmp_path):
    sharded = ShardedArray.create(tmp_path / "b", rows=5, shard_rows=2, dtype="int64")
    assert sharded.missing() == [0, 1, 2]
    sharded.write(1, np.array([7, 8]))
    assert sharded.missing() == [0, 2]
    np.testing.assert_array_equal(sharded.take(np.array([3, 2])), [8, 7])
    with pytest.raises(FileNotFoundError, match=r"shard-000000\.npy: shard 0 has not been written"):
        sharded.take(np.array([0]))
    with pytest.raises(IndexError, match=r"row 5 outside 0\.\.4"):
        sharded.take(np.array([1, 5]))
    with pytest.raises(IndexError, match="shard 3 of 3"):
        sharded.bounds(3)


def test_a_shard_of_the_wrong_shape_is_refused_and_nothing_is_half_written(tmp_path):
    sharded = ShardedArray.create(tmp_path / "c", rows=3, shard_rows=2, dtype="float32", shape=(2,))
    with pytest.raises(ValueError, match=r"shard 1 must have shape \(1, 2\), got \(2, 2\)"):
        sharded.write(1, np.zeros((2, 2)))
    assert sharded.missing() == [0, 1]
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["meta.json"]
    sharded.write(1, np.ones((1, 2), dtype=np.float64))  # stored in the array's type
    assert sharded.read(1).dtype == np.float32


def test_bad_arguments_and_missing_arrays_get_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="shard_rows >= 1"):
        ShardedArray.create(tmp_path / "d", rows=3, shard_rows=0, dtype="float32")
    with pytest.raises(FileNotFoundError, match="no sharded array here"):
        ShardedArray.open(tmp_path / "nothing")
    empty = ShardedArray.create(tmp_path / "e", rows=0, shard_rows=4, dtype="float32", shape=(2,))
    assert empty.num_shards == 0 and empty.to_array().shape == (0, 2)


def test_shards_are_kept_only_under_the_same_resume_key(tmp_path):
    def make(key):
        return ShardedArray.create(tmp_path / "f", 4, 2, "int64", resume_key=key)

    make("walks, seed 1").write(0, np.array([1, 2]))
    assert make("walks, seed 1").missing() == [1]  # the same inputs: carry on
    assert make("walks, seed 2").missing() == [0, 1]  # other inputs: nothing stale kept
    make(None).write(0, np.array([1, 2]))
    assert make(None).missing() == [0, 1]  # no key: always a fresh array
    assert ShardedArray.open(tmp_path / "f").rows == 4
