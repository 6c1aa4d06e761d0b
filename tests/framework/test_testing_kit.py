"""The conformance kit must catch broken layers, each by the check that fails."""

import re

import numpy as np
import pytest

from framework import Layer
from framework.testing import assert_layer_conforms, check_layer, check_registered_layer
from plugins.activations import Sigmoid
from plugins.layers import Linear


class Scale(Layer):
    """A correct reference: Y = w * X with w (n, 1)."""

    def __init__(self, n=3, seed=0):
        super().__init__()
        self.in_features = n
        self.w = self.add_parameter("w", np.random.default_rng(seed).standard_normal((n, 1)))

    def forward_pass(self, X, training):
        return self.w.data * X, X

    def backward_pass(self, dY, X):
        self.w.grad[...] = (dY * X).sum(axis=1, keepdims=True)
        return self.w.data * dY


class WrongGradient(Scale):
    def backward_pass(self, dY, X):
        super().backward_pass(dY, X)
        self.w.grad[...] = (dY * X).mean(axis=1, keepdims=True)
        return self.w.data * dY


class WrongGradShape(Scale):
    def backward_pass(self, dY, X):
        dX = super().backward_pass(dY, X)
        self.w.grad = self.w.grad.ravel()
        return dX


class Accumulates(Scale):
    def backward_pass(self, dY, X):
        self.w.grad += (dY * X).sum(axis=1, keepdims=True)
        return self.w.data * dY


