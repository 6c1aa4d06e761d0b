"""Activations: elementwise layers without parameters.

Each caches its output A (the derivative is a function of A), so backward
costs no extra memory beyond what forward produced.

* Sigmoid: A = 1 / (1 + e^-X), computed as 0.5 * (1 + tanh(X / 2)), which is
  the same function but never evaluates exp of a large number: no overflow
  warning and no NaN for any finite X. dX = dY * A * (1 - A).
* Tanh: A = tanh(X) (numpy's, stable). dX = dY * (1 - A^2).
* ReLU: A = max(X, 0). dX = dY * [X > 0]: the derivative at exactly 0 is
  taken as 0 (PyTorch's choice; the course notes pick 1, and any value in
  [0, 1] is a valid subgradient).
* Softmax: over the rows of each column, A = e^(X - max) / sum e^(X - max)
  (the column max subtracted: no overflow). dX = A * (dY - sum_rows(dY * A)).

Sigmoid and Softmax declare ``produces = "probabilities"``: a loss that
expects logits (``cross_entropy``, ``bce_with_logits``) applies the same
transform itself, stably, and rejects a model that ends in one of them.
"""

from __future__ import annotations

import numpy as np

from framework.hookspecs import hookimpl
from framework.layer import Layer


class Sigmoid(Layer):
    """A = sigmoid(X), elementwise. Shape: X (n, m) -> A (n, m)."""

    produces = "probabilities"

    def forward_pass(self, X, training):
        A = self.output_buffer("A", X.shape, X.dtype)
        np.multiply(X, 0.5, out=A)
        np.tanh(A, out=A)
        A *= 0.5
        A += 0.5
        return A, A

    def backward_pass(self, dY, A):
        dX = self.output_buffer("dX", A.shape, A.dtype)
        np.subtract(1.0, A, out=dX)
        dX *= A
        dX *= dY
        return dX


class Tanh(Layer):
    """A = tanh(X), elementwise. Shape: X (n, m) -> A (n, m)."""

    def forward_pass(self, X, training):
        A = self.output_buffer("A", X.shape, X.dtype)
        np.tanh(X, out=A)
        return A, A

    def backward_pass(self, dY, A):
        dX = self.output_buffer("dX", A.shape, A.dtype)
        np.multiply(A, A, out=dX)
        np.subtract(1.0, dX, out=dX)
        dX *= dY
        return dX


class ReLU(Layer):
    """A = max(X, 0), elementwise; derivative 0 at X = 0. Shape: X (n, m) -> A (n, m)."""

    init_before = "he_normal"  # He et al.: a ReLU zeroes half its inputs, so double the variance

    def forward_pass(self, X, training):
        A = self.output_buffer("A", X.shape, X.dtype)
        np.maximum(X, 0.0, out=A)
        return A, A

    def backward_pass(self, dY, A):
        dX = self.output_buffer("dX", A.shape, A.dtype)
        np.greater(A, 0.0, out=dX)  # the mask as 0.0 / 1.0, in dX's own memory
        dX *= dY
        return dX


class Softmax(Layer):
    """A = softmax over the rows of each column of X: classes are rows.

    A[c, j] = exp(X[c, j] - M_j) / sum_k exp(X[k, j] - M_j), with M_j the
    column's max, so that exp never overflows (the value is unchanged).

    Shape: X (C, m) -> A (C, m), each column summing to 1.

    Backward: dX = A * (dY - sum over rows of (dY * A)), the Jacobian of each
    column (diag(a) - a a^T) applied without forming it.
    """

    produces = "probabilities"

    def forward_pass(self, X, training):
        A = self.output_buffer("A", X.shape, X.dtype)
        np.subtract(X, X.max(axis=0, keepdims=True), out=A)
        np.exp(A, out=A)
        A /= A.sum(axis=0, keepdims=True)
        return A, A

    def backward_pass(self, dY, A):
        dX = self.output_buffer("dX", A.shape, A.dtype)
        np.multiply(dY, A, out=dX)
        s = dX.sum(axis=0, keepdims=True)
        np.subtract(dY, s, out=dX)
        dX *= A
        return dX


@hookimpl
def minidl_layers():
    return {"sigmoid": Sigmoid, "tanh": Tanh, "relu": ReLU, "softmax": Softmax}
