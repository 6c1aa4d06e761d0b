"""Trainer: batched training loops with progress, callbacks, checkpoints and exact resume."""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from framework.callback import Callback
from framework.checkpoint import Checkpoint, load_checkpoint
from framework.classification import metric_inputs
from framework.checks import check_hyperparameter, check_positive_int
from framework.data import check_arrays
from framework.errors import (CheckpointError, ConfigError, DTypeError, DataError, InvalidTypeError,
                              MinidlError, MissingKeyError, ShapeError, TrainingError)
from framework.layer import Layer
from framework.loss import Loss, pairing_problem
from framework.memory import check_bytes
from framework.optimizer import Optimizer
from framework.progress import ProgressDisplay


class TrainingInterrupted(MinidlError, KeyboardInterrupt):
    """Training stopped on Ctrl-C; ``checkpoint`` is where it was saved (or None)."""

    def __init__(self, message: str, checkpoint=None, where: str = ""):
        super().__init__(message)
        self.checkpoint = checkpoint
        self.where = where


class History(Mapping):
    """Per-epoch logs, a read-only mapping from a log key to a numpy array.

    ``history["loss"]``, ``history["val_loss"]``, ``history["val_r2"]`` ...
    are float arrays with one value per epoch; ``history.epochs`` holds the
    epoch numbers (from 1) they belong to, and ``len(history.epochs)`` is
    the number of epochs (``len(history)``, as for any mapping, is the
    number of keys). A second ``Trainer.fit`` appends to the same History.
    """

    def __init__(self) -> None:
        self._epochs: list[int] = []
        self._logs: dict[str, list[float]] = {}

    def append(self, epoch: int, logs: dict[str, float]) -> None:
        """Add epoch ``epoch``'s logs (the Trainer's job). A key new at this epoch is NaN before it."""
        n = len(self._epochs)
        self._epochs.append(epoch)
        for key, value in logs.items():
            self._logs.setdefault(key, [math.nan] * n).append(float(value))
        for key, values in self._logs.items():
            if len(values) == n:
                values.append(math.nan)

    def update_last(self, logs: dict[str, float]) -> None:
        """Add to (or correct) the last epoch's row: values a callback put in the epoch logs.

        A key first seen now gets NaN for the earlier epochs, so every column
        stays aligned with ``epochs``.
        """
        n = len(self._epochs)
        for key, value in logs.items():
            column = self._logs.get(key)
            if column is None:
                self._logs[key] = [math.nan] * (n - 1) + [float(value)]
            elif len(column) == n:
                column[-1] = float(value)
            else:
                column.extend([math.nan] * (n - 1 - len(column)) + [float(value)])

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self._logs:
            raise MissingKeyError(f"history has no {key!r}; it has: {', '.join(self._logs) or '(nothing yet)'}")
        values = np.array(self._logs[key], dtype=np.float64)
        values.flags.writeable = False
        return values

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._logs))

    def __len__(self) -> int:
        return len(self._logs)

    def __contains__(self, key: object) -> bool:
        return key in self._logs

    @property
    def epochs(self) -> np.ndarray:
        """The epoch numbers (from 1), one per row of every array."""
        epochs = np.array(self._epochs, dtype=np.int64)
        epochs.flags.writeable = False
        return epochs

    @property
    def logs(self) -> dict[str, list[float]]:
        """Every column as a plain list (a copy), e.g. to compare two histories."""
        return {k: list(v) for k, v in self._logs.items()}

    def last(self) -> dict[str, float]:
        """The newest epoch's logs as plain floats (empty before the first epoch)."""
        return {k: v[-1] for k, v in self._logs.items()} if self._epochs else {}

    def state_dict(self) -> dict[str, Any]:
        return {"epochs": list(self._epochs), "logs": {k: list(v) for k, v in self._logs.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._epochs = [int(e) for e in state["epochs"]]
        self._logs = {k: [float(x) for x in v] for k, v in state["logs"].items()}

    def __repr__(self) -> str:
        return f"History(epochs={len(self._epochs)}, keys={list(self._logs)})"


def metric_name(metric: Callable, where: str = "metrics") -> str:
    """The log key of a callable metric: its ``name`` attribute, else its function name.

    A lambda, a ``functools.partial`` or any callable without a usable name
    is refused (:class:`ConfigError`) with the ways to give it one.
    """
    name = getattr(metric, "name", None)
    if name is None:
        name = getattr(metric, "__name__", None)
    if not isinstance(name, str) or not name.isidentifier():
        what = "a lambda" if name == "<lambda>" else repr(metric)
        raise ConfigError([(where, f"{what} has no name to log it under; define it with `def`, set a `name` "
                                   f"attribute (fn.name = 'my_metric'), or pass a dict {{'my_metric': fn}}")])
    return name


@dataclass(frozen=True)
class BatchSizeProblem:
    """An epoch of ``n`` examples in batches of ``batch_size`` has a batch (``smallest``) with fewer
    examples than the layer named ``layer`` (a dotted name in the model) ``needs`` in training."""

    layer: str
    layer_repr: str
    needs: int
    n: int
    batch_size: int
    smallest: int
    choices: tuple[int, ...]  # the nearest batch sizes below and above that leave no such batch

    def message(self, layer: str) -> str:
        """What is wrong and what would do, with ``layer`` naming the layer (``model.layers[1] (batch_norm)``)."""
        needs = f"{layer} needs at least {self.needs} examples in every training batch"
        if self.n < self.needs:
            return (f"the training data has {self.n} example{'s' * (self.n != 1)}, but {needs}; "
                    f"no batch size can give it that: use more training data")
        full, last = divmod(self.n, self.batch_size)
        choices = " or ".join(str(c) for c in self.choices)
        fix = (f"choose a batch size that leaves no batch of fewer than {self.needs} examples, e.g. {choices}")
        if last == 0 or self.batch_size >= self.n:  # every batch has the same size, too small
            size = min(self.batch_size, self.n)
            return f"{self.batch_size} makes batches of {size} example{'s' * (size != 1)}, but {needs}; {fix}"
        return (f"{self.batch_size} leaves a last batch of {last} example{'s' * (last != 1)} ({self.n} training "
                f"examples make {full} batch{'es' * (full != 1)} of {self.batch_size} and a last one of {last}), "
                f"but {needs}; {fix}")


def batch_size_problem(model: Layer, n: int, batch_size: int) -> BatchSizeProblem | None:
    """Whether training ``model`` on ``n`` examples in batches of ``batch_size`` gives some layer a batch
    smaller than its :attr:`~framework.layer.Layer.min_training_batch` (batch norm's 2), or None."""
    layers = [("", model)]
    for name, layer in layers:  # every layer, containers' children included
        children = layer.named_children() if isinstance(layer, Layer) else ()
        layers += [(f"{name}.{child}" if name else child, sub) for child, sub in children]
    name, layer, needs = max(((name, layer, int(getattr(layer, "min_training_batch", 1))) for name, layer in layers),
                             key=lambda item: item[2])

    def smallest(b: int) -> int:
        return n % b or min(b, n)

    if n >= needs and smallest(batch_size) >= needs:
        return None
    below = next((b for b in range(batch_size - 1, max(needs, batch_size - 100_000) - 1, -1)
                  if smallest(b) >= needs), None)
    above = next((b for b in range(batch_size + 1, min(n, batch_size + 100_000)) if smallest(b) >= needs), n)
    choices = tuple(b for b in (below, above) if b is not None and n >= needs)
    return BatchSizeProblem(name, repr(layer), needs, n, batch_size, smallest(batch_size), choices)


def _overrides(cb: Callback, event: str) -> bool:
    return getattr(type(cb), event) is not getattr(Callback, event)


class Trainer:
    """Runs mini-batch training of ``model`` on (X, y).

    Args:
        model: a :class:`Layer` (usually a ``Sequential``).
        loss: a :class:`Loss`.
        optimizer: an :class:`Optimizer` over ``model.parameters()``.
        epochs: number of passes over the training data in each ``fit``
            call. As in Keras, a second ``fit`` trains ``epochs`` more and
            appends to the same :class:`History`; ``fit(resume_from=...)``
            instead continues a checkpoint up to ``epochs`` in total.
        batch_size: examples per step; the last batch of an epoch may be
            smaller (its loss is weighted by its size in the epoch's mean).
            ``fit`` refuses one that leaves a batch smaller than a layer's
            ``min_training_batch`` (batch norm's 2) before anything trains.
        shuffle: draw one permutation per epoch; batches are contiguous
            slices of it.
        seed: seeds the shuffling and ``validation_split``; same seed, same
            data, same model: the same result bit for bit.
        callbacks: :class:`Callback` instances.
        metrics: names of registered metrics, ``f(y_hat, y)`` callables
            (logged under their ``name`` attribute or function name), or a
            dict ``{name: callable}``; computed at each epoch's end with that
            epoch's final parameters, on the training data ("r2") and on the
            validation data when given ("val_r2").
        progress: the training display (see :mod:`framework.progress`): True
            picks a bar on a terminal, one line per epoch on a file or pipe,
            a widget in Jupyter; False shows nothing; or name the form
            ("bar", "lines", "notebook", "off").
        display_keys: log keys the display shows besides the loss and the
            validation loss (the metrics a callback ``monitor``s are added).
        l2: lambda of the course's L2 regularisation (default 0, off): each
            training step adds lambda/(2n) * (sum of squared penalized
            weights) to the batch's loss, n its number of examples, and
            lambda/n * W to each penalized weight's gradient. Biases and the
            other parameters a layer declares ``unpenalized`` are left out.
            The logged "loss" includes the term; "val_loss" and the metrics
            do not. (An optimizer's ``weight_decay`` is another thing: see
            docs/shapes-and-math.md.)
        clip_grad_value: clip every gradient entry to [-v, v] after
            backward (``torch.nn.utils.clip_grad_value_``); None: off.
        clip_grad_norm: rescale all gradients together when their global
            L2 norm exceeds this (``torch.nn.utils.clip_grad_norm_``:
            factor max_norm / (norm + 1e-6)); after value clipping when
            both are set; None: off. A non-finite norm stops training.

    After ``fit``, ``stopped_epoch`` is the epoch (from 1) after which a
    callback stopped training early (``stop_training``), else None; and
    ``restored_epoch`` is the epoch whose weights the model holds when a
    callback put back an earlier epoch's weights (:meth:`mark_restored`),
    else None. :meth:`final_logs` gives the logs of the model returned.

    Shape:
        X: (features, m); y: (outputs, m).
    """

    def __init__(self, model: Layer, loss: Loss, optimizer: Optimizer, *, epochs: int = 10,
                 batch_size: int = 32, shuffle: bool = True, seed: int | None = 0,
                 callbacks: Iterable[Callback] = (),
                 metrics: Sequence[str | Callable] | Mapping[str, Callable] = (),
                 progress: bool | str = True, display_keys: Sequence[str] = (), l2: float = 0.0,
                 clip_grad_norm: float | None = None, clip_grad_value: float | None = None):
        if not isinstance(model, Layer):
            raise InvalidTypeError(f"Trainer: `model` must be a Layer (e.g. a Sequential). Received: {type(model).__name__}")
        if not isinstance(loss, Loss):
            raise InvalidTypeError(f"Trainer: `loss` must be a Loss. Received: {type(loss).__name__}")
        if not isinstance(optimizer, Optimizer):
            raise InvalidTypeError(f"Trainer: `optimizer` must be an Optimizer. Received: {type(optimizer).__name__}")
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
                raise InvalidTypeError(f"Trainer: callbacks[{i}] is not a Callback. Received: {cb!r}")
        self.callbacks = sorted(callbacks, key=lambda cb: cb.order)
        self.l2 = check_hyperparameter("Trainer", "l2", l2, low=0.0)
        self.clip_grad_norm = None if clip_grad_norm is None else check_hyperparameter(
            "Trainer", "clip_grad_norm", clip_grad_norm, low=0.0, low_open=True)
        self.clip_grad_value = None if clip_grad_value is None else check_hyperparameter(
            "Trainer", "clip_grad_value", clip_grad_value, low=0.0, low_open=True)
        self.metrics = self._metrics(metrics)
        self.progress = progress
        self.display_keys = list(display_keys)
        self.seconds = 0.0      # wall time of the last fit
        self.display: ProgressDisplay | None = None
        self.history = History()
        self.rng = np.random.default_rng(seed)
        self.epoch = 0          # epochs completed
        self.batch = 0          # batches completed in the current epoch
        self.stop_training = False
        self.stopped_epoch: int | None = None
        self.restored_epoch: int | None = None
        self.restored_monitor: str | None = None
        self._epoch_rng_state: dict | None = None
        self._loss_sum = 0.0
        self._seen = 0
        self._interrupted = False
        self._unchecked_targets: np.ndarray | None = None  # the fit's y until Loss.check_targets has run on it

    @staticmethod
    def _metrics(metrics) -> dict[str, Callable]:
        from framework.registry import registry

        pairs = []
        if isinstance(metrics, Mapping):
            for name, fn in metrics.items():
                if not (isinstance(name, str) and name.isidentifier()) or not callable(fn):
                    raise ConfigError([(f"metrics[{name!r}]", f"a dict of metrics maps names (identifiers) to "
                                                              f"callables f(y_hat, y). Received: {fn!r}")])
                pairs.append((f"metrics[{name!r}]", name, fn))
        else:
            for i, metric in enumerate(metrics):
                if isinstance(metric, str):
                    fn = registry.get("metrics", metric, where=f"Trainer: metrics[{i}]")
                    pairs.append((f"metrics[{i}]", metric, fn))
                elif callable(metric):
                    pairs.append((f"metrics[{i}]", metric_name(metric, f"metrics[{i}]"), metric))
                else:
                    raise ConfigError([(f"metrics[{i}]", f"expected a registered metric name or a callable "
                                                         f"f(y_hat, y). Received: {metric!r}")])
        out: dict[str, Callable] = {}
        for where, name, fn in pairs:
            if name in out or name in ("loss", "lr"):
                raise ConfigError([(where, f"two values would be logged as {name!r}; give each metric a "
                                           f"distinct name (and none called 'loss' or 'lr')")])
            out[name] = fn
        return out

    # ------------------------------------------------------------------
    def fit(self, X: np.ndarray, y: np.ndarray, validation_data: tuple | None = None, *,
            validation_split: float = 0.0, resume_from: str | Checkpoint | None = None) -> History:
        """Train ``epochs`` more epochs; return the :class:`History` (the same object every call).

        Args:
            X, y: training data, (features, m) and (outputs, m).
            validation_data: an ``(X_val, y_val)`` pair evaluated after each
                epoch ("val_loss", "val_<metric>").
            validation_split: instead, hold out this fraction of the columns
                of (X, y) for validation, chosen by a permutation seeded with
                ``seed`` (the same columns on every call with the same data).
            resume_from: a checkpoint (path or :class:`Checkpoint`) to
                continue exactly; training then runs until ``epochs`` epochs
                in total, as an experiment's ``trainer.epochs`` does.
        """
        self._refuse_integer_input(X, "training data X")
        if validation_data is not None and isinstance(validation_data, (tuple, list)) and validation_data:
            self._refuse_integer_input(validation_data[0], "validation data X")
        X, y = check_arrays(X, y, "training data")
        self._check_features(X, "training data X")
        if validation_split:
            if validation_data is not None:
                raise DataError("Trainer.fit: pass validation_data or validation_split, not both. "
                                f"Received: validation_split={validation_split!r} and validation_data")
            from framework.data import Dataset

            train, val = Dataset(X, y, name="training data").split(validation_split, seed=self.seed)
            X, y = train.X, train.y
            validation_data = (val.X, val.y)
        self._check_dtype(X, "training data X")
        self._check_dtype(y, "training data y")
        if validation_data is not None:
            Xv, yv = check_arrays(*validation_data, "validation data")
            self._check_features(Xv, "validation data X")
            self._check_dtype(Xv, "validation data X")
            self._check_dtype(yv, "validation data y")
            validation_data = (Xv, yv)
        problem = batch_size_problem(self.model, X.shape[1], self.batch_size)
        if problem is not None:  # before anything trains: batch norm would fail at the epoch's last batch
            where = "".join(f"[{part}]" for part in problem.layer.split(".")) if problem.layer else ""
            message = problem.message(f"model{where} ({problem.layer_repr})")
            raise ShapeError(f"Trainer: {message}" if problem.n < problem.needs else f"Trainer: batch_size={message}")
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
            # A run that a callback had stopped is over: resuming it trains nothing (the callbacks'
            # on_train_end still runs, so early stopping returns the same restored model).
            target = self.epoch if ckpt.trainer.get("stop_training") else self.epochs
        else:
            target = self.epoch + self.epochs  # Keras semantics: every fit trains `epochs` more
        self.target_epochs = target
        m = X.shape[1]
        if self.shuffle:
            check_bytes(X.nbytes + y.nbytes, f"Trainer: shuffle buffers for {m:,} examples")
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
        # The loss checks the target values (class indices in range ...) once, on all of y, at the
        # first step; then no batch pays for it (Loss.check_targets).
        self._unchecked_targets = y
        # A loss overriding forward() with the older signature still works: it checks every batch.
        forward = self.loss.forward
        self._loss_forward = (functools.partial(forward, targets_checked=True)
                              if "targets_checked" in inspect.signature(forward).parameters else forward)
        monitored = [cb.monitor for cb in self.callbacks if isinstance(getattr(cb, "monitor", None), str)]
        display = self.display = ProgressDisplay(self.progress, total=target, initial=self.epoch,
                                                 keys=[*monitored, *self.display_keys])
        show = display.mode == "bar"  # only a bar looks at single batches
        self.stop_training = False
        started = time.perf_counter()
        self.stopped_epoch = self.restored_epoch = self.restored_monitor = None
        # Overflow inside a step surfaces as a non-finite loss, which stops
        # training with one clear error instead of numpy warnings.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"), self._ctrl_c_guard(), display:
            self._call("on_train_begin", {})
            while self.epoch < target and not self.stop_training:
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
                    # mode="clip" writes straight into the buffers (the default,
                    # "raise", gathers into a temporary and copies it: 2.6x
                    # slower); a permutation holds no index to clip.
                    np.take(X.T, perm, axis=0, out=Xs.T, mode="clip")
                    np.take(y.T, perm, axis=0, out=ys.T, mode="clip")
                if show:
                    display.epoch_begin(self.epoch + 1, len(batches))
                self._run_batches(batches, display if show else None)
                logs = {"loss": self._loss_sum / self._seen, "lr": self.optimizer.lr}
                if self.metrics:
                    logs.update(self.evaluate(X, y, prefix="", metrics_only=True))
                if validation_data is not None:
                    logs.update(self.evaluate(*validation_data, prefix="val_"))
                self._check_finite_logs(logs)
                self.epoch += 1
                self.batch = 0
                self.history.append(self.epoch, logs)
                for cb in self.callbacks:
                    cb.on_epoch_end(self, self.epoch - 1, logs)
                    # What a callback adds to the logs (a custom metric) is part of the
                    # epoch's record for the callbacks after it (checkpoints) and the History.
                    self.history.update_last(logs)
                # After the callbacks: early stopping decides whether this epoch is the last.
                display.epoch_end(self.epoch, logs, last=self.stop_training or self.epoch >= target)
                if self._interrupted:
                    self._stop_on_interrupt()
            if self.stop_training and self.epoch < target:
                self.stopped_epoch = self.epoch
            self._call("on_train_end", self.history.last())
        self.seconds = time.perf_counter() - started
        self._unchecked_targets = None
        return self.history

    def mark_restored(self, epoch: int, *, monitor: str | None = None) -> None:
        """Record that the model now holds the weights it had at the end of ``epoch`` (from 1).

        A callback that puts back an earlier epoch's weights (early stopping's
        ``restore_best_weights``) calls this, so that :meth:`final_logs`, a
        run's summary and its target check describe the model returned.
        ``monitor`` names the log key that made that epoch the one to keep.
        """
        epochs = self.history.epochs.tolist()
        if epoch not in epochs:
            raise TrainingError(f"Trainer.mark_restored: epoch {epoch} is not in the history "
                                f"(epochs {epochs[:1]}..{epochs[-1:]})")
        self.restored_epoch = int(epoch)
        self.restored_monitor = monitor

    def final_logs(self) -> dict[str, float]:
        """The logs of the model as returned: the restored epoch's, else the last epoch's."""
        if self.restored_epoch is None:
            return self.history.last()
        row = self.history.epochs.tolist().index(self.restored_epoch)
        return {k: v[row] for k, v in self.history.logs.items() if row < len(v)}

    def log_keys(self, validation: bool) -> list[str]:
        """The keys each epoch's logs will have: loss, lr, the metrics, and val_* with validation data."""
        keys = ["loss", "lr", *self.metrics]
        if validation:
            keys += ["val_loss", *(f"val_{name}" for name in self.metrics)]
        return keys

    def _run_batches(self, batches: list, display: ProgressDisplay | None) -> None:
        """The rest of the current epoch's batches: the training loop's hot path."""
        model, loss_fn, optimizer = self.model, self.loss, self.optimizer
        # None unless l2 or clipping is set: the loop then pays one test per step.
        adjust = self._adjust_gradients if (self.l2 or self.clip_grad_norm or self.clip_grad_value) else None
        batch_begin = [cb for cb in self.callbacks if _overrides(cb, "on_batch_begin")]
        batch_end = [cb for cb in self.callbacks if _overrides(cb, "on_batch_end")]
        n_batches = len(batches)
        unchecked = self._unchecked_targets
        loss_forward = self._loss_forward
        for b in range(self.batch, n_batches):
            Xb, yb, n = batches[b]
            for cb in batch_begin:
                cb.on_batch_begin(self, b, {"batch_size": n})
            y_hat = model.forward(Xb, True)
            if unchecked is not None:
                loss_fn.check_inputs(y_hat, yb)  # shapes first, as forward would
                loss_fn.check_targets(unchecked, y_hat.shape[0])
                unchecked = self._unchecked_targets = None
            value = loss_forward(y_hat, yb)
            if not math.isfinite(value):
                raise TrainingError(
                    f"the loss became {value} at epoch {self.epoch + 1}, batch {b + 1} of {n_batches}; "
                    f"training stopped before applying this step (try a smaller learning rate, or "
                    f"standardised inputs). Parameters were not saved in this state.")
            model.backward(loss_fn.backward(), input_grad=False)
            if adjust is not None:
                value += adjust(n, b, n_batches)
            optimizer.step()
            self._loss_sum += value * n
            self._seen += n
            self.batch = b + 1
            if display is not None:
                display.batch_end(b + 1, value)
            for cb in batch_end:
                cb.on_batch_end(self, b, {"loss": value, "batch_size": n})
            if self._interrupted:
                self._stop_on_interrupt()

    def _check_finite_logs(self, logs: dict[str, float]) -> None:
        """Stop at an epoch whose logged losses are not finite, before any callback records or saves it.

        Each batch's loss is checked before its step; but an epoch's mean can
        overflow, and the validation loss can be NaN while every training
        batch's is finite (a batch norm's running variance overflowed: training
        batches use their own statistics). A checkpoint of this epoch would
        hold that state, and resuming from it would repeat the failure.
        """
        for key, what in (("loss", "training loss"), ("val_loss", "validation loss")):
            value = logs.get(key)
            if value is not None and not math.isfinite(value):
                also = f" (training loss {logs['loss']:.4g})" if key != "loss" else ""
                raise TrainingError(
                    f"the {what} ({key}) became {value} at epoch {self.epoch + 1}{also}; training stopped "
                    f"before the end of this epoch was recorded or saved (try a smaller learning rate, or "
                    f"standardised inputs). Parameters were not saved in this state.")

    def _adjust_gradients(self, n: int, b: int, n_batches: int) -> float:
        """After backward: the L2 term (its gradient added), then clipping. Returns the loss term."""
        penalty = 0.0
        if self.l2:
            scale = self.l2 / n
            for p in self.model.penalized_parameters():
                flat = p.data.reshape(-1)
                penalty += float(np.dot(flat, flat))
                p.grad += scale * p.data
            penalty *= scale / 2.0
        if self.clip_grad_value is not None:
            v = self.clip_grad_value
            for p in self.optimizer.params:
                np.clip(p.grad, -v, v, out=p.grad)
        if self.clip_grad_norm is not None:
            grads = [p.grad.reshape(-1) for p in self.optimizer.params]
            norm = math.sqrt(sum(float(np.dot(g, g)) for g in grads))
            if not math.isfinite(norm):
                raise TrainingError(
                    f"the gradient norm became {norm} at epoch {self.epoch + 1}, batch {b + 1} of {n_batches}; "
                    f"clipping cannot rescale it, so training stopped before applying this step (try a "
                    f"smaller learning rate, or standardised inputs)")
            factor = self.clip_grad_norm / (norm + 1e-6)
            if factor < 1.0:
                for p in self.optimizer.params:
                    p.grad *= factor
        return penalty

    def _refuse_integer_input(self, X, what: str) -> None:
        """Layers refuse integer input and minidl never casts silently: neither does fit (check_arrays would)."""
        try:
            kind = np.asarray(X).dtype.kind
        except Exception:  # check_arrays says what is wrong with it
            return
        if kind in "iub":
            dtype = self.model.dtype
            takes = f"{dtype} input" if dtype is not None else "float32 or float64 input"
            raise DTypeError(f"Trainer.fit: the {what} is {np.asarray(X).dtype}; the model takes {takes} and "
                             f"minidl does not cast silently. Convert it with X.astype('{dtype or 'float64'}')")

    def _check_features(self, X: np.ndarray, what: str) -> None:
        """X's rows against the model's inputs, on the whole array: a batch's error would show (features, batch)."""
        n = self.model.in_features
        if n is None or X.shape[0] == n:
            return
        layers = getattr(self.model, "layers", None)
        first = layers[0] if layers else self.model
        shown = repr(first) if "\n" not in repr(first) else type(first).__name__
        hint = " (did you pass examples as rows? transpose X to (features, m))" if X.shape[1] == n else ""
        raise ShapeError(f"Trainer.fit: the model takes {n} features (rows of X; its first layer is {shown}), "
                         f"so the {what} must have shape ({n}, m). Received: shape {X.shape}{hint}")

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
        y_hat, y = metric_inputs(y_hat, y, self.loss)
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
            "stop_training": bool(self.stop_training),
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
