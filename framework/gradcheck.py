"""Gradient checking: analytic gradients against central differences.

For a layer (or a whole model) the checked scalar is L = sum(R * layer(X))
for a fixed random R, so dL/dY = R and every path through the layer is
exercised; with ``loss=`` and ``y=`` it is L = loss(layer(X), y). For a loss,
L = loss(y_hat, y) and the input checked is y_hat.

Everything runs on a float64 copy of the object (a float32 layer is checked
in float64, where central differences are accurate to about 1e-10).

Layers with state are checked with the state frozen: before every
evaluation the buffers and the random generator are put back as they were
before the first one, so a random layer draws the same numbers (the same
dropout mask) each time and a running statistic does not drift.

The error reported for an array is its worst element, relative to the
array's gradient scale:  max_i |analytic_i - numeric_i| / max(max_i |analytic_i|,
max_i |numeric_i|, noise / tol). Unlike a per-element ratio it does not blow up on
entries whose gradient is zero.

``noise`` is how far rounding alone can move a central difference:
(L(x+h) - L(x-h)) / 2h carries the rounding error of L, about machine epsilon
times L's magnitude, divided by h. L's magnitude here is
max(|L|, sum |dL/dY * Y|): the second term is what the last rounding of the
output Y (relative error epsilon per entry) can move L by, and for
L = sum(R * Y) it is the size of the terms that cancel. With |L| ~ 1 and
h = 1e-6 that is ~2e-10 (measured: 1e-10 to 3.5e-10), and a factor of 10
covers deeper models. An array whose gradient is 0, like the bias of a
linear layer followed by a batch norm (which removes the per-row mean), has
an analytic gradient of ~1e-16 and a numeric one of pure noise; relative to
its own scale that is noise / noise, anything up to 1. The floor noise / tol
on the denominator means: an array passes when its worst difference is
within the noise, whatever its scale, and an array whose gradient is larger
than noise / tol (~1e-3 for |L| ~ 1: every array with a real gradient) is
judged relative to its scale as before. A wrong gradient fails as soon as it
is off by more than the noise, e.g. by 1e-8 where the true gradient is 0.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from framework.errors import GradcheckError, InvalidTypeError, InvalidValueError
from framework.layer import Layer
from framework.loss import Loss


@dataclass
class GradcheckReport:
    """Worst relative error per parameter and for the input."""

    target: str
    errors: dict[str, float] = field(default_factory=dict)
    shapes_ok: dict[str, bool] = field(default_factory=dict)
    tolerance: float = 1e-6

    @property
    def failures(self) -> list[str]:
        return [name for name, err in self.errors.items()
                if not (err <= self.tolerance) or not self.shapes_ok.get(name, True)]

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def worst(self) -> float:
        return max(self.errors.values(), default=0.0)

    def __str__(self) -> str:
        lines = [f"gradcheck of {self.target} (tolerance {self.tolerance:g}):"]
        for name, err in self.errors.items():
            status = "ok" if name not in self.failures else "FAILED"
            shape = "" if self.shapes_ok.get(name, True) else "  (gradient shape differs from the array's)"
            lines.append(f"  {name:<12} {err:.3e}  {status}{shape}")
        return "\n".join(lines)


def _numeric_grad(f, array: np.ndarray, eps: float) -> np.ndarray:
    # Indexing the array itself (not a flat reshape, which is a copy for a
    # Fortran-ordered array) so that every perturbation reaches f.
    grad = np.zeros(array.shape, dtype=array.dtype)
    for index in np.ndindex(*array.shape):
        old = array[index]
        array[index] = old + eps
        plus = f()
        array[index] = old - eps
        minus = f()
        array[index] = old
        grad[index] = (plus - minus) / (2 * eps)
    return grad


#: rounding error of a computed L, in units of machine epsilon times L's magnitude
_NOISE_FACTOR = 10.0


def _noise(L: float, dY: np.ndarray, Y: np.ndarray, eps: float) -> float:
    """How far rounding alone can move a central difference of L (see the module docstring)."""
    magnitude = max(abs(float(L)), float(np.sum(np.abs(dY * Y))))
    return _NOISE_FACTOR * np.finfo(np.float64).eps * magnitude / eps


def _relative_error(analytic: np.ndarray, numeric: np.ndarray, floor: float) -> float:
    scale = max(float(np.max(np.abs(analytic), initial=0.0)), float(np.max(np.abs(numeric), initial=0.0)),
                floor, 1e-12)
    return float(np.max(np.abs(analytic - numeric), initial=0.0)) / scale


def gradcheck(target, X: np.ndarray, y: np.ndarray | None = None, *, loss: Loss | None = None,
              eps: float = 1e-6, tol: float = 1e-6, seed: int = 0, check_input: bool = True,
              raise_on_failure: bool = True) -> GradcheckReport:
    """Check ``target``'s backward against central differences in float64.

    Args:
        target: a :class:`Layer` (a ``Sequential`` model included) or a :class:`Loss`.
        X: the input (for a loss: y_hat), shape (features, m).
        y: targets, for a loss or with ``loss=``.
        loss: check L = loss(target(X), y) instead of sum(R * target(X)).
        eps: finite-difference step; tol: largest acceptable relative error.
        check_input: also check dL/dX (dL/dy_hat for a loss).
        raise_on_failure: raise :class:`GradcheckError` naming what failed.

    Returns:
        a :class:`GradcheckReport` with the worst relative error per
        parameter (by its dotted name) and for the input ("input").
    """
    X = np.array(X, dtype=np.float64, order="C")
    y = None if y is None else np.array(y, dtype=np.float64, order="C")
    report = GradcheckReport(target=repr(target).replace("\n", " "), tolerance=tol)

    if isinstance(target, Loss):
        if y is None:
            raise InvalidValueError("gradcheck of a loss needs y, the targets")
        fn = copy.deepcopy(target)
        L = fn(X, y)
        analytic = fn.backward()
        floor = _noise(L, analytic, X, eps) / tol
        report.shapes_ok["input"] = analytic.shape == X.shape
        numeric = _numeric_grad(lambda: fn(X, y), X, eps)
        report.errors["input"] = _relative_error(analytic, numeric, floor)
    elif isinstance(target, Layer):
        layer = copy.deepcopy(target).to(np.float64)
        params = {name for name, _ in layer.named_parameters()}
        frozen = {k: v for k, v in layer.state_dict().items() if k not in params}

        def forward():
            if frozen:  # same buffers, same generator state for every evaluation
                layer.load_state_dict(frozen, strict=False)
            return layer.forward(X, training=True)

        if loss is not None:
            if y is None:
                raise InvalidValueError("gradcheck with loss= needs y, the targets")
            loss_fn = copy.deepcopy(loss)

            def objective():
                return loss_fn(forward(), y)

            Y = forward()
            L = loss_fn(Y, y)
            dY = loss_fn.backward()
        else:
            R = np.random.default_rng(seed).standard_normal(layer.forward(X, training=False).shape)

            def objective():
                return float(np.sum(R * forward()))

            Y = forward()
            L = float(np.sum(R * Y))
            dY = R
        floor = _noise(L, dY, Y, eps) / tol
        dX = layer.backward(dY, input_grad=check_input)
        analytic = {name: p.grad.copy() for name, p in layer.named_parameters()}
        for name, p in layer.named_parameters():
            report.shapes_ok[name] = analytic[name].shape == p.data.shape
            report.errors[name] = _relative_error(analytic[name], _numeric_grad(objective, p.data, eps), floor)
        if check_input:
            report.shapes_ok["input"] = dX is not None and dX.shape == X.shape
            numeric = _numeric_grad(objective, X, eps)
            report.errors["input"] = _relative_error(dX if dX is not None else np.zeros_like(X), numeric, floor)
    else:
        raise InvalidTypeError(f"gradcheck checks a Layer or a Loss. Received: {type(target).__name__}")

    if raise_on_failure and not report.ok:
        raise GradcheckError(f"gradients of {', '.join(report.failures)} disagree with central "
                             f"differences\n{report}")
    return report
