"""An example minidl plugin: a layer (LayerNorm) and an activation (Swish).

Both are found by name ("layer_norm", "swish") in experiments once this
distribution is installed, through the ``minidl.plugins`` entry point in its
pyproject.toml.
"""

from __future__ import annotations

import numpy as np

from framework import Layer, hookimpl
from framework.types import FloatDType, PositiveFloat, PositiveInt


class LayerNorm(Layer):
    r"""Normalises each example (column) over its features, then scales and shifts.

    mu = mean_f X,  var = mean_f (X - mu)^2,  X_hat = (X - mu) / sqrt(var + eps)
    Y = gamma * X_hat + beta

    Args:
        in_features: F, rows of X.
        eps: added to the variance for stability.
        dtype: "float64" or "float32".

    Shape:
        X: (F, m) -> Y: (F, m).

    Attributes:
        gamma: Parameter (F, 1), initialised to ones.
        beta: Parameter (F, 1), initialised to zeros.

    Backward (dY of shape (F, m), s = 1 / sqrt(var + eps), all sums over features):
        dgamma = sum_m dY * X_hat                     (F, 1)
        dbeta  = sum_m dY                             (F, 1)
        dX     = s / F * (F g - sum_f g - X_hat sum_f g X_hat),  g = gamma * dY
    """

    conformance_config: dict = {}

    def __init__(self, in_features: PositiveInt, *, eps: PositiveFloat = 1e-5, dtype: FloatDType = "float64"):
        super().__init__()
        self.in_features = in_features
        self.eps = eps
        self.gamma = self.add_parameter("gamma", np.ones((in_features, 1), dtype=dtype))
        self.beta = self.add_parameter("beta", np.zeros((in_features, 1), dtype=dtype))

    def forward_pass(self, X, training):
        mu = X.mean(axis=0, keepdims=True)
        centered = X - mu
        inv_std = 1.0 / np.sqrt((centered * centered).mean(axis=0, keepdims=True) + self.eps)
        X_hat = centered * inv_std
        Y = self.gamma.data * X_hat + self.beta.data
        return Y, (X_hat, inv_std)

    def backward_pass(self, dY, cache):
        X_hat, inv_std = cache
        self.gamma.grad[...] = (dY * X_hat).sum(axis=1, keepdims=True)
        self.beta.grad[...] = dY.sum(axis=1, keepdims=True)
        g = self.gamma.data * dY
        F = X_hat.shape[0]
        return inv_std / F * (F * g - g.sum(axis=0, keepdims=True)
                              - X_hat * (g * X_hat).sum(axis=0, keepdims=True))

    def extra_repr(self):
        return f"{self.in_features}, eps={self.eps:g}"


class Swish(Layer):
    """Swish (SiLU): y = x * sigmoid(x); dy/dx = s + x s (1 - s). Shape: (n, m) -> (n, m)."""

    def forward_pass(self, X, training):
        s = 0.5 * (1.0 + np.tanh(0.5 * X))  # a sigmoid that never overflows
        return X * s, (X, s)

    def backward_pass(self, dY, cache):
        X, s = cache
        return dY * (s + X * s * (1.0 - s))


@hookimpl
def minidl_layers():
    return {"layer_norm": LayerNorm, "swish": Swish}
