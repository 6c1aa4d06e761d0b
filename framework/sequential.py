"""Sequential: layers applied one after another."""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np

from framework.layer import NO_CACHE, Layer
from framework.errors import InvalidTypeError, InvalidValueError


class Sequential(Layer):
    """Chains layers: Y = layers[n-1](... layers[1](layers[0](X))).

    Backward runs the chain in reverse, each layer's dX becoming the previous
    layer's dY, and fills every parameter's ``grad``.

    Args:
        layers: an iterable of :class:`Layer`; they are named "0", "1", ...

    Shape:
        X: (in_features of layers[0], m); Y: (out_features of the last layer, m).

    The model's own output and dX are fresh arrays the caller may keep. The
    hidden layers' outputs and gradients, which only the chain consumes, live
    in buffers reused by the next training step of the same batch shape.
    That is decided on each call (``reuse_output=`` of ``forward`` and
    ``backward``), nothing is stored on the children: a layer may sit in
    several models and slices (``model[::-1]``, ``model[1:]``) at once.

    Example:
        >>> model = Sequential([Linear(10, 32), Sigmoid(), Linear(32, 1)])
        >>> model[0].W.shape
        (32, 10)
        >>> model.summary(10)  # doctest: +SKIP
    """

    def __init__(self, layers: Iterable[Layer] = ()):
        super().__init__()
        self._layers: list[Layer] = []
        for layer in layers:
            self._check_layer(layer, position=len(self._layers))
            self._layers.append(layer)

    # -- container protocol ----------------------------------------------------
    def _check_layer(self, layer, position: int) -> None:
        if not isinstance(layer, Layer):
            hint = " (did you pass the class instead of an instance? add ())" if (
                isinstance(layer, type) and issubclass(layer, Layer)
            ) else ""
            raise InvalidTypeError(
                f"Sequential accepts only Layer instances; item {position} is not one{hint}. "
                f"Received: {layer!r} of type {type(layer).__name__}"
            )
        # A layer caches one forward for its backward: the same object twice in one chain
        # would overwrite its first cache, and its parameters would be updated twice.
        where = {id(inner): f"item {i}" if inner is top else f"inside item {i}"
                 for i, top in enumerate(self._layers) for inner in _layers_within(top)}
        for inner in _layers_within(layer):
            if inner is self:
                raise InvalidValueError(f"Sequential: item {position} ({layer!r}) contains this Sequential itself")
            if id(inner) in where:
                same = "is" if inner is layer else f"contains {inner!r}, which is"
                raise InvalidValueError(
                    f"Sequential: item {position} ({layer!r}) {same} already {where[id(inner)]} of this "
                    f"model. A layer keeps one forward's values for its backward, so each layer object can "
                    f"appear once in a model; use a new layer (copy.deepcopy(layer) for the same weights)")

    def append(self, layer: Layer) -> "Sequential":
        self._check_layer(layer, position=len(self._layers))
        self._layers.append(layer)
        return self

    def __len__(self) -> int:
        return len(self._layers)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self._layers)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(self._layers[index])
        return self._layers[index]

    @property
    def layers(self) -> list[Layer]:
        return list(self._layers)

    @property
    def in_features(self) -> int | None:  # type: ignore[override]
        return self._layers[0].in_features if self._layers else None

    # -- parameters and state ----------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Layer]]:
        for i, layer in enumerate(self._layers):
            yield str(i), layer

    @property
    def dtype(self) -> np.dtype | None:
        for layer in self._layers:
            if layer.dtype is not None:
                return layer.dtype
        return None

    def seed(self, seed: int | np.random.SeedSequence | None = None) -> "Sequential":
        """Give every stochastic layer inside an independent stream drawn from one ``seed``.

        Layer ``i`` is seeded with the i-th child of ``SeedSequence(seed)``
        (``spawn``), nested containers recursively: the same seed gives the
        same streams, and no two layers share one.
        """
        return super().seed(seed)

    @property
    def has_cache(self) -> bool:
        return any(layer.has_cache for layer in self._layers)

    # -- forward / backward -----------------------------------------------------
    def check_input(self, X: np.ndarray) -> None:
        if not self._layers:
            raise InvalidValueError("Sequential is empty: append a layer before calling it")
        # Each child checks its own input, which names the layer that fails.

    def forward_pass(self, X, training):
        # Hidden outputs are consumed here, in this call: they may be reused
        # buffers. The last one goes to our caller, who decides for it.
        layers = self._layers
        for layer in layers[:-1]:
            X = layer.forward(X, training, reuse_output=True)
        Y = layers[-1].forward(X, training, reuse_output=self._reusing)
        if training and not self._reusing and len(layers) > 1 and np.may_share_memory(Y, X):
            Y = Y.copy()  # the last layer passed a hidden buffer through (an identity): not the caller's to keep
        return Y, True

    def backward_pass(self, dY, cache):
        layers = self._layers
        # When nobody needs dL/dX, the layers before the first one with parameters need no
        # gradient either (a Standardize in front of the first Linear): stop there.
        first = 0 if self.needs_input_grad else _first_with_parameters(layers)
        for layer in layers[:first:-1]:
            dY = layer.backward(dY, reuse_output=True)
        dX = layers[first].backward(dY, input_grad=self.needs_input_grad, reuse_output=self._reusing)
        for layer in layers[:first]:
            for inner in _layers_within(layer):
                inner._cache = NO_CACHE  # its forward's values: no backward will use them
        if dX is not None and not self._reusing and len(layers) > 1 and np.may_share_memory(dX, dY):
            dX = dX.copy()
        return dX

    def output_features(self, in_features: int) -> int:
        for layer in self._layers:
            in_features = layer.output_features(in_features)
        return in_features

    # -- description -------------------------------------------------------------
    def __repr__(self) -> str:
        if not self._layers:
            return "Sequential()"
        lines = [f"  ({i}): {layer!r}".replace("\n", "\n  ") for i, layer in enumerate(self._layers)]
        return "Sequential(\n" + "\n".join(lines) + "\n)"

    def summary(self, in_features: int | None = None, *, print_fn=print) -> str:
        """A table of layers with the shapes that flow forward and backward.

        For each layer: its output shape, parameter count, the shape of every
        parameter gradient (always that parameter's shape) and of dL/dX
        (always the input's shape), with m the batch size; when some layer
        holds state beyond parameters, a "state" column lists its buffers
        and "rng" for a random generator. The table is
        printed with ``print_fn`` (pass ``None`` to only return it).
        """
        features = self.in_features if in_features is None else in_features
        if features is None:
            raise InvalidValueError(
                "Sequential.summary() needs in_features: the first layer does not fix the "
                "number of input rows. Call summary(in_features=...)."
            )
        with_state = any(True for _ in self.named_buffers()) or any(True for _ in self._named_generators())
        rows = [("#", "layer", "input", "output", "params", "gradients (dL/dparam)", "dL/dX")
                + (("state",) if with_state else ())]
        total = 0
        probe = np.zeros((features, 1), dtype=self.dtype or np.float64)
        for i, layer in enumerate(self._layers):
            probe = layer.forward(probe, training=False)  # real shapes, plugins included
            out = probe.shape[0]
            count = layer.num_parameters()
            total += count
            grads = ", ".join(f"d{n} {p.shape}" for n, p in layer.named_parameters()) or "-"
            row = (str(i), repr(layer).replace("\n", " "), f"({features}, m)",
                   f"({out}, m)", f"{count:,}", grads, f"({features}, m)")
            if with_state:
                state = [f"{n} {b.shape}" for n, b in layer.named_buffers()]
                state += [n for n, _ in layer._named_generators()]
                row += (", ".join(state) or "-",)
            rows.append(row)
            features = out
        widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        lines = [fmt.format(*rows[0]).rstrip(), "  ".join("-" * w for w in widths)]
        lines += [fmt.format(*r).rstrip() for r in rows[1:]]
        lines.append(f"Total parameters: {total:,}   (m: examples per batch; every gradient "
                     f"has the shape of what it differentiates)")
        text = "\n".join(lines)
        if print_fn is not None:
            print_fn(text)
        return text


def _layers_within(layer: Layer) -> Iterator[Layer]:
    """``layer`` and every layer nested in it (children of containers, recursively)."""
    yield layer
    for _, child in layer.named_children():
        yield from _layers_within(child)


def _first_with_parameters(layers: list[Layer]) -> int:
    """The index of the first layer holding a parameter (the last index when none does)."""
    for i, layer in enumerate(layers):
        if layer._parameters or next(layer.named_parameters(), None) is not None:
            return i
    return len(layers) - 1
