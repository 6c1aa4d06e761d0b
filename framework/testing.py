"""Conformance kit: the checks every component must pass, for plugin authors' test suites.

Call it from your own pytest suite, as one test::

    from framework.testing import assert_layer_conforms
    from my_plugin import Swish

    def test_swish_conforms():
        assert_layer_conforms(Swish, in_features=4, registered_name="swish")

or as one pytest item per check (skips and expected failures show as such)::

    import pytest
    from framework.testing import layer_checks

    @pytest.mark.parametrize("check", layer_checks(Swish, in_features=4), ids=str)
    def test_swish(check):
        check()

``make_layer`` is any zero-argument callable returning a *new* layer built
the same way each time (a class, or a ``lambda: MyLayer(8, seed=0)``).
``minidl check-plugins`` runs the same checks over every registered layer.

**Tags** (as scikit-learn's ``check_estimator``): a check that does not
apply can be skipped, and a known failure marked expected, each with a
reason, either by the caller (``skip={"float32": "float64 only"}``,
``xfail={"gradients": "subgradient at 0"}``) or by the component itself
(class or function attributes ``kit_skip`` and ``kit_xfail``, dicts of the
same form, honoured by ``minidl check-plugins`` too). An expected failure
that passes is reported as "xpassed" and fails the report: remove the tag.
A check may also skip itself when it does not apply (:func:`skip_check`).

**Building a kit** for another kind: write each check as a function of no
arguments that returns a detail string (or None) and fails with
:func:`expect` / :class:`CheckFailed`; then ``run_checks(target,
[Check(name, func), ...], component=..., skip=..., xfail=...)`` gives a
:class:`ConformanceReport`, and ``tagged(...)`` the list of checks for pytest.

The layer checks (each reported by name):

* ``construct``: ``make_layer()`` returns a Layer whose ``__init__`` called
  ``super().__init__()``;
* ``forward_shape``: Y is 2-D with m columns, and ``output_features`` agrees;
* ``gradients``: every parameter's and the input's gradient agree with
  central differences in float64 (relative error < ``tol``), with buffers
  and generator frozen (a random layer draws the same numbers in every
  evaluation);
* ``gradient_shapes``: each ``grad`` has its parameter's shape and dtype, dX has X's;
* ``backward_sets_grads``: two identical steps (same state, same draws)
  give identical grads (set, not accumulated);
* ``backward_before_forward``: raises :class:`BackwardError`; so does a second backward;
* ``no_cache_growth``: the cache is released by backward, inference keeps
  none, and reused buffers do not multiply over repeated steps;
* ``inputs_not_mutated``: forward leaves X and backward leaves dY untouched;
* ``deterministic``: two layers made the same way give bit-identical
  parameters and outputs; a layer that does not declare ``stochastic = True``
  gives the same training output twice, and one that does gives the same
  output for the same seed and draws only from ``self.rng``;
* ``state_round_trip``: ``state_dict()`` survives ``np.savez``/``np.load``
  without pickle, and loaded into a fresh layer gives the same state and the
  same outputs (the same draws for a random layer);
* ``state_to_dtype``: ``to("float32")`` converts every float buffer with the
  parameters and keeps the others (skipped for a layer without buffers);
* ``float32``: a float32 layer maps float32 input to float32 output and
  gradients, without upcasting;
* ``config_round_trip`` (with ``registered_name``): building from the
  registry with ``config`` gives the same parameters and outputs.

Losses have their kit too: :func:`loss_checks`, :func:`check_loss`,
:func:`assert_loss_conforms` and :func:`check_registered_loss` (value,
float64 gradients against central differences, gradient shape, the
backward contract, inputs untouched, float32). A loss whose inputs are not
any real numbers (probabilities, class indices) declares
``conformance_data(rng) -> (y_hat, y)``.
"""

from __future__ import annotations

import copy
import io
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Literal

import numpy as np

from framework.errors import BackwardError, ConfigError, ConformanceError, MinidlError
from framework.gradcheck import gradcheck
from framework.layer import Layer
from framework.loss import Loss

Status = Literal["passed", "failed", "skipped", "xfailed", "xpassed"]


class KitError(MinidlError, ValueError):
    """The kit was called wrongly (e.g. a tag names a check that does not exist)."""


class CheckFailed(AssertionError):
    """Raised by a check that found a defect; its message is the report's detail."""


