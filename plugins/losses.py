"""Losses. Each returns a Python float and, from ``backward()``, dL/dy_hat.

* MSELoss: L = (1/N) sum (y_hat - y)^2 over all N = out * m entries (for one
  output this is the notes' (1/m) sum_i (y_i - y_hat_i)^2; for several it is
  PyTorch's mean). dL/dy_hat = (2/N) (y_hat - y).
* BCELoss: binary cross-entropy on probabilities (a sigmoid output),
  L = -(1/N) sum [y log p + (1 - y) log(1 - p)] with p = y_hat clipped to
  [eps, 1 - eps] (eps the dtype's machine epsilon), so outputs of exactly 0
  or 1 give a large finite loss, never inf or NaN.
  dL/dy_hat = (p - y) / (p (1 - p)) / N.
"""

from __future__ import annotations

import numpy as np

from framework.errors import DataError
from framework.hookspecs import hookimpl
from framework.loss import Loss


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


@hookimpl
def minidl_losses():
    return {"mse": MSELoss, "bce": BCELoss}
