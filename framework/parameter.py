"""Parameter: a trainable array and its gradient."""

from __future__ import annotations

import numpy as np
from framework.errors import DTypeError


class Parameter:
    """A trainable array with a gradient of the same shape and dtype.

    Attributes:
        data: the values, e.g. ``W`` of shape (out, in) or ``b`` of shape (out, 1).
        grad: dL/d(data), same shape and dtype as ``data``. A layer's
            ``backward`` *sets* it (it does not accumulate), in place or by
            assignment; ``zero_grad`` resets it to zeros. The array itself
            may be replaced: an elementwise optimizer keeps the gradients
            of small parameters in one contiguous buffer and makes ``grad``
            a view of it (same shape, dtype and values). Write and read it
            as ``param.grad`` each time; do not keep a reference to it.
        name: the name given by the owning layer ("W", "b", ...).

    Optimizers update ``data`` in place, so references to a parameter (and to
    its ``data`` array) stay valid for the whole training run.
    """

    __slots__ = ("data", "grad", "name")

    def __init__(self, data: np.ndarray, name: str = ""):
        data = np.asarray(data)
        if data.dtype.kind != "f":
            raise DTypeError(
                f"Parameter {name!r} must hold floating-point values. "
                f"Received: dtype={data.dtype}"
            )
        self.data = np.ascontiguousarray(data)
        self.grad = np.zeros_like(self.data)
        self.name = name

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    def zero_grad(self) -> None:
        self.grad.fill(0)

    def astype(self, dtype) -> None:
        """Convert ``data`` and ``grad`` to ``dtype`` in place of the old arrays."""
        dtype = np.dtype(dtype)
        if dtype != self.data.dtype:
            self.data = self.data.astype(dtype)
            self.grad = self.grad.astype(dtype)

    def __repr__(self) -> str:
        return f"Parameter(name={self.name!r}, shape={self.shape}, dtype={self.dtype})"
