"""Losses. Each returns a Python float and, from ``backward()``, dL/dy_hat.

* MSELoss: L = (1/N) sum (y_hat - y)^2 over all N = out * m entries (for one
  output this is the notes' (1/m) sum_i (y_i - y_hat_i)^2; for several it is
  PyTorch's mean). dL/dy_hat = (2/N) (y_hat - y).
* BCELoss: binary cross-entropy on probabilities (a sigmoid output), as
  PyTorch: L = -(1/N) sum [y max(log p, -100) + (1 - y) max(log(1 - p), -100)],
  dL/dp = (p - y) / max(p (1 - p), 1e-12) / N. Finite for p = 0 and 1.
* BCEWithLogitsLoss: the same on logits z, stable for any z with no clamp:
  L = (1/N) sum [(1 - y) z + max(-z, 0) + log(1 + e^-|z|)], dL/dz = (sigmoid(z) - y) / N.
* HuberLoss(delta): d^2/2 for |d| <= delta, else delta (|d| - delta/2), mean;
  gradient clip(d, -delta, delta) / N.
* L1Loss: mean |d|; gradient sign(d) / N.
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

from framework.classification import class_index_problem
from framework.errors import DTypeError, DataError, InvalidTypeError, ShapeError
from framework.hookspecs import hookimpl
from framework.loss import Loss
from framework.types import PositiveFloat, UnitClosed



class MSELoss(Loss):
    """Mean squared error. Shape: y_hat, y (out, m) -> float; dL/dy_hat (out, m)."""

    def forward_pass(self, y_hat, y):
        diff = np.subtract(y_hat, y)
        flat = diff.reshape(-1)
        return np.dot(flat, flat) / diff.size, diff

    def backward_pass(self, diff):
        diff *= 2.0 / diff.size  # diff is this loss's own array: reuse it as the gradient
        return diff


#: PyTorch's floor of p (1 - p) in the BCE gradient: the float32 number nearest 1e-12 (9.9999999600e-13).
_BCE_EPSILON = float(np.float32(1e-12))


class BCELoss(Loss):
    """Binary cross-entropy on probabilities in [0, 1], PyTorch's ``binary_cross_entropy`` exactly.

    L = -(1/N) sum [y max(log p, -100) + (1 - y) max(log(1 - p), -100)]
    dL/dp = (p - y) / max(p (1 - p), 1e-12) / N

    The log is clamped at -100, so p = 0 or 1 gives a finite loss (100 per
    wrong entry), and the gradient's denominator at 1e-12. Where
    p (1 - p) >= 1e-12 the gradient is the derivative of the loss; closer to
    0 or 1 it is PyTorch's bounded value. On logits, prefer bce_with_logits,
    which needs no clamp at all.

    Shape: y_hat, y (out, m) with values in [0, 1] -> float; dL/dy_hat (out, m).
    Pair it with a final Sigmoid layer.
    """

    expects = "probabilities"
    classification = True

    @staticmethod
    def conformance_data(rng):
        """Probabilities away from 0 and 1 (where the gradient is PyTorch's bounded stand-in), soft targets."""
        return rng.uniform(0.05, 0.95, (2, 6)), rng.uniform(0.0, 1.0, (2, 6))

    def check_inputs(self, y_hat, y):
        super().check_inputs(y_hat, y)
        _check_unit_interval(self, "y_hat", y_hat, "end the model with a Sigmoid layer")

    def check_targets(self, y, out_rows):
        _check_unit_interval(self, "y", y, "targets must be 0/1 labels or probabilities")

    def forward_pass(self, y_hat, y):
        with np.errstate(divide="ignore"):  # log(0) = -inf, clamped at -100 right after
            log_p = np.log(y_hat)
            log_q = np.log1p(-y_hat)
        np.maximum(log_p, -100.0, out=log_p)
        np.maximum(log_q, -100.0, out=log_q)
        loss = -(np.dot(y.reshape(-1), log_p.reshape(-1)) + np.dot((1.0 - y).reshape(-1), log_q.reshape(-1))) / y.size
        return loss, (y_hat, y)

    def backward_pass(self, cache):
        p, y = cache
        denominator = np.subtract(1.0, p)
        denominator *= p
        np.maximum(denominator, _BCE_EPSILON, out=denominator)
        grad = p - y
        grad /= denominator
        grad /= y.size
        return grad


class BCEWithLogitsLoss(Loss):
    """Binary cross-entropy on logits z, PyTorch's ``binary_cross_entropy_with_logits``.

    L = (1/N) sum [(1 - y) z - log sigmoid(z)], with
    -log sigmoid(z) = max(-z, 0) + log(1 + e^-|z|): stable for any z, no clamp.
    dL/dz = (sigmoid(z) - y) / N, exact even where sigmoid(z) rounds to 0 or 1.

    Shape: y_hat (logits), y (out, m), y in [0, 1] -> float; dL/dy_hat (out, m).
    No sigmoid before it: the model ends in a Linear layer.
    """

    expects = "logits"
    classification = True
    pairing_hint = "remove the final sigmoid layer; bce_with_logits applies a stable log-sigmoid itself."

    @staticmethod
    def conformance_data(rng):
        return rng.standard_normal((2, 6)) * 3, rng.uniform(0.0, 1.0, (2, 6))

    def check_targets(self, y, out_rows):
        _check_unit_interval(self, "y", y, "0/1 labels or probabilities")

    def forward_pass(self, z, y):
        e = np.abs(z)
        np.negative(e, out=e)
        np.exp(e, out=e)                  # e^-|z|, in (0, 1]
        softplus = np.log1p(e)            # log(1 + e^-|z|)
        softplus += np.maximum(-z, 0.0)   # = -log sigmoid(z)
        loss = (np.dot((1.0 - y).reshape(-1), z.reshape(-1)) + softplus.sum()) / y.size
        return loss, (z, y, e)

    def backward_pass(self, cache):
        z, y, e = cache
        # sigmoid(z) from e = e^-|z|: 1/(1+e) where z >= 0, e/(1+e) where z < 0.
        grad = np.add(e, 1.0)
        np.divide(1.0, grad, out=grad)
        np.multiply(e, grad, out=e)
        np.copyto(e, grad, where=z >= 0)
        e -= y
        e /= y.size
        return e


class HuberLoss(Loss):
    """Huber loss, PyTorch's ``huber_loss`` (mean over all N entries).

    Per entry, with d = y_hat - y: d^2 / 2 where |d| <= delta, else
    delta (|d| - delta / 2). dL/dy_hat = clip(d, -delta, delta) / N.

    Args:
        delta: where the quadratic turns linear (> 0, default 1).

    Shape: y_hat, y (out, m) -> float; dL/dy_hat (out, m).
    """

    def __init__(self, delta: PositiveFloat = 1.0):
        super().__init__()
        self.delta = delta

    def forward_pass(self, y_hat, y):
        d = np.subtract(y_hat, y)
        a = np.abs(d)
        small = a <= self.delta
        per_entry = np.where(small, 0.5 * d * d, self.delta * (a - 0.5 * self.delta))
        return per_entry.sum() / d.size, d

    def backward_pass(self, d):
        np.clip(d, -self.delta, self.delta, out=d)
        d /= d.size
        return d

    def extra_repr(self):
        return f"delta={self.delta:g}"


class L1Loss(Loss):
    """Mean absolute error, PyTorch's ``l1_loss``: L = (1/N) sum |y_hat - y|.

    dL/dy_hat = sign(y_hat - y) / N (0 where y_hat = y, as PyTorch).

    Shape: y_hat, y (out, m) -> float; dL/dy_hat (out, m).
    """

    def forward_pass(self, y_hat, y):
        d = np.subtract(y_hat, y)
        return np.abs(d).sum() / d.size, d

    def backward_pass(self, d):
        np.sign(d, out=d)
        d /= d.size
        return d


def _check_unit_interval(loss, name: str, arr: np.ndarray, hint: str) -> None:
    lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
    if not (0.0 <= lo and hi <= 1.0):
        raise DataError(f"{loss!r}: {name} must lie in [0, 1] ({hint}). Received: values from {lo:g} to {hi:g}")


def _class_indices(y_hat, y) -> bool:
    """Whether y holds class indices, (1, m) or (m,), rather than probabilities (C, m)."""
    C, m = y_hat.shape
    return y.shape == (m,) or (y.shape == (1, m) and C > 1)


_CE_ROWS = "needs logits with one row per class, at least 2"
_CE_TWO = "for two classes use out_features = 2, or one row with 'bce_with_logits'"


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
    classification = True
    pairing_hint = ("remove the final softmax (or sigmoid) layer; cross_entropy applies a stable "
                    "log-softmax itself. Use softmax at prediction time to get probabilities.")

    @staticmethod
    def conformance_data(rng):
        """Logits of 4 classes and class indices (1, m), the way a run feeds them."""
        return rng.standard_normal((4, 6)) * 2, rng.integers(0, 4, (1, 6)).astype(np.float64)

    def __init__(self, label_smoothing: UnitClosed = 0.0):
        super().__init__()
        self.label_smoothing = label_smoothing
        self._columns = np.arange(0)  # 0, 1, ..., m - 1 for the largest batch so far

    def target_rows(self, out_rows):
        return (1, out_rows)

    @classmethod
    def output_rows_problem(cls, rows):
        return None if rows >= 2 else f"{_CE_ROWS}: {_CE_TWO}"

    def check_inputs(self, y_hat, y):
        for name, arr in (("y_hat", y_hat), ("y", y)):
            if not isinstance(arr, np.ndarray):
                raise InvalidTypeError(f"{self!r} expects {name} as a numpy array. Received: {type(arr).__name__}")
        if y_hat.ndim != 2:
            raise ShapeError(f"{self!r} expects y_hat as logits of shape (C, m), classes as rows. "
                             f"Received: shape {y_hat.shape}")
        if y_hat.dtype.kind != "f":
            raise DTypeError(f"{self!r} expects float32 or float64 logits. Received: dtype {y_hat.dtype}")
        C, m = y_hat.shape
        if C < 2:  # softmax over one row is 1: the loss would be 0 whatever the model does
            raise ShapeError(f"{self!r} {_CE_ROWS}. Received: {C} row (shape {y_hat.shape}). "
                             f"{_CE_TWO[0].upper()}{_CE_TWO[1:]}")
        if _class_indices(y_hat, y):
            if y.dtype.kind not in "iuf":
                raise DTypeError(f"{self!r} expects class indices of an integer or float dtype. "
                                 f"Received: {y.dtype}")
            return
        if y.shape != y_hat.shape:
            raise ShapeError(f"{self!r} expects y as class indices of shape (1, {m}) or ({m},), or as class "
                             f"probabilities of y_hat's shape {y_hat.shape}. Received: y {y.shape}")
        if y.dtype != y_hat.dtype:
            raise DTypeError(f"{self!r} expects class probabilities of y_hat's dtype (no silent casting). "
                             f"Received: y_hat {y_hat.dtype}, y {y.dtype}")

    def check_targets(self, y, out_rows):
        C = out_rows
        if not (y.ndim == 1 or (y.shape[0] == 1 and C > 1)):
            return  # class probabilities: any values (as PyTorch)
        problem = class_index_problem(y.reshape(-1), C, "logits")
        if problem:
            raise DataError(f"{self!r}: {problem}")

    def forward_pass(self, y_hat, y):
        C, m = y_hat.shape
        e = self.label_smoothing
        # ufunc.reduce rather than .max()/.sum(): the same sums without the Python wrappers
        # around them, a few microseconds a step at the digits size.
        shifted = np.subtract(y_hat, np.maximum.reduce(y_hat, axis=0, keepdims=True), order="C")  # flat views below
        P = np.exp(shifted)
        total = np.add.reduce(P, axis=0, keepdims=True)
        log_total = np.log(total)
        P /= total  # softmax, kept for the gradient
        if _class_indices(y_hat, y):
            # Flat positions of the targets' entries, row y_j of column j: y_j * m + j.
            if self._columns.size < m:
                self._columns = np.arange(m)
            target = y.reshape(-1).astype(np.intp)
            target *= m
            target += self._columns[:m]
            # sum_j log softmax(Z)[y_j, j]
            picked = np.add.reduce(shifted.reshape(-1).take(target)) - np.add.reduce(log_total, axis=None)
            if e:
                everything = shifted.sum() - C * log_total.sum()  # sum over all entries of log softmax
                value = -((1.0 - e) * picked + e / C * everything) / m
            else:
                value = -picked / m
            return value, (P, target, None)
        Q = y if not e else (1.0 - e) * y + e / C
        log_p = shifted
        log_p -= log_total
        value = -np.dot(Q.reshape(-1), log_p.reshape(-1)) / m
        return value, (P, None, Q)

    def backward_pass(self, cache):
        P, target, Q = cache
        C, m = P.shape
        e = self.label_smoothing
        grad = P  # the loss's own array: reused
        if Q is None:
            grad.reshape(-1)[target] -= 1.0 - e
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
    return {"mse": MSELoss, "bce": BCELoss, "bce_with_logits": BCEWithLogitsLoss, "huber": HuberLoss,
            "l1": L1Loss, "cross_entropy": CrossEntropyLoss}
