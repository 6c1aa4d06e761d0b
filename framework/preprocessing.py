"""Preprocessing that belongs to the model: what a run fitted on its data travels with the weights.

An experiment with ``data.standardize = true`` trains a model whose first
layer is :class:`Standardize`, holding the training split's per-feature mean
and standard deviation as buffers. The statistics are therefore in every
checkpoint and in the saved model (``model.npz``), and a loaded model takes
RAW data: nobody re-does the standardisation by hand.
"""

from __future__ import annotations

import numpy as np

from framework.checks import check_positive_int
from framework.layer import Layer


class Standardize(Layer):
    r"""Per-feature standardisation: Y = (X - mean) / std.

    Args:
        in_features: rows of X (F).
        mean, std: the statistics, (F, 1) or (F,); default 0 and 1 (the
            identity) until :meth:`fit` sets them from training data.
        dtype: "float64" (default) or "float32", of the statistics (and so of
            the inputs the layer accepts).

    Shape:
        X: (F, m) -> Y: (F, m).

    Attributes:
        mean: buffer (F, 1). std: buffer (F, 1), never 0 (a constant feature
        keeps std 1, so it maps to 0 instead of NaN).

    Backward: dX = dY / std (nothing to train).
    """

    def __init__(self, in_features: int, mean=None, std=None, dtype: str = "float64"):
        super().__init__()
        self.in_features = check_positive_int("Standardize", "in_features", in_features)
        dtype = np.dtype(dtype)
        shape = (self.in_features, 1)
        self.add_buffer("mean", np.zeros(shape, dtype) if mean is None else self._column(mean, "mean", dtype))
        self.add_buffer("std", np.ones(shape, dtype) if std is None else self._column(std, "std", dtype))

    def _column(self, values, name: str, dtype) -> np.ndarray:
        from framework.errors import ShapeError

        arr = np.asarray(values, dtype=dtype)
        if arr.size != self.in_features:
            raise ShapeError(f"Standardize({self.in_features}): `{name}` needs {self.in_features} values, one per "
                             f"feature. Received: shape {arr.shape}")
        return arr.reshape(self.in_features, 1)

    def fit(self, X: np.ndarray) -> "Standardize":
        """Set mean and std from X (F, m), the training data; return self."""
        mean = X.mean(axis=1, keepdims=True)
        std = X.std(axis=1, keepdims=True)
        std[std == 0] = 1.0
        self.mean[...] = mean
        self.std[...] = std
        return self

    def forward_pass(self, X, training):
        Y = self.output_buffer("Y", X.shape, X.dtype)
        np.subtract(X, self.mean, out=Y)
        Y /= self.std
        return Y, None

    def backward_pass(self, dY, cache):
        if not self.needs_input_grad:
            return None
        dX = self.output_buffer("dX", dY.shape, dY.dtype)
        np.divide(dY, self.std, out=dX)
        return dX

    def extra_repr(self) -> str:
        return str(self.in_features)