class KeepsGradReference(Scale):
    """Writes through an array kept at construction: stale once an optimizer replaces w.grad."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self._dw = self.w.grad

    def backward_pass(self, dY, X):
        self._dw[...] = (dY * X).sum(axis=1, keepdims=True)
        return self.w.data * dY


class GrowingCache(Scale):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.history = []

    def forward_pass(self, X, training):
        self.history.append(X)
        return super().forward_pass(X, training)


class MutatesInput(Scale):
    def forward_pass(self, X, training):
        np.clip(X, -1.5, 1.5, out=X)
        return super().forward_pass(X.copy(), training)


class Unseeded(Scale):
    def __init__(self):
        super().__init__(seed=None)


class Upcasts(Scale):
    def forward_pass(self, X, training):
        return self.w.data.astype(np.float64) * X, X


class NoBackwardGuard(Scale):
    def backward(self, dY, input_grad=True):  # bypasses the base contract
        return self.w.data * dY


class WrongOutputFeatures(Scale):
    def output_features(self, in_features):
        return in_features + 1


@pytest.mark.parametrize("layer,check", [
    (WrongGradient, "gradients"), (WrongGradShape, "gradient_shapes"), (Accumulates, "backward_sets_grads"),
    (GrowingCache, "no_cache_growth"), (MutatesInput, "inputs_not_mutated"), (Unseeded, "deterministic"),
    (Upcasts, "float32"), (NoBackwardGuard, "backward_before_forward"), (WrongOutputFeatures, "forward_shape"),
])
def test_kit_catches_broken_layers(layer, check):
    report = check_layer(layer, in_features=3)
    assert check in report.failed, report.render()
    with pytest.raises(AssertionError, match=f"FAIL {check}"):
        assert_layer_conforms(layer, in_features=3)


@pytest.mark.parametrize("layer,message", [
    (Accumulates, r"w\.grad differs between two identical steps: backward must set grads, not add to them"),
    (KeepsGradReference, r"w\.grad was not written after its array was replaced by a new one: backward must "
                         r"write param\.grad as it is at that call"),
])
def test_kit_says_which_gradient_contract_a_layer_breaks(layer, message):
    report = check_layer(layer, in_features=3)
    assert report.failed == ["backward_sets_grads"], report.render()
    assert re.search(message, report.render()), report.render()


def test_reference_and_builtins_pass():
    assert check_layer(Scale, in_features=3).ok
    assert assert_layer_conforms(lambda: Linear(4, 2, seed=0), in_features=4, registered_name="linear",
                                 config={"out_features": 2}).ok
    assert assert_layer_conforms(Sigmoid, in_features=4, registered_name="sigmoid").ok


@pytest.mark.parametrize("name", ["linear", "sigmoid", "tanh", "relu", "softmax", "leaky_relu", "elu", "gelu",
                                  "softplus"])
def test_every_builtin_layer_passes_the_kit(name):
    report = check_registered_layer(name)
    assert report.ok, report.render()
    assert "config_round_trip" in [r.name for r in report.results]


def test_a_crash_inside_a_check_is_reported_not_raised():
    class Crashes(Scale):
        def forward_pass(self, X, training):
            raise RuntimeError("kaboom")

    report = check_layer(Crashes, in_features=3)
    assert not report.ok and "raised RuntimeError: kaboom" in report.render()


# -- tags: skip and expected failure, from the caller or declared by the component --------
from framework import hookimpl  # noqa: E402
from framework.errors import LayerInitError, ShapeError  # noqa: E402
from framework.registry import registry  # noqa: E402
from framework.testing import KitError, layer_checks  # noqa: E402


def statuses(report):
    return {r.name: r.status for r in report.results}


def test_a_check_can_be_skipped_or_expected_to_fail_with_a_reason():
    report = check_layer(WrongGradient, in_features=3, skip={"float32": "float64 only"},
                         xfail={"gradients": "known: mean instead of sum"})
    assert report.ok, report.render()
    assert statuses(report)["float32"] == "skipped" and statuses(report)["gradients"] == "xfailed"
    text = report.render()
    assert "skip float32: float64 only" in text and "xfail gradients: known: mean instead of sum (w: relative error" in text


def test_an_expected_failure_that_passes_fails_the_report():
    report = check_layer(Scale, in_features=3, xfail={"gradients": "thought broken"})
    assert report.failed == ["gradients"] and statuses(report)["gradients"] == "xpassed"
    assert "XPASS gradients: expected to fail (thought broken) but passed: remove the xfail tag" in report.render()


def test_tags_declared_on_the_class_apply_and_unknown_names_are_refused():
    class Tagged(WrongGradient):
        kit_xfail = {"gradients": "documented approximation"}
        kit_skip = {"float32": "float64 only"}

    report = check_layer(Tagged, in_features=3)
    assert report.ok and statuses(report)["gradients"] == "xfailed" and statuses(report)["float32"] == "skipped"
    with pytest.raises(KitError, match=r"skip names unknown check\(s\) 'gradiens'; checks: construct, forward_shape"):
        check_layer(Scale, in_features=3, skip={"gradiens": "typo"})

    class BadTags(Scale):
        kit_skip = ["float32"]

    with pytest.raises(KitError, match=r"`kit_skip` must map check names to reasons"):
        check_layer(BadTags, in_features=3)


def test_each_check_runs_alone_as_a_pytest_item():
    checks = layer_checks(WrongGradient, in_features=3, skip={"float32": "float64 only"})
    by_name = {str(c): c for c in checks}
    assert by_name["forward_shape"]().status == "passed"
    with pytest.raises(AssertionError, match=r"WrongGradient \(unregistered\): check gradients failed: w: relative"):
        by_name["gradients"]()
    with pytest.raises(pytest.skip.Exception, match="float64 only"):
        by_name["float32"]()


@pytest.mark.parametrize("check", layer_checks(Scale, in_features=3), ids=str)
def test_the_documented_parametrized_form(check):
    check()  # state_to_dtype shows as skipped ("no buffers")


def test_an_xpass_fails_the_pytest_item():
    check = {str(c): c for c in layer_checks(Scale, in_features=3, xfail={"float32": "thought broken"})}["float32"]
    with pytest.raises(AssertionError, match="expected to fail \\(thought broken\\) but passed"):
        check()
    check = {str(c): c for c in layer_checks(WrongGradient, in_features=3, xfail={"gradients": "known"})}["gradients"]
    with pytest.raises(pytest.xfail.Exception, match="known"):
        check()


# -- stochastic and stateful layers ------------------------------------------------------
class Dropping(Scale):
    """Scale, then inverted dropout (p = 0.5) drawn from self.rng: correct."""

    stochastic = True

    def forward_pass(self, X, training):
        Y, _ = super().forward_pass(X, training)
        keep = (self.rng.random(X.shape) >= 0.5).astype(X.dtype) * 2 if training else np.ones_like(X)
        return Y * keep, (X, keep)

    def backward_pass(self, dY, cache):
        X, keep = cache
        return super().backward_pass(dY * keep, X)


class GlobalRandom(Dropping):
    """Declares stochastic but draws from numpy's global generator: not reproducible, not saved."""

    def forward_pass(self, X, training):
        keep = (np.random.random(X.shape) >= 0.5).astype(X.dtype) * 2 if training else np.ones_like(X)
        return self.w.data * X * keep, (X, keep)


