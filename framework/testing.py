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
  give identical grads (set, not accumulated), the second written into
  new ``grad`` arrays put in before it (an optimizer may replace them:
  backward writes ``param.grad`` as it is, not an array kept from before);
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
        for replaced in (False, False, True):
            restore()
            if replaced:  # as an optimizer that keeps gradients contiguous does: new arrays, same shape
                for p in layer.parameters():
                    p.grad = np.full_like(p.data, np.nan)
            layer(X_())
            layer.backward(dY)
            grads.append({n: p.grad.copy() for n, p in layer.named_parameters()})
        for name in grads[0]:
            expect(np.array_equal(grads[0][name], grads[1][name]),
                   f"{name}.grad differs between two identical steps: backward must set grads, not add to them "
                   f"(and state that changes must be a buffer, so that it is restored)")
            expect(np.array_equal(grads[0][name], grads[2][name]),
                   f"{name}.grad was not written after its array was replaced by a new one: backward must "
                   f"write param.grad as it is at that call (in place or by assignment), not an array kept "
                   f"from before (an optimizer may replace grad by a view of its own buffer)")

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
        if getattr(exc, "missing_init", False) or "super().__init__()" in str(exc):
            report = ConformanceReport(target=f"{cls.__name__} ({name})")
            report.results.append(CheckResult("construct", "failed", _missing_init_message(cls)))
            return report
        return _construct_failure(f"{cls.__name__} ({name})", "layer", config, exc,
                                  where="a class attribute", example='{"out_features": 3}')
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


# ======================================================================================
# Kits for the other kinds: optimizers, metrics, schedules, callbacks,
# datasets, initializers. Each has ``<kind>_checks(...) -> list[Check]`` (one pytest
# item per check), ``check_<kind>(...) -> ConformanceReport``,
# ``assert_<kind>_conforms(...)`` and ``check_registered_<kind>(name)``, which
# ``minidl check-plugins`` runs (the ``kit`` of each record in framework/kinds.py).
# Components needing constructor arguments declare ``conformance_config``; every
# component may declare ``kit_skip`` / ``kit_xfail`` tags with reasons.
# ======================================================================================

def _report(checks: list[Check]) -> ConformanceReport:
    report = ConformanceReport(target=checks[0].target if checks else "")
    report.results = [c.run() for c in checks]
    return report


def _assert_ok(report: ConformanceReport, what: str) -> ConformanceReport:
    if not report.ok:
        raise ConformanceError(f"{what} does not conform:\n" + report.render())
    return report


def _relative_error(a: np.ndarray, b: np.ndarray) -> float:
    scale = max(float(np.linalg.norm(a)) + float(np.linalg.norm(b)), 1e-12)
    return float(np.linalg.norm(a - b)) / scale


def _raises_minidl(call: Callable[[], Any], what: str, builtin: type = ValueError) -> str:
    """Expect ``call`` to raise a MinidlError that is also ``builtin``; return its message."""
    try:
        call()
    except MinidlError as exc:
        expect(isinstance(exc, builtin), f"{what} raised {type(exc).__name__}, which is not a {builtin.__name__}")
        expect(str(exc).strip() != "", f"{what} raised {type(exc).__name__} without a message")
        return str(exc)
    except Exception as exc:
        raise CheckFailed(f"{what} raised {type(exc).__name__}: {exc}; expected a framework.MinidlError "
                          f"(e.g. ShapeError) saying what was wrong") from None
    raise CheckFailed(f"{what} did not raise")


def _not_jsonable(value: Any, path: str = "state") -> str | None:
    """Where ``value`` holds something neither JSON nor a numpy array (a checkpoint could not store it)."""
    if isinstance(value, np.ndarray):
        return None if value.dtype.kind in "biuf" else f"{path} is an array of dtype {value.dtype}"
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                return f"{path} has a key {k!r} that is not a string"
            found = _not_jsonable(v, f"{path}[{k!r}]")
            if found:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found = _not_jsonable(v, f"{path}[{i}]")
            if found:
                return found
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return None
    return f"{path} is a {type(value).__name__} ({value!r})"