class CheckSkipped(Exception):
    """Raised by a check that does not apply to this component (see :func:`skip_check`)."""


def expect(condition: bool, message: str) -> None:
    """Fail the running check with ``message`` unless ``condition`` holds."""
    if not condition:
        raise CheckFailed(message)


def skip_check(reason: str) -> None:
    """Skip the running check: it does not apply (e.g. no buffers to convert)."""
    raise CheckSkipped(reason)


@dataclass
class CheckResult:
    """One check's outcome: ``status`` and what was found (or why it was skipped)."""

    name: str
    status: Status
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("passed", "skipped", "xfailed")


_MARKS = {"passed": "ok  ", "failed": "FAIL", "skipped": "skip", "xfailed": "xfail", "xpassed": "XPASS"}


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

    def status(self, name: str) -> Status:
        """The status of check ``name``."""
        for r in self.results:
            if r.name == name:
                return r.status
        raise KitError(f"no check named {name!r} in this report; checks: {', '.join(r.name for r in self.results)}")

    def render(self) -> str:
        lines = [f"{self.target}: {'ok' if self.ok else 'FAILED ' + ', '.join(self.failed)}"]
        for r in self.results:
            lines.append(f"  {_MARKS[r.status]} {r.name}{': ' + r.detail if r.detail else ''}")
        return "\n".join(lines)


@dataclass
class Check:
    """One named check of one component, runnable alone (a pytest item) or in a report.

    Calling it runs it the pytest way: a failure (or an expected failure
    that passed) raises ``AssertionError``, a skip calls ``pytest.skip`` and
    an expected failure ``pytest.xfail`` (plain returns without pytest).
    """

    name: str
    func: Callable[[], str | None]
    target: str = ""
    skip: str | None = None
    xfail: str | None = None

    def run(self) -> CheckResult:
        if self.skip is not None:
            return CheckResult(self.name, "skipped", self.skip)
        try:
            detail = self.func() or ""
        except CheckSkipped as exc:
            return CheckResult(self.name, "skipped", str(exc))
        except CheckFailed as exc:
            return self._failed(str(exc))
        except Exception as exc:  # a crash is a failed check, reported with its cause
            where = traceback.extract_tb(exc.__traceback__)[-1]
            return self._failed(f"raised {type(exc).__name__}: {exc} ({where.filename}:{where.lineno})")
        if self.xfail is not None:
            return CheckResult(self.name, "xpassed", f"expected to fail ({self.xfail}) but passed: remove the "
                                                     f"xfail tag")
        return CheckResult(self.name, "passed", detail)

    def _failed(self, detail: str) -> CheckResult:
        if self.xfail is not None:
            return CheckResult(self.name, "xfailed", f"{self.xfail} ({detail})")
        return CheckResult(self.name, "failed", detail)

    def __call__(self) -> CheckResult:
        result = self.run()
        if result.status in ("failed", "xpassed"):
            raise ConformanceError(f"{self.target}: check {self.name} failed: {result.detail}")
        if result.status in ("skipped", "xfailed"):
            try:
                import pytest
            except ImportError:  # pragma: no cover - the kit works without pytest
                return result
            (pytest.skip if result.status == "skipped" else pytest.xfail)(result.detail)
        return result

    def __str__(self) -> str:
        return self.name


def tags_of(component: Any) -> tuple[dict[str, str], dict[str, str]]:
    """The ``kit_skip`` and ``kit_xfail`` tags a component declares (class or function attributes)."""
    skip = getattr(component, "kit_skip", None) or {}
    xfail = getattr(component, "kit_xfail", None) or {}
    for attr, tags in (("kit_skip", skip), ("kit_xfail", xfail)):
        if not (isinstance(tags, dict) and all(isinstance(k, str) and isinstance(v, str) and v
                                                 for k, v in tags.items())):
            raise KitError(f"{getattr(component, '__name__', component)!r}: `{attr}` must map check names to "
                           f"reasons (non-empty strings). Received: {attr}={tags!r}")
    return dict(skip), dict(xfail)