class Undeclared(Dropping):
    stochastic = False

    def __init__(self):
        super().__init__()
        self._own = np.random.default_rng(0)

    @property
    def rng(self):
        return self._own


class Running(Scale):
    """Y = w * (X - mu); mu a running mean updated after use, registered as a buffer: correct."""

    def __init__(self):
        super().__init__()
        self.add_buffer("mu", np.zeros((3, 1)))

    def forward_pass(self, X, training):
        Xc = X - self.mu             # mu of earlier batches: a constant of this step
        if training:
            self.mu += 0.5 * (X.mean(axis=1, keepdims=True) - self.mu)
        return self.w.data * Xc, Xc

    def backward_pass(self, dY, Xc):
        self.w.grad[...] = (dY * Xc).sum(axis=1, keepdims=True)
        return self.w.data * dY


class Unregistered(Scale):
    """Keeps its running mean as a plain attribute: state_dict misses it."""

    def __init__(self):
        super().__init__()
        self.mu = np.zeros((3, 1))

    def forward_pass(self, X, training):
        Y = self.w.data * (X - self.mu)
        if training:
            self.mu = self.mu + 0.5 * (X.mean(axis=1, keepdims=True) - self.mu)
        return Y, X

    def backward_pass(self, dY, X):
        self.w.grad[...] = (dY * (X - self.mu)).sum(axis=1, keepdims=True)
        return self.w.data * dY


class Upcasting(Running):
    def forward_pass(self, X, training):
        out = super().forward_pass(X, training)
        self.mu = self.mu.astype(np.float64)
        return out


def test_a_correct_random_layer_passes_with_its_generator_frozen():
    report = check_layer(Dropping, in_features=3)
    assert report.ok, report.render()
    assert "stochastic" in dict((r.name, r.detail) for r in report.results)["construct"]
    assert "generator included" in dict((r.name, r.detail) for r in report.results)["state_round_trip"]


def test_random_numbers_from_outside_self_rng_are_caught():
    report = check_layer(GlobalRandom, in_features=3)
    assert "deterministic" in report.failed and "state_round_trip" in report.failed, report.render()
    assert "draw every random number from self.rng" in report.render()
    report = check_layer(Undeclared, in_features=3)
    assert "deterministic" in report.failed and "declares `stochastic = True`" in report.render()


def test_stateful_layers_round_trip_and_convert():
    report = check_layer(Running, in_features=3)
    assert report.ok, report.render()
    assert statuses(report)["state_to_dtype"] == "passed"
    report = check_layer(Unregistered, in_features=3)
    assert {"deterministic", "state_round_trip"} <= set(report.failed), report.render()
    assert "registered with add_buffer" in report.render()
    report = check_layer(Upcasting, in_features=3)
    assert "state_to_dtype" in report.failed and "buffer mu became float64 in a float32 training step" in report.render()


# -- defects of issue 11 -----------------------------------------------------------------
class ForgetsInit(Layer):
    def __init__(self, in_features: int = 3):
        self.in_features = in_features

    def forward_pass(self, X, training):
        return X, None

    def backward_pass(self, dY, cache):
        return dY


class Transposes(Layer):
    def forward_pass(self, X, training):
        return X.T, None

    def backward_pass(self, dY, cache):
        return dY.T


