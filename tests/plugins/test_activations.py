import warnings

import numpy as np
import pytest

from framework import gradcheck
from plugins.activations import ReLU, Sigmoid, Tanh


def test_sigmoid_matches_the_formula(rng):
    X = rng.uniform(-20, 20, (3, 50))
    np.testing.assert_allclose(Sigmoid()(X), 1 / (1 + np.exp(-X)), rtol=1e-12, atol=1e-15)


def test_tanh_matches_numpy(rng):
    X = rng.uniform(-5, 5, (3, 50))
    np.testing.assert_allclose(Tanh()(X), np.tanh(X), rtol=1e-14)


def test_relu_matches_the_formula(rng):
    X = rng.standard_normal((3, 50))
    np.testing.assert_array_equal(ReLU()(X), np.maximum(X, 0))


@pytest.mark.parametrize("cls", [Sigmoid, Tanh, ReLU])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_extreme_inputs_give_no_warning_and_no_nan(cls, dtype):
    X = np.array([[-1000.0, -100.0, -1.0, 0.0, 1.0, 100.0, 1000.0]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layer = cls()
        Y = layer(X)
        dX = layer.backward(np.ones_like(Y))
    assert Y.dtype == dtype and dX.dtype == dtype
    assert np.all(np.isfinite(Y)) and np.all(np.isfinite(dX))
    if cls is Sigmoid:
        assert Y[0, 0] == 0.0 and Y[0, -1] == 1.0 and Y[0, 3] == 0.5
    if cls is Tanh:
        assert Y[0, 0] == -1.0 and Y[0, -1] == 1.0


@pytest.mark.parametrize("cls", [Sigmoid, Tanh, ReLU])
def test_gradcheck(cls, rng):
    X = rng.standard_normal((4, 6))
    X[np.abs(X) < 0.05] = 0.5  # away from ReLU's kink
    assert gradcheck(cls(), X).worst < 1e-6


def test_derivatives_match_the_corrected_formulas(rng):
    X = rng.standard_normal((3, 7))
    dY = rng.standard_normal((3, 7))
    s = 1 / (1 + np.exp(-X))
    for layer, expected in ((Sigmoid(), s * (1 - s)), (Tanh(), 1 - np.tanh(X) ** 2), (ReLU(), (X > 0).astype(float))):
        layer(X)
        np.testing.assert_allclose(layer.backward(dY), dY * expected, rtol=1e-10, atol=1e-14)


def test_relu_derivative_at_zero_is_zero():
    layer = ReLU()
    layer(np.zeros((1, 3)))
    np.testing.assert_array_equal(layer.backward(np.ones((1, 3))), np.zeros((1, 3)))
