"""Metrics: ``f(y_hat, y) -> float`` on arrays of shape (out, m).

Each declares its direction with ``@metric(higher_is_better=...)``: mse and
mae are lower-is-better, r2 and accuracy higher-is-better.

* mse: mean of (y_hat - y)^2 over all entries.
* mae: mean of |y_hat - y|.
* r2: coefficient of determination, 1 - SS_res / SS_tot, per output row,
  averaged over rows (1.0 is perfect; 0.0 is no better than the mean).
* accuracy: the fraction of examples classified right.
  - one output row (binary): y_hat >= 0.5 is class 1, compared with y >= 0.5
    (a sigmoid output and 0/1 labels; a model ending in logits, for
    bce_with_logits, is compared at 0.5 too, so add the sigmoid at
    prediction or read the threshold as logit 0.5);
  - C > 1 output rows (multi-class): the predicted class is the arg-max over
    the rows of each column (ties: the first row), compared with y given as
    class indices (1, m) or as one-hot / probability rows (C, m), whose
    arg-max is taken the same way.
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


def predicted_classes(y_hat: np.ndarray) -> np.ndarray:
    """Class index per column, shape (m,): the arg-max over rows, or y_hat >= 0.5 for one row."""
    if y_hat.shape[0] == 1:
        return (y_hat[0] >= 0.5).astype(np.intp)
    return np.argmax(y_hat, axis=0)


def true_classes(y_hat: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Class index per column of the targets, shape (m,): indices (1, m), one-hot rows or 0/1 labels."""
    if y_hat.shape[0] == 1:
        return (y.reshape(-1) >= 0.5).astype(np.intp)
    if y.ndim == 1 or y.shape[0] == 1:
        return y.reshape(-1).astype(np.intp)
    return np.argmax(y, axis=0)


@metric(higher_is_better=True)
def accuracy(y_hat: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(predicted_classes(y_hat) == true_classes(y_hat, y)))


@hookimpl
def minidl_metrics():
    return {"mse": mse, "mae": mae, "r2": r2, "accuracy": accuracy}
