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

State beyond parameters: ``add_buffer`` registers non-trainable arrays
(running statistics, a standardizer's mean); a layer that draws random
numbers declares ``stochastic = True`` and draws from ``self.rng``, a
generator the base owns and ``seed()`` reseeds. ``state_dict()`` gathers
parameters, buffers and generator states as plain arrays (npz-ready, no
pickle) and ``load_state_dict()`` puts them back, so checkpoints resume a
random layer bit for bit. See docs/plugins.md, "Layers with state".

Speed without burden: ``self.scratch(...)`` and ``self.output_buffer(...)``
hand out arrays that are reused from one step to the next (same batch shape),
which removes the allocation and page-fault cost that dominates small
networks. They are opt-in: a layer that allocates with plain numpy is just as
correct. See docs/performance.md for exactly when a returned array is a
reused buffer.
"""

from __future__ import annotations

import json
from typing import Any, Iterator, NamedTuple

import numpy as np

from framework.checks import ValidatedArguments
from framework.errors import (BackwardError, DataError, DTypeError, InvalidTypeError, LayerInitError, ShapeError,
                              StateError)
from framework.parameter import Parameter

#: The key suffix under which ``state_dict`` stores a stochastic layer's generator.
RNG_KEY = "rng"

#: Longest accepted encoded generator state (MT19937's is about 7,000 characters).
_MAX_RNG_STATE_CHARS = 100_000


def encode_generator(rng: np.random.Generator) -> np.ndarray:
    """A generator's exact state as a 0-d unicode array (JSON): npz-ready, no pickle."""
    return np.array(json.dumps(rng.bit_generator.state, default=_json_array))


def _json_array(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise InvalidTypeError(f"cannot encode {type(value).__name__} in a generator state")


def decode_generator(array: Any, where: str = "generator state") -> np.random.Generator:
    """The generator :func:`encode_generator` encoded; a clear :class:`StateError` otherwise."""
    try:
        text = str(array.item() if isinstance(array, np.ndarray) else array)
        if len(text) > _MAX_RNG_STATE_CHARS:
            raise StateError(f"{len(text)} characters, more than any generator state")
        state = json.loads(text)
        name = state["bit_generator"]
        cls = getattr(np.random, name, None) if isinstance(name, str) else None
        if not (isinstance(cls, type) and issubclass(cls, np.random.BitGenerator)):
            raise StateError(f"unknown bit generator {name!r}")
        bit_generator = cls()
        if isinstance(state.get("state"), dict) and "key" in state["state"]:  # MT19937
            state["state"]["key"] = np.asarray(state["state"]["key"], dtype=np.uint32)
        bit_generator.state = state
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        raise StateError(f"{where}: not a valid encoded generator state ({exc})") from None
    return np.random.Generator(bit_generator)


def _seed_sequence(seed, owner: str) -> np.random.SeedSequence:
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if seed is None or (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0):
        return np.random.SeedSequence(None if seed is None else int(seed))
    raise StateError(f"{owner}.seed(): expected `seed` to be a non-negative integer, a "
                     f"numpy.random.SeedSequence or None. Received: seed={seed!r}")


#: Attributes Layer.__init__ sets: missing, they mean super().__init__() was not called.
_BASE_ATTRIBUTES = frozenset({"_parameters", "_buffer_names", "_rng", "_dtype", "_cache", "_out_shape",
                              "_scratch", "_reusing", "needs_input_grad"})


class StateLoadResult(NamedTuple):
    """What ``load_state_dict(strict=False)`` left out: keys of the model and of the state."""

    missing_keys: list[str]
    unexpected_keys: list[str]

class _NoCache:
    """Marker for "no cache": distinct from any value a layer could cache (even None)."""

    def __repr__(self) -> str:
        return "NO_CACHE"

    def __reduce__(self) -> str:
        return "NO_CACHE"  # copies and pickles keep the one instance


NO_CACHE: Any = _NoCache()


class Layer(ValidatedArguments):
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

    #: Names of this layer's own parameters that weight penalties (the
    #: Trainer's ``l2``) leave out, such as a bias: ``("b",)``.
    unpenalized: tuple[str, ...] = ()

    #: True for a layer that draws random numbers (dropout, noise): it draws
    #: them from ``self.rng``, whose state is saved with the layer's state.
    stochastic: bool = False

    #: The fewest examples (columns) a training batch must hold: 2 for batch
    #: norm, which estimates a variance over the batch. The Trainer (and
    #: ``minidl validate``) refuse a ``batch_size`` that leaves a smaller
    #: batch before anything trains (:func:`framework.trainer.batch_size_problem`).
    min_training_batch: int = 1

    def __new__(cls, *args, **kwargs):
        # The constructor's arguments, kept so that model.save can record the
        # architecture of any layer, built from a file or from Python.
        self = super().__new__(cls)
        self._init_args = (args, kwargs)
        return self

    def __init__(self) -> None:
        self._parameters: dict[str, Parameter] = {}
        self._buffer_names: list[str] = []
        # Fresh entropy until seeded: two unseeded random layers never share
        # a stream. build_model and Sequential.seed make it reproducible.
        self._rng: np.random.Generator | None = np.random.default_rng() if self.stochastic else None
        self._dtype: np.dtype | None = None  # of the parameters; kept by add_parameter and to()
        self._cache: Any = NO_CACHE
        self._out_shape: tuple[int, ...] | None = None
        self._scratch: dict[str, np.ndarray] = {}
        # Whether the current forward (resp. backward) call's output may live
        # in a buffer reused by the next step: decided by the caller on each
        # call (reuse_output=...), never stored by a container on its children.
        self._reusing = False
        self.needs_input_grad = True

    # ------------------------------------------------------------------
    # Parameters
    # ------------------------------------------------------------------
    def _check_state_name(self, what: str, name: str) -> None:
        owner = type(self).__name__
        if not isinstance(name, str) or not name.isidentifier():
            raise StateError(f"{owner}: {what} names must be identifiers. Received: {name!r}")
        if name in self._parameters or name in self._buffer_names:
            raise StateError(f"{owner} already has a parameter or buffer named {name!r}")
        if name == RNG_KEY or hasattr(type(self), name):
            raise StateError(f"{owner}: {what} name {name!r} is taken by the Layer API; choose another")

    def add_parameter(self, name: str, data: np.ndarray) -> Parameter:
        """Register ``data`` as a trainable parameter called ``name``."""
        self._check_state_name("parameter", name)
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
        for child_name, child in self.named_children():
            yield from child.named_parameters(prefix=f"{prefix}{child_name}.")

    def penalized_parameters(self) -> list[Parameter]:
        """The parameters a weight penalty applies to: all but the ``unpenalized`` ones, children included."""
        own = [p for name, p in self._parameters.items() if name not in self.unpenalized]
        return own + [p for _, child in self.named_children() for p in child.penalized_parameters()]

    def named_children(self) -> Iterator[tuple[str, "Layer"]]:
        """Yield ``(name, layer)`` for each direct sub-layer (containers override it)."""
        return iter(())

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters())

    def zero_grad(self) -> None:
        for param in self.parameters():
            param.zero_grad()

    @property
    def dtype(self) -> np.dtype | None:
        """The dtype of the parameters (or float buffers), or ``None`` for a layer without any."""
        return self._dtype

    # ------------------------------------------------------------------
    # State beyond parameters: buffers and the random generator
    # ------------------------------------------------------------------
    def add_buffer(self, name: str, array) -> np.ndarray:
        """Register ``array`` (a copy) as non-trainable state called ``name``; return it.

        The buffer is the attribute ``self.<name>``: read it there, update it
        in place or assign a new array of the same shape to it. It is saved
        by ``state_dict``, restored by ``load_state_dict``, converted by
        ``to(dtype)`` when it holds floats, and copied with the layer.
        Float buffers share the parameters' dtype.
        """
        self._check_state_name("buffer", name)
        array = np.array(array, copy=True)
        if array.dtype == object or array.dtype.kind not in "biuf":
            raise StateError(f"{type(self).__name__}: buffer {name!r} must hold numbers (bool, integer or "
                             f"float). Received: dtype {array.dtype}")
        if array.dtype.kind == "f":
            if self._dtype is not None and array.dtype != self._dtype:
                raise DTypeError(f"{type(self).__name__}: buffer {name!r} is {array.dtype} but the layer's "
                                 f"parameters are {self._dtype}")
            self._dtype = array.dtype
        setattr(self, name, array)
        self._buffer_names.append(name)
        return array

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        """Yield ``(name, array)`` for every buffer, with dotted names in containers ("3.running_mean")."""
        for name in self._buffer_names:
            yield prefix + name, self._buffer(name)
        for child_name, child in self.named_children():
            yield from child.named_buffers(prefix=f"{prefix}{child_name}.")

    def _buffer(self, name: str) -> np.ndarray:
        value = getattr(self, name)
        if not isinstance(value, np.ndarray):
            raise StateError(f"{type(self).__name__}: buffer {name!r} was replaced by a "
                             f"{type(value).__name__}; assign arrays to buffers (or update them in place)")
        return value

    @property
    def rng(self) -> np.random.Generator:
        """The layer's random generator (only for layers that declare ``stochastic = True``)."""
        rng = self._rng
        if rng is None:
            raise StateError(f"{type(self).__name__} uses self.rng but does not declare `stochastic = True` "
                             f"on the class; declare it, so that the generator is seeded and saved")
        return rng

    def seed(self, seed: int | np.random.SeedSequence | None = None) -> "Layer":
        """Reseed the generator of this layer (if stochastic) and of every sub-layer; return self.

        ``layer.seed(s)`` gives the stream of ``np.random.default_rng(s)``;
        sub-layers each get an independent stream spawned from ``s``
        (``SeedSequence.spawn``), so one seed makes a whole model reproducible.
        """
        sequence = _seed_sequence(seed, type(self).__name__)
        children = list(self.named_children())
        if self.stochastic:
            self._rng = np.random.default_rng(sequence)
        for (_, child), child_sequence in zip(children, sequence.spawn(len(children))):
            child.seed(child_sequence)
        return self

    def _named_generators(self, prefix: str = "") -> Iterator[tuple[str, "Layer"]]:
        if self.stochastic:
            yield prefix + RNG_KEY, self
        for child_name, child in self.named_children():
            yield from child._named_generators(prefix=f"{prefix}{child_name}.")

    def state_dict(self) -> dict[str, np.ndarray]:
        """Everything that defines the layer, as copies keyed by dotted names.

        Parameters ("0.W"), buffers ("3.running_mean") and, for each
        stochastic layer, its generator's state ("2.rng", a 0-d unicode array
        holding JSON). Every value is a numpy array of numbers or text:
        ``np.savez(path, **layer.state_dict())`` needs no pickle.
        """
        state: dict[str, np.ndarray] = {n: p.data.copy() for n, p in self.named_parameters()}
        state.update((n, b.copy()) for n, b in self.named_buffers())
        state.update((n, encode_generator(layer.rng)) for n, layer in self._named_generators())
        return state

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> StateLoadResult:
        """Restore what ``state_dict`` returned, in place; changes nothing when it does not fit.

        Shapes and dtypes must match exactly. With ``strict`` (the default),
        a missing or unexpected key is an error too; without, they are
        skipped and returned. Raises :class:`StateError` listing every problem.
        """
        problems, apply, result = self._plan_state_load(state, strict, source="state")
        if problems:
            raise StateError(f"{type(self).__name__}.load_state_dict: the state does not fit this "
                             f"{'model' if list(self.named_children()) else 'layer'} ({len(problems)} "
                             f"problem{'s' if len(problems) > 1 else ''}):\n  " + "\n  ".join(problems))
        apply()
        return result

    def _plan_state_load(self, state: dict[str, Any], strict: bool, source: str):
        """(problems, a function that applies the state, StateLoadResult), checking before any write."""
        if not isinstance(state, dict):
            raise StateError(f"{type(self).__name__}.load_state_dict expects a dict of arrays "
                             f"(what state_dict returns). Received: {type(state).__name__}")
        arrays: dict[str, tuple[str, np.ndarray, Any]] = {}
        for name, p in self.named_parameters():
            arrays[name] = ("parameter", p.data, p)
        for name, b in self.named_buffers():
            arrays[name] = ("buffer", b, None)
        generators = dict(self._named_generators())
        problems: list[str] = []
        missing = [k for k in list(arrays) + list(generators) if k not in state]
        unexpected = [k for k in state if k not in arrays and k not in generators]
        if strict:
            for key in unexpected:
                shape = getattr(state[key], "shape", type(state[key]).__name__)
                problems.append(f"unexpected entry {key} {shape} (not in the model)")
            for key in missing:
                what, mine = (arrays[key][0], arrays[key][1].shape) if key in arrays else ("generator state", "")
                problems.append(f"missing {what} {key} {mine} (not in the {source})".replace("  ", " "))
        decoded: dict[str, np.random.Generator] = {}
        for key, (what, mine, _) in arrays.items():
            if key not in state:
                continue
            saved = state[key]
            if not isinstance(saved, np.ndarray):
                problems.append(f"{key}: {source} holds a {type(saved).__name__}, not an array")
            elif saved.shape != mine.shape:
                problems.append(f"{key}: {source} has shape {saved.shape}, model has {mine.shape}")
            elif saved.dtype != mine.dtype:
                problems.append(f"{key}: {source} has dtype {saved.dtype}, model has {mine.dtype}")
        for key in generators:
            if key in state:
                try:
                    decoded[key] = decode_generator(state[key], where=key)
                except StateError as exc:
                    problems.append(str(exc))

        def apply() -> None:
            for key, (what, mine, _) in arrays.items():
                if key in state:
                    mine[...] = state[key]
            for key, rng in decoded.items():
                generators[key]._rng = rng
            self.release()

        return problems, apply, StateLoadResult(missing if not strict else [], unexpected if not strict else [])

    def to(self, dtype) -> "Layer":
        """Convert every parameter and float buffer to ``dtype`` (float32 or float64); returns self."""
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise DTypeError(
                f"{self!r}.to(): dtype must be a floating type such as 'float32' or "
                f"'float64'. Received: {dtype}"
            )
        for param in self._parameters.values():
            param.astype(dtype)
        float_buffers = False
        for name in self._buffer_names:
            buffer = self._buffer(name)
            if buffer.dtype.kind == "f":
                setattr(self, name, buffer.astype(dtype))
                float_buffers = True
        if self._parameters or float_buffers:
            self._dtype = dtype
        for _, child in self.named_children():
            child.to(dtype)
        self.release()
        return self

    def save(self, path, **what) -> "Path":
        """Save the model for inference: one ``.npz`` file (no pickle); see :func:`framework.saving.save_model`.

        ``what``: ``feature_names``, ``target_names``, ``classes``, ``loss``,
        ``metrics``, ``info``. Load it with :func:`framework.load_model`.
        """
        from framework.saving import save_model

        return save_model(self, path, **what)

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
        if "_parameters" not in self.__dict__:
            raise self._missing_init()
        if not isinstance(X, np.ndarray):
            raise InvalidTypeError(
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

    def forward(self, X: np.ndarray, training: bool = True, *, reuse_output: bool = False) -> np.ndarray:
        """Y = layer(X). When ``training``, cache what ``backward`` needs.

        ``reuse_output=True`` is the caller's promise that it consumes Y
        before the next training step (a container passing a hidden layer's
        output on): Y may then live in a buffer that the next step
        overwrites. By default Y is an array the caller may keep.
        """
        self.check_input(X)
        self._reusing = training and reuse_output
        Y, cache = self.forward_pass(X, training)
        try:
            columns_kept = Y.shape[1] == X.shape[1] and Y.ndim == 2
        except (AttributeError, IndexError, TypeError):
            columns_kept = False
        if not columns_kept:
            self._raise_output_error(X, Y)
        if training:
            self._cache = cache
            self._out_shape = Y.shape
        return Y

    def _raise_output_error(self, X: np.ndarray, Y: Any) -> None:
        got = f"shape {Y.shape}" if isinstance(Y, np.ndarray) else type(Y).__name__
        hint = " (did it return a transpose?)" if isinstance(Y, np.ndarray) and Y.shape[::-1] == X.shape else ""
        raise ShapeError(
            f"{self!r} returned an output of {got} for an input of shape {X.shape}{hint}: forward_pass "
            f"must return Y of shape (out_features, m), keeping the input's m = {X.shape[1]} columns (examples)"
        )

    def _missing_init(self) -> LayerInitError:
        return LayerInitError(
            f"{type(self).__name__}.__init__ does not call super().__init__(), so the Layer base is not set "
            f"up (parameters, buffers, cache); add super().__init__() as its first line")

    def __getattr__(self, name: str):
        # Only reached when normal lookup fails: no cost on the hot path.
        if name in _BASE_ATTRIBUTES and "_parameters" not in self.__dict__:
            raise self._missing_init()
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")  # builtin: getattr protocol

    def __call__(self, X: np.ndarray, training: bool = True) -> np.ndarray:
        return self.forward(X, training)

    def backward(self, dY: np.ndarray, *, input_grad: bool = True, reuse_output: bool = False) -> np.ndarray | None:
        """Given dL/dY, set each parameter's ``grad`` and return dL/dX.

        With ``input_grad=False`` the layer may skip dX (the first layer of a
        model, whose dX nobody uses) and ``None`` is returned. With
        ``reuse_output=True`` (a container's hidden layer) dX may live in a
        buffer that the next step overwrites.
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
        self._reusing = reuse_output
        dX = self.backward_pass(dY, cache)
        return dX if input_grad else None

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Inference: ``forward(X, training=False)``; nothing is cached.

        X must be finite: a NaN or inf (a missing value read as NaN) is a
        :class:`~framework.errors.DataError` naming the first one, not NaN
        predictions.
        """
        if isinstance(X, np.ndarray) and X.dtype.kind == "f" and not np.isfinite(X).all():
            bad = np.argwhere(~np.isfinite(X))
            first = tuple(int(i) for i in bad[0])
            where = f"X[{first[0]}, {first[1]}] (feature {first[0]} of example {first[1]})" if X.ndim == 2 \
                else f"X{list(first)}"
            raise DataError(f"{type(self).__name__}.predict: X holds {len(bad)} NaN or infinite value(s), first "
                            f"{where}: {X[first]}. Fill or drop those examples before predicting.")
        return self.forward(X, training=False)

    def release(self) -> None:
        """Drop the cache and every reused buffer (they are rebuilt on demand)."""
        self._cache = NO_CACHE
        self._scratch.clear()
        for _, child in self.named_children():
            child.release()

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

        When the caller of this very forward/backward call passed
        ``reuse_output=True`` (a ``Sequential`` does for a hidden layer in
        training), it is a buffer reused by the next step; otherwise, a
        fresh array the caller may keep.
        """
        if self._reusing:
            return self.scratch(name, shape, dtype)
        return np.empty(shape, dtype=dtype)

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
        # Copies (deepcopy) carry parameters, state buffers and the generator,
        # not caches or the reused scratch arrays.
        state = self.__dict__.copy()
        state["_cache"] = NO_CACHE
        state["_scratch"] = {}
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
