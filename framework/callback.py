"""Callback: code the Trainer runs at fixed points of training."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar


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

    What a callback learns about the run comes through documented methods,
    never through attributes the framework guesses at:

    * ``bind_run(run_dir, spec)`` is called once by ``run_experiment`` when
      the run has a directory, before training: resolve relative output
      paths against ``run_dir``, keep ``spec`` (the experiment as a dict) if
      you store it;
    * ``save_now(trainer)`` is called by the Trainer on Ctrl-C: save what
      resuming needs and return the path written (``None``: nothing saved);
    * ``log_keys()`` names the values this callback adds to the epoch logs
      in ``on_epoch_end`` (a metric of its own), so that ``validate`` and
      ``run`` accept ``monitor`` and ``targets`` on them before training;
    * ``run_dir_default``, a class attribute: the arguments with which
      ``run_experiment`` adds this callback to every run directory whose
      experiment does not list one of this class (``None``: never added).
    """

    order: int = 0

    #: Arguments to add this callback with to every run directory that lacks one; None: never.
    run_dir_default: ClassVar[dict[str, Any] | None] = None

    def bind_run(self, run_dir: Path, spec: dict[str, Any]) -> None:
        """Learn the run directory and the experiment spec (default: ignore them)."""

    def log_keys(self) -> list[str]:
        """Keys this callback adds to the epoch logs (default: none)."""
        return []

    def save_now(self, trainer) -> Path | None:
        """Save on demand (Ctrl-C); return the file written, or None (the default)."""
        return None

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
