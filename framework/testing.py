"""Conformance kit: the checks every layer must pass, for plugin authors' test suites.

Call it from your own pytest suite::

    from framework.testing import assert_layer_conforms
    from my_plugin import Swish

    def test_swish_conforms():
        assert_layer_conforms(Swish, in_features=4, registered_name="swish")

``make_layer`` is any zero-argument callable returning a *new* layer built
the same way each time (a class, or a ``lambda: MyLayer(8, seed=0)``).
``minidl check-plugins`` runs the same checks over every registered layer.

The checks (each reported by name):

* ``forward_shape``: Y is 2-D with m columns, and ``output_features`` agrees;
* ``gradients``: every parameter's and the input's gradient agree with
  central differences in float64 (relative error < ``tol``);
* ``gradient_shapes``: each ``grad`` has its parameter's shape and dtype, dX has X's;
* ``backward_sets_grads``: two identical steps give identical grads (set, not accumulated);
* ``backward_before_forward``: raises :class:`BackwardError`; so does a second backward;
* ``no_cache_growth``: the cache is released by backward, inference keeps
  none, and reused buffers do not multiply over repeated steps;
* ``inputs_not_mutated``: forward leaves X and backward leaves dY untouched;
* ``deterministic``: two layers made the same way give bit-identical parameters and outputs;
* ``float32``: a float32 layer maps float32 input to float32 output and
  gradients, without upcasting;
* ``config_round_trip`` (with ``registered_name``): building from the
  registry with ``config`` gives the same parameters and outputs.
"""

from __future__ import annotations

import copy
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from framework.errors import BackwardError
from framework.gradcheck import gradcheck
from framework.layer import Layer


@dataclass
class CheckResult:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class ConformanceReport:
    target: str
    results: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failed(self) -> list[str]:
        return [r.name for r in self.results if not r.ok]

    def render(self) -> str:
        lines = [f"{self.target}: {'ok' if self.ok else 'FAILED ' + ', '.join(self.failed)}"]
        for r in self.results:
            lines.append(f"  {'ok  ' if r.ok else 'FAIL'} {r.name}{': ' + r.detail if r.detail else ''}")
        return "\n".join(lines)


class _Failed(AssertionError):
    pass


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise _Failed(message)


def _input(in_features: int, m: int, seed: int, dtype=np.float64) -> np.ndarray:
    X = np.random.default_rng(seed).uniform(-2.0, 2.0, (in_features, m))
    X[np.abs(X) < 0.05] = 0.5  # away from kinks such as ReLU's at 0
    return X.astype(dtype)


def _params(layer: Layer) -> dict[str, np.ndarray]:
    return {n: p.data.copy() for n, p in layer.named_parameters()}