class NeedsWidth(Layer):
    """A layer whose constructor needs an argument the kit is not told (no conformance_config)."""

    def __init__(self, in_features: int, width: int):
        super().__init__()
        self.in_features, self.width = in_features, width

    def forward_pass(self, X, training):
        return X, None

    def backward_pass(self, dY, cache):
        return dY


class Plugin:
    @staticmethod
    @hookimpl
    def minidl_layers():
        return {"forgets_init": ForgetsInit, "transposes": Transposes, "needs_width": NeedsWidth}


@pytest.fixture
def registered():
    registry.register(Plugin, "kit-defects")
    yield
    registry.unregister("kit-defects")


def test_a_layer_that_forgets_super_init_gets_the_fix_named(registered):
    fix = r"ForgetsInit.__init__ does not call super\(\).__init__\(\).*add super\(\).__init__\(\) as its first line"
    with pytest.raises(LayerInitError, match=fix):
        ForgetsInit()(np.ones((3, 2)))
    with pytest.raises(LayerInitError, match=fix):
        ForgetsInit().add_buffer("x", np.zeros(1))
    report = check_layer(ForgetsInit, in_features=3)
    assert report.results[0].status == "failed" and "add super().__init__()" in report.results[0].detail
    assert all(r.status == "skipped" for r in report.results[1:]), report.render()
    registered_report = check_registered_layer("forgets_init")
    text = registered_report.render()
    assert "add super().__init__() as its first line" in text and "conformance_config" not in text
    assert "_dtype" not in text


def test_a_registered_layer_the_kit_cannot_build_says_how_to_declare_its_arguments(registered):
    report = check_registered_layer("needs_width")
    assert report.results[0].name == "construct" and report.results[0].status == "failed"
    assert "width" in report.results[0].detail
    assert report.results[0].detail.endswith('Declare the arguments the kit should use as a class attribute, '
                                             'e.g. conformance_config = {"out_features": 3}.')


def test_a_layer_returning_the_transpose_is_caught_in_its_own_forward(registered):
    from framework import Sequential, build_model
    from framework.errors import ConfigError

    model = Sequential([Linear(3, 4, seed=0), Transposes(), Linear(4, 2, seed=1)])
    with pytest.raises(ShapeError, match=r"Transposes\(\) returned an output of shape \(5, 4\) for an input of "
                                         r"shape \(4, 5\) \(did it return a transpose\?\)"):
        model(np.ones((3, 5)))
    with pytest.raises(ConfigError, match=r"model.layers\[1\]: does not accept.*Transposes\(\) returned an output"):
        build_model([{"type": "linear", "out_features": 4}, {"type": "transposes"},
                     {"type": "linear", "out_features": 2}], in_features=3)


# -- the loss kit ---------------------------------------------------------------
@pytest.mark.parametrize("name", ["mse", "bce", "bce_with_logits", "huber", "l1", "cross_entropy"])
def test_every_builtin_loss_passes_the_loss_kit(name):
    from framework.testing import check_registered_loss

    report = check_registered_loss(name)
    assert report.ok, report.render()
    assert [r.name for r in report.results] == ["value", "gradients", "gradient_shape", "backward_before_forward",
                                                "inputs_not_mutated", "float32"]


def test_the_loss_kit_catches_a_wrong_gradient_and_a_mutated_input():
    from framework import Loss
    from framework.testing import check_loss

    class Wrong(Loss):
        def forward_pass(self, y_hat, y):
            d = y_hat - y
            return float(np.sum(d ** 2) / d.size), d

        def backward_pass(self, d):
            return d / d.size  # the factor 2 forgotten

    class Mutates(Wrong):
        def backward_pass(self, d):
            return 2 * d / d.size

        def forward_pass(self, y_hat, y):
            value, d = super().forward_pass(y_hat, y)
            y[...] = 0.0
            return value, d

    report = check_loss(Wrong)
    assert report.failed == ["gradients"] and "relative error 5.00e-01" in report.render()
    assert "inputs_not_mutated" in check_loss(Mutates).failed
