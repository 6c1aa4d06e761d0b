import numpy as np
import pytest

from framework import GradcheckError, Layer, Sequential, gradcheck
from plugins.activations import Sigmoid
from plugins.layers import Linear
from plugins.losses import MSELoss


class SeedSigmoidDerivative(Layer):
    """The notes' garbled sigmoid derivative, e^-x / (s (1 - s)): gradcheck must catch it."""

    def forward_pass(self, X, training):
        A = 1 / (1 + np.exp(-X))
        return A, (X, A)

    def backward_pass(self, dY, cache):
        X, A = cache
        return dY * np.exp(-X) / (A * (1 - A))


class WrongBiasGradient(Linear):
    def backward_pass(self, dY, X):
        dX = super().backward_pass(dY, X)
        self.b.grad[...] = dY.mean(axis=1, keepdims=True)  # mean instead of sum
        return dX


def test_catches_the_seed_sigmoid_derivative(rng):
    with pytest.raises(GradcheckError, match=r"gradients of input disagree"):
        gradcheck(SeedSigmoidDerivative(), rng.standard_normal((3, 4)))


def test_names_the_failing_parameter_and_reports_the_rest(rng):
    model = Sequential([WrongBiasGradient(3, 2, seed=0), Sigmoid()])
    report = gradcheck(model, rng.standard_normal((3, 5)), raise_on_failure=False)
    assert report.failures == ["0.b"]
    assert report.errors["0.W"] < 1e-8 and report.errors["0.b"] > 0.1
    assert "0.b" in str(report) and "FAILED" in str(report)
    with pytest.raises(GradcheckError, match=r"gradients of 0\.b disagree"):
        gradcheck(model, rng.standard_normal((3, 5)))


def test_float32_layers_are_checked_in_float64_without_touching_the_original(rng):
    layer = Linear(3, 2, seed=0, dtype="float32")
    W0 = layer.W.data.copy()
    report = gradcheck(layer, rng.standard_normal((3, 4)))
    assert report.worst < 1e-8
    assert layer.W.dtype == np.float32
    np.testing.assert_array_equal(layer.W.data, W0)


def test_model_with_loss(rng):
    model = Sequential([Linear(3, 4, seed=0), Sigmoid(), Linear(4, 1, seed=1)])
    report = gradcheck(model, rng.standard_normal((3, 5)), rng.standard_normal((1, 5)), loss=MSELoss())
    assert set(report.errors) == {"0.W", "0.b", "2.W", "2.b", "input"} and report.ok


def test_rejects_other_objects():
    with pytest.raises(TypeError, match="checks a Layer or a Loss. Received: str"):
        gradcheck("linear", np.ones((2, 2)))


def test_fortran_ordered_inputs_are_checked_not_falsely_failed(rng):
    """Issue 11: X = rows.T (and the moons data) gave relative error 1.0: the perturbation missed X."""
    from plugins.datasets import moons

    rows = rng.standard_normal((6, 3))
    X = rows.T
    assert X.flags.f_contiguous and not X.flags.c_contiguous
    report = gradcheck(Sequential([Linear(3, 4, seed=0), Sigmoid()]), X)
    assert report.ok and report.errors["input"] < 1e-8
    data = moons(12)
    report = gradcheck(Linear(2, 1, seed=0), data.X[:, :12], data.y[:, :12], loss=MSELoss())
    assert report.ok and report.errors["input"] < 1e-8


def test_a_wrong_gradient_is_still_caught_for_a_fortran_input(rng):
    with pytest.raises(GradcheckError, match="input"):
        gradcheck(SeedSigmoidDerivative(), rng.standard_normal((5, 2)).T)


def _linear_batch_norm_model(*middle):
    from framework import build_model

    return build_model([{"type": "linear", "out_features": 5}, {"type": "batch_norm"}, *middle,
                        {"type": "linear", "out_features": 3}], in_features=3, seed=0)


@pytest.mark.parametrize("middle", [(), ({"type": "gelu"},)], ids=["plain", "gelu"])
def test_a_bias_whose_true_gradient_is_zero_passes(middle):
    """Trial 12: batch norm removes the mean, so 0.b's gradient is exactly 0 and its
    central difference is rounding noise (1e-10); noise/noise gave 2e-4 and 1.0."""
    from plugins.losses import CrossEntropyLoss

    X = np.random.default_rng(0).standard_normal((3, 6))
    y = np.array([[0, 1, 2, 2, 1, 0.0]])
    model = _linear_batch_norm_model(*middle)
    report = gradcheck(model, X, y, loss=CrossEntropyLoss())
    assert report.ok and report.errors["0.b"] < 1e-6
    # the other arrays keep their usual (relative) errors
    assert 1e-12 < report.errors["0.W"] < 1e-8


class BiasGradientOffByAConstant(Linear):
    """The bias gradient (truly 0 before a batch norm) reported as a tiny constant."""

    offset = 1e-7

    def backward_pass(self, dY, X):
        dX = super().backward_pass(dY, X)
        self.b.grad += self.offset
        return dX


@pytest.mark.parametrize("offset", [1e-7, 1e-8])
def test_a_tiny_wrong_gradient_where_the_true_one_is_zero_still_fails(offset):
    from plugins.layers import BatchNorm
    from plugins.losses import CrossEntropyLoss

    X = np.random.default_rng(0).standard_normal((3, 6))
    y = np.array([[0, 1, 2, 2, 1, 0.0]])
    first = BiasGradientOffByAConstant(3, 5, seed=0)
    first.offset = offset
    model = Sequential([first, BatchNorm(5), Linear(5, 3, seed=1)])
    with pytest.raises(GradcheckError, match=r"gradients of 0\.b disagree"):
        gradcheck(model, X, y, loss=CrossEntropyLoss())


def test_a_tiny_wrong_gradient_fails_without_a_loss_too(rng):
    """The same with L = sum(R * model(X))."""
    from plugins.layers import BatchNorm

    first = BiasGradientOffByAConstant(3, 5, seed=0)
    model = Sequential([first, BatchNorm(5)])
    X = rng.standard_normal((3, 6))
    assert gradcheck(Sequential([Linear(3, 5, seed=0), BatchNorm(5)]), X).ok
    report = gradcheck(model, X, raise_on_failure=False)
    assert report.failures == ["0.b"] and report.errors["0.b"] > report.tolerance
