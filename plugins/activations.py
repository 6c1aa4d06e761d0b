"""Activations: elementwise layers without parameters.

Most cache their output A (the derivative is a function of A), so backward
costs no extra memory beyond what forward produced.

* Sigmoid: A = 1 / (1 + e^-X), as written: every step keeps relative
  precision, so A is accurate to a few ulp wherever it is a normal number;
  where e^-X overflows (X < -709.8, or -88.7 in float32) A is 0, with no
  warning and no NaN for any X. dX = dY * A * (1 - A).
* Tanh: A = tanh(X) (numpy's, stable). dX = dY * (1 - A^2).
* ReLU: A = max(X, 0). dX = dY * [X > 0]: the derivative at exactly 0 is
  taken as 0 (PyTorch's choice; the course notes pick 1, and any value in
  [0, 1] is a valid subgradient).
* Softmax: over the rows of each column, A = e^(X - max) / sum e^(X - max)
  (the column max subtracted: no overflow). dX = A * (dY - sum_rows(dY * A)).
* LeakyReLU(negative_slope=0.01): A = X where X > 0, else slope * X;
  derivative 1 or slope (slope at exactly 0, as PyTorch).
* ELU(alpha=1.0): A = X where X > 0, else alpha * (e^X - 1) (expm1);
  derivative 1, else alpha e^X (alpha at exactly 0, as PyTorch).
* GELU: the tanh approximation, PyTorch's ``approximate="tanh"``:
  A = X/2 (1 + tanh(k (X + 0.044715 X^3))), k = sqrt(2/pi), evaluated as
  X sigmoid(2 k (X + 0.044715 X^3)), which does not cancel for negative X.
* Softplus(beta=1, threshold=20): A = log(1 + e^(beta X)) / beta, and A = X
  where beta X > threshold (PyTorch's definition); derivative
  sigmoid(beta X), and 1 above the threshold.

Derivations: docs/shapes-and-math.md.

Sigmoid and Softmax declare ``produces = "probabilities"``: a loss that
expects logits (``cross_entropy``, ``bce_with_logits``) applies the same
transform itself, stably, and rejects a model that ends in one of them.
"""

from __future__ import annotations

import math

import numpy as np

from framework.hookspecs import hookimpl
from framework.layer import Layer
from framework.types import FiniteFloat, PositiveFloat