def _same_state(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype
                and np.array_equal(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_state(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same_state(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and (a == b or (isinstance(a, float) and a != a and b != b))


def _conformance_config(component: Any) -> dict[str, Any]:
    return copy.deepcopy(dict(getattr(component, "conformance_config", {}) or {}))


def _registered_factory(kind: str, singular: str, name: str, label: str):
    """``(make, None)``: ``make()`` builds the registered ``name`` from its conformance_config;
    ``(None, report)`` when it cannot be built, the report saying why."""
    from framework.registry import registry

    config = _conformance_config(registry.get(kind, name))

    def make():
        return registry.build(kind, name, copy.deepcopy(config))

    try:
        make()
    except Exception as exc:
        return None, _construct_failure(label, singular, config, exc)
    return make, None


def _construct_failure(target: str, kind_singular: str, config: dict, exc: Exception, *,
                       where: str | None = None, example: str = "{...}") -> ConformanceReport:
    report = ConformanceReport(target=target)
    if isinstance(exc, ConfigError) and any("required field is missing" in m for _, m in exc.problems):
        detail = (f"cannot build from {config or 'no arguments'}: {exc}. Declare the arguments the kit should "
                  f"use as {where or f'an attribute of the {kind_singular}'}, e.g. conformance_config = {example}.")
    else:
        detail = f"cannot build from {config or 'no arguments'}: {type(exc).__name__}: {exc}"
    report.results.append(CheckResult("construct", "failed", detail))
    return report


# -- optimizers -----------------------------------------------------------------------
def _optimizer_params(seed: int, dtype=np.float64) -> list:
    from framework.parameter import Parameter

    rng = np.random.default_rng(seed)
    shapes = [(3, 2), (3, 1), (300, 260)]  # the last is larger than one block of an elementwise update
    return [Parameter(rng.standard_normal(s).astype(dtype), name) for s, name in zip(shapes, ("W", "b", "W2"))]


def _optimizer_grads(seed: int, steps: int, params: list) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed + 1)
    return [[rng.standard_normal(p.shape).astype(p.dtype) for p in params] for _ in range(steps)]


def _step(opt: Any, params: list, grads: list[np.ndarray]) -> None:
    for p, g in zip(params, grads):
        p.grad[...] = g
    opt.step()


def optimizer_checks(make_optimizer: Callable[[list], Any], *, seed: int = 0, steps: int = 3,
                     skip: dict[str, str] | None = None, xfail: dict[str, str] | None = None) -> list[Check]:
    """The checks of an optimizer made by ``make_optimizer(params)`` (a class, or ``lambda ps: RMSprop(ps, lr=0.01)``).

    * ``updates``: a step with non-zero gradients changes every parameter, keeps it finite, and leaves the grads alone;
    * ``state_round_trip``: ``state_dict()`` keeps every hyperparameter's type (True stays True,
      a string stays a string), holds only JSON values and numeric arrays, and loaded into a
      fresh optimizer gives back the same state, types included;
    * ``resume_equals_uninterrupted``: ``steps`` steps, a save, a fresh optimizer loaded from it
      and ``steps`` more give bit for bit the parameters of ``2 * steps`` uninterrupted steps;
    * ``float32``: float32 parameters and state stay float32.
    """
    probe = make_optimizer(_optimizer_params(seed))
    target = f"{type(probe).__name__} (optimizer)"

    def updates():
        params = _optimizer_params(seed)
        opt = make_optimizer(params)
        before = [p.data.copy() for p in params]
        grads = _optimizer_grads(seed, 1, params)[0]
        for p, g in zip(params, grads):
            p.grad[...] = g
        opt.step()
        for p, b, g in zip(params, before, grads):
            expect(np.all(np.isfinite(p.data)), f"{p.name} is not finite after one step")
            expect(not np.array_equal(p.data, b), f"one step with a non-zero gradient left {p.name} unchanged")
            expect(np.array_equal(p.grad, g), f"step() modified {p.name}.grad")

    def state_round_trip():
        params = _optimizer_params(seed)
        opt = make_optimizer(params)
        for grads in _optimizer_grads(seed, steps, params):
            _step(opt, params, grads)
        state = opt.state_dict()
        problem = _not_jsonable(state)
        expect(problem is None, f"state_dict() cannot be stored in a checkpoint: {problem}")
        for name, value in state.get("hyperparameters", {}).items():
            mine = getattr(opt, name, None)
            expect(type(value) is type(mine), f"state_dict() turns hyperparameter {name}={mine!r} "
                                              f"({type(mine).__name__}) into {value!r} ({type(value).__name__})")
        fresh = make_optimizer(_optimizer_params(seed + 7))
        fresh.load_state_dict(copy.deepcopy(state))
        again = fresh.state_dict()
        expect(_same_state(state, again), "the state of a fresh optimizer loaded from state_dict() differs from "
                                          "the saved one (values or types)")

    def resume_equals_uninterrupted():
        params = _optimizer_params(seed)
        opt = make_optimizer(params)
        grads = _optimizer_grads(seed, 2 * steps, params)
        for g in grads[:steps]:
            _step(opt, params, g)
        saved, saved_params = copy.deepcopy(opt.state_dict()), [p.data.copy() for p in params]
        for g in grads[steps:]:
            _step(opt, params, g)
        resumed_params = _optimizer_params(seed + 7)
        for p, data in zip(resumed_params, saved_params):
            p.data[...] = data
        resumed = make_optimizer(resumed_params)
        resumed.load_state_dict(saved)
        for g in grads[steps:]:
            _step(resumed, resumed_params, g)
        for a, b in zip(params, resumed_params):
            expect(np.array_equal(a.data, b.data),
                   f"{a.name} after a resume differs from an uninterrupted run by up to "
                   f"{float(np.max(np.abs(a.data - b.data))):.3g}: something the update uses is not in state_dict()")

    def float32():
        params = _optimizer_params(seed, np.float32)
        opt = make_optimizer(params)
        for grads in _optimizer_grads(seed, 2, params):
            _step(opt, params, grads)
        for p in params:
            expect(p.data.dtype == np.float32, f"{p.name} became {p.data.dtype}")
        for i, s in enumerate(opt.state):
            for key, arr in s.items():
                if isinstance(arr, np.ndarray) and arr.dtype.kind == "f":
                    expect(arr.dtype == np.float32, f"state {key!r} of parameter {i} is {arr.dtype}")

    checks = [Check("updates", updates), Check("state_round_trip", state_round_trip),
              Check("resume_equals_uninterrupted", resume_equals_uninterrupted), Check("float32", float32)]
    return tagged(target, checks, component=type(probe), skip=skip, xfail=xfail)


def check_optimizer(make_optimizer: Callable[[list], Any], **kwargs) -> ConformanceReport:
    """Run every optimizer check (see :func:`optimizer_checks`); return the report."""
    return _report(optimizer_checks(make_optimizer, **kwargs))


def assert_optimizer_conforms(make_optimizer: Callable[[list], Any], **kwargs) -> ConformanceReport:
    return _assert_ok(check_optimizer(make_optimizer, **kwargs), "optimizer")


def check_registered_optimizer(name: str) -> ConformanceReport:
    from framework.registry import registry

    cls = registry.get("optimizers", name)
    config = _conformance_config(cls)

    def make(params):
        return registry.build("optimizers", name, copy.deepcopy(config), params=params)

    try:
        make(_optimizer_params(0))
    except Exception as exc:
        return _construct_failure(f"{cls.__name__} ({name})", "optimizer", config, exc)
    checks = optimizer_checks(make)
    for c in checks:
        c.target = f"{cls.__name__} ({name})"
    return _report(checks)


# -- metrics --------------------------------------------------------------------------
def metric_checks(metric: Callable, *, known: Iterable[tuple[Any, Any, float]] = (), m: int = 8, seed: int = 0,
                  name: str | None = None, skip: dict[str, str] | None = None,
                  xfail: dict[str, str] | None = None) -> list[Check]:
    """The checks of a metric ``f(y_hat, y) -> float``.

    ``known``: ``(y_hat, y, value)`` triples worked out by hand (the metric
    may also declare them as ``kit_known_values``).

    * ``declares_direction``: ``higher_is_better`` is True or False;
    * ``value``: on 0/1 targets the metric is a finite float;
    * ``direction``: on one row of 0/1 labels, a perfect prediction (y_hat = y)
      scores better than the worst (y_hat = 1 - y) in the declared direction
      (skipped when the two score the same, e.g. top-k accuracy with k >= 2);
    * ``known_values``: each known triple gives its value (to 1e-12 relative);
    * ``inputs_not_mutated``: the metric leaves y_hat and y untouched.
    """
    label = name or getattr(metric, "__name__", type(metric).__name__)
    target = f"{label} (metric)"
    rng = np.random.default_rng(seed)
    y = (rng.random((1, m)) < 0.5).astype(np.float64)
    y[0, :2] = [0.0, 1.0]  # both classes present
    known = list(known) + list(getattr(metric, "kit_known_values", ()) or ())

    def declares_direction():
        expect(isinstance(getattr(metric, "higher_is_better", None), bool),
               "the metric does not declare higher_is_better (decorate it with "
               "@framework.metric(higher_is_better=...)): early stopping cannot know which way is better")
        return "higher is better" if metric.higher_is_better else "lower is better"

    def value():
        v = metric(rng.uniform(0, 1, (1, m)), y.copy())
        expect(isinstance(v, (float, np.floating)) and np.isfinite(v), f"returned {v!r}, not a finite float")

    def direction():
        if not isinstance(getattr(metric, "higher_is_better", None), bool):
            skip_check("no declared direction (see declares_direction)")
        perfect, worst = float(metric(y.copy(), y.copy())), float(metric(1.0 - y, y.copy()))
        if perfect == worst:
            skip_check(f"on one row of 0/1 labels a perfect and the worst prediction both score {perfect:.4g}; "
                       f"give known values for inputs this metric tells apart")
        better = perfect > worst if metric.higher_is_better else perfect < worst
        expect(better, f"a perfect prediction scores {perfect:.6g} and the worst {worst:.6g}, which contradicts "
                       f"higher_is_better={metric.higher_is_better}")
        return f"perfect {perfect:.4g}, worst {worst:.4g}"

    def known_values():
        if not known:
            skip_check("no known values given (known=[(y_hat, y, value)] or kit_known_values)")
        for i, (a, b, expected) in enumerate(known):
            got = float(metric(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)))
            expect(abs(got - expected) <= 1e-12 * max(1.0, abs(expected)),
                   f"known case {i}: expected {expected!r}, got {got!r}")
        return f"{len(known)} case(s)"

    def inputs_not_mutated():
        a, b = rng.uniform(0, 1, (1, m)), y.copy()
        a0, b0 = a.copy(), b.copy()
        metric(a, b)
        expect(np.array_equal(a, a0) and np.array_equal(b, b0), "the metric modified y_hat or y")

    checks = [Check("declares_direction", declares_direction), Check("value", value), Check("direction", direction),
              Check("known_values", known_values), Check("inputs_not_mutated", inputs_not_mutated)]
    return tagged(target, checks, component=metric, skip=skip, xfail=xfail)


def check_metric(metric: Callable, **kwargs) -> ConformanceReport:
    return _report(metric_checks(metric, **kwargs))


def assert_metric_conforms(metric: Callable, **kwargs) -> ConformanceReport:
    return _assert_ok(check_metric(metric, **kwargs), "metric")


def check_registered_metric(name: str) -> ConformanceReport:
    from framework.registry import registry

    return check_metric(registry.get("metrics", name), name=name)


# -- schedules ------------------------------------------------------------------------
def schedule_checks(make_schedule: Callable[[], Callable], *, epochs: int = 60, base_lr: float = 0.1,
                    name: str | None = None, skip: dict[str, str] | None = None,
                    xfail: dict[str, str] | None = None) -> list[Check]:
    """The checks of a schedule factory (``make_schedule()`` returns ``schedule(epoch, base_lr) -> lr``).

    * ``returns_schedule``: the factory returns a callable;
    * ``finite``: every lr over ``epochs`` epochs (past any horizon) is a finite number >= 0;
    * ``resumable``: the lr of an epoch depends only on (epoch, base_lr): asked out of
      order, or of a second schedule made alike, it is the same (a resumed run needs that).
    """
    target = f"{name or getattr(make_schedule, '__name__', 'schedule')} (schedule)"

    def returns_schedule():
        expect(callable(make_schedule()), "the factory did not return a callable schedule(epoch, base_lr)")

    def finite():
        schedule = make_schedule()
        for epoch in range(epochs):
            lr = schedule(epoch, base_lr)
            expect(isinstance(lr, (int, float, np.floating)) and np.isfinite(lr) and lr >= 0,
                   f"epoch {epoch}: lr = {lr!r}, not a finite number >= 0")

    def resumable():
        a, b = make_schedule(), make_schedule()
        forward = [float(a(e, base_lr)) for e in range(epochs)]
        backward = [float(b(e, base_lr)) for e in reversed(range(epochs))][::-1]
        expect(forward == backward, "the lr depends on the order the epochs are asked in (or on hidden state): "
                                    "a resumed run would get other learning rates")

    checks = [Check("returns_schedule", returns_schedule), Check("finite", finite), Check("resumable", resumable)]
    return tagged(target, checks, component=make_schedule, skip=skip, xfail=xfail)


def check_schedule(make_schedule: Callable[[], Callable], **kwargs) -> ConformanceReport:
    return _report(schedule_checks(make_schedule, **kwargs))


def assert_schedule_conforms(make_schedule: Callable[[], Callable], **kwargs) -> ConformanceReport:
    return _assert_ok(check_schedule(make_schedule, **kwargs), "schedule")


def check_registered_schedule(name: str) -> ConformanceReport:
    from framework.registry import registry

    make, failed = _registered_factory("schedules", "schedule", name, f"{name} (schedule)")
    if failed:
        return failed
    skip, xfail = tags_of(registry.get("schedules", name))
    return check_schedule(make, name=name, skip=skip, xfail=xfail)


# -- callbacks ------------------------------------------------------------------------
def _tiny_training(callbacks: list, epochs: int = 2):
    """A Trainer over a one-weight model of the kit's own (no registered component is needed)."""
    from framework.loss import Loss
    from framework.optimizer import Optimizer
    from framework.sequential import Sequential
    from framework.trainer import Trainer

    class _Scale(Layer):
        def __init__(self):
            super().__init__()
            self.w = self.add_parameter("w", np.full((1, 1), 0.5))

        def forward_pass(self, X, training):
            return self.w.data * X, X

        def backward_pass(self, dY, X):
            self.w.grad[...] = (dY * X).sum(keepdims=True).reshape(1, 1)
            return self.w.data * dY

    class _Squared(Loss):
        def forward_pass(self, y_hat, y):
            d = y_hat - y
            return float((d * d).mean()), d

        def backward_pass(self, d):
            return 2 * d / d.size

    class _Step(Optimizer):
        def update(self, param, state):
            param.data -= self.lr * param.grad

    X = np.random.default_rng(0).standard_normal((1, 24))
    model = Sequential([_Scale()])
    trainer = Trainer(model, _Squared(), _Step(model.parameters(), lr=0.1), epochs=epochs, batch_size=8, seed=0,
                      callbacks=callbacks, progress=False)
    return trainer, X, 2.0 * X


def callback_checks(make_callback: Callable[[], Any], *, skip: dict[str, str] | None = None,
                    xfail: dict[str, str] | None = None, name: str | None = None) -> list[Check]:
    """The checks of a callback made by ``make_callback()``.

    Each check runs in a fresh temporary directory (``bind_run`` is called
    with it), so a callback that writes files writes them there.

    * ``is_callback``: a framework.Callback;
    * ``trains``: a short training run with the callback completes;
    * ``state_round_trip``: after training, ``state_dict()`` holds only JSON values and
      numeric arrays, and a fresh callback loaded from it gives back the same state.
    """
    import tempfile
    from pathlib import Path

    from framework.callback import Callback

    probe = make_callback()
    target = name or f"{type(probe).__name__} (callback)"

    def in_run_dir(func):
        def run():
            with tempfile.TemporaryDirectory() as tmp:
                return func(Path(tmp))
        return run

    def is_callback():
        expect(isinstance(make_callback(), Callback), f"make_callback() returned {type(probe).__name__}, "
                                                      f"not a framework.Callback")

    def trained(tmp):
        cb = make_callback()
        cb.bind_run(tmp, {"name": "kit"})
        trainer, X, y = _tiny_training([cb])
        trainer.fit(X, y, validation_data=(X, y))
        return cb

    def trains(tmp):
        trained(tmp)

    def state_round_trip(tmp):
        cb = trained(tmp)
        state = cb.state_dict()
        problem = _not_jsonable(state)
        expect(problem is None, f"state_dict() cannot be stored in a checkpoint: {problem}")
        fresh = make_callback()
        fresh.bind_run(tmp, {"name": "kit"})
        fresh.load_state_dict(copy.deepcopy(state))
        expect(_same_state(state, fresh.state_dict()), "a fresh callback loaded from state_dict() reports "
                                                       "another state")

    checks = [Check("is_callback", is_callback), Check("trains", in_run_dir(trains)),
              Check("state_round_trip", in_run_dir(state_round_trip))]
    return tagged(target, checks, component=type(probe), skip=skip, xfail=xfail)


def check_callback(make_callback: Callable[[], Any], **kwargs) -> ConformanceReport:
    return _report(callback_checks(make_callback, **kwargs))


def assert_callback_conforms(make_callback: Callable[[], Any], **kwargs) -> ConformanceReport:
    return _assert_ok(check_callback(make_callback, **kwargs), "callback")


def check_registered_callback(name: str) -> ConformanceReport:
    from framework.registry import registry

    label = f"{registry.get('callbacks', name).__name__} ({name})"
    make, failed = _registered_factory("callbacks", "callback", name, label)
    return failed or check_callback(make, name=label)


# -- datasets -------------------------------------------------------------------------
def dataset_checks(make_dataset: Callable[..., Any], *, config: dict[str, Any] | None = None,
                   name: str | None = None, skip: dict[str, str] | None = None,
                   xfail: dict[str, str] | None = None) -> list[Check]:
    """The checks of a data source ``make_dataset(**config) -> Dataset``.

    * ``returns_dataset``: a framework.Dataset;
    * ``shapes``: X is (features, m), y is (outputs, m), the same m > 0 (examples are columns);
    * ``dtype``: X and y are finite floating-point arrays;
    * ``same_seed_same_data``: two calls with the same arguments give the same
      arrays bit for bit; with a ``seed`` argument, another seed gives other data.
    """
    import inspect

    from framework.data import Dataset

    config = dict(config or {})
    target = f"{name or getattr(make_dataset, '__name__', 'dataset')} (dataset)"

    def load():
        return make_dataset(**copy.deepcopy(config))

    def returns_dataset():
        data = load()
        expect(isinstance(data, Dataset), f"returned {type(data).__name__}, not a framework.Dataset")

    def shapes():
        data = load()
        X, y = data.X, data.y
        expect(X.ndim == 2 and y.ndim == 2, f"X is {X.shape} and y is {y.shape}; both must be 2-D (rows, m)")
        expect(X.shape[1] == y.shape[1] and X.shape[1] > 0,
               f"X has {X.shape[1]} columns (examples) and y {y.shape[1]}; they must be equal and > 0")
        return f"X {X.shape}, y {y.shape}"

    def dtype():
        data = load()
        for label, arr in (("X", data.X), ("y", data.y)):
            expect(arr.dtype.kind == "f", f"{label} is {arr.dtype}, not a floating-point array")
            expect(bool(np.all(np.isfinite(arr))), f"{label} holds NaN or inf")

    def same_seed_same_data():
        a, b = load(), load()
        expect(np.array_equal(a.X, b.X) and np.array_equal(a.y, b.y),
               "two loads with the same arguments gave different data: seed every random draw")
        try:
            params = inspect.signature(make_dataset).parameters
        except (TypeError, ValueError):
            params = {}
        if "seed" in params:
            other = make_dataset(**{**copy.deepcopy(config), "seed": int(config.get("seed", 0) or 0) + 1})
            expect(not (other.X.shape == a.X.shape and np.array_equal(other.X, a.X)),
                   "another seed gave the same X: the seed is not used")

    checks = [Check("returns_dataset", returns_dataset), Check("shapes", shapes), Check("dtype", dtype),
              Check("same_seed_same_data", same_seed_same_data)]
    return tagged(target, checks, component=make_dataset, skip=skip, xfail=xfail)


def check_dataset(make_dataset: Callable[..., Any], **kwargs) -> ConformanceReport:
    return _report(dataset_checks(make_dataset, **kwargs))


def assert_dataset_conforms(make_dataset: Callable[..., Any], **kwargs) -> ConformanceReport:
    return _assert_ok(check_dataset(make_dataset, **kwargs), "dataset")


def check_registered_dataset(name: str) -> ConformanceReport:
    """Check the data source ``name`` with its ``conformance_config``.

    One that cannot run without outside input (a file path) declares
    ``kit_skip`` tags saying so; the checks then show as skipped.
    """
    from framework.registry import registry

    factory = registry.get("datasets", name)
    config = _conformance_config(factory)
    skip, xfail = tags_of(factory)
    if not skip:
        try:
            registry.build("datasets", name, copy.deepcopy(config))
        except Exception as exc:
            return _construct_failure(f"{name} (dataset)", "dataset", config, exc)
    return check_dataset(lambda **kw: registry.build("datasets", name, kw), config=config, name=name,
                         skip=skip, xfail=xfail)


# -- initializers ---------------------------------------------------------------------
def initializer_checks(init: Callable, *, name: str | None = None, skip: dict[str, str] | None = None,
                       xfail: dict[str, str] | None = None) -> list[Check]:
    """The checks of an initializer ``f(shape, rng, dtype) -> array``.

    * ``shape_and_dtype``: the array has the shape and dtype asked for, and is finite;
    * ``same_seed_same_values``: generators seeded alike give the same array, in float32
      the float64 values rounded.
    """
    target = f"{name or getattr(init, '__name__', 'initializer')} (initializer)"

    def shape_and_dtype():
        for dtype in (np.float64, np.float32):
            W = init((5, 3), np.random.default_rng(0), dtype)
            expect(isinstance(W, np.ndarray) and W.shape == (5, 3) and W.dtype == dtype,
                   f"asked for (5, 3) {np.dtype(dtype)}, got {getattr(W, 'shape', type(W).__name__)} "
                   f"{getattr(W, 'dtype', '')}")
            expect(bool(np.all(np.isfinite(W))), "the values are not finite")

    def same_seed_same_values():
        a = init((5, 3), np.random.default_rng(3), np.float64)
        b = init((5, 3), np.random.default_rng(3), np.float64)
        expect(np.array_equal(a, b), "two generators seeded alike gave different values")

    checks = [Check("shape_and_dtype", shape_and_dtype), Check("same_seed_same_values", same_seed_same_values)]
    return tagged(target, checks, component=init, skip=skip, xfail=xfail)


def check_initializer(init: Callable, **kwargs) -> ConformanceReport:
    return _report(initializer_checks(init, **kwargs))


def check_registered_initializer(name: str) -> ConformanceReport:
    from framework.registry import registry

    return check_initializer(registry.get("initializers", name), name=name)


def check_registered(kind: str, name: str) -> ConformanceReport:
    """The kit of ``kind`` (from framework/kinds.py) run on the component registered as ``name``."""
    from framework.kinds import kind as kind_record, kit

    return kit(kind_record(kind))(name)
