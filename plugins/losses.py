"""Losses. Each returns a Python float and, from ``backward()``, dL/dy_hat.

* MSELoss: L = (1/N) sum (y_hat - y)^2 over all N = out * m entries (for one
  output this is the notes' (1/m) sum_i (y_i - y_hat_i)^2; for several it is
  PyTorch's mean). dL/dy_hat = (2/N) (y_hat - y).
* BCELoss: binary cross-entropy on probabilities (a sigmoid output),
  L = -(1/N) sum [y log p + (1 - y) log(1 - p)] with p = y_hat clipped to
  [eps, 1 - eps] (eps the dtype's machine epsilon), so outputs of exactly 0
  or 1 give a large finite loss, never inf or NaN.
  dL/dy_hat = (p - y) / (p (1 - p)) / N.
* CrossEntropyLoss: softmax cross-entropy on logits Z (C, m), classes as
  rows, equal to ``torch.nn.functional.cross_entropy`` (mean over the m
  examples). Targets are class indices, shape (1, m) or (m,), or class
  probabilities Q (C, m). With label smoothing e the target becomes
  (1 - e) Q + e / C. L = -(1/m) sum_j sum_c Q[c, j] log softmax(Z)[c, j], the
  log-softmax computed as (Z - M) - log sum exp(Z - M), M the column max.
  dL/dZ = (softmax(Z) * sum_c Q - Q) / m, which is (softmax(Z) - Q) / m when
  each target column sums to 1. Derivation: docs/shapes-and-math.md.
"""

from __future__ import annotations

import numpy as np

from typing import Annotated

from pydantic import Field

from framework.checks import check_hyperparameter
from framework.errors import DataError, DTypeError, ShapeError
from framework.hookspecs import hookimpl
from framework.loss import Loss

UnitClosed = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


class MSELoss(Loss):
    """Mean squared error. Shape: y_hat, y (out, m) -> float; dL/dy_hat (out, m)."""

    def forward_pass(self, y_hat, y):
        diff = np.subtract(y_hat, y)
        flat = diff.reshape(-1)
        return np.dot(flat, flat) / diff.size, diff

    def backward_pass(self, diff):
        diff *= 2.0 / diff.size  # diff is this loss's own array: reuse it as the gradient
        return diff


class BCELoss(Loss):
    """Binary cross-entropy on probabilities in [0, 1].

    Shape: y_hat, y (out, m) with values in [0, 1] -> float; dL/dy_hat (out, m).
    Pair it with a final Sigmoid layer.
    """

    def check_inputs(self, y_hat, y):
        super().check_inputs(y_hat, y)
        for name, arr, hint in (("y", y, "targets must be 0/1 labels or probabilities"),
                                ("y_hat", y_hat, "end the model with a Sigmoid layer")):
            lo, hi = float(arr.min()), float(arr.max())
            if not (0.0 <= lo and hi <= 1.0):
                raise DataError(f"{self!r}: {name} must lie in [0, 1] ({hint}). "
                                f"Received: values from {lo:g} to {hi:g}")

    def forward_pass(self, y_hat, y):
        eps = np.finfo(y_hat.dtype).eps
        p = np.clip(y_hat, eps, 1.0 - eps)
        loss = -(np.dot(y.reshape(-1), np.log(p).reshape(-1))
                 + np.dot((1.0 - y).reshape(-1), np.log1p(-p).reshape(-1))) / y.size
        return loss, (p, y)

    def backward_pass(self, cache):
        p, y = cache
        grad = p - y
        grad /= p * (1.0 - p)
        grad /= y.size
        return grad


def _class_indices(y_hat, y) -> bool:
    """Whether y holds class indices, (1, m) or (m,), rather than probabilities (C, m)."""
    C, m = y_hat.shape
    return y.shape == (m,) or (y.shape == (1, m) and C > 1)


