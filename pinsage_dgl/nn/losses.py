"""The registry of training losses: a loss's name → how it is built from the settings.

``PinSageModule(loss=name)`` (``--model.loss name``) trains with ``LOSSES[name]``. A new
loss is one file holding its :class:`~pinsage_dgl.nn.training_loss.TrainingLoss` and one
entry here (or :func:`register_loss` from outside the package).
"""

from __future__ import annotations

from collections.abc import Callable

from pinsage_dgl.nn.margin_loss import MaxMarginLoss
from pinsage_dgl.nn.softmax_loss import SampledSoftmaxLoss
from pinsage_dgl.nn.training_loss import LossSettings, TrainingLoss

__all__ = ["LOSSES", "make_loss", "register_loss"]

LossFactory = Callable[[LossSettings], TrainingLoss]

#: name → factory of the loss from :class:`LossSettings`
LOSSES: dict[str, LossFactory] = {
    "margin": MaxMarginLoss.from_settings,  # the paper's
    "softmax": SampledSoftmaxLoss.from_settings,  # Pinterest's later models'
}


def register_loss(name: str, factory: LossFactory) -> None:
    """Make ``factory`` the loss called ``name`` (an existing name is refused)."""
    if name in LOSSES:
        raise ValueError(f"a loss called {name!r} is registered already")
    LOSSES[name] = factory


def make_loss(name: str, settings: LossSettings | None = None) -> TrainingLoss:
    """The loss ``name`` built from ``settings`` (default: :class:`LossSettings`'s)."""
    if name not in LOSSES:
        raise ValueError(f"loss must be one of {tuple(LOSSES)}, got {name!r}")
    return LOSSES[name](LossSettings() if settings is None else settings)
