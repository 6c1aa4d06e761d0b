"""Metrics: ``f(y_hat, y) -> float`` on arrays of shape (out, m).

Each declares its direction with ``@metric(higher_is_better=...)``: mse and
mae are lower-is-better, r2 and accuracy higher-is-better.

* mse: mean of (y_hat - y)^2 over all entries.
* mae: mean of |y_hat - y|.
* r2: coefficient of determination, 1 - SS_res / SS_tot, per output row,
  averaged over rows (1.0 is perfect; 0.0 is no better than the mean).
* accuracy: for one output row, the fraction of examples where
  (y_hat >= 0.5) equals (y >= 0.5) (sigmoid outputs, 0/1 labels); for several
  rows, the fraction where argmax over rows agrees (one-hot labels).
"""

from __future__ import annotations

import numpy as np

from framework.hookspecs import hookimpl
from framework.metric import metric


@metric(higher_is_better=False)
def mse(y_hat: np.ndarray, y: np.ndarray) -> float:
    diff = (y_hat - y).reshape(-1)
    return float(np.dot(diff, diff) / diff.size)


@metric(higher_is_better=False)
def mae(y_hat: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.abs(y_hat - y)))


@metric(higher_is_better=True)
def r2(y_hat: np.ndarray, y: np.ndarray) -> float:
    ss_res = np.sum((y - y_hat) ** 2, axis=1)
    ss_tot = np.sum((y - y.mean(axis=1, keepdims=True)) ** 2, axis=1)
    # A constant target row has no variance to explain: score it 1.0 when it is
    # predicted exactly and 0.0 otherwise, instead of dividing by zero.
    safe = np.where(ss_tot > 0, ss_tot, 1.0)
    scores = np.where(ss_tot > 0, 1.0 - ss_res / safe, np.where(ss_res == 0, 1.0, 0.0))
    return float(np.mean(scores))


@metric(higher_is_better=True)
def accuracy(y_hat: np.ndarray, y: np.ndarray) -> float:
    if y.shape[0] == 1:
        return float(np.mean((y_hat >= 0.5) == (y >= 0.5)))
    return float(np.mean(np.argmax(y_hat, axis=0) == np.argmax(y, axis=0)))


@hookimpl
def minidl_metrics():
    return {"mse": mse, "mae": mae, "r2": r2, "accuracy": accuracy}
