"""Callback: code the Trainer runs at fixed points of training."""

from __future__ import annotations

from typing import Any


class Callback:
    """Base class of Trainer callbacks. Override the events you need.

    Each event receives the :class:`~framework.trainer.Trainer` (its
    ``model``, ``optimizer``, ``history``, ``epoch``, ``stop_training`` ...)
    and a ``logs`` dict: after a batch, ``{"loss": float, "batch_size": int}``;
    after an epoch, ``{"loss": ..., "val_loss": ..., metric names ...}``.
    The Trainer calls the batch events only of callbacks that override them,
    so an unused event costs nothing per step.

    A callback with state that must survive a resume (a best score, a wait
    counter) returns it from ``state_dict()`` as JSON-friendly values and
    takes it back in ``load_state_dict()``.

    Callbacks run in ascending ``order`` (stable); checkpointing uses 100 so
    that it saves every other callback's state as of the same epoch.
    """

    order: int = 0

    def on_train_begin(self, trainer, logs: dict[str, Any]) -> None: ...

    def on_train_end(self, trainer, logs: dict[str, Any]) -> None: ...

    def on_epoch_begin(self, trainer, epoch: int, logs: dict[str, Any]) -> None: ...

    def on_epoch_end(self, trainer, epoch: int, logs: dict[str, Any]) -> None: ...

    def on_batch_begin(self, trainer, batch: int, logs: dict[str, Any]) -> None: ...

    def on_batch_end(self, trainer, batch: int, logs: dict[str, Any]) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
