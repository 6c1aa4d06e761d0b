"""Layer: the base of every building block.

A layer maps X of shape (in_features, m) to Y of shape (out_features, m):
examples are columns. Subclasses write the math as two small methods:

* ``forward_pass(X, training) -> (Y, cache)``: compute Y and return, as
  ``cache``, exactly what ``backward_pass`` will need (and nothing else);
* ``backward_pass(dY, cache) -> dX``: set ``param.grad`` for every parameter
  and return dL/dX, of X's shape.

The public ``forward``/``backward`` wrap them and enforce the contract, so no
layer author has to: shape and dtype checks with messages naming the layer,
the cache is stored only when training and released by ``backward`` (a second
``backward`` raises instead of reusing stale values), and memory stays flat
however many steps are taken.

Speed without burden: ``self.scratch(...)`` and ``self.output_buffer(...)``
hand out arrays that are reused from one step to the next (same batch shape),
which removes the allocation and page-fault cost that dominates small
networks. They are opt-in: a layer that allocates with plain numpy is just as
correct. See docs/performance.md for exactly when a returned array is a
reused buffer.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from framework.errors import BackwardError, DTypeError, ShapeError
from framework.parameter import Parameter

class _NoCache:
    """Marker for "no cache": distinct from any value a layer could cache (even None)."""

    def __repr__(self) -> str:
        return "NO_CACHE"

    def __reduce__(self) -> str:
        return "NO_CACHE"  # copies and pickles keep the one instance


NO_CACHE: Any = _NoCache()


class Layer:
    """Base class of layers and activations.

    Shape:
        X: (in_features, m), Y: (out_features, m), dY like Y, dX like X.
        Every parameter's ``grad`` has the shape of its ``data``.

    Attributes:
        in_features: the number of input rows this layer accepts, or ``None``
            when any number is fine (activations).
        needs_input_grad: set by ``backward``; a layer may skip computing dX
            (and return ``None``) when it is False.
    """

    #: Rows of X the layer accepts; ``None`` means any (set by subclasses).
    in_features: int | None = None

    #: The registered initializer this layer (an activation, typically)
    #: prefers for the weights of the layer just before it: ``build_model``
    #: passes it as that layer's ``init`` unless its block sets one. ReLU
    #: says "he_normal"; ``None`` leaves the layer's own default.
    init_before: str | None = None

    #: What the output means when the layer ends a model, e.g. "probabilities"
    #: (a softmax or sigmoid); ``None`` says nothing. A loss declares what it
    #: expects (:attr:`framework.loss.Loss.expects`), and a model whose last
    #: layer produces something else is rejected before training.
    produces: str | None = None

    def __init__(self) -> None:
        self._parameters: dict[str, Parameter] = {}
        self._dtype: np.dtype | None = None  # of the parameters; kept by add_parameter and to()
        self._cache: Any = NO_CACHE
        self._out_shape: tuple[int, ...] | None = None
        self._scratch: dict[str, np.ndarray] = {}
        # Set by containers: whether this layer's forward output (resp. its
        # backward dX) is consumed only inside the container and may
        # therefore live in a buffer reused by the next step.
        self._reuse_forward_output = False
        self._reuse_backward_output = False
        self._reusing = False
        self.needs_input_grad = True

    # ------------------------------------------------------------------
    # Parameters
    # ------------------------------------------------------------------
    def add_parameter(self, name: str, data: np.ndarray) -> Parameter:
        """Register ``data`` as a trainable parameter called ``name``."""
        if not name.isidentifier():
            raise ValueError(
                f"{type(self).__name__}: parameter names must be identifiers. Received: {name!r}"
            )
        if name in self._parameters:
            raise ValueError(f"{type(self).__name__} already has a parameter named {name!r}")
        param = Parameter(data, name=name)
        if self._dtype is not None and param.dtype != self._dtype:
            raise DTypeError(f"{type(self).__name__}: parameter {name!r} is {param.dtype} but the layer's "
                             f"other parameters are {self._dtype}")
        self._parameters[name] = param
        self._dtype = param.dtype
        return param

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Yield ``(name, parameter)``; names are dotted paths in containers ("0.W")."""
        for name, param in self._parameters.items():
            yield prefix + name, param

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters())

    def zero_grad(self) -> None:
        for param in self.parameters():
            param.zero_grad()

    @property
    def dtype(self) -> np.dtype | None:
        """The dtype of the parameters, or ``None`` for a layer without any."""
        return self._dtype

    def to(self, dtype) -> "Layer":
        """Convert every parameter to ``dtype`` (float32 or float64); returns self."""
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise DTypeError(
                f"{self!r}.to(): dtype must be a floating type such as 'float32' or "
                f"'float64'. Received: {dtype}"
            )
        for param in self.parameters():
            param.astype(dtype)
        if self._parameters:
            self._dtype = dtype
        self.release()
        return self

    # ------------------------------------------------------------------
    # Forward and backward: the contract every layer follows
    # ------------------------------------------------------------------
    def forward_pass(self, X: np.ndarray, training: bool) -> tuple[np.ndarray, Any]:
        """Compute Y from X; return ``(Y, cache)``. Override in subclasses."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward_pass(X, training)")

    def backward_pass(self, dY: np.ndarray, cache: Any) -> np.ndarray | None:
        """Set every parameter's grad and return dX. Override in subclasses."""
        raise NotImplementedError(f"{type(self).__name__} must implement backward_pass(dY, cache)")

    def check_input(self, X: np.ndarray) -> None:
        """Raise a clear error when X is not a float array of shape (in_features, m)."""
        # One cheap test on the hot path; the slow path works out what is wrong.
        try:
            ok = (X.ndim == 2 and (self.in_features is None or X.shape[0] == self.in_features)
                  and (X.dtype == self._dtype if self._dtype is not None else X.dtype.kind == "f")
                  and isinstance(X, np.ndarray))
        except AttributeError:
            ok = False
        if not ok:
            self._raise_input_error(X)

    def _raise_input_error(self, X) -> None:
        if not isinstance(X, np.ndarray):
            raise TypeError(
                f"{self!r} expects a numpy array of shape ({self._in_text()}, m). "
                f"Received: {type(X).__name__}"
            )
        if X.ndim != 2:
            raise ShapeError(
                f"{self!r} expects input of shape ({self._in_text()}, m): features are "
                f"rows, examples are columns. Received: shape {X.shape}"
            )
        if self.in_features is not None and X.shape[0] != self.in_features:
            hint = ""
            if X.shape[1] == self.in_features:
                hint = " (did you pass examples as rows? transpose X to (features, m))"
            raise ShapeError(
                f"{self!r} expects input of shape ({self.in_features}, m). "
                f"Received: shape {X.shape}{hint}"
            )
        if X.dtype.kind != "f":
            raise DTypeError(
                f"{self!r} expects a float32 or float64 input. Received: dtype {X.dtype}"
            )
        raise DTypeError(
            f"{self!r} has {self._dtype} parameters but received a {X.dtype} input; minidl "
            f"does not cast silently. Convert the input with X.astype('{self._dtype}') or the "
            f"model with .to('{X.dtype}')."
        )

    def forward(self, X: np.ndarray, training: bool = True) -> np.ndarray:
        """Y = layer(X). When ``training``, cache what ``backward`` needs."""
        self.check_input(X)
        self._reusing = training and self._reuse_forward_output
        Y, cache = self.forward_pass(X, training)
        if training:
            self._cache = cache
            self._out_shape = Y.shape
        return Y

    def __call__(self, X: np.ndarray, training: bool = True) -> np.ndarray:
        return self.forward(X, training)

    def backward(self, dY: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        """Given dL/dY, set each parameter's ``grad`` and return dL/dX.

        With ``input_grad=False`` the layer may skip dX (the first layer of a
        model, whose dX nobody uses) and ``None`` is returned.
        """
        cache = self._cache
        if cache is NO_CACHE:
            raise BackwardError(
                f"{self!r}.backward() needs a forward(X, training=True) first: each forward "
                f"caches values for exactly one backward, which releases them. (Was "
                f"backward called twice, or forward run with training=False?)"
            )
        if not isinstance(dY, np.ndarray) or dY.shape != self._out_shape:
            got = dY.shape if isinstance(dY, np.ndarray) else type(dY).__name__
            raise ShapeError(
                f"{self!r}.backward() expects dY of the forward output's shape "
                f"{self._out_shape}. Received: {got}"
            )
        self._cache = NO_CACHE
        self.needs_input_grad = input_grad
        self._reusing = self._reuse_backward_output
        dX = self.backward_pass(dY, cache)
        return dX if input_grad else None

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Inference: ``forward(X, training=False)``; nothing is cached."""
        return self.forward(X, training=False)

    def release(self) -> None:
        """Drop the cache and every reused buffer (they are rebuilt on demand)."""
        self._cache = NO_CACHE
        self._scratch.clear()

    @property
    def has_cache(self) -> bool:
        return self._cache is not NO_CACHE

    # ------------------------------------------------------------------
    # Buffers reused across steps (opt-in helpers for layer authors)
    # ------------------------------------------------------------------
    def scratch(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        """An uninitialised array reused across calls with the same shape and dtype.

        For temporaries that never leave the layer. It is overwritten by the
        next call that asks for the same name; a new shape (the last, smaller
        batch of an epoch) replaces it.
        """
        buf = self._scratch.get(name)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = np.empty(shape, dtype=dtype)
            self._scratch[name] = buf
        return buf

    def output_buffer(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        """An array for Y (in forward_pass) or dX (in backward_pass).

        Inside a container that consumes the array itself (a hidden layer of a
        ``Sequential``, training mode), it is a buffer reused by the next step;
        otherwise, a fresh array the caller may keep.
        """
        if self._reusing:
            return self.scratch(name, shape, dtype)
        return np.empty(shape, dtype=dtype)

    def _set_buffer_reuse(self, forward_output: bool, backward_output: bool) -> None:
        self._reuse_forward_output = forward_output
        self._reuse_backward_output = backward_output

    # ------------------------------------------------------------------
    # Description
    # ------------------------------------------------------------------
    def output_features(self, in_features: int) -> int:
        """Rows of Y for ``in_features`` rows of X (the default keeps the count)."""
        return in_features

    def extra_repr(self) -> str:
        return ""

    def _in_text(self) -> str:
        return "features" if self.in_features is None else str(self.in_features)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def __getstate__(self) -> dict:
        # Copies (deepcopy, pickle) carry parameters, not caches or buffers.
        state = self.__dict__.copy()
        state["_cache"] = NO_CACHE
        state["_scratch"] = {}
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
