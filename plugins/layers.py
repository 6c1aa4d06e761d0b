"""Layers with parameters."""

from __future__ import annotations

from typing import Callable

import numpy as np

from framework.checks import check_positive_int
from framework.hookspecs import hookimpl
from framework.layer import Layer
from framework.types import FloatDType, PositiveInt


def make_rng(owner: str, seed: int | None, rng: np.random.Generator | None) -> np.random.Generator:
    """The Generator a layer draws its initial values from: ``rng``, else ``default_rng(seed)``."""
    if rng is not None and seed is not None:
        raise ValueError(f"{owner}: pass either `seed` or `rng`, not both. Received: seed={seed!r}, rng={rng!r}")
    if rng is not None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"{owner}: expected `rng` to be a numpy.random.Generator. Received: {type(rng).__name__}")
        return rng
    return np.random.default_rng(seed)


def resolve_initializer(owner: str, init: str | Callable) -> Callable:
    if callable(init):
        return init
    from framework.registry import registry

    return registry.get("initializers", init, where=f"{owner}: init")


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

    def __init__(self, in_features: PositiveInt, out_features: PositiveInt, *, bias: bool = True,
                 init: str | Callable = "glorot_uniform", bias_init: str | Callable = "zeros",
                 seed: int | None = None, rng: np.random.Generator | None = None,
                 dtype: FloatDType = "float64"):
        super().__init__()
        self.in_features = check_positive_int("Linear", "in_features", in_features)
        self.out_features = check_positive_int("Linear", "out_features", out_features)
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"Linear: expected `dtype` to be 'float32' or 'float64'. Received: dtype={dtype}")
        generator = make_rng("Linear", seed, rng)
        shape_w = (self.out_features, self.in_features)
        self.W = self.add_parameter("W", resolve_initializer("Linear", init)(shape_w, generator, dtype))
        self.b = None
        if bias:
            shape_b = (self.out_features, 1)
            self.b = self.add_parameter("b", resolve_initializer("Linear", bias_init)(shape_b, generator, dtype))
        for p in self.parameters():
            if p.shape != (shape_w if p.name == "W" else (self.out_features, 1)) or p.dtype != dtype:
                raise ValueError(f"Linear: initializer returned {p.shape} {p.dtype} for {p.name}, "
                                 f"expected {shape_w if p.name == 'W' else (self.out_features, 1)} {dtype}")

    # np.dot rather than matmul: both call BLAS, np.dot with less overhead per call.
    def forward_pass(self, X, training):
        Y = self.output_buffer("Y", (self.out_features, X.shape[1]), X.dtype)
        np.dot(self.W.data, X, out=Y)
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


@hookimpl
def minidl_layers():
    return {"linear": Linear}