def tagged(target: str, checks: Iterable[Check], *, component: Any = None, skip: dict[str, str] | None = None,
           xfail: dict[str, str] | None = None) -> list[Check]:
    """``checks`` with their skip/xfail tags set, from ``component``'s declared tags and the arguments.

    A tag that names no check raises :class:`KitError` listing the valid names.
    """
    checks = list(checks)
    declared_skip, declared_xfail = tags_of(component) if component is not None else ({}, {})
    skip = {**declared_skip, **(skip or {})}
    xfail = {**declared_xfail, **(xfail or {})}
    names = [c.name for c in checks]
    for label, tags in (("skip", skip), ("xfail", xfail)):
        unknown = [n for n in tags if n not in names]
        if unknown:
            raise KitError(f"{target}: {label} names unknown check(s) {', '.join(map(repr, unknown))}; "
                           f"checks: {', '.join(names)}")
    return [Check(c.name, c.func, target, skip.get(c.name, c.skip), xfail.get(c.name, c.xfail)) for c in checks]


def run_checks(target: str, checks: Iterable[Check], *, component: Any = None, skip: dict[str, str] | None = None,
               xfail: dict[str, str] | None = None) -> ConformanceReport:
    """Run ``checks`` (tagged as :func:`tagged` does) in order; return the report (never raises for a defect)."""
    report = ConformanceReport(target=target)
    for check in tagged(target, checks, component=component, skip=skip, xfail=xfail):
        report.results.append(check.run())
    return report


# Private names kept for code written against the first kit.
_Failed = CheckFailed
_expect = expect


def _input(in_features: int, m: int, seed: int, dtype=np.float64) -> np.ndarray:
    X = np.random.default_rng(seed).uniform(-2.0, 2.0, (in_features, m))
    X[np.abs(X) < 0.05] = 0.5  # away from kinks such as ReLU's at 0
    return X.astype(dtype)


def _params(layer: Layer) -> dict[str, np.ndarray]:
    return {n: p.data.copy() for n, p in layer.named_parameters()}


def _init_ran(layer: Layer) -> bool:
    return "_parameters" in vars(layer)


def _missing_init_message(layer_or_cls) -> str:
    name = layer_or_cls.__name__ if isinstance(layer_or_cls, type) else type(layer_or_cls).__name__
    return (f"{name}.__init__ does not call super().__init__(), so the Layer base is not set up "
            f"(parameters, buffers, cache); add super().__init__() as its first line")


