"""The conformance kit must catch broken layers, each by the check that fails."""

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


def test_reference_and_builtins_pass():
    assert check_layer(Scale, in_features=3).ok
    assert assert_layer_conforms(lambda: Linear(4, 2, seed=0), in_features=4, registered_name="linear",
                                 config={"out_features": 2}).ok
    assert assert_layer_conforms(Sigmoid, in_features=4, registered_name="sigmoid").ok


@pytest.mark.parametrize("name", ["linear", "sigmoid", "tanh", "relu"])
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
