import math

import numpy as np
import pytest

from plugins import metrics, schedules


def test_regression_metrics_against_their_formulas(rng):
    y, y_hat = rng.standard_normal((2, 50)), rng.standard_normal((2, 50))
    assert metrics.mse(y_hat, y) == pytest.approx(np.mean((y_hat - y) ** 2))
    assert metrics.mae(y_hat, y) == pytest.approx(np.mean(np.abs(y_hat - y)))
    per_row = [1 - np.sum((y[i] - y_hat[i]) ** 2) / np.sum((y[i] - y[i].mean()) ** 2) for i in range(2)]
    assert metrics.r2(y_hat, y) == pytest.approx(np.mean(per_row))
    assert metrics.r2(y, y) == 1.0
    assert metrics.r2(np.full_like(y, 0.0) + y.mean(axis=1, keepdims=True), y) == pytest.approx(0.0, abs=1e-12)


def test_r2_of_a_constant_target_does_not_divide_by_zero():
    y = np.ones((1, 4))
    assert metrics.r2(y.copy(), y) == 1.0
    assert metrics.r2(y * 2, y) == 0.0


def test_accuracy_binary_and_one_hot():
    assert metrics.accuracy(np.array([[0.2, 0.7, 0.5, 0.4]]), np.array([[0, 1, 0, 0]])) == 0.75
    y_hat = np.array([[0.9, 0.1, 0.3], [0.1, 0.8, 0.7]])
    y = np.array([[1, 0, 1], [0, 1, 0]])
    assert metrics.accuracy(y_hat, y) == pytest.approx(2 / 3)


def test_schedules():
    assert [schedules.step(step_size=2, gamma=0.5)(e, 1.0) for e in range(5)] == [1, 1, 0.5, 0.5, 0.25]
    assert schedules.exponential(gamma=0.9)(3, 2.0) == pytest.approx(2 * 0.9 ** 3)
    cos = schedules.cosine(total_epochs=4, min_lr=0.1)
    assert cos(0, 1.0) == 1.0 and cos(2, 1.0) == pytest.approx(0.55) and cos(4, 1.0) == 0.1 and cos(9, 1.0) == 0.1
    assert schedules.constant()(7, 0.3) == 0.3
    with pytest.raises(ValueError, match=r"1 problem in step\(step_size=0\):\n  step_size: Input should be greater than 0. "
                                         r"Received: 0"):
        schedules.step(step_size=0)
    assert math.isclose(cos(1, 1.0), 0.1 + 0.9 * (1 + math.cos(math.pi / 4)) / 2)
