"""Built-in Trainer callbacks.

* ``early_stopping`` (EarlyStopping): stop when a monitored value stops
  improving, optionally restoring the best weights.
* ``checkpoint`` (ModelCheckpoint): atomic checkpoints every N epochs (and/or
  batches), keeping the last few; also what Ctrl-C saves through.
* ``metrics_logger`` (MetricsLogger): one row per epoch to CSV or JSON lines.
* ``lr_scheduler`` (LearningRateScheduler): set the learning rate per epoch
  from a registered schedule.

Paths are relative to the working directory in Python, and to the run
directory when the callback comes from an experiment run by ``minidl run``.
"""

from __future__ import annotations

import csv
import inspect
import io
import json
import math
import numbers
import os
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np

from framework.callback import Callback
from framework.checkpoint import checkpoint_name, remove_stale_temps, rotate_checkpoints, save_checkpoint
from framework.errors import ConfigError, InvalidTypeError, InvalidValueError, TrainingError
from framework.fileio import WriteError, atomic_write_bytes
from framework.hookspecs import hookimpl
from framework.metric import direction_of
from framework.paths import inside_run_dir
from framework.types import LogKey, NonNegativeFloat, NonNegativeInt, PositiveInt, RunPath


class RunDirMixin:
    """Resolves a relative path attribute against the run directory (``bind_run``).

    The result must stay inside the run directory (symlinks resolved), else
    :class:`~framework.errors.UnsafePathError`.
    """

    path_attribute = "path"

    def bind_run(self, run_dir: Path, spec: dict[str, Any]) -> None:
        value = getattr(self, self.path_attribute)
        setattr(self, self.path_attribute,
                inside_run_dir(run_dir, value, f"{type(self).__name__}.{self.path_attribute}"))


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has not improved for ``patience`` epochs.

    Args:
        monitor: a key of the epoch logs ("val_loss", "loss", "val_r2", ...).
        patience: epochs without improvement before stopping.
        min_delta: the smallest change that counts as an improvement.
        mode: "min", "max", or "auto": the direction the monitored metric
            declares (``higher_is_better``; the loss is lower-is-better),
            resolved at the end of the first epoch.
        restore_best_weights: at the end, put back the parameters of the best epoch.
    """

    def __init__(self, monitor: LogKey = "val_loss", patience: PositiveInt = 5, min_delta: NonNegativeFloat = 0.0,
                 mode: Literal["min", "max", "auto"] = "auto", restore_best_weights: bool = True):
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.mode = mode
        self.restore_best_weights = restore_best_weights
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None
        self.best_weights: dict[str, np.ndarray] | None = None
        self._mode: str | None = None  # "min" or "max", resolved at the first epoch's end

    def resolved_mode(self, trainer) -> str:
        """"min" or "max": ``mode``, or for "auto" the direction the monitored metric declares."""
        if self.mode != "auto":
            return self.mode
        return "max" if direction_of(self.monitor, trainer.metrics, owner=f"{self!r}") else "min"

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if self._mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, trainer, epoch, logs):
        if self.monitor not in logs:
            raise TrainingError(f"EarlyStopping monitors {self.monitor!r}, which the epoch logs do not have; "
                                f"they have: {', '.join(logs)} (val_* keys need validation data)")
        if self._mode is None:
            self._mode = self.resolved_mode(trainer)
        value = logs[self.monitor]
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch + 1, 0
            if self.restore_best_weights:
                self.best_weights = {n: p.data.copy() for n, p in trainer.model.named_parameters()}
        else:
            self.wait += 1
            if self.wait >= self.patience:
                trainer.stop_training = True
                self.stopped_epoch = epoch + 1

    def on_train_end(self, trainer, logs):
        if self.restore_best_weights and self.best_weights is not None:
            for name, param in trainer.model.named_parameters():
                param.data[...] = self.best_weights[name]
            trainer.mark_restored(self.best_epoch, monitor=self.monitor)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                # Arrays, not lists: a checkpoint stores them as array members, not as text.
                "best_weights": None if self.best_weights is None else
                {n: a.copy() for n, a in self.best_weights.items()}}

    def load_state_dict(self, state):
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
        weights = state.get("best_weights")
        self.best_weights = None if weights is None else {
            n: np.array(w, copy=True) for n, w in weights.items()}

    def __repr__(self):
        return f"EarlyStopping(monitor={self.monitor!r}, patience={self.patience}, mode={self.mode!r})"


class ModelCheckpoint(RunDirMixin, Callback):
    """Save checkpoints atomically; the newest ``keep_last`` are kept.

    Args:
        directory: where ``checkpoint-eEEEEE-bBBBBBB.npz`` files go.
        every_epochs: save after every N epochs (0: never at epoch ends).
        every_batches: also save every N batches within an epoch (0: never).
        keep_last: how many checkpoints to keep in ``directory``: older ones
            are deleted, and only files named ``checkpoint-eEEEEE-bBBBBBB.npz``
            inside ``directory`` itself can be (never a path from a checkpoint's
            metadata, never a symlink or any other name).

    On Ctrl-C the Trainer saves through this callback, so an interrupted
    run can be resumed exactly.
    """

    path_attribute = "directory"
    order = 100  # after every other callback, so their state is saved up to date
    run_dir_default = {"directory": "checkpoints", "keep_last": 2}

    def __init__(self, directory: RunPath = "checkpoints", every_epochs: int = 1, every_batches: int = 0,
                 keep_last: PositiveInt = 3):
        if every_epochs < 0 or every_batches < 0:
            raise InvalidValueError(f"ModelCheckpoint: every_epochs and every_batches must be >= 0. "
                             f"Received: every_epochs={every_epochs}, every_batches={every_batches}")
        self.directory = Path(directory)
        self.every_epochs, self.every_batches, self.keep_last = every_epochs, every_batches, keep_last
        self.spec: dict | None = None  # the experiment, stored in each checkpoint when known

    def bind_run(self, run_dir: Path, spec: dict[str, Any]) -> None:
        super().bind_run(run_dir, spec)
        self.spec = spec

    def save_now(self, trainer) -> Path:
        path = self.directory / checkpoint_name(trainer.epoch, trainer.batch)
        save_checkpoint(path, trainer.model, trainer.optimizer, trainer=trainer.state_dict(), spec=self.spec)
        rotate_checkpoints(self.directory, self.keep_last)
        return path

    def on_train_begin(self, trainer, logs):
        # Temporary files of a save that was killed (SIGKILL, power loss): only this
        # callback's own temporary names, only in its own directory.
        remove_stale_temps(self.directory)

    def on_batch_end(self, trainer, batch, logs):
        if self.every_batches and trainer.batch % self.every_batches == 0:
            self.save_now(trainer)

    def on_epoch_end(self, trainer, epoch, logs):
        if self.every_epochs and (epoch + 1) % self.every_epochs == 0:
            self.save_now(trainer)

    # No state: rotation lists its own directory, so a checkpoint cannot tell it what to delete.

    def __repr__(self):
        return f"ModelCheckpoint(directory='{self.directory}', every_epochs={self.every_epochs}, keep_last={self.keep_last})"


class MetricsLogger(RunDirMixin, Callback):
    """Append one row per epoch (epoch number and every log value) to a file.

    Args:
        path: a ``.csv`` file, or ``.jsonl`` for JSON lines.
        format: "csv", "jsonl", or "auto" (from the suffix).
        overwrite: allow replacing an existing file when training starts
            from scratch (a resumed run always appends).
    """

    run_dir_default = {"path": "metrics.csv"}

    def __init__(self, path: RunPath = "metrics.csv", format: Literal["auto", "csv", "jsonl"] = "auto",
                 overwrite: bool = False):
        self.path = Path(path)
        self.format = format
        self.overwrite = overwrite
        self._fields: list[str] | None = None

    def _format(self) -> str:
        if self.format != "auto":
            return self.format
        return "jsonl" if self.path.suffix in (".jsonl", ".json", ".ndjson") else "csv"

    def on_train_begin(self, trainer, logs):
        if trainer.epoch == 0 and trainer.batch == 0:
            if self.path.exists() and not self.overwrite:
                raise TrainingError(f"MetricsLogger: {self.path} already exists; pass overwrite=True or "
                                    f"choose another path (nothing was written)")
            atomic_write_bytes(self.path, b"", what="metrics log")
            self._fields = None
        else:
            self._drop_rows_after(trainer.epoch)

    def _drop_rows_after(self, epoch: int) -> None:
        """Keep the rows of epochs 1..epoch, each once: a resume continues from a checkpoint,
        and rows a killed run wrote after that checkpoint (or a half-written last row) must go.
        The file is rewritten atomically, and only when something changes."""
        if not self.path.exists():
            atomic_write_bytes(self.path, b"", what="metrics log")
            self._fields = None if epoch == 0 else self._fields
            return
        lines = self.path.read_text(encoding="utf-8").splitlines(keepends=True)
        jsonl = self._format() == "jsonl"
        kept, seen = ([] if jsonl else lines[:1]), set()
        for line in (lines if jsonl else lines[1:]):
            if not line.endswith("\n"):
                continue  # a row cut short by a crash
            try:
                n = int(json.loads(line)["epoch"]) if jsonl else int(line.split(",", 1)[0])
            except (ValueError, KeyError, TypeError):
                continue
            if n <= epoch and n not in seen:
                seen.add(n)
                kept.append(line)
        if kept != lines:
            atomic_write_bytes(self.path, "".join(kept).encode("utf-8"), what="metrics log")

    def on_epoch_end(self, trainer, epoch, logs):
        row = {"epoch": epoch + 1, **logs}
        if self._format() == "jsonl":
            text = json.dumps(row) + "\n"
        else:
            out = io.StringIO()
            if self._fields is None:
                self._fields = list(row)
                if not self.path.exists() or self.path.stat().st_size == 0:
                    csv.writer(out, lineterminator="\n").writerow(self._fields)
            csv.writer(out, lineterminator="\n").writerow(
                [repr(row.get(k, "")) if isinstance(row.get(k), float) else row.get(k, "") for k in self._fields])
            text = out.getvalue()
        # One write of the whole row; on failure the file is cut back to what it was.
        size = self.path.stat().st_size if self.path.exists() else 0
        try:
            with self.path.open("a", encoding="utf-8", newline="") as fh:
                fh.write(text)
        except OSError as exc:
            try:
                os.truncate(self.path, size)
                intact = f"{self.path.name} still holds the rows of epochs 1 to {epoch} and nothing of this one"
            except OSError:
                intact = (f"{self.path.name} holds the rows of epochs 1 to {epoch} and may end in a partial row, "
                          f"which a resume drops")
            raise WriteError(self.path, f"appending the row of epoch {epoch + 1}", exc, intact) from exc

    def state_dict(self):
        return {"fields": self._fields}

    def load_state_dict(self, state):
        self._fields = state.get("fields")

    def __repr__(self):
        return f"MetricsLogger(path='{self.path}')"


def _check_schedule_signature(schedule: Callable, spec) -> None:
    """A schedule is called as schedule(epoch, base_lr): refuse one that cannot be, before training starts."""
    try:
        signature = inspect.signature(schedule)
    except (TypeError, ValueError):  # a builtin without a signature: it will be called and tell
        return
    try:
        signature.bind(0, 1.0)
    except TypeError:
        raise InvalidTypeError(f"LearningRateScheduler: the schedule {spec} must take two arguments, "
                               f"f(epoch, base_lr) -> lr; its signature is {signature}") from None


class LearningRateScheduler(Callback):
    """Set ``optimizer.lr = schedule(epoch, base_lr)`` before each epoch (epochs count from 0).

    Args:
        schedule: a registered schedule and its arguments, e.g.
            ``{"type": "step", "step_size": 10, "gamma": 0.5}`` (or just its
            name), or, from Python, any callable ``f(epoch, base_lr) -> lr``.
        base_lr: defaults to the optimizer's learning rate when training starts.
        warmup_epochs: a linear warm-up in front of the schedule: epoch
            e < warmup_epochs gets base_lr * (e + 1) / (warmup_epochs + 1),
            and epoch e >= warmup_epochs gets schedule(e - warmup_epochs,
            base_lr), so the schedule starts where the warm-up ends.

    The learning rate must be finite and >= 0: 0 is allowed where a schedule
    says so (``cosine`` with ``min_lr = 0`` at and after ``total_epochs``);
    the optimizer then leaves the parameters as they are.
    """

    conformance_config = {"schedule": {"type": "step", "step_size": 1, "gamma": 0.5}}

    def __init__(self, schedule: dict[str, Any] | str | Callable[[int, float], float], base_lr: float | None = None,
                 warmup_epochs: NonNegativeInt = 0):
        from framework.registry import registry

        if callable(schedule) and not isinstance(schedule, (str, dict)):
            self.schedule_spec = getattr(schedule, "__name__", repr(schedule))
            self.schedule = schedule
        else:
            if not isinstance(schedule, (str, dict)):
                raise InvalidTypeError(f"LearningRateScheduler: `schedule` is a registered schedule's name, a "
                                       f"dict {{'type': name, ...}} (one of {', '.join(registry.names('schedules'))}) "
                                       f"or, in Python, a callable f(epoch, base_lr) -> lr. Received: "
                                       f"{type(schedule).__name__} {schedule!r}"[:400])
            spec = {"type": schedule} if isinstance(schedule, str) else dict(schedule)
            if "type" not in spec:
                raise InvalidValueError(f"LearningRateScheduler: `schedule` needs a 'type' (one of "
                                 f"{', '.join(registry.names('schedules'))}) or, in Python, a callable "
                                 f"f(epoch, base_lr) -> lr. Received: {schedule!r}")
            name = spec.pop("type")
            if not isinstance(name, str) or ("schedules", name) not in registry:
                raise ConfigError([("schedule.type", registry.unknown_name_message("schedules", name))])
            self.schedule_spec = {"type": name, **spec}
            self.schedule = registry.build("schedules", name, spec, path="schedule")
        _check_schedule_signature(self.schedule, self.schedule_spec)
        if base_lr is not None and not (math.isfinite(base_lr) and base_lr > 0):
            raise InvalidValueError(f"LearningRateScheduler: base_lr must be a finite number > 0. Received: {base_lr!r}")
        if isinstance(warmup_epochs, bool) or not isinstance(warmup_epochs, int) or warmup_epochs < 0:
            raise InvalidValueError(f"LearningRateScheduler: expected `warmup_epochs` to be an integer >= 0. "
                             f"Received: warmup_epochs={warmup_epochs!r}")
        self.base_lr = base_lr
        self.warmup_epochs = warmup_epochs

    def lr_at(self, epoch: int) -> float:
        """The learning rate of ``epoch`` (from 0), warm-up included."""
        w = self.warmup_epochs
        if epoch < w:
            return self.base_lr * (epoch + 1) / (w + 1)
        lr = self.schedule(epoch - w, self.base_lr)
        # float() would also read "0.1" (a str) or a one-element list: a schedule returns a number.
        if isinstance(lr, (bool, np.bool_)) or not isinstance(lr, (numbers.Real, np.number)) \
                or isinstance(lr, np.complexfloating):
            raise InvalidTypeError(f"LearningRateScheduler: schedule {self.schedule_spec} returned {lr!r} "
                                   f"({type(lr).__name__}) for epoch {epoch - w}; a schedule returns the learning "
                                   f"rate, a number")
        return float(lr)

    def on_train_begin(self, trainer, logs):
        if self.base_lr is None:
            self.base_lr = trainer.optimizer.lr

    def on_epoch_begin(self, trainer, epoch, logs):
        lr = self.lr_at(epoch)
        if not (math.isfinite(lr) and lr >= 0):
            # The epoch the schedule was called with (from 0), as schedules are written.
            w = self.warmup_epochs
            after = f"; training epoch {epoch} after {w} warm-up epochs" if w else ""
            raise TrainingError(f"LearningRateScheduler: schedule {self.schedule_spec} gave lr={lr} "
                                f"for epoch {epoch - w} (schedules count epochs from 0{after}); "
                                f"it must be finite and >= 0")
        trainer.optimizer.lr = lr

    def state_dict(self):
        return {"base_lr": self.base_lr}

    def load_state_dict(self, state):
        self.base_lr = state["base_lr"]

    def __repr__(self):
        warmup = f", warmup_epochs={self.warmup_epochs}" if self.warmup_epochs else ""
        return f"LearningRateScheduler(schedule={self.schedule_spec}{warmup})"


@hookimpl
def minidl_callbacks():
    return {"early_stopping": EarlyStopping, "checkpoint": ModelCheckpoint,
            "metrics_logger": MetricsLogger, "lr_scheduler": LearningRateScheduler}
