import pytest
import torch

from pinsage_dgl.nn import (
    LOSSES,
    LossInputs,
    LossSettings,
    MaxMarginLoss,
    SampledSoftmaxLoss,
    make_loss,
    max_margin_loss,
    register_loss,
)


def test_the_registry_builds_each_loss_from_the_settings():
    settings = LossSettings(margin=0.3, temperature=0.5, learn_temperature=False, in_batch=False)
    margin = make_loss("margin", settings)
    assert isinstance(margin, MaxMarginLoss) and margin.margin == 0.3
    assert not margin.uses_pin_bias and margin.logged() == {}
    softmax = make_loss("softmax", settings)
    assert isinstance(softmax, SampledSoftmaxLoss) and softmax.uses_pin_bias
    assert softmax.scale.item() == pytest.approx(2.0) and not softmax.in_batch
    assert softmax.logged()["temperature"].item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="loss must be one of \\('margin', 'softmax'"):
        make_loss("hinge")
    with pytest.raises(ValueError, match="'softmax' is registered already"):
        register_loss("softmax", SampledSoftmaxLoss.from_settings)
    assert set(LOSSES) == {"margin", "softmax"}


def test_the_margin_loss_module_is_the_papers_function():
    g = torch.Generator().manual_seed(0)
    unit = lambda *shape: torch.nn.functional.normalize(torch.randn(*shape, generator=g), dim=-1)  # noqa: E731
    q, pos, neg, hard = unit(4, 3), unit(4, 3), unit(6, 3), unit(4, 2, 3)
    inputs = LossInputs(
        q, pos, neg, torch.arange(4), torch.arange(6), hard, torch.zeros(4, 2, dtype=torch.long)
    )
    assert torch.equal(MaxMarginLoss(0.2)(inputs), max_margin_loss(q, pos, neg, 0.2, hard))
    with pytest.raises(ValueError, match="margin must be >= 0"):
        MaxMarginLoss(-0.1)


def test_the_margin_loss_refuses_several_positives_per_query():

    q = torch.nn.functional.normalize(torch.ones(1, 2), dim=1)
    inputs = LossInputs(
        q,
        q.repeat(2, 1),
        q,
        torch.tensor([0, 1]),
        torch.tensor([2]),
        positive_rows=torch.tensor([0, 0]),
    )
    with pytest.raises(ValueError, match="needs the softmax loss"):
        MaxMarginLoss()(inputs)