def check_layer(make_layer: Callable[[], Layer], in_features: int, *, m: int = 6, seed: int = 0,
                X: np.ndarray | None = None, tol: float = 1e-6, registered_name: str | None = None,
                config: dict[str, Any] | None = None) -> ConformanceReport:
    """Run every check on layers made by ``make_layer``; return a report (never raises)."""
    probe = make_layer()
    report = ConformanceReport(target=f"{type(probe).__name__} ({registered_name or 'unregistered'})")
    X64 = _input(in_features, m, seed) if X is None else np.asarray(X, dtype=np.float64)
    rng = np.random.default_rng(seed + 1)

    def fresh(dtype=np.float64) -> Layer:
        layer = make_layer()
        if not isinstance(layer, Layer):
            raise _Failed(f"make_layer() returned {type(layer).__name__}, not a framework.Layer")
        return layer.to(dtype) if layer.dtype is not None and layer.dtype != dtype else layer

    def run(name: str, check: Callable[[], str | None]) -> None:
        try:
            detail = check() or ""
            report.results.append(CheckResult(name, True, detail))
        except _Failed as exc:
            report.results.append(CheckResult(name, False, str(exc)))
        except Exception as exc:  # a crash is a failed check, reported with its cause
            where = traceback.extract_tb(exc.__traceback__)[-1]
            report.results.append(CheckResult(name, False, f"raised {type(exc).__name__}: {exc} "
                                                           f"({where.filename}:{where.lineno})"))

    def X_() -> np.ndarray:
        return X64.copy()  # each call gets its own copy: a layer that mutates X must not spoil the next check

    def forward_shape():
        layer = fresh()
        Y = layer.forward(X_(), training=False)
        _expect(isinstance(Y, np.ndarray) and Y.ndim == 2 and Y.shape[1] == m,
                f"forward must return an array of shape (out, {m}); returned "
                f"{getattr(Y, 'shape', type(Y).__name__)}")
        declared = layer.output_features(in_features)
        _expect(declared == Y.shape[0], f"output_features({in_features}) says {declared} but forward "
                                        f"returned {Y.shape[0]} rows")
        return f"({in_features}, m) -> ({Y.shape[0]}, m)"

    def gradients():
        result = gradcheck(fresh(), X_(), tol=tol, seed=seed, raise_on_failure=False)
        _expect(result.ok, "; ".join(f"{n}: relative error {result.errors[n]:.2e}" for n in result.failures)
                + f" (tolerance {tol:g})")
        return f"worst relative error {result.worst:.1e}"

    def gradient_shapes():
        layer = fresh()
        Y = layer(X_())
        dX = layer.backward(rng.standard_normal(Y.shape))
        for name, p in layer.named_parameters():
            _expect(isinstance(p.grad, np.ndarray) and p.grad.shape == p.data.shape and p.grad.dtype == p.data.dtype,
                    f"{name}.grad has shape {getattr(p.grad, 'shape', None)} and dtype "
                    f"{getattr(p.grad, 'dtype', None)}; {name} is {p.data.shape} {p.data.dtype}")
        _expect(isinstance(dX, np.ndarray) and dX.shape == X_().shape,
                f"dX has shape {getattr(dX, 'shape', None)}; X is {X_().shape}")

    def backward_sets_grads():
        layer = fresh()
        dY = rng.standard_normal(layer.forward(X_(), training=False).shape)
        grads = []
        for _ in range(2):
            layer(X_())
            layer.backward(dY)
            grads.append({n: p.grad.copy() for n, p in layer.named_parameters()})
        for name in grads[0]:
            _expect(np.array_equal(grads[0][name], grads[1][name]),
                    f"{name}.grad differs between two identical steps: backward must set grads, not add to them")

    def backward_before_forward():
        layer = fresh()
        dY = np.ones_like(layer.forward(X_(), training=False))
        try:
            layer.backward(dY)
        except BackwardError:
            pass
        else:
            raise _Failed("backward() before any forward(training=True) did not raise BackwardError")
        layer(X_())
        layer.backward(dY)
        try:
            layer.backward(dY)
        except BackwardError:
            pass
        else:
            raise _Failed("a second backward() after one forward did not raise BackwardError")

    def no_cache_growth():
        layer = fresh()
        dY = np.ones_like(layer.forward(X_(), training=False))
        _expect(not layer.has_cache, "forward(training=False) kept a cache")
        sizes = []
        for _ in range(5):
            layer(X_())
            layer.backward(dY)
            _expect(not layer.has_cache, "backward did not release the cache")
            sizes.append((len(layer._scratch), len(layer.__dict__),
                          sum(len(v) for v in layer.__dict__.values() if isinstance(v, (list, dict, set)))))
        _expect(len(set(sizes)) == 1, f"the layer's state grows with every step ({sizes[0]} -> {sizes[-1]} "
                                      f"buffers, attributes, container items)")

    def inputs_not_mutated():
        layer = fresh()
        X, X0 = X_().copy(), X_().copy()
        Y = layer(X)
        _expect(np.array_equal(X, X0), "forward modified its input X")
        dY = rng.standard_normal(Y.shape)
        dY0 = dY.copy()
        layer.backward(dY)
        _expect(np.array_equal(dY, dY0), "backward modified its input dY")

    def deterministic():
        a, b = fresh(), fresh()
        pa, pb = _params(a), _params(b)
        for name in pa:
            _expect(np.array_equal(pa[name], pb[name]), f"two layers made the same way differ in {name}: "
                                                        f"seed the initialisation")
        _expect(np.array_equal(a.forward(X_(), training=False), b.forward(X_(), training=False)),
                "two layers made the same way give different outputs")

    def float32():
        layer = fresh(np.float32)
        X32 = X_().astype(np.float32)
        Y = layer(X32)
        _expect(Y.dtype == np.float32, f"float32 input gave a {Y.dtype} output")
        dX = layer.backward(np.ones_like(Y))
        _expect(dX.dtype == np.float32, f"float32 input gave a {dX.dtype} dX")
        for name, p in layer.named_parameters():
            _expect(p.data.dtype == np.float32 and p.grad.dtype == np.float32,
                    f"{name} is {p.data.dtype} with grad {p.grad.dtype} after a float32 step")

    def config_round_trip():
        from framework.experiment import build_model
        from framework.registry import registry

        cfg = dict(config or {})
        cls = registry.get("layers", registered_name)
        _expect(isinstance(probe, cls), f"registered name {registered_name!r} builds {cls.__name__}, "
                                        f"not {type(probe).__name__}")
        model = build_model([{"type": registered_name, **cfg}], in_features=in_features, seed=seed)
        again = build_model([{"type": registered_name, **cfg}], in_features=in_features, seed=seed)
        built = model[0]
        _expect(type(built) is type(probe), f"config built {type(built).__name__}")
        shapes = {n: p.shape for n, p in built.named_parameters()}
        expected = {n: p.shape for n, p in probe.named_parameters()}
        _expect(shapes == expected, f"config built parameters {shapes}, the factory {expected}")
        _expect(np.array_equal(model.predict(X_()), again.predict(X_())),
                "the same config and seed built layers with different outputs")

    run("forward_shape", forward_shape)
    run("gradients", gradients)
    run("gradient_shapes", gradient_shapes)
    run("backward_sets_grads", backward_sets_grads)
    run("backward_before_forward", backward_before_forward)
    run("no_cache_growth", no_cache_growth)
    run("inputs_not_mutated", inputs_not_mutated)
    run("deterministic", deterministic)
    run("float32", float32)
    if registered_name is not None:
        run("config_round_trip", config_round_trip)
    return report


