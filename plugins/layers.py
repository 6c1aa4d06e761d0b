"""Layers: the affine map, and the course's regularisation and normalisation layers.

* Linear: Y = W X + b.
* Dropout: inverted dropout, random, identity outside training.
* BatchNorm: per-row normalisation over the batch's m columns, with running
  statistics for inference (the semantics of ``torch.nn.BatchNorm1d``).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from framework.errors import InvalidTypeError, InvalidValueError, ShapeError
from framework.hookspecs import hookimpl
from framework.layer import Layer
from framework.memory import check_array
from framework.types import FloatDType, PositiveFloat, PositiveInt, UnitClosed


def make_rng(owner: str, seed: int | None, rng: np.random.Generator | None) -> np.random.Generator:
    """The Generator a layer draws its initial values from: ``rng``, else ``default_rng(seed)``."""
    if rng is not None and seed is not None:
        raise InvalidValueError(f"{owner}: pass either `seed` or `rng`, not both. Received: seed={seed!r}, rng={rng!r}")
    if rng is not None:
        if not isinstance(rng, np.random.Generator):
            raise InvalidTypeError(f"{owner}: expected `rng` to be a numpy.random.Generator. Received: {type(rng).__name__}")
        return rng
    return np.random.default_rng(seed)


def resolve_initializer(owner: str, init: str | Callable) -> Callable:
    """The initializer ``init`` (a registered name or a callable), pricing each array before it is made:
    a shape beyond available memory (``out_features = 10**12``) is refused, not allocated."""
    if callable(init):
        fn = init
    else:
        from framework.registry import registry

        fn = registry.get("initializers", init, where=f"{owner}: init")

    def checked(shape, rng, dtype=np.float64):
        check_array(shape, dtype, f"{owner}: a parameter of shape")
        return fn(shape, rng, dtype)

    return checked


class Linear(Layer):
    r"""Affine map: Y = W X + b.

    Args:
        in_features: rows of X (F).
        out_features: rows of Y.
        bias: add the bias b (default True).
        init: initializer of W, a registered name or ``f(shape, rng, dtype)``;
            default "glorot_uniform" (Xavier), right for sigmoid and tanh
            networks; use "he_normal" before a ReLU.
        bias_init: initializer of b; default "zeros".
        seed, rng: where the initial values come from (one or neither).
        dtype: "float64" (default) or "float32", for parameters and outputs.

    Shape:
        X: (in_features, m) -> Y: (out_features, m).

    Attributes:
        W: Parameter (out_features, in_features).
        b: Parameter (out_features, 1), or None without bias.

    Backward (dY of shape (out, m)):
        dW = dY X^T       (out, in)
        db = sum_m dY     (out, 1)   -- summed over examples, kept 2-D
        dX = W^T dY       (in, m)    -- skipped when nobody needs it

    Example:
        >>> layer = Linear(3, 2, seed=0)
        >>> layer(np.ones((3, 5))).shape
        (2, 5)
    """

    #: Arguments ``minidl check-plugins`` builds it with (besides in_features).
    conformance_config = {"out_features": 3}
    #: L2 penalties apply to W only (the course's convention: biases are not regularised).
    unpenalized = ("b",)

    def __init__(self, in_features: PositiveInt, out_features: PositiveInt, *, bias: bool = True,
                 init: str | Callable = "glorot_uniform", bias_init: str | Callable = "zeros",
                 seed: int | None = None, rng: np.random.Generator | None = None,
                 dtype: FloatDType = "float64"):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        dtype = np.dtype(dtype)
        generator = make_rng("Linear", seed, rng)
        shape_w = (self.out_features, self.in_features)
        self.W = self.add_parameter("W", resolve_initializer("Linear", init)(shape_w, generator, dtype))
        self.b = None
        if bias:
            shape_b = (self.out_features, 1)
            self.b = self.add_parameter("b", resolve_initializer("Linear", bias_init)(shape_b, generator, dtype))
        for p in self.parameters():
            if p.shape != (shape_w if p.name == "W" else (self.out_features, 1)) or p.dtype != dtype:
                raise InvalidValueError(f"Linear: initializer returned {p.shape} {p.dtype} for {p.name}, "
                                 f"expected {shape_w if p.name == 'W' else (self.out_features, 1)} {dtype}")

    # np.dot rather than matmul: both call BLAS, np.dot with less overhead per call.
    def forward_pass(self, X, training):
        Y = self.output_buffer("Y", (self.out_features, X.shape[1]), X.dtype)
        if X.flags.c_contiguous:
            np.dot(self.W.data, X, out=Y)
        else:
            # A batch of the Trainer is a column block of a Fortran-ordered array.
            # OpenBLAS's threaded product with a transposed right operand ran
            # 4-10x slower than on a C-ordered copy at the digits size
            # (128x64 @ 64x64: 130-480 us against 22-70 us, measured side by
            # side), and the copy is one pass over X. Backward keeps the
            # original: X.T of a Fortran block is C-ordered, the fast case for dW.
            Xc = self.scratch("X_c", X.shape, X.dtype)
            np.copyto(Xc, X)
            np.dot(self.W.data, Xc, out=Y)
        if self.b is not None:
            Y += self.b.data
        return Y, X

    def backward_pass(self, dY, X):
        if self.b is not None:
            # A reduction, not a GEMV with a ones vector: OpenBLAS's float32
            # GEMV kernel can raise a spurious "invalid value" flag here. It
            # comes before dW, while dY is still in cache from whoever wrote it.
            dY.sum(axis=1, keepdims=True, out=self.b.grad)
        np.dot(dY, X.T, out=self.W.grad)
        if not self.needs_input_grad:
            return None
        dX = self.output_buffer("dX", X.shape, X.dtype)
        np.dot(self.W.data.T, dY, out=dX)
        return dX

    def output_features(self, in_features: int) -> int:
        return self.out_features

    def extra_repr(self) -> str:
        return f"{self.in_features} -> {self.out_features}" + ("" if self.b is not None else ", bias=False")


class Dropout(Layer):
    r"""Inverted dropout: in training, Y = X * M / (1 - p), M_ij ~ Bernoulli(1 - p); else Y = X.

    Each entry is zeroed with probability ``p`` and the survivors are scaled
    by 1 / (1 - p), so E[Y] = X and nothing changes at inference
    (``forward(X, training=False)`` is the identity, as in
    ``torch.nn.Dropout``). The mask is drawn from ``self.rng``, the layer's
    own generator: a model's ``seed()`` (``build_model`` uses the experiment
    seed) makes it reproducible, and checkpoints save it, so a resumed run
    draws the same masks as an uninterrupted one.

    Args:
        p: the probability of zeroing an entry, in [0, 1] (default 0.5);
            p = 0 is the identity, p = 1 zeroes everything.

    Shape:
        X: (n, m) -> Y: (n, m).

    Backward:
        dX = dY * M / (1 - p)   (the mask of the forward pass)

    Example:
        >>> layer = Dropout(0.5).seed(0)
        >>> Y = layer(np.ones((2, 4)))   # entries are 0 or 2
    """

    stochastic = True
    conformance_config = {"p": 0.5}

    def __init__(self, p: UnitClosed = 0.5):
        super().__init__()
        self.p = p

    def forward_pass(self, X, training):
        if not training:
            return X, None  # nothing is cached outside training (the identity, as torch's)
        if self.p == 0.0:
            return (X if self._reusing else X.copy()), None
        # One float mask holding 0 or 1/(1-p): forward and backward are one multiply each.
        mask = self.scratch("mask", X.shape, X.dtype)
        self.rng.random(out=mask, dtype=X.dtype)
        keep = self.scratch("keep", X.shape, np.bool_)
        np.greater_equal(mask, self.p, out=keep)
        np.multiply(keep, 0.0 if self.p == 1.0 else 1.0 / (1.0 - self.p), out=mask)
        Y = self.output_buffer("Y", X.shape, X.dtype)
        np.multiply(X, mask, out=Y)
        return Y, mask

    def backward_pass(self, dY, mask):
        if mask is None:
            return dY.copy() if not self._reusing else dY
        dX = self.output_buffer("dX", dY.shape, dY.dtype)
        np.multiply(dY, mask, out=dX)
        return dX

    def extra_repr(self) -> str:
        return f"p={self.p:g}"


class BatchNorm(Layer):
    r"""Batch normalisation of each row over the batch: Y = gamma * (X - mu) / sqrt(var + eps) + beta.

    In training, mu and var are the mean and the biased variance of each row
    of X over its m columns (examples), and the running statistics are
    updated as ``torch.nn.BatchNorm1d`` does::

        running_mean = (1 - momentum) * running_mean + momentum * mu
        running_var  = (1 - momentum) * running_var  + momentum * var * m / (m - 1)

    (the unbiased variance goes into the running estimate; with
    ``momentum=None`` the update is the cumulative average, factor
    1 / num_batches_tracked). Outside training, mu and var are the running
    statistics, so a prediction does not depend on the rest of its batch.
    Note: ``momentum`` is the weight of the *new* batch (PyTorch's
    convention); the course's beta = 0.9 is momentum = 0.1.

    Args:
        in_features: rows of X (C), one set of statistics per row.
        momentum: weight of the current batch in the running statistics, in
            [0, 1] (default 0.1), or ``None`` for a cumulative average.
        eps: added to the variance (default 1e-5).
        affine: learn the scale gamma and shift beta (default True).
        dtype: "float64" (default) or "float32", for parameters and statistics.

    Shape:
        X: (C, m) -> Y: (C, m); training needs m >= 2.

    Attributes:
        gamma, beta: Parameters (C, 1), initialised to 1 and 0 (when affine).
        running_mean, running_var: buffers (C, 1), initialised to 0 and 1.
        num_batches_tracked: buffer (int64, shape ()), the training batches seen.

    Backward (training; x_hat = (X - mu) / sqrt(var + eps), sums over the m columns):
        dbeta  = sum dY                                         (C, 1)
        dgamma = sum dY * x_hat                                 (C, 1)
        dX = gamma / (m sqrt(var + eps)) * (m dY - dbeta - x_hat * dgamma)   (C, m)

    Example:
        >>> bn = BatchNorm(3)
        >>> bn(np.random.default_rng(0).standard_normal((3, 8))).mean(axis=1).round(12)
        array([ 0., -0.,  0.])
    """

    conformance_config: dict = {}
    #: The course's L2 penalises weights only: the scale and shift are left out, like a bias.
    unpenalized = ("gamma", "beta")
    #: The unbiased variance of the running statistics divides by m - 1.
    min_training_batch = 2

    def __init__(self, in_features: PositiveInt, *, momentum: UnitClosed | None = 0.1, eps: PositiveFloat = 1e-5,
                 affine: bool = True, dtype: FloatDType = "float64"):
        super().__init__()
        self.in_features = in_features
        self.momentum = momentum
        self.eps = eps
        self.affine = bool(affine)
        dtype = np.dtype(dtype)
        shape = (self.in_features, 1)
        self.gamma = self.add_parameter("gamma", np.ones(shape, dtype)) if self.affine else None
        self.beta = self.add_parameter("beta", np.zeros(shape, dtype)) if self.affine else None
        self.add_buffer("running_mean", np.zeros(shape, dtype))
        self.add_buffer("running_var", np.ones(shape, dtype))
        self.add_buffer("num_batches_tracked", np.zeros((), np.int64))

    def forward_pass(self, X, training):
        C, m = X.shape
        if not training:
            scale = 1.0 / np.sqrt(self.running_var + self.eps)
            shift = -self.running_mean * scale
            if self.affine:
                scale = scale * self.gamma.data
                shift = shift * self.gamma.data + self.beta.data
            Y = self.output_buffer("Y", X.shape, X.dtype)
            np.multiply(X, scale.astype(X.dtype, copy=False), out=Y)
            Y += shift.astype(X.dtype, copy=False)
            return Y, None
        if m < 2:
            raise ShapeError(f"{self!r}: training needs at least 2 examples (columns) per batch to estimate "
                             f"a variance, as torch.nn.BatchNorm1d does. Received: shape {X.shape}. With the "
                             f"Trainer, choose a batch_size that does not leave a last batch of 1 example.")
        mu = X.mean(axis=1, keepdims=True)
        x_hat = self.scratch("x_hat", X.shape, X.dtype)
        np.subtract(X, mu, out=x_hat)
        # The sum of squares as a row-wise dot product: no (C, m) temporary.
        var = np.einsum("ij,ij->i", x_hat, x_hat).reshape(C, 1) / m
        inv_std = 1.0 / np.sqrt(var + self.eps)
        x_hat *= inv_std
        self.num_batches_tracked += 1
        factor = (1.0 / float(self.num_batches_tracked)) if self.momentum is None else self.momentum
        self.running_mean *= 1.0 - factor
        self.running_mean += factor * mu
        self.running_var *= 1.0 - factor
        self.running_var += (factor * m / (m - 1)) * var
        Y = self.output_buffer("Y", X.shape, X.dtype)
        if self.affine:
            np.multiply(x_hat, self.gamma.data, out=Y)
            Y += self.beta.data
        else:
            Y[...] = x_hat
        return Y, (x_hat, inv_std)

    def backward_pass(self, dY, cache):
        x_hat, inv_std = cache
        C, m = dY.shape
        dbeta = dY.sum(axis=1, keepdims=True)
        dgamma = np.einsum("ij,ij->i", dY, x_hat).reshape(C, 1)
        if self.affine:
            self.beta.grad[...] = dbeta
            self.gamma.grad[...] = dgamma
        if not self.needs_input_grad:
            return None
        # dX = k dY - (k/m) (dbeta + x_hat dgamma), with k = gamma / sqrt(var + eps); x_hat's
        # buffer is this step's own and is released with the cache, so it holds the product.
        k = inv_std * self.gamma.data if self.affine else inv_std
        dX = self.output_buffer("dX", dY.shape, dY.dtype)
        np.multiply(dY, k, out=dX)
        x_hat *= k * dgamma / m
        dX -= x_hat
        dX -= k * dbeta / m
        return dX

    def extra_repr(self) -> str:
        return (f"{self.in_features}, momentum={self.momentum if self.momentum is None else f'{self.momentum:g}'}, "
                f"eps={self.eps:g}" + ("" if self.affine else ", affine=False"))


@hookimpl
def minidl_layers():
    return {"linear": Linear, "dropout": Dropout, "batch_norm": BatchNorm}
