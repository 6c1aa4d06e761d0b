"""Class decisions from a model's outputs: what classification metrics and run summaries share.

Classes are rows: a model for C > 1 classes outputs (C, m) scores (logits
or probabilities) and predicts, for each column, the row of the largest
score (ties: the first such row). A model with one output row is binary:
y_hat >= 0.5 is class 1 (a sigmoid's probability); a run whose loss takes
logits (``Loss.expects == "logits"``, as ``bce_with_logits``) gives its
metrics :func:`metric_scores`, the sigmoid of the logit, so that the rule
is logit >= 0, the decision ``minidl predict`` makes. Targets are class indices (1, m) or (m,), or one row per
class (one-hot or probabilities, whose arg-max is the class), or for one
output row 0/1 labels compared at 0.5.
"""

from __future__ import annotations

import numpy as np

from framework.errors import DataError


def metric_scores(y_hat: np.ndarray, loss) -> np.ndarray:
    """What a run's metrics see: probabilities sigmoid(z) for one row of logits, else ``y_hat`` unchanged.

    Only a one-row model on a loss declaring ``expects = "logits"`` is
    converted (the binary threshold 0.5 then means logit 0); with C > 1 rows
    the arg-max and the top k are the same on logits as on softmax
    probabilities, so they are left as they are.
    """
    if getattr(loss, "expects", None) != "logits" or y_hat.ndim != 2 or y_hat.shape[0] != 1:
        return y_hat
    e = np.exp(-np.abs(y_hat))  # <= 1: no overflow for any logit
    return np.where(y_hat >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(y_hat.dtype, copy=False)


def predicted_classes(y_hat: np.ndarray) -> np.ndarray:
    """The predicted class of each column, shape (m,), integers."""
    if y_hat.shape[0] == 1:
        return (y_hat[0] >= 0.5).astype(np.intp)
    return np.argmax(y_hat, axis=0)


def true_classes(y_hat: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The target class of each column, shape (m,), integers (``y_hat`` tells how to read ``y``)."""
    if y_hat.shape[0] == 1:
        return (y.reshape(-1) >= 0.5).astype(np.intp)
    if y.ndim == 1 or y.shape[0] == 1:
        t = y.reshape(-1)
        C = int(y_hat.shape[0])
        bad = (t < 0) | (t >= C) | (t != np.floor(t))  # NaN is caught by the last test
        if bad.any():
            shown = ", ".join(f"{v:g}" for v in np.unique(t[bad])[:3])
            raise DataError(f"class indices must be integers in [0, {C - 1}] for {C} rows of scores "
                            f"(one per class). Received: {shown}")
        return t.astype(np.intp)
    return np.argmax(y, axis=0)


def default_classes(loss, out_rows: int, target_names: list[str] | None = None) -> list[str] | None:
    """The class names of a classification run whose data names no classes, or None.

    A loss declaring ``classification`` makes a classifier of a model with
    one output row (binary: the classes "0" and "1") or of C > 1 rows when
    the loss also takes one row of class indices (``1 in
    loss.target_rows(C)``, as ``cross_entropy``: one class among C). Its
    classes are then named by the C target columns when the data has that
    many named ones (probability or one-hot columns such as ``pa, pb, pc``:
    the column of each class's probability names the class), else "0" ..
    "C-1", the class indices. A loss of C > 1 rows that takes no class
    indices (``bce`` on C columns: C yes/no questions) names none: None.
    """
    if not getattr(loss, "classification", False):
        return None
    if out_rows == 1:
        return ["0", "1"]
    if 1 not in loss.target_rows(out_rows):
        return None
    if target_names is not None and len(target_names) == out_rows and len(set(target_names)) == out_rows:
        return [str(name) for name in target_names]
    return [str(k) for k in range(out_rows)]


def n_classes(y_hat: np.ndarray) -> int:
    """C for (C, m) scores, 2 for one binary output row."""
    return max(int(y_hat.shape[0]), 2)


def confusion_matrix(y_hat: np.ndarray, y: np.ndarray, n: int | None = None) -> np.ndarray:
    """Counts (n, n): row i, column j is the number of examples of class i predicted as class j."""
    n = n_classes(y_hat) if n is None else n
    t, p = true_classes(y_hat, y), predicted_classes(y_hat)
    return np.bincount(t * n + p, minlength=n * n).reshape(n, n)


def per_class_counts(y_hat: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(true positives, predicted, actual, present) per class; ``present``: in the targets or the predictions."""
    cm = confusion_matrix(y_hat, y)
    tp = np.diag(cm).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    actual = cm.sum(axis=1).astype(np.float64)
    return tp, predicted, actual, (predicted + actual) > 0
