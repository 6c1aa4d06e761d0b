"""Class decisions from a model's outputs: what classification metrics and run summaries share.

Classes are rows: a model for C > 1 classes outputs (C, m) scores (logits
or probabilities) and predicts, for each column, the row of the largest
score (ties: the first such row). A model with one output row is binary:
y_hat >= 0.5 is class 1 (a sigmoid's probability); a run whose loss takes
logits (``Loss.expects == "logits"``, as ``bce_with_logits``) gives its
metrics :func:`metric_scores`, the sigmoid of the logit, so that the rule
is logit >= 0, the decision ``minidl predict`` makes. Targets are class indices (1, m) or (m,), or one row per
class (one-hot or probabilities, whose arg-max is the class), or for one
output row 0/1 labels compared at 0.5. A multi-label model (C yes/no
questions, :func:`is_multi_label`) gives its metrics each decision as one
binary example (:func:`metric_inputs`).
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


def is_multi_label(loss, out_rows: int) -> bool:
    """Whether a model of ``out_rows`` outputs trained with ``loss`` answers C separate yes/no questions.

    A loss declaring ``classification`` on C > 1 rows that takes no class
    indices (``bce``, ``bce_with_logits`` on C target columns): each row is
    its own binary decision, not one class among C.
    """
    return (out_rows > 1 and bool(getattr(loss, "classification", False))
            and 1 not in loss.target_rows(out_rows))


def metric_inputs(y_hat: np.ndarray, y: np.ndarray, loss) -> tuple[np.ndarray, np.ndarray]:
    """What a run's metrics are given: ``(metric_scores(y_hat, loss), y)``, except for a multi-label model
    (:func:`is_multi_label`), whose C x m yes/no decisions become one row of C * m binary examples
    (probabilities: the sigmoid of logits), so that accuracy is the share of right decisions and
    precision, recall and f1 are those of the binary decisions, as for one output row."""
    if y_hat.ndim == 2 and y.shape == y_hat.shape and is_multi_label(loss, y_hat.shape[0]):
        scores = metric_scores(y_hat.reshape(1, -1), loss)
        return scores, y.reshape(1, -1)
    return metric_scores(y_hat, loss), y


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
        problem = class_index_problem(t, int(y_hat.shape[0]), "scores (one per class)")
        if problem:
            raise DataError(problem)
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
    if is_multi_label(loss, out_rows):
        return None
    if target_names is not None and len(target_names) == out_rows and len(set(target_names)) == out_rows:
        return [str(name) for name in target_names]
    return [str(k) for k in range(out_rows)]


#: How many distinct bad class indices a message lists.
SHOWN_INDICES = 5

#: How to make integer labels that name classes (3, 7, 12) into classes, in a data file.
NAMES_HINT = "set classes = true in the csv or npz data source (in Python, map them to 0..C-1)"


def class_index_problem(t: np.ndarray, C: int, scores: str) -> str | None:
    """Why class indices ``t`` (flat, m) cannot index ``C`` rows of ``scores``, or ``None`` when they can.

    The message lists the distinct bad values (sorted, the first few), in how
    many of the m examples they occur, and what to change: the model's rows
    (the last layer's ``out_features``), or, for integers that are class
    names rather than indices, the data source's ``classes`` option.
    """
    lo, hi = (t.min(), t.max()) if t.size else (0, 0)
    whole = t.dtype.kind != "f" or np.array_equal(t, np.floor(t))  # False for NaN too
    if lo >= 0 and hi < C and whole:
        return None
    bad = (t < 0) | (t >= C) | (t != np.floor(t))  # NaN is caught by the last test
    values = np.unique(t[bad])  # sorted, NaN last
    shown = ", ".join(f"{v:g}" for v in values[:SHOWN_INDICES])
    if values.size > SHOWN_INDICES:
        shown += f", ... ({values.size} distinct values, "
    else:
        shown += " ("
    shown += f"{int(bad.sum())} of {t.size} examples)"
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    if not whole:
        hint = (f"Class indices are whole numbers 0..{C - 1}; for class probabilities give y one row per "
                f"class, shape ({C}, m)")
    elif finite.size and finite.min() < 0:
        hint = f"Class indices count from 0; if the labels name the classes (such as -1 and 1), {NAMES_HINT}"
    else:
        top = int(finite.max())
        distinct = np.unique(t).size
        if distinct <= C:  # as many labels as rows, or fewer: they name classes rather than number them
            hint = (f"The data has {distinct} distinct labels for {C} rows: if the integers name the classes "
                    f"rather than number them from 0, {NAMES_HINT}; else indices up to {top} need the last "
                    f"layer's out_features at {top + 1} or more")
        else:
            hint = (f"Indices up to {top} need at least {top + 1} rows: set the last layer's out_features to the "
                    f"number of classes; if the integers name the classes rather than number them from 0, "
                    f"{NAMES_HINT}")
    return f"class indices must be integers in [0, {C - 1}] for {C} rows of {scores}. Received: {shown}. {hint}"


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