def sigmoid_into(X: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out = 1 / (1 + e^-X), accurate to a few ulp (relative) wherever the result is a normal number.

    Each step keeps relative precision: e^-X, 1 + e^-X and the reciprocal.
    e^-X overflows to inf only for X < -709.8 (-88.7 in float32), where the
    true result is below the smallest normal number; it is then 0, exactly
    as the reciprocal of inf, and the overflow flag is not a warning.
    """
    np.negative(X, out=out)
    with np.errstate(over="ignore"):
        np.exp(out, out=out)
    out += 1.0
    np.reciprocal(out, out=out)
    return out


class Sigmoid(Layer):
    """A = sigmoid(X), elementwise. Shape: X (n, m) -> A (n, m)."""

    produces = "probabilities"

    def forward_pass(self, X, training):
        A = self.output_buffer("A", X.shape, X.dtype)
        sigmoid_into(X, A)
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


class LeakyReLU(Layer):
    """A = X where X > 0, else negative_slope * X. Shape: X (n, m) -> A (n, m).

    Args:
        negative_slope: the slope for X <= 0 (default 0.01, as PyTorch).

    Backward: dX = dY where X > 0, else negative_slope * dY (the slope at 0).
    """

    init_before = "he_normal"

    def __init__(self, negative_slope: FiniteFloat = 0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward_pass(self, X, training):
        A = self.output_buffer("A", X.shape, X.dtype)
        positive = X > 0
        np.multiply(X, self.negative_slope, out=A)
        np.copyto(A, X, where=positive)
        return A, positive

    def backward_pass(self, dY, positive):
        dX = self.output_buffer("dX", dY.shape, dY.dtype)
        np.multiply(dY, self.negative_slope, out=dX)
        np.copyto(dX, dY, where=positive)
        return dX

    def extra_repr(self):
        return f"negative_slope={self.negative_slope:g}"


class ELU(Layer):
    """A = X where X > 0, else alpha * (exp(X) - 1). Shape: X (n, m) -> A (n, m).

    Args:
        alpha: the value approached as X -> -inf is -alpha (default 1.0).

    Backward: dX = dY where X > 0, else dY * alpha e^X.
    """

    init_before = "he_normal"

    def __init__(self, alpha: FiniteFloat = 1.0):
        super().__init__()
        self.alpha = alpha

    def forward_pass(self, X, training):
        A = self.output_buffer("A", X.shape, X.dtype)
        positive = X > 0
        negative_part = np.minimum(X, 0.0)  # exp of a non-positive number only: no overflow
        np.expm1(negative_part, out=A)
        A *= self.alpha
        np.copyto(A, X, where=positive)
        return A, (negative_part, positive)

    def backward_pass(self, dY, cache):
        # alpha e^X, not A + alpha: that sum cancels to 0 where e^X is tiny.
        negative_part, positive = cache
        dX = self.output_buffer("dX", dY.shape, dY.dtype)
        np.exp(negative_part, out=dX)
        dX *= self.alpha
        dX *= dY
        np.copyto(dX, dY, where=positive)
        return dX

    def extra_repr(self):
        return f"alpha={self.alpha:g}"


class GELU(Layer):
    """Gaussian error linear unit, tanh approximation (PyTorch's ``approximate="tanh"``).

    A = X/2 (1 + tanh(u)), u = k (X + c X^3), k = sqrt(2/pi), c = 0.044715,
    evaluated as X sigmoid(2u) (the same function: 1 + tanh(u) = 2 sigmoid(2u)),
    which keeps full relative precision for negative X, where 1 + tanh(u)
    cancels. Shape: X (n, m) -> A (n, m).

    Backward, with s = sigmoid(2u): dX = dY * (s + 2 X s (1 - s) k (1 + 3 c X^2)).
    """

    init_before = "he_normal"
    K = math.sqrt(2.0 / math.pi)
    C = 0.044715

    def forward_pass(self, X, training):
        A = self.output_buffer("A", X.shape, X.dtype)
        # |X| <= 100 inside: sigmoid(2u) is already 0 or 1 there, and X^3 cannot overflow.
        Xc = np.clip(X, -100.0, 100.0)
        two_u = Xc * Xc
        two_u *= self.C
        two_u += 1.0
        two_u *= Xc
        two_u *= 2.0 * self.K
        S = sigmoid_into(two_u, two_u)
        np.multiply(X, S, out=A)
        return A, (Xc, S)

    def backward_pass(self, dY, cache):
        Xc, S = cache
        dX = self.output_buffer("dX", dY.shape, dY.dtype)
        du = Xc * Xc
        du *= 3.0 * self.C
        du += 1.0
        du *= Xc
        du *= 2.0 * self.K            # 2 X k (1 + 3 c X^2)
        np.subtract(1.0, S, out=dX)
        dX *= S
        dX *= du
        dX += S
        dX *= dY
        return dX


class Softplus(Layer):
    """A = log(1 + exp(beta X)) / beta, and A = X where beta X > threshold (PyTorch's softplus).

    Args:
        beta: sharpness (default 1).
        threshold: above it (in beta X) the function is X itself (default 20).

    Shape: X (n, m) -> A (n, m). Backward: dX = dY * sigmoid(beta X), and dY above the threshold.
    """

    init_before = "he_normal"

    def __init__(self, beta: PositiveFloat = 1.0, threshold: FiniteFloat = 20.0):
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward_pass(self, X, training):
        A = self.output_buffer("A", X.shape, X.dtype)
        bx = X * self.beta if self.beta != 1.0 else X.copy()
        linear = bx > self.threshold
        np.minimum(bx, self.threshold, out=bx)   # exp below the threshold only: no overflow
        np.exp(bx, out=bx)                        # z = e^(beta X)
        np.log1p(bx, out=A)
        if self.beta != 1.0:
            A /= self.beta
        np.copyto(A, X, where=linear)
        return A, (bx, linear)

    def backward_pass(self, dY, cache):
        z, linear = cache
        dX = self.output_buffer("dX", dY.shape, dY.dtype)
        np.add(z, 1.0, out=dX)
        np.divide(z, dX, out=dX)     # z / (1 + z) = sigmoid(beta X)
        dX *= dY
        np.copyto(dX, dY, where=linear)
        return dX

    def extra_repr(self):
        return f"beta={self.beta:g}, threshold={self.threshold:g}"


@hookimpl
def minidl_layers():
    return {"sigmoid": Sigmoid, "tanh": Tanh, "relu": ReLU, "softmax": Softmax, "leaky_relu": LeakyReLU,
            "elu": ELU, "gelu": GELU, "softplus": Softplus}
