"""Loss: the base of every loss function."""

from __future__ import annotations

from typing import Any

import numpy as np

from framework.checks import ValidatedArguments
from framework.errors import BackwardError, DTypeError, InvalidTypeError, ShapeError
from framework.layer import NO_CACHE


class Loss(ValidatedArguments):
    """Base class of losses: L = loss(y_hat, y), a Python float.

    Subclasses implement ``forward_pass(y_hat, y) -> (L, cache)`` and
    ``backward_pass(cache) -> dL/dy_hat``. The base checks shapes and dtypes
    and releases the cache after ``backward``, like :class:`Layer`.

    Checks come in two parts: ``check_inputs(y_hat, y)`` (shapes, dtypes,
    anything about y_hat), run on every call, and ``check_targets(y,
    out_rows)``, the checks of the target values alone (class indices in
    range, labels in [0, 1]). The Trainer runs ``check_targets`` once per
    ``fit`` on the whole training set and then calls ``forward(y_hat, y,
    targets_checked=True)`` on its batches, so a value check that costs a
    few numpy calls is not paid on every step.

    Shape:
        y_hat: (out, m), the model's output; y: (out, m), the targets, same
        dtype. ``backward()`` returns dL/dy_hat, shape (out, m), a fresh array.
    """

    #: What y_hat must be, e.g. "logits" (unnormalised scores) or
    #: "probabilities"; ``None`` accepts any output. A model whose last layer
    #: declares that it :attr:`~framework.layer.Layer.produces` something else
    #: is rejected before training (:func:`pairing_problem`).
    expects: str | None = None

    #: Appended to the message of that rejection: how to fix the pairing.
    pairing_hint: str = ""

    #: True for a loss whose targets are classes (its runs report a
    #: confusion matrix in summary.json).
    classification: bool = False

    def __init__(self) -> None:
        self._cache: Any = NO_CACHE

    def target_rows(self, out_rows: int) -> tuple[int, ...]:
        """The numbers of target rows this loss accepts for a model with ``out_rows`` outputs.

        The default is ``(out_rows,)``: y has y_hat's shape. A loss taking
        class indices (one row) besides per-class targets says ``(1, out_rows)``.
        """
        return (out_rows,)

    @classmethod
    def output_rows_problem(cls, rows: int) -> str | None:
        """Why a model with ``rows`` output rows cannot feed this loss, whatever the data, or ``None``.

        Checked before training, against the rows an experiment's layers
        give (naming the last layer's ``out_features``): cross_entropy says
        it needs at least 2. The default accepts any number.
        """
        return None

    def forward_pass(self, y_hat: np.ndarray, y: np.ndarray) -> tuple[float, Any]:
        raise NotImplementedError(f"{type(self).__name__} must implement forward_pass(y_hat, y)")

    def backward_pass(self, cache: Any) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must implement backward_pass(cache)")

    def check_inputs(self, y_hat: np.ndarray, y: np.ndarray) -> None:
        for name, arr in (("y_hat", y_hat), ("y", y)):
            if not isinstance(arr, np.ndarray):
                raise InvalidTypeError(f"{self!r} expects {name} as a numpy array. Received: {type(arr).__name__}")
        if y_hat.ndim != 2 or y_hat.shape != y.shape:
            raise ShapeError(
                f"{self!r} expects y_hat and y of the same shape (out, m), examples as columns. "
                f"Received: y_hat {y_hat.shape}, y {y.shape}"
            )
        if y_hat.dtype.kind != "f" or y_hat.dtype != y.dtype:
            raise DTypeError(
                f"{self!r} expects y_hat and y of one float dtype (no silent casting). "
                f"Received: y_hat {y_hat.dtype}, y {y.dtype}"
            )

    def check_targets(self, y: np.ndarray, out_rows: int) -> None:
        """Check the values of targets ``y`` for a model with ``out_rows`` outputs (default: nothing).

        ``y`` has passed ``check_inputs`` against outputs of ``out_rows`` rows;
        raise a :class:`~framework.errors.DataError` naming what is wrong.
        """

    def forward(self, y_hat: np.ndarray, y: np.ndarray, *, targets_checked: bool = False) -> float:
        """L for outputs ``y_hat`` and targets ``y``; caches what ``backward`` needs.

        ``targets_checked=True`` skips :meth:`check_targets`: the caller has
        run it on these targets (or on a set they were taken from).
        """
        self.check_inputs(y_hat, y)
        if not targets_checked:
            self.check_targets(y, y_hat.shape[0])
        value, self._cache = self.forward_pass(y_hat, y)
        return float(value) + 0.0  # + 0.0: a loss of -0.0 (a negated zero sum) is 0

    def __call__(self, y_hat: np.ndarray, y: np.ndarray, *, targets_checked: bool = False) -> float:
        return self.forward(y_hat, y, targets_checked=targets_checked)

    def backward(self) -> np.ndarray:
        """dL/dy_hat for the last ``forward`` call."""
        cache = self._cache
        if cache is NO_CACHE:
            raise BackwardError(
                f"{self!r}.backward() needs a call loss(y_hat, y) first; each call allows "
                f"exactly one backward."
            )
        self._cache = NO_CACHE
        return self.backward_pass(cache)

    def release(self) -> None:
        """Drop the cache of the last forward (no backward will follow)."""
        self._cache = NO_CACHE

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


def pairing_problem(last_layer: Any, loss: Any, *, layer_name: str | None = None,
                    loss_name: str | None = None) -> str | None:
    """Why a model ending in ``last_layer`` cannot feed ``loss``, or ``None`` when it can.

    Both may be classes or instances; the names (registered names, in an
    experiment) default to the class names. Only what they declare is
    compared: the layer's ``produces`` against the loss's ``expects``.
    """
    produces = getattr(last_layer, "produces", None)
    expects = getattr(loss, "expects", None)
    if produces is None or expects is None or produces == expects:
        return None
    if layer_name is None:
        layer_name = last_layer.__name__ if isinstance(last_layer, type) else type(last_layer).__name__
    if loss_name is None:
        loss_name = loss.__name__ if isinstance(loss, type) else type(loss).__name__
    hint = getattr(loss, "pairing_hint", "")
    return (f"the model's last layer ({layer_name}) outputs {produces}, but the loss ({loss_name}) "
            f"expects {expects}" + (f": {hint}" if hint else ""))
