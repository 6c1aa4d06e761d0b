"""The course notes' two models, built from the framework and checked against
the corrected closed-form formulas of the notes (see ERRATA), not against the
framework itself."""

import numpy as np
import pytest

from framework import Sequential
from plugins.activations import Sigmoid
from plugins.layers import Linear
from plugins.losses import MSELoss
from plugins.optimizers import SGD

F, H, M = 3, 4, 5


def test_linear_regression_forward_and_gradients(rng):
    X, y = rng.standard_normal((F, M)), rng.standard_normal((1, M))
    model = Sequential([Linear(F, 1, seed=0)])
    w, b = model[0].W.data, model[0].b.data
    assert w.shape == (1, F) and b.shape == (1, 1)
    loss_fn = MSELoss()
    y_hat = model(X)
    L = loss_fn(y_hat, y)
    np.testing.assert_allclose(y_hat, w @ X + b, rtol=1e-13)
    assert L == pytest.approx(np.sum((y - (w @ X + b)) ** 2) / M, rel=1e-13)
    dX = model.backward(loss_fn.backward())
    dy_hat = 2 / M * (y_hat - y)
    np.testing.assert_allclose(model[0].W.grad, dy_hat @ X.T, rtol=1e-12)         # dL/dw: (1, F)
    np.testing.assert_allclose(model[0].b.grad, [[np.sum(dy_hat)]], rtol=1e-12)   # dL/db: (1, 1)
    np.testing.assert_allclose(dX, w.T @ dy_hat, rtol=1e-12)                       # dL/dX: (F, m), no extra transpose
    assert model[0].W.grad.shape == (1, F) and dX.shape == (F, M)


def test_sigmoid_mlp_forward_and_gradients(rng):
    X, y = rng.standard_normal((F, M)), rng.standard_normal((1, M))
    model = Sequential([Linear(F, H, seed=0), Sigmoid(), Linear(H, 1, seed=1)])
    W1, b1, w2, b2 = model[0].W.data, model[0].b.data, model[2].W.data, model[2].b.data
    Z = W1 @ X + b1
    A = 1 / (1 + np.exp(-Z))
    y_hat_ref = w2 @ A + b2
    loss_fn = MSELoss()
    y_hat = model(X)
    L = loss_fn(y_hat, y)
    np.testing.assert_allclose(y_hat, y_hat_ref, rtol=1e-12)
    assert L == pytest.approx(np.mean((y - y_hat_ref) ** 2), rel=1e-12)
    dX = model.backward(loss_fn.backward())
    dy_hat = 2 / M * (y_hat_ref - y)
    dA = w2.T @ dy_hat
    dZ = dA * A * (1 - A)
    np.testing.assert_allclose(model[2].W.grad, dy_hat @ A.T, rtol=1e-11)
    np.testing.assert_allclose(model[2].b.grad, dy_hat.sum(axis=1, keepdims=True), rtol=1e-11)
    np.testing.assert_allclose(model[0].W.grad, dZ @ X.T, rtol=1e-11)
    np.testing.assert_allclose(model[0].b.grad, dZ.sum(axis=1, keepdims=True), rtol=1e-11)  # (H, 1)
    np.testing.assert_allclose(dX, W1.T @ dZ, rtol=1e-11)
    assert model[0].b.grad.shape == (H, 1)


def test_linear_regression_reaches_the_least_squares_optimum(rng):
    m, features = 200, 4
    X = rng.standard_normal((features, m))
    y = np.array([[1.5, -2.0, 0.5, 3.0]]) @ X + 0.7 + 0.1 * rng.standard_normal((1, m))
    model = Sequential([Linear(features, 1, seed=0)])
    opt, loss_fn = SGD(model.parameters(), lr=0.1), MSELoss()
    for _ in range(2000):
        loss_fn(model(X), y)
        opt.zero_grad()
        model.backward(loss_fn.backward())
        opt.step()
    design = np.vstack([X, np.ones((1, m))]).T  # rows are examples for lstsq
    coef, *_ = np.linalg.lstsq(design, y.ravel(), rcond=None)
    np.testing.assert_allclose(model[0].W.data.ravel(), coef[:-1], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(model[0].b.data.ravel(), coef[-1:], rtol=1e-8, atol=1e-10)
    optimum = np.mean((design @ coef - y.ravel()) ** 2)
    assert loss_fn(model(X), y) == pytest.approx(optimum, rel=1e-10)


def test_the_usage_from_the_readme_trains(rng):
    X = rng.standard_normal((10, 128))
    y = np.sin(X[:1]) + 0.5 * X[1:2]
    model = Sequential([Linear(10, 32, seed=0), Sigmoid(), Linear(32, 1, seed=1)])
    opt, loss_fn = SGD(model.parameters(), lr=0.1), MSELoss()
    first = None
    for _ in range(300):
        y_hat = model(X)
        loss = loss_fn(y_hat, y)
        first = loss if first is None else first
        opt.zero_grad()
        dX = model.backward(loss_fn.backward())
        opt.step()
    assert dX.shape == (10, 128)
    assert loss < 0.2 * first
