import warnings

import numpy as np
import pytest

from framework import BackwardError, DataError, DTypeError, ShapeError, gradcheck
from plugins.losses import BCELoss, MSELoss


def test_mse_value_and_gradient_match_the_notes(rng):
    y_hat, y = rng.standard_normal((1, 9)), rng.standard_normal((1, 9))
    loss = MSELoss()
    value = loss(y_hat, y)
    assert isinstance(value, float)
    assert value == pytest.approx(np.sum((y - y_hat) ** 2) / 9, rel=1e-12)
    np.testing.assert_allclose(loss.backward(), 2 / 9 * (y_hat - y), rtol=1e-12)


def test_mse_over_several_outputs_is_the_mean_of_all_entries(rng):
    y_hat, y = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    assert MSELoss()(y_hat, y) == pytest.approx(np.mean((y_hat - y) ** 2), rel=1e-12)


@pytest.mark.parametrize("loss,y_hat,y", [
    (MSELoss(), lambda r: r.standard_normal((2, 5)), lambda r: r.standard_normal((2, 5))),
    (BCELoss(), lambda r: r.uniform(0.05, 0.95, (2, 5)), lambda r: r.integers(0, 2, (2, 5)).astype(float)),
    (BCELoss(), lambda r: r.uniform(0.05, 0.95, (1, 5)), lambda r: r.uniform(0, 1, (1, 5))),
])
def test_gradcheck(loss, y_hat, y, rng):
    assert gradcheck(loss, y_hat(rng), y(rng)).worst < 1e-6


def test_bce_value_matches_the_formula(rng):
    p, y = rng.uniform(0.05, 0.95, (1, 8)), rng.integers(0, 2, (1, 8)).astype(float)
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert BCELoss()(p, y) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bce_is_finite_for_outputs_of_exactly_zero_and_one(dtype):
    y_hat = np.array([[0.0, 1.0, 0.0, 1.0]], dtype=dtype)
    y = np.array([[0.0, 1.0, 1.0, 0.0]], dtype=dtype)
    loss = BCELoss()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = loss(y_hat, y)
        grad = loss.backward()
    assert np.isfinite(value) and value > 5
    assert grad.dtype == dtype and np.all(np.isfinite(grad))
    assert grad[0, 2] < 0 and grad[0, 3] > 0  # pushes wrong predictions the right way
    assert BCELoss()(np.array([[0.0, 1.0]]), np.array([[0.0, 1.0]])) < 1e-10


def test_bce_rejects_values_outside_unit_interval():
    with pytest.raises(DataError, match=r"y_hat must lie in \[0, 1\] \(end the model with a Sigmoid layer\). Received: values from -0.5 to 2"):
        BCELoss()(np.array([[-0.5, 2.0]]), np.array([[0.0, 1.0]]))
    with pytest.raises(DataError, match=r"y must lie in \[0, 1\]"):
        BCELoss()(np.array([[0.5, 0.5]]), np.array([[0.0, 3.0]]))


def test_shape_and_dtype_mismatch_name_both():
    with pytest.raises(ShapeError, match=r"MSELoss\(\) expects y_hat and y of the same shape \(out, m\).*Received: y_hat \(1, 5\), y \(5, 1\)"):
        MSELoss()(np.ones((1, 5)), np.ones((5, 1)))
    with pytest.raises(DTypeError, match=r"Received: y_hat float32, y float64"):
        MSELoss()(np.ones((1, 5), dtype=np.float32), np.ones((1, 5)))


def test_backward_needs_a_forward():
    loss = MSELoss()
    with pytest.raises(BackwardError, match="needs a call loss"):
        loss.backward()
    loss(np.ones((1, 2)), np.zeros((1, 2)))
    loss.backward()
    with pytest.raises(BackwardError):
        loss.backward()