def assert_layer_conforms(make_layer: Callable[[], Layer], in_features: int, **kwargs) -> ConformanceReport:
    """:func:`check_layer`, raising ``AssertionError`` with the report when a check fails."""
    report = check_layer(make_layer, in_features, **kwargs)
    if not report.ok:
        raise AssertionError("layer does not conform:\n" + report.render())
    return report


def check_registered_layer(name: str, in_features: int = 4) -> ConformanceReport:
    """Check the layer registered as ``name``, built from its ``conformance_config``.

    A layer class whose constructor needs arguments besides ``in_features``
    declares them as a class attribute, e.g. ``conformance_config = {"out_features": 3}``.
    """
    from framework.experiment import build_model
    from framework.registry import registry

    cls = registry.get("layers", name)
    config = dict(getattr(cls, "conformance_config", {}))

    def make():
        return build_model([{"type": name, **copy.deepcopy(config)}], in_features=in_features, seed=0)[0]

    try:
        make()
    except Exception as exc:
        report = ConformanceReport(target=f"{cls.__name__} ({name})")
        report.results.append(CheckResult("construct", False, f"cannot build from {config or 'no arguments'}: "
                                                              f"{exc}. Declare conformance_config on the class."))
        return report
    return check_layer(make, in_features, registered_name=name, config=config)
