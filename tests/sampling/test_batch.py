import dgl
import pytest
import torch

from pinsage_dgl.history import History
from pinsage_dgl.sampling import TrainingBatch, block_from_neighbors


def _batch(**changes) -> TrainingBatch:
    fields = {
        "edge_ids": torch.tensor([7, 9]),
        "positive": torch.tensor([1, 2]),
        "negatives": torch.tensor([0, 3, 4]),
        "hard_negatives": torch.empty(2, 0, dtype=torch.int64),
        "mask": torch.tensor([[0, 1], [2, 1]]),
        "boards": torch.tensor([5, 6]),
        "positive_log_q": torch.tensor([-1.0, -2.0]),
        "negative_log_q": torch.tensor(-0.5),
        "query": torch.tensor([3, 4]),
    }
    return TrainingBatch(**{**fields, **changes})


def test_a_batch_has_one_kind_of_query_and_blocks_with_their_inputs():
    pairs = _batch()
    assert len(pairs) == 2 and not pairs.on_blocks and pairs.seeds() is None
    history = History(torch.tensor([0, 0, 1]), torch.tensor([3, 4, 0]), torch.tensor([1, 0, 0]),
                      torch.tensor([5, 6]))  # fmt: skip
    with pytest.raises(ValueError, match="exactly one of query"):
        _batch(history=history)
    with pytest.raises(ValueError, match="exactly one of query"):
        _batch(query=None)
    with pytest.raises(ValueError, match="blocks and their inputs"):
        _batch(blocks=[])


def test_seeds_are_the_last_blocks_destinations_or_the_inputs_ids():
    seeds = torch.tensor([4, 1, 2])
    block = block_from_neighbors(seeds, torch.tensor([[0], [3], [0]]), torch.ones(3, 1), 5)
    on_blocks = _batch(blocks=[block], inputs={"_id": block.srcdata[dgl.NID]})
    assert on_blocks.on_blocks and torch.equal(on_blocks.seeds(), seeds)
    no_layers = _batch(blocks=[], inputs={"_id": seeds})  # K = 0: the input pins themselves
    assert torch.equal(no_layers.seeds(), seeds)


def test_moving_a_batch_moves_every_tensor_and_keeps_the_values():
    history = History(torch.tensor([0, 1]), torch.tensor([3, 4]), torch.tensor([0, 0]),
                      torch.tensor([5, 6]))  # fmt: skip
    batch = _batch(query=None, history=history, blocks=[], inputs={"_id": torch.arange(5)})
    moved = batch.to("cpu")
    assert moved is not batch and moved.history is not batch.history
    assert torch.equal(moved.history.pins, history.pins) and moved.blocks == []
    assert torch.equal(moved.inputs["_id"], torch.arange(5))
    assert torch.equal(moved.negative_log_q, batch.negative_log_q)
