"""Trainer: batched training loops with progress, callbacks, checkpoints and exact resume."""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from tqdm.auto import tqdm

from framework.callback import Callback
from framework.checkpoint import Checkpoint, load_checkpoint
from framework.checks import check_positive_int
from framework.data import check_arrays
from framework.errors import CheckpointError, ConfigError, DTypeError, MinidlError, TrainingError
from framework.layer import Layer
from framework.loss import Loss, pairing_problem
from framework.optimizer import Optimizer


class TrainingInterrupted(MinidlError, KeyboardInterrupt):
    """Training stopped on Ctrl-C; ``checkpoint`` is where it was saved (or None)."""

    def __init__(self, message: str, checkpoint=None, where: str = ""):
        super().__init__(message)
        self.checkpoint = checkpoint
        self.where = where


class History:
    """Per-epoch logs: ``history["loss"]``, ``history["val_loss"]``, ``history["val_r2"]`` ...

    ``epochs`` lists the epoch numbers (from 1) the rows belong to.
    """

    def __init__(self) -> None:
        self.epochs: list[int] = []
        self.logs: dict[str, list[float]] = {}

    def append(self, epoch: int, logs: dict[str, float]) -> None:
        self.epochs.append(epoch)
        for key, value in logs.items():
            self.logs.setdefault(key, []).append(float(value))

    def update_last(self, logs: dict[str, float]) -> None:
        """Add to (or correct) the last epoch's row: values a callback put in the epoch logs.

        A key first seen now gets NaN for the earlier epochs, so every list
        stays aligned with ``epochs``.
        """
        n = len(self.epochs)
        for key, value in logs.items():
            column = self.logs.get(key)
            if column is None:
                self.logs[key] = [math.nan] * (n - 1) + [float(value)]
            elif len(column) == n:
                column[-1] = float(value)
            else:
                column.extend([math.nan] * (n - 1 - len(column)) + [float(value)])

    def __getitem__(self, key: str) -> list[float]:
        if key not in self.logs:
            raise KeyError(f"history has no {key!r}; it has: {', '.join(self.logs) or '(nothing yet)'}")
        return self.logs[key]

    def __contains__(self, key: str) -> bool:
        return key in self.logs

    def __len__(self) -> int:
        return len(self.epochs)

    def last(self) -> dict[str, float]:
        return {k: v[-1] for k, v in self.logs.items()} if self.epochs else {}

    def state_dict(self) -> dict[str, Any]:
        return {"epochs": list(self.epochs), "logs": {k: list(v) for k, v in self.logs.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epochs = list(state["epochs"])
        self.logs = {k: list(v) for k, v in state["logs"].items()}

    def __repr__(self) -> str:
        return f"History(epochs={len(self)}, keys={list(self.logs)})"


def _overrides(cb: Callback, event: str) -> bool:
    return getattr(type(cb), event) is not getattr(Callback, event)


class Trainer:
    """Runs mini-batch training of ``model`` on (X, y).

    Args:
        model: a :class:`Layer` (usually a ``Sequential``).
        loss: a :class:`Loss`.
        optimizer: an :class:`Optimizer` over ``model.parameters()``.
        epochs: number of passes over the training data.
        batch_size: examples per step; the last batch of an epoch may be
            smaller (its loss is weighted by its size in the epoch's mean).
        shuffle: draw one permutation per epoch; batches are contiguous
            slices of it.
        seed: seeds the shuffling; same seed, same data, same model: the
            same result bit for bit.
        callbacks: :class:`Callback` instances.
        metrics: names of registered metrics (or ``f(y_hat, y)`` callables),
            computed at each epoch's end with that epoch's final parameters,
            on the training data ("r2") and on the validation data when
            given ("val_r2").
        progress: tqdm bars for epochs and batches; shown only when stderr
            is a terminal.

    Shape:
        X: (features, m); y: (outputs, m).
    """

    def __init__(self, model: Layer, loss: Loss, optimizer: Optimizer, *, epochs: int = 10,
                 batch_size: int = 32, shuffle: bool = True, seed: int | None = 0,
                 callbacks: Iterable[Callback] = (), metrics: Sequence[str | Callable] = (),
                 progress: bool = True):
        if not isinstance(model, Layer):
            raise TypeError(f"Trainer: `model` must be a Layer (e.g. a Sequential). Received: {type(model).__name__}")
        if not isinstance(loss, Loss):
            raise TypeError(f"Trainer: `loss` must be a Loss. Received: {type(loss).__name__}")
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"Trainer: `optimizer` must be an Optimizer. Received: {type(optimizer).__name__}")
        layers = getattr(model, "layers", None)
        problem = pairing_problem(layers[-1] if layers else model, loss)
        if problem is not None:
            raise ConfigError([("Trainer", problem)])
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.epochs = check_positive_int("Trainer", "epochs", epochs)
        self.batch_size = check_positive_int("Trainer", "batch_size", batch_size)
        self.shuffle, self.seed = bool(shuffle), seed
        for i, cb in enumerate(callbacks := list(callbacks)):
            if not isinstance(cb, Callback):
                raise TypeError(f"Trainer: callbacks[{i}] is not a Callback. Received: {cb!r}")
        self.callbacks = sorted(callbacks, key=lambda cb: cb.order)
        self.metrics = {name: fn for name, fn in (self._metric(m) for m in metrics)}
        self.progress = progress
        self.history = History()
        self.rng = np.random.default_rng(seed)
        self.epoch = 0          # epochs completed
        self.batch = 0          # batches completed in the current epoch
        self.stop_training = False
        self._epoch_rng_state: dict | None = None
        self._loss_sum = 0.0
        self._seen = 0
        self._interrupted = False

    @staticmethod
    def _metric(metric) -> tuple[str, Callable]:
        if callable(metric):
            return getattr(metric, "__name__", "metric"), metric
        from framework.registry import registry

        return metric, registry.get("metrics", metric, where="Trainer: metrics")

    # ------------------------------------------------------------------
    def fit(self, X: np.ndarray, y: np.ndarray, validation_data: tuple | None = None, *,
            resume_from: str | Checkpoint | None = None) -> History:
        """Train; return the :class:`History`. ``resume_from`` continues a checkpoint exactly."""
        X, y = check_arrays(X, y, "training data")
        self._check_dtype(X, "training data X")
        self._check_dtype(y, "training data y")
        if validation_data is not None:
            Xv, yv = check_arrays(*validation_data, "validation data")
            self._check_dtype(Xv, "validation data X")
            self._check_dtype(yv, "validation data y")
            validation_data = (Xv, yv)
        if resume_from is not None:
            ckpt = resume_from if isinstance(resume_from, Checkpoint) else load_checkpoint(resume_from)
            ckpt.apply(self.model, self.optimizer)
            try:
                self.load_state_dict(ckpt.trainer)
            except MinidlError:
                raise
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                # The metadata is validated, but a callback's own state is the callback's format.
                raise CheckpointError(f"{ckpt.path}: the trainer or callback state does not fit this "
                                      f"Trainer ({type(exc).__name__}: {str(exc)[:200]})") from None
        m = X.shape[1]
        if self.shuffle:
            # One gather per epoch into buffers laid out so that every batch
            # (a run of columns) is contiguous in memory.
            Xs = np.empty(X.shape, dtype=X.dtype, order="F")
            ys = np.empty(y.shape, dtype=y.dtype, order="F")
        else:
            Xs, ys = X, y
        # The batches are views into Xs/ys, made once: each epoch's gather
        # refills the same buffers, so the views stay valid.
        batches = [(Xs[:, lo:lo + self.batch_size], ys[:, lo:lo + self.batch_size],
                    min(self.batch_size, m - lo)) for lo in range(0, m, self.batch_size)]
        show = bool(self.progress) and sys.stderr.isatty()
        self.stop_training = False
        # Overflow inside a step surfaces as a non-finite loss, which stops
        # training with one clear error instead of numpy warnings.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"), self._ctrl_c_guard(), \
                tqdm(total=self.epochs, initial=self.epoch, desc="epochs", unit="epoch",
                     disable=not show, dynamic_ncols=True) as epochs_bar:
            self._call("on_train_begin", {})
            while self.epoch < self.epochs and not self.stop_training:
                if self.batch == 0:
                    self._epoch_rng_state = self.rng.bit_generator.state  # a fresh dict on each access
                    self._loss_sum, self._seen = 0.0, 0
                    self._call("on_epoch_begin", self.epoch, {})
                else:  # resumed mid-epoch: replay this epoch's permutation
                    self.rng.bit_generator.state = self._epoch_rng_state
                if self.shuffle:
                    perm = self.rng.permutation(m)
                    # Gathered as rows of the transposes: the columns of X are
                    # strided, the rows of X.T are not, and this is 2x faster.
                    np.take(X.T, perm, axis=0, out=Xs.T)
                    np.take(y.T, perm, axis=0, out=ys.T)
                self._run_batches(batches, show)
                logs = {"loss": self._loss_sum / self._seen, "lr": self.optimizer.lr}
                if self.metrics:
                    logs.update(self.evaluate(X, y, prefix="", metrics_only=True))
                if validation_data is not None:
                    logs.update(self.evaluate(*validation_data, prefix="val_"))
                self.epoch += 1
                self.batch = 0
                self.history.append(self.epoch, logs)
                if show:
                    epochs_bar.update(1)
                    epochs_bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items()}, refresh=False)
                for cb in self.callbacks:
                    cb.on_epoch_end(self, self.epoch - 1, logs)
                    # What a callback adds to the logs (a custom metric) is part of the
                    # epoch's record for the callbacks after it (checkpoints) and the History.
                    self.history.update_last(logs)
                if self._interrupted:
                    self._stop_on_interrupt()
            self._call("on_train_end", self.history.last())
        return self.history

    def _run_batches(self, batches: list, show: bool) -> None:
        """The rest of the current epoch's batches: the training loop's hot path."""
        model, loss_fn, optimizer = self.model, self.loss, self.optimizer
        batch_begin = [cb for cb in self.callbacks if _overrides(cb, "on_batch_begin")]
        batch_end = [cb for cb in self.callbacks if _overrides(cb, "on_batch_end")]
        n_batches = len(batches)
        # A disabled tqdm still costs tens of microseconds to make: none at all when hidden.
        bar = tqdm(total=n_batches, initial=self.batch, desc=f"epoch {self.epoch + 1}", unit="batch",
                   leave=False, dynamic_ncols=True) if show else contextlib.nullcontext()
        with bar as batch_bar:
            for b in range(self.batch, n_batches):
                Xb, yb, n = batches[b]
                for cb in batch_begin:
                    cb.on_batch_begin(self, b, {"batch_size": n})
                value = loss_fn.forward(model.forward(Xb, True), yb)
                if not math.isfinite(value):
                    raise TrainingError(
                        f"the loss became {value} at epoch {self.epoch + 1}, batch {b + 1} of {n_batches}; "
                        f"training stopped before applying this step (try a smaller learning rate, or "
                        f"standardised inputs). Parameters were not saved in this state.")
                model.backward(loss_fn.backward(), input_grad=False)
                optimizer.step()
                self._loss_sum += value * n
                self._seen += n
                self.batch = b + 1
                if show:
                    batch_bar.update(1)
                    batch_bar.set_postfix(loss=f"{value:.4g}", refresh=False)
                for cb in batch_end:
                    cb.on_batch_end(self, b, {"loss": value, "batch_size": n})
                if self._interrupted:
                    self._stop_on_interrupt()

    def _check_dtype(self, X: np.ndarray, what: str) -> None:
        dtype = self.model.dtype
        if dtype is not None and X.dtype != dtype:
            raise DTypeError(f"Trainer: the model has {dtype} parameters but the {what} is {X.dtype}; "
                             f"convert one of them (X.astype('{dtype}') or model.to('{X.dtype}')).")

    def _call(self, event: str, *args) -> None:
        for cb in self.callbacks:
            getattr(cb, event)(self, *args)

    # ------------------------------------------------------------------
    def predict(self, X: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """The model's outputs for X (features, m), computed in batches, as one fresh array."""
        bs = batch_size or max(self.batch_size, 1024)
        m = X.shape[1]
        if m <= bs:
            return self.model.predict(X)
        return np.concatenate([self.model.predict(X[:, i:i + bs]) for i in range(0, m, bs)], axis=1)

    def evaluate(self, X: np.ndarray, y: np.ndarray, *, prefix: str = "", metrics_only: bool = False,
                 batch_size: int | None = None) -> dict[str, float]:
        """Loss and metrics on (X, y), as ``{prefix + name: value}``."""
        y_hat = self.predict(X, batch_size)
        out = {} if metrics_only else {prefix + "loss": self.loss(y_hat, y)}
        self.loss.release()  # evaluation never runs backward: drop what the loss cached
        for name, fn in self.metrics.items():
            out[prefix + name] = float(fn(y_hat, y))
        return out

    # ------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Where training stands, JSON-friendly (a checkpoint's ``trainer`` entry)."""
        return {
            "epoch": self.epoch, "batch": self.batch, "epochs": self.epochs,
            "batch_size": self.batch_size, "shuffle": self.shuffle,
            "rng_state": self.rng.bit_generator.state,
            "epoch_rng_state": self._epoch_rng_state,
            "loss_sum": self._loss_sum, "seen": self._seen,
            "history": self.history.state_dict(),
            "callbacks": [{"class": type(cb).__name__, "state": cb.state_dict()} for cb in self.callbacks],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in ("batch_size", "shuffle"):
            if state.get(key) != getattr(self, key):
                raise TrainingError(f"cannot resume: the checkpoint was made with {key}={state.get(key)!r}, "
                                    f"this Trainer has {key}={getattr(self, key)!r}; resuming exactly needs the same")
        self.epoch, self.batch = int(state["epoch"]), int(state["batch"])
        self.rng.bit_generator.state = state["rng_state"]
        self._epoch_rng_state = state["epoch_rng_state"]
        self._loss_sum, self._seen = float(state["loss_sum"]), int(state["seen"])
        self.history.load_state_dict(state["history"])
        saved = state.get("callbacks", [])
        for cb in self.callbacks:
            for entry in saved:
                if entry["class"] == type(cb).__name__:
                    cb.load_state_dict(entry["state"])
                    saved = [e for e in saved if e is not entry]
                    break

    # ------------------------------------------------------------------
    @contextlib.contextmanager
    def _ctrl_c_guard(self):
        """During fit, the first Ctrl-C asks to stop after the current step; a second one stops at once."""
        self._interrupted = False
        if threading.current_thread() is not threading.main_thread():
            yield  # signals can only be handled in the main thread
            return

        def handler(signum, frame):
            if self._interrupted:
                raise KeyboardInterrupt
            self._interrupted = True

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _stop_on_interrupt(self) -> None:
        where = f"epoch {self.epoch + 1}, batch {self.batch}" if self.batch else f"the end of epoch {self.epoch}"
        saved = None
        for cb in self.callbacks:
            saved = cb.save_now(self) or saved
        if saved is not None:
            raise TrainingInterrupted(f"training interrupted at {where}; checkpoint saved to {saved}. "
                                      f"Resume with Trainer.fit(..., resume_from='{saved}').",
                                      checkpoint=saved, where=where)
        raise TrainingInterrupted(f"training interrupted at {where}; no checkpoint was saved "
                                  f"(add a checkpoint callback to be able to resume).", where=where)