def layer_checks(make_layer: Callable[[], Layer], in_features: int, *, m: int = 6, seed: int = 0,
                 X: np.ndarray | None = None, tol: float = 1e-6, registered_name: str | None = None,
                 config: dict[str, Any] | None = None, skip: dict[str, str] | None = None,
                 xfail: dict[str, str] | None = None) -> list[Check]:
    """The layer checks, tagged, each runnable alone (e.g. one pytest item per check).

    Tags come from ``skip``/``xfail`` and from the layer class's ``kit_skip``/``kit_xfail``.
    """
    made: list[Layer] = []

    def probe() -> Layer:
        if not made:
            made.append(make_layer())
        return made[0]

    try:
        component = type(probe())
        target = f"{component.__name__} ({registered_name or 'unregistered'})"
    except Exception as exc:
        component, target = None, f"{getattr(make_layer, '__name__', 'layer')} ({registered_name or 'unregistered'})"
        detail = f"make_layer() raised {type(exc).__name__}: {exc}"
        return tagged(target, [Check("construct", lambda: (_ for _ in ()).throw(CheckFailed(detail)))])

    X64 = _input(in_features, m, seed) if X is None else np.asarray(X, dtype=np.float64)
    rng = np.random.default_rng(seed + 1)
    constructed: list[bool] = []

    def fresh(dtype=np.float64) -> Layer:
        if constructed and not constructed[0]:
            skip_check("needs construct, which failed")
        layer = make_layer()
        if not isinstance(layer, Layer):
            raise CheckFailed(f"make_layer() returned {type(layer).__name__}, not a framework.Layer")
        return layer.to(dtype) if layer.dtype is not None and layer.dtype != dtype else layer

    def X_() -> np.ndarray:
        return X64.copy()  # each call gets its own copy: a layer that mutates X must not spoil the next check

    def frozen_state(layer: Layer) -> Callable[[], None]:
        """A function that puts the layer's buffers and generator back as they are now."""
        params = {n for n, _ in layer.named_parameters()}
        state = {k: v for k, v in layer.state_dict().items() if k not in params}
        return (lambda: layer.load_state_dict(state, strict=False)) if state else (lambda: None)

    def construct():
        layer = make_layer()
        expect(isinstance(layer, Layer), f"make_layer() returned {type(layer).__name__}, not a framework.Layer")
        ok = _init_ran(layer)
        constructed.append(ok)
        expect(ok, _missing_init_message(layer))
        return "stochastic (checked with its generator frozen)" if layer.stochastic else None

    def forward_shape():
        layer = fresh()
        Y = layer.forward(X_(), training=False)
        expect(isinstance(Y, np.ndarray) and Y.ndim == 2 and Y.shape[1] == m,
               f"forward must return an array of shape (out, {m}); returned "
               f"{getattr(Y, 'shape', type(Y).__name__)}")
        declared = layer.output_features(in_features)
        expect(declared == Y.shape[0], f"output_features({in_features}) says {declared} but forward "
                                       f"returned {Y.shape[0]} rows")
        return f"({in_features}, m) -> ({Y.shape[0]}, m)"

    def gradients():
        result = gradcheck(fresh(), X_(), tol=tol, seed=seed, raise_on_failure=False)
        expect(result.ok, "; ".join(f"{n}: relative error {result.errors[n]:.2e}" for n in result.failures)
               + f" (tolerance {tol:g})")
        return f"worst relative error {result.worst:.1e}"

    def gradient_shapes():
        layer = fresh()
        Y = layer(X_())
        dX = layer.backward(rng.standard_normal(Y.shape))
        for name, p in layer.named_parameters():
            expect(isinstance(p.grad, np.ndarray) and p.grad.shape == p.data.shape and p.grad.dtype == p.data.dtype,
                   f"{name}.grad has shape {getattr(p.grad, 'shape', None)} and dtype "
                   f"{getattr(p.grad, 'dtype', None)}; {name} is {p.data.shape} {p.data.dtype}")
        expect(isinstance(dX, np.ndarray) and dX.shape == X_().shape,
               f"dX has shape {getattr(dX, 'shape', None)}; X is {X_().shape}")

    def backward_sets_grads():
        layer = fresh()
        dY = rng.standard_normal(layer.forward(X_(), training=False).shape)
        restore = frozen_state(layer)  # the same state (and draws) for both steps
        grads = []
        for _ in range(2):
            restore()
            layer(X_())
            layer.backward(dY)
            grads.append({n: p.grad.copy() for n, p in layer.named_parameters()})
        for name in grads[0]:
            expect(np.array_equal(grads[0][name], grads[1][name]),
                   f"{name}.grad differs between two identical steps: backward must set grads, not add to them "
                   f"(and state that changes must be a buffer, so that it is restored)")

    def backward_before_forward():
        layer = fresh()
        dY = np.ones_like(layer.forward(X_(), training=False))
        try:
            layer.backward(dY)
        except BackwardError:
            pass
        else:
            raise CheckFailed("backward() before any forward(training=True) did not raise BackwardError")
        layer(X_())
        layer.backward(dY)
        try:
            layer.backward(dY)
        except BackwardError:
            pass
        else:
            raise CheckFailed("a second backward() after one forward did not raise BackwardError")

    def no_cache_growth():
        layer = fresh()
        dY = np.ones_like(layer.forward(X_(), training=False))
        expect(not layer.has_cache, "forward(training=False) kept a cache")
        sizes = []
        for _ in range(5):
            layer(X_())
            layer.backward(dY)
            expect(not layer.has_cache, "backward did not release the cache")
            sizes.append((len(layer._scratch), len(layer.__dict__),
                          sum(len(v) for v in layer.__dict__.values() if isinstance(v, (list, dict, set)))))
        expect(len(set(sizes)) == 1, f"the layer's state grows with every step ({sizes[0]} -> {sizes[-1]} "
                                     f"buffers, attributes, container items)")

    def inputs_not_mutated():
        layer = fresh()
        X, X0 = X_().copy(), X_().copy()
        Y = layer(X)
        expect(np.array_equal(X, X0), "forward modified its input X")
        dY = rng.standard_normal(Y.shape)
        dY0 = dY.copy()
        layer.backward(dY)
        expect(np.array_equal(dY, dY0), "backward modified its input dY")

    def deterministic():
        a, b = fresh(), fresh()
        pa, pb = _params(a), _params(b)
        for name in pa:
            expect(np.array_equal(pa[name], pb[name]), f"two layers made the same way differ in {name}: "
                                                       f"seed the initialisation")
        expect(np.array_equal(a.forward(X_(), training=False), b.forward(X_(), training=False)),
               "two layers made the same way give different outputs")
        if not a.stochastic:
            restore = frozen_state(a)
            first = a.forward(X_(), training=True).copy()
            restore()
            expect(np.array_equal(first, a.forward(X_(), training=True)),
                   "two training forwards from the same saved state give different outputs: a layer that "
                   "draws random numbers declares `stochastic = True` and draws them from self.rng, and "
                   "state that changes (running statistics) is registered with add_buffer")
            return None
        outputs = []
        for layer, global_seed in ((a, 1), (b, 2)):
            layer.seed(seed)
            np.random.seed(global_seed)  # a layer drawing from numpy's global generator would differ
            outputs.append(layer.forward(X_(), training=True).copy())
        expect(np.array_equal(outputs[0], outputs[1]),
               "the same seed gave different training outputs: draw every random number from self.rng")
        return "stochastic: same seed, same draws"

    def state_round_trip():
        layer = fresh()
        layer.seed(seed)
        layer(X_())  # move buffers and generator away from their initial values
        layer.backward(np.ones_like(layer.forward(X_(), training=False)))
        state = layer.state_dict()
        for key, value in state.items():
            expect(isinstance(value, np.ndarray) and value.dtype != object,
                   f"state_dict()[{key!r}] is {type(value).__name__}"
                   f"{' of dtype object' if isinstance(value, np.ndarray) else ''}: not savable without pickle")
        file = io.BytesIO()
        np.savez(file, **state)
        file.seek(0)
        with np.load(file, allow_pickle=False) as archive:
            loaded = {k: archive[k] for k in archive.files}
        twin = fresh()
        twin.seed(seed + 17)
        twin.load_state_dict(loaded)
        again = twin.state_dict()
        expect(list(again) == list(state), f"state keys {list(again)} after loading, {list(state)} before")
        for key in state:
            expect(np.array_equal(again[key], state[key]) and again[key].dtype == state[key].dtype,
                   f"{key} differs after load_state_dict")
        expect(np.array_equal(twin.forward(X_(), training=False), layer.forward(X_(), training=False)),
               "inference output differs after load_state_dict")
        expect(np.array_equal(twin.forward(X_(), training=True), layer.forward(X_(), training=True)),
               "training output differs after load_state_dict (a random layer must draw the same numbers)")
        return f"{len(state)} entries" + (", generator included" if layer.stochastic else "")

    def state_to_dtype():
        layer = fresh()
        buffers = dict(layer.named_buffers())
        if not buffers:
            skip_check("no buffers")
        layer.to(np.float32)
        after = dict(layer.named_buffers())
        expect(list(after) == list(buffers), f"to() changed the buffers: {list(buffers)} -> {list(after)}")
        for name, before in buffers.items():
            want = np.float32 if before.dtype.kind == "f" else before.dtype
            expect(after[name].dtype == want, f"buffer {name} is {after[name].dtype} after to('float32'), "
                                              f"expected {np.dtype(want)}")
        Y = layer(X_().astype(np.float32))
        for name, buffer in layer.named_buffers():
            want = np.float32 if buffers[name].dtype.kind == "f" else buffers[name].dtype
            expect(buffer.dtype == want, f"buffer {name} became {buffer.dtype} in a float32 training step")
        expect(Y.dtype == np.float32, f"float32 input gave a {Y.dtype} output")

    def float32():
        layer = fresh(np.float32)
        X32 = X_().astype(np.float32)
        Y = layer(X32)
        expect(Y.dtype == np.float32, f"float32 input gave a {Y.dtype} output")
        dX = layer.backward(np.ones_like(Y))
        expect(dX.dtype == np.float32, f"float32 input gave a {dX.dtype} dX")
        for name, p in layer.named_parameters():
            expect(p.data.dtype == np.float32 and p.grad.dtype == np.float32,
                   f"{name} is {p.data.dtype} with grad {p.grad.dtype} after a float32 step")

    def config_round_trip():
        from framework.experiment import build_model
        from framework.registry import registry

        cfg = dict(config or {})
        cls = registry.get("layers", registered_name)
        expect(isinstance(probe(), cls), f"registered name {registered_name!r} builds {cls.__name__}, "
                                         f"not {type(probe()).__name__}")
        model = build_model([{"type": registered_name, **cfg}], in_features=in_features, seed=seed)
        again = build_model([{"type": registered_name, **cfg}], in_features=in_features, seed=seed)
        built = model[0]
        expect(type(built) is type(probe()), f"config built {type(built).__name__}")
        shapes = {n: p.shape for n, p in built.named_parameters()}
        expected = {n: p.shape for n, p in probe().named_parameters()}
        expect(shapes == expected, f"config built parameters {shapes}, the factory {expected}")
        expect(np.array_equal(model.predict(X_()), again.predict(X_())),
               "the same config and seed built layers with different outputs")

    checks = [Check("construct", construct), Check("forward_shape", forward_shape), Check("gradients", gradients),
              Check("gradient_shapes", gradient_shapes), Check("backward_sets_grads", backward_sets_grads),
              Check("backward_before_forward", backward_before_forward),
              Check("no_cache_growth", no_cache_growth), Check("inputs_not_mutated", inputs_not_mutated),
              Check("deterministic", deterministic), Check("state_round_trip", state_round_trip),
              Check("state_to_dtype", state_to_dtype), Check("float32", float32)]
    if registered_name is not None:
        checks.append(Check("config_round_trip", config_round_trip))
    return tagged(target, checks, component=component, skip=skip, xfail=xfail)


