import hashlib

import numpy as np
import pandas as pd
import pytest
import torch

from datamodules import SyntheticDataModule, make_synthetic, write_synthetic

SMALL = {"num_pins": 300, "num_boards": 100, "num_topics": 3}


def digest(*frames: pd.DataFrame) -> str:
    rows = b"".join(pd.util.hash_pandas_object(f, index=False).values.tobytes() for f in frames)
    return hashlib.sha256(rows).hexdigest()[:16]


def test_the_generator_repeats_the_tables_every_benchmark_was_measured_on():
    # the demo's and the tests' data: a change of the random stream changes every number
    assert digest(*make_synthetic()) == "64dc686aeaf93de0"
    assert digest(*make_synthetic(num_pins=3000, num_boards=900, string_ids=False, seed=3)) == (
        "1a6752588ab4255e"
    )


def test_streamed_tables_in_one_chunk_are_make_synthetics(tmp_path):
    sizes = {"num_pins": 2000, "num_boards": 700, "seed": 5}
    interactions, pins = make_synthetic(**sizes)
    saves, features = write_synthetic(tmp_path, **sizes, chunk_boards=700, chunk_pins=2000)
    assert pd.read_parquet(saves).equals(interactions)
    assert pd.read_parquet(features).equals(pins)


def test_streamed_tables_in_small_chunks_hold_a_consistent_graph(tmp_path):
    sizes = {"num_pins": 3000, "num_boards": 1000, "string_ids": False, "seed": 1}
    saves, features = write_synthetic(tmp_path, **sizes, chunk_boards=64, chunk_pins=500)
    interactions, pins = pd.read_parquet(saves), pd.read_parquet(features)
    assert interactions["board"].between(0, 999).all() and interactions["board"].nunique() == 1000
    assert not interactions.duplicated(["pin", "board"]).any()
    assert interactions.groupby("board").size().min() >= 1
    # every saved pin has its feature row, and only saved pins do
    assert np.array_equal(np.sort(pins["pin"].to_numpy()), np.unique(interactions["pin"]))
    again = write_synthetic(tmp_path / "again", **sizes, chunk_boards=64, chunk_pins=500)
    assert pd.read_parquet(again[0]).equals(interactions)  # seeded: the same files
    with pytest.raises(ValueError, match="chunk sizes"):
        write_synthetic(tmp_path, **sizes, chunk_boards=0)


class SampledSynthetic(SyntheticDataModule):
    """The synthetic graph with NCF's sampled protocol (5 negatives per held-out pin)."""

    sampled_negatives = 5


def test_reseeding_training_keeps_the_graph_and_split_and_changes_the_walks():
    dm = SampledSynthetic(**SMALL, seed=0)
    test, val, table = dm.split.test.clone(), dm.split.val.clone(), dm.training_graph
    dm.reseed_training(7)
    assert torch.equal(dm.split.test, test) and torch.equal(dm.split.val, val)
    assert dm.seed == 7 and dm.training_graph is not table
    assert dm.training_graph.sampler.seed == 7
    # the validation candidates are the split's draw (seed 0), not seed 7's
    assert torch.equal(dm.val_candidates, SampledSynthetic(**SMALL, seed=0).val_candidates)
    # a new seed alone would redraw the data itself
    assert not torch.equal(SampledSynthetic(**SMALL, seed=7).split.test, test)