class CrossEntropyLoss(Loss):
    """Softmax cross-entropy on logits, like ``torch.nn.functional.cross_entropy``.

    Args:
        label_smoothing: e in [0, 1]; the target becomes (1 - e) Q + e / C.

    Shape:
        y_hat: logits (C, m), classes as rows, examples as columns; no
        softmax before it (the loss applies a fused, stable log-softmax).
        y: class indices, (1, m) or (m,), integer values in [0, C) of any
        integer or float dtype; or class probabilities (C, m), y_hat's dtype.
        Returns the mean over the m examples; ``backward()`` gives dL/dy_hat (C, m).
    """

    expects = "logits"
    pairing_hint = ("remove the final softmax (or sigmoid) layer; cross_entropy applies a stable "
                    "log-softmax itself. Use softmax at prediction time to get probabilities.")

    def __init__(self, label_smoothing: UnitClosed = 0.0):
        super().__init__()
        self.label_smoothing = check_hyperparameter("CrossEntropyLoss", "label_smoothing", label_smoothing,
                                                    low=0.0, high=1.0)

    def target_rows(self, out_rows):
        return (1, out_rows)

    def check_inputs(self, y_hat, y):
        for name, arr in (("y_hat", y_hat), ("y", y)):
            if not isinstance(arr, np.ndarray):
                raise TypeError(f"{self!r} expects {name} as a numpy array. Received: {type(arr).__name__}")
        if y_hat.ndim != 2:
            raise ShapeError(f"{self!r} expects y_hat as logits of shape (C, m), classes as rows. "
                             f"Received: shape {y_hat.shape}")
        if y_hat.dtype.kind != "f":
            raise DTypeError(f"{self!r} expects float32 or float64 logits. Received: dtype {y_hat.dtype}")
        C, m = y_hat.shape
        if _class_indices(y_hat, y):
            if y.dtype.kind not in "iuf":
                raise DTypeError(f"{self!r} expects class indices of an integer or float dtype. "
                                 f"Received: {y.dtype}")
            flat = y.reshape(-1)
            lo, hi = (flat.min(), flat.max()) if m else (0, 0)
            if not (lo >= 0 and hi < C) or (y.dtype.kind == "f" and not np.array_equal(flat, np.floor(flat))):
                bad = flat[(flat < 0) | (flat >= C) | (flat != np.floor(flat))][:3]
                raise DataError(f"{self!r}: class indices must be integers in [0, {C - 1}] for {C} rows of "
                                f"logits. Received: {', '.join(f'{v:g}' for v in bad)}")
            return
        if y.shape != y_hat.shape:
            raise ShapeError(f"{self!r} expects y as class indices of shape (1, {m}) or ({m},), or as class "
                             f"probabilities of y_hat's shape {y_hat.shape}. Received: y {y.shape}")
        if y.dtype != y_hat.dtype:
            raise DTypeError(f"{self!r} expects class probabilities of y_hat's dtype (no silent casting). "
                             f"Received: y_hat {y_hat.dtype}, y {y.dtype}")

    def forward_pass(self, y_hat, y):
        C, m = y_hat.shape
        e = self.label_smoothing
        shifted = y_hat - y_hat.max(axis=0, keepdims=True)
        P = np.exp(shifted)
        total = P.sum(axis=0, keepdims=True)
        log_total = np.log(total)
        P /= total  # softmax, kept for the gradient
        if _class_indices(y_hat, y):
            idx = y.reshape(-1).astype(np.intp)
            cols = np.arange(m)
            picked = shifted[idx, cols].sum() - log_total.sum()  # sum_j log softmax(Z)[y_j, j]
            if e:
                everything = shifted.sum() - C * log_total.sum()  # sum over all entries of log softmax
                value = -((1.0 - e) * picked + e / C * everything) / m
            else:
                value = -picked / m
            return value, (P, idx, cols, None)
        Q = y if not e else (1.0 - e) * y + e / C
        log_p = shifted
        log_p -= log_total
        value = -np.dot(Q.reshape(-1), log_p.reshape(-1)) / m
        return value, (P, None, None, Q)

    def backward_pass(self, cache):
        P, idx, cols, Q = cache
        C, m = P.shape
        e = self.label_smoothing
        grad = P  # the loss's own array: reused
        if Q is None:
            grad[idx, cols] -= 1.0 - e
            if e:
                grad -= e / C
        else:
            grad *= Q.sum(axis=0, keepdims=True)
            grad -= Q
        grad /= m
        return grad

    def extra_repr(self):
        return f"label_smoothing={self.label_smoothing:g}" if self.label_smoothing else ""


@hookimpl
def minidl_losses():
    return {"mse": MSELoss, "bce": BCELoss, "cross_entropy": CrossEntropyLoss}