def check_layer(make_layer: Callable[[], Layer], in_features: int, **kwargs) -> ConformanceReport:
    """Run every layer check on layers made by ``make_layer``; return a report (never raises for a defect).

    Keyword arguments: ``m``, ``seed``, ``X``, ``tol``, ``registered_name``,
    ``config``, ``skip``, ``xfail`` (see :func:`layer_checks`).
    """
    checks = layer_checks(make_layer, in_features, **kwargs)
    report = ConformanceReport(target=checks[0].target)
    report.results = [c.run() for c in checks]
    return report


def assert_layer_conforms(make_layer: Callable[[], Layer], in_features: int, **kwargs) -> ConformanceReport:
    """:func:`check_layer`, raising ``AssertionError`` with the report when a check fails."""
    report = check_layer(make_layer, in_features, **kwargs)
    if not report.ok:
        raise ConformanceError("layer does not conform:\n" + report.render())
    return report


def check_registered_layer(name: str, in_features: int = 4) -> ConformanceReport:
    """Check the layer registered as ``name``, built from its ``conformance_config``.

    A layer class whose constructor needs arguments besides ``in_features``
    declares them as a class attribute, e.g. ``conformance_config = {"out_features": 3}``.
    Its ``kit_skip`` and ``kit_xfail`` tags apply.
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
        if getattr(exc, "missing_init", False) or "super().__init__()" in str(exc):
            detail = _missing_init_message(cls)
        elif isinstance(exc, ConfigError) and any("required field is missing" in m for _, m in exc.problems):
            detail = (f"cannot build from {config or 'no arguments'}: {exc}. Declare the arguments the kit should "
                      f"use as a class attribute, e.g. conformance_config = {{\"out_features\": 3}}.")
        else:
            detail = f"cannot build from {config or 'no arguments'}: {type(exc).__name__}: {exc}"
        report.results.append(CheckResult("construct", "failed", detail))
        return report
    return check_layer(make, in_features, registered_name=name, config=config)


# ----------------------------------------------------------------------------
# Losses
# ----------------------------------------------------------------------------
def default_loss_data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Real-valued y_hat and y of shape (3, 6): what a loss without ``conformance_data`` is checked on."""
    return rng.standard_normal((3, 6)), rng.standard_normal((3, 6))


