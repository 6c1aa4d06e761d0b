"""Metrics: ``f(y_hat, y) -> float`` on arrays of shape (out, m).

Each declares its direction with ``@metric(higher_is_better=...)``: mse and
mae are lower-is-better, all the others higher-is-better. The class
decisions (arg-max over rows, or >= 0.5 for one row) are
:mod:`framework.classification`'s, which run summaries share.

* mse: mean of (y_hat - y)^2 over all entries.
* mae: mean of |y_hat - y|.
* r2: coefficient of determination, 1 - SS_res / SS_tot, per output row,
  averaged over rows (1.0 is perfect; 0.0 is no better than the mean).
* accuracy: the fraction of examples classified right.
  - one output row (binary): y_hat >= 0.5 is class 1, compared with y >= 0.5
    (a sigmoid output and 0/1 labels; in a run whose loss takes logits, such
    as bce_with_logits, the metrics are given the sigmoid of the logit, so
    the rule is logit >= 0);
  - C > 1 output rows (multi-class): the predicted class is the arg-max over
    the rows of each column (ties: the first row), compared with y given as
    class indices (1, m) or as one-hot / probability rows (C, m), whose
    arg-max is taken the same way.
* top_k_accuracy (k = 5): the true class among the k highest rows.
* precision, recall, f1: macro averages over the classes present in the
  targets or the predictions (scikit-learn's average="macro",
  zero_division=0), with the same class decisions as accuracy.
"""

from __future__ import annotations

import numpy as np

from framework.classification import per_class_counts, predicted_classes, true_classes
from framework.hookspecs import hookimpl
from framework.metric import metric
from framework.errors import InvalidValueError


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
    return float(np.mean(predicted_classes(y_hat) == true_classes(y_hat, y)))


@metric(higher_is_better=True)
def top_k_accuracy(y_hat: np.ndarray, y: np.ndarray, k: int = 5) -> float:
    """Fraction of examples whose true class is among the k highest-scoring rows.

    A tie with the k-th score counts in the example's favour. With one
    output row (two classes) it is accuracy for k = 1 and 1.0 for k >= 2.
    Registered with k = 5; in Python, :func:`top_k` makes one for any k.
    """
    if y_hat.shape[0] == 1:
        return 1.0 if k >= 2 else accuracy(y_hat, y)
    t = true_classes(y_hat, y)
    true_score = y_hat[t, np.arange(y_hat.shape[1])]
    higher = (y_hat > true_score).sum(axis=0)  # rows that beat the true class
    return float(np.mean(higher < k))


def _top_k_rows_problem(k: int):
    """``output_rows_problem`` of a top-k metric: with k or fewer classes every example counts as right."""
    def problem(rows: int) -> str | None:
        classes = max(rows, 2)  # one row: two classes
        if classes > k:
            return None
        return (f"counts an example as right when its true class is among the {k} highest-scoring of the "
                f"model's {classes} classes, so it would always be 1.0: use accuracy, or this metric with more "
                f"than {k} classes (in Python, plugins.metrics.top_k(k) makes it for another k)")
    return problem


#: Experiment validation asks this of the model's output rows (as it asks the loss).
top_k_accuracy.output_rows_problem = _top_k_rows_problem(5)


def top_k(k: int):
    """``top_k_accuracy`` for a given k, as a metric named "top_<k>_accuracy"."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidValueError(f"top_k: expected `k` to be a positive integer. Received: k={k!r}")

    @metric(higher_is_better=True)
    def top_k_metric(y_hat, y):
        return top_k_accuracy(y_hat, y, k)

    top_k_metric.__name__ = f"top_{k}_accuracy"
    top_k_metric.output_rows_problem = _top_k_rows_problem(k)
    return top_k_metric


def _macro(values: np.ndarray, present: np.ndarray) -> float:
    return float(values[present].mean()) if present.any() else 0.0


@metric(higher_is_better=True)
def precision(y_hat: np.ndarray, y: np.ndarray) -> float:
    """Macro precision: the mean over classes of TP / predicted, 0 for a class never predicted.

    Averaged over the classes present in the targets or the predictions, as
    scikit-learn's ``precision_score(average="macro", zero_division=0)``.
    """
    tp, predicted, _, present = per_class_counts(y_hat, y)
    return _macro(np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0), present)


@metric(higher_is_better=True)
def recall(y_hat: np.ndarray, y: np.ndarray) -> float:
    """Macro recall: the mean over classes of TP / actual (classes present, as :func:`precision`)."""
    tp, _, actual, present = per_class_counts(y_hat, y)
    return _macro(np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0), present)


@metric(higher_is_better=True)
def f1(y_hat: np.ndarray, y: np.ndarray) -> float:
    """Macro F1: the mean over classes of 2 TP / (predicted + actual), each class's harmonic mean of
    precision and recall (classes present, as :func:`precision`)."""
    tp, predicted, actual, present = per_class_counts(y_hat, y)
    total = predicted + actual
    return _macro(np.divide(2 * tp, total, out=np.zeros_like(tp), where=total > 0), present)


@hookimpl
def minidl_metrics():
    return {"mse": mse, "mae": mae, "r2": r2, "accuracy": accuracy, "top_k_accuracy": top_k_accuracy,
            "precision": precision, "recall": recall, "f1": f1}