def loss_checks(make_loss: Callable[[], Loss], y_hat: np.ndarray | None = None, y: np.ndarray | None = None, *,
                seed: int = 0, tol: float = 1e-6, target: str | None = None,
                skip: dict[str, str] | None = None, xfail: dict[str, str] | None = None) -> list[Check]:
    """The checks of a loss on (y_hat, y), float64; default data from the loss's ``conformance_data(rng)``.

    * ``value``: ``loss(y_hat, y)`` is a finite Python float, the same twice;
    * ``gradients``: dL/dy_hat agrees with central differences in float64;
    * ``gradient_shape``: it has y_hat's shape and dtype;
    * ``backward_before_forward``: raises :class:`BackwardError`; so does a second backward;
    * ``inputs_not_mutated``: forward and backward leave y_hat and y untouched;
    * ``float32``: float32 inputs give a float32 gradient.
    """
    probe = make_loss()
    if not isinstance(probe, Loss):
        raise KitError(f"make_loss() returned {type(probe).__name__}, not a framework.Loss")
    if y_hat is None or y is None:
        data = getattr(probe, "conformance_data", default_loss_data)
        y_hat, y = data(np.random.default_rng(seed))
    y_hat, y = np.asarray(y_hat, dtype=np.float64), np.asarray(y)
    name = target or repr(probe)

    def value():
        loss = make_loss()
        a, b = loss(y_hat.copy(), y.copy()), loss(y_hat.copy(), y.copy())
        expect(isinstance(a, float) and np.isfinite(a), f"the loss returned {a!r}, not a finite float")
        expect(a == b, f"two calls on the same data gave {a!r} and {b!r}")
        return f"{a:.6g}"

    def gradients():
        report = gradcheck(make_loss(), y_hat.copy(), y.copy(), tol=tol, raise_on_failure=False)
        expect(report.ok, f"dL/dy_hat: relative error {report.worst:.2e} (tolerance {tol:g})")
        return f"worst relative error {report.worst:.1e}"

    def gradient_shape():
        loss = make_loss()
        loss(y_hat.copy(), y.copy())
        grad = loss.backward()
        expect(isinstance(grad, np.ndarray) and grad.shape == y_hat.shape and grad.dtype == y_hat.dtype,
               f"backward returned {getattr(grad, 'shape', type(grad).__name__)} "
               f"{getattr(grad, 'dtype', '')}; y_hat is {y_hat.shape} {y_hat.dtype}")

    def backward_before_forward():
        loss = make_loss()
        for when in ("before any forward", "a second time"):
            try:
                loss.backward()
            except BackwardError:
                pass
            else:
                raise CheckFailed(f"backward() {when} did not raise BackwardError")
            if when.startswith("before"):
                loss(y_hat.copy(), y.copy())
                loss.backward()

    def inputs_not_mutated():
        loss = make_loss()
        a, b = y_hat.copy(), y.copy()
        loss(a, b)
        loss.backward()
        expect(np.array_equal(a, y_hat) and np.array_equal(b, y), "forward or backward modified y_hat or y")

    def float32():
        loss = make_loss()
        y32 = y.astype(np.float32) if y.dtype.kind == "f" else y
        loss(y_hat.astype(np.float32), y32)
        grad = loss.backward()
        expect(grad.dtype == np.float32, f"float32 inputs gave a {grad.dtype} gradient")

    checks = [Check("value", value), Check("gradients", gradients), Check("gradient_shape", gradient_shape),
              Check("backward_before_forward", backward_before_forward),
              Check("inputs_not_mutated", inputs_not_mutated), Check("float32", float32)]
    return tagged(name, checks, component=type(probe), skip=skip, xfail=xfail)


def check_loss(make_loss: Callable[[], Loss], y_hat: np.ndarray | None = None, y: np.ndarray | None = None,
               **kwargs) -> ConformanceReport:
    """Run :func:`loss_checks`; return the report (never raises for a defect)."""
    checks = loss_checks(make_loss, y_hat, y, **kwargs)
    report = ConformanceReport(target=checks[0].target if checks else "loss")
    report.results = [c.run() for c in checks]
    return report


def assert_loss_conforms(make_loss: Callable[[], Loss], y_hat: np.ndarray | None = None,
                         y: np.ndarray | None = None, **kwargs) -> ConformanceReport:
    """:func:`check_loss`, raising ``AssertionError`` with the report when a check fails."""
    report = check_loss(make_loss, y_hat, y, **kwargs)
    if not report.ok:
        raise ConformanceError("loss does not conform:\n" + report.render())
    return report


def check_registered_loss(name: str) -> ConformanceReport:
    """Check the loss registered as ``name``, built with its default arguments, on its ``conformance_data``."""
    from framework.registry import registry

    cls = registry.get("losses", name)
    return check_loss(lambda: registry.build("losses", name, {}), target=f"{cls.__name__} ({name})")
