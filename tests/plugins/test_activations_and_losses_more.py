"""sigmoid's precision, the new activations and losses: closed forms, finite differences, the measured defects."""

import math
import warnings
from decimal import Context, Decimal

import numpy as np
import pytest

from framework import ConfigError, DataError, Experiment, gradcheck
from framework.registry import registry
from framework.testing import assert_layer_conforms
from plugins.activations import ELU, GELU, LeakyReLU, Sigmoid, Softplus
from plugins.losses import BCELoss, BCEWithLogitsLoss, HuberLoss, L1Loss

DECIMAL = Context(prec=50, Emax=10 ** 8, Emin=-10 ** 8)


def exact_sigmoid(x: float) -> float:
    """sigmoid in 50-digit decimal arithmetic, rounded once: an oracle independent of numpy.

    Beyond |x| = 1e6 the value is 0 or 1 in any binary float, so x is capped there.
    """
    x = min(max(float(x), -1e6), 1e6)
    return float(DECIMAL.divide(1, DECIMAL.add(1, DECIMAL.exp(Decimal(-x)))))


@pytest.mark.parametrize("x,old_relative_error", [(-20.0, 9e-9), (-30.0, 1.7e-4), (-40.0, 1.0)])
def test_sigmoid_keeps_relative_precision_where_tanh_lost_it(x, old_relative_error):
    # The measured defect: 0.5 * (1 + tanh(x / 2)) had these relative errors (and 0 below -37.98).
    exact = exact_sigmoid(x)
    assert abs(0.5 * (1 + math.tanh(x / 2)) - exact) / exact == pytest.approx(old_relative_error, rel=0.2)
    value = Sigmoid()(np.array([[x]]))[0, 0]
    assert abs(value - exact) / exact < 1e-12


def test_sigmoid_is_accurate_over_the_whole_float64_range():
    xs = np.concatenate([-np.logspace(-300, np.log10(708.0), 400), np.logspace(-300, np.log10(1.7e308), 400),
                         np.linspace(-40, 40, 801), [0.0, -0.0, -708.3, -745.0, -746.0, -1e308, 1e308]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        A = Sigmoid()(xs.reshape(1, -1))[0]
    exact = np.array([exact_sigmoid(x) for x in xs])
    normal = exact >= np.finfo(np.float64).tiny
    assert np.max(np.abs(A[normal] - exact[normal]) / exact[normal]) < 1e-12
    # Below x = -708.4 the true value is subnormal (0 once e^-x overflows): off by less than the smallest normal.
    assert np.max(np.abs(A[~normal] - exact[~normal])) < np.finfo(np.float64).tiny


def test_sigmoid_in_float32_is_correctly_rounded_to_a_few_ulp_over_its_range():
    xs = np.concatenate([-np.logspace(-30, np.log10(87.0), 300), np.logspace(-30, np.log10(3.4e38), 300),
                         [-3.4e38, 3.4e38, -103.0]]).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        A = Sigmoid()(xs.reshape(1, -1))[0]
    assert A.dtype == np.float32
    exact = np.array([exact_sigmoid(float(x)) for x in xs])
    normal = exact >= np.finfo(np.float32).tiny
    assert np.max(np.abs(A[normal] - exact[normal]) / exact[normal]) < 4 * np.finfo(np.float32).eps
    assert np.max(np.abs(A[~normal] - exact[~normal])) < np.finfo(np.float32).tiny


@pytest.mark.parametrize("cls", [LeakyReLU, ELU, GELU, Softplus])
def test_new_activations_pass_the_conformance_kit(cls):
    name = {LeakyReLU: "leaky_relu", ELU: "elu", GELU: "gelu", Softplus: "softplus"}[cls]
    assert_layer_conforms(cls, in_features=4, registered_name=name)


def test_closed_forms(rng):
    X = rng.uniform(-4, 4, (3, 40))
    np.testing.assert_allclose(LeakyReLU(0.2)(X), np.where(X > 0, X, 0.2 * X), rtol=1e-15)
    np.testing.assert_allclose(ELU(1.5)(X), np.where(X > 0, X, 1.5 * (np.exp(X) - 1)), rtol=1e-13)
    k = math.sqrt(2 / math.pi)
    np.testing.assert_allclose(GELU()(X), 0.5 * X * (1 + np.tanh(k * (X + 0.044715 * X ** 3))), rtol=1e-10)
    np.testing.assert_allclose(Softplus()(X), np.log(1 + np.exp(X)), rtol=1e-11)  # the oracle, log(1 + e), is the less precise
    np.testing.assert_allclose(Softplus(beta=2.0)(X), np.log(1 + np.exp(2 * X)) / 2, rtol=1e-11)


def test_gelu_keeps_relative_precision_for_negative_inputs():
    xs = [-12.0, -8.0, -6.0, -4.0, -2.0, -0.5, 0.5, 3.0]
    k = DECIMAL.sqrt(DECIMAL.divide(2, Decimal(math.pi)))  # pi to double precision: PyTorch's constant too

    def exact(x):
        x = Decimal(x)
        u = k * (x + Decimal("0.044715") * x ** 3)
        return float(x / (1 + DECIMAL.exp(-2 * u)))   # x/2 (1 + tanh u) = x sigmoid(2u)

    A = GELU()(np.array([xs]))[0]
    np.testing.assert_allclose(A, [exact(x) for x in xs], rtol=1e-13)


def test_derivatives_at_the_kinks_follow_pytorch():
    X = np.zeros((1, 1))
    for layer, expected in ((LeakyReLU(0.1), 0.1), (ELU(2.0), 2.0)):
        layer(X)
        assert layer.backward(np.ones((1, 1)))[0, 0] == expected


@pytest.mark.parametrize("cls", [LeakyReLU, ELU, GELU, Softplus, Sigmoid])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_extreme_inputs_give_no_warning_and_no_nan(cls, dtype):
    big = np.finfo(dtype).max
    X = np.array([[-big, -1e4, -100.0, -1.0, 0.0, 1.0, 100.0, 1e4, big]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layer = cls()
        Y = layer(X)
        dX = layer.backward(np.ones_like(Y))
    assert Y.dtype == dtype and dX.dtype == dtype
    assert np.all(np.isfinite(Y[:, 1:-1])) and np.all(np.isfinite(dX))
    assert Y[0, -1] == X[0, -1] or cls is Sigmoid


def test_activation_arguments_are_validated():
    with pytest.raises(ConfigError, match=r"model.layers\[0\].beta: Input should be greater than 0"):
        Experiment.from_dict({"model": {"layers": [{"type": "softplus", "beta": 0.0}]}, "loss": {"type": "mse"},
                              "optimizer": {"type": "sgd"}})
    with pytest.raises(ValueError, match=r"1 problem in ELU\(alpha=nan\):\n  alpha: Input should be a finite number. Received: nan"):
        ELU(float("nan"))


# --- bce ---------------------------------------------------------------------
def test_bce_at_zero_and_one_is_pytorchs_clamped_log():
    # The measured defect: p = 0, y = 1 reported 36.04 (log clipped at eps); PyTorch says 100.
    assert BCELoss()(np.array([[0.0]]), np.array([[1.0]])) == 100.0
    assert BCELoss()(np.array([[1.0]]), np.array([[0.0]])) == 100.0
    assert BCELoss()(np.array([[0.0, 1.0]]), np.array([[0.0, 1.0]])) == 0.0


@pytest.mark.parametrize("p", [0.0, 1e-300, 1e-17, 2e-16, 1.0])
def test_bce_gradient_inside_the_old_clip_zone_is_pytorchs(p):
    # Old: p clipped to [eps, 1 - eps], gradient -4.5e15 for every p there, loss frozen at 36.04.
    # Now: (p - y) / max(p (1 - p), 1e-12 as float32) / N, loss -max(log p, -100).
    loss = BCELoss()
    value = loss(np.array([[p]]), np.array([[1.0]]))
    assert value == pytest.approx(min(-math.log(p), 100.0) if p > 0 else 100.0, rel=1e-15)
    grad = loss.backward()[0, 0]
    assert grad == pytest.approx((p - 1.0) / max(p * (1 - p), 9.99999996e-13), rel=1e-8)
    assert abs(grad) <= 1.0000001e12


def test_bce_gradient_is_the_derivative_of_the_loss_outside_the_floor(rng):
    p = np.concatenate([rng.uniform(0.01, 0.99, (1, 6)), [[1e-9, 1 - 1e-9]]], axis=1)
    y = rng.uniform(0, 1, p.shape)
    assert gradcheck(BCELoss(), p, y, eps=1e-12, tol=1e-4).worst < 1e-4
    assert gradcheck(BCELoss(), p[:, :6], y[:, :6]).worst < 1e-7


# --- bce_with_logits ---------------------------------------------------------
def test_bce_with_logits_is_exact_where_sigmoid_saturates():
    z = np.array([[-1e4, -800.0, -40.0, 0.0, 40.0, 800.0, 1e4]])
    y = np.array([[1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]])
    loss = BCEWithLogitsLoss()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = loss(z, y)
        grad = loss.backward()
    per_entry = [1e4, 800.0, 40.0 + math.log1p(math.exp(-40.0)), math.log(2), 40.0 + math.log1p(math.exp(-40.0)),
                 800.0, 1e4]
    assert value == pytest.approx(sum(per_entry) / 7, rel=1e-15)
    # sigmoid + bce let the gradient vanish for |z| >= 37; here it is (sigmoid(z) - y) / N, exactly.
    expected = [-1.0, -1.0, exact_sigmoid(-40.0) - 1.0, -0.5, exact_sigmoid(40.0), 1.0, 1.0]
    np.testing.assert_allclose(grad[0], np.array(expected) / 7, rtol=1e-15)
    small = BCEWithLogitsLoss()
    small(np.array([[-40.0]]), np.array([[0.0]]))
    assert small.backward()[0, 0] == pytest.approx(exact_sigmoid(-40.0), rel=1e-13)  # 4.2e-18, not 0


@pytest.mark.parametrize("loss,y_hat,y", [
    (BCEWithLogitsLoss(), lambda r: r.standard_normal((2, 5)) * 3, lambda r: r.uniform(0, 1, (2, 5))),
    (HuberLoss(0.5), lambda r: r.standard_normal((2, 5)), lambda r: r.standard_normal((2, 5))),
    (L1Loss(), lambda r: r.standard_normal((2, 5)), lambda r: r.standard_normal((2, 5))),
])
def test_gradcheck(loss, y_hat, y, rng):
    assert gradcheck(loss, y_hat(rng), y(rng)).worst < 1e-7


def test_huber_and_l1_closed_forms(rng):
    y_hat, y = rng.standard_normal((2, 9)) * 2, rng.standard_normal((2, 9))
    d = y_hat - y
    huber = np.where(np.abs(d) <= 0.7, 0.5 * d ** 2, 0.7 * (np.abs(d) - 0.35))
    assert HuberLoss(0.7)(y_hat, y) == pytest.approx(huber.mean(), rel=1e-14)
    assert L1Loss()(y_hat, y) == pytest.approx(np.abs(d).mean(), rel=1e-14)
    loss = L1Loss()
    loss(np.zeros((1, 2)), np.array([[0.0, 1.0]]))
    np.testing.assert_array_equal(loss.backward(), [[0.0, -0.5]])


def test_bce_with_logits_rejects_a_final_sigmoid_and_bad_targets():
    with pytest.raises(ConfigError, match=r"model.layers\[1\]: the model's last layer \('sigmoid'\) outputs "
                                          r"probabilities, but the loss \('bce_with_logits'\) expects logits: "
                                          r"remove the final sigmoid layer"):
        Experiment.from_dict({"model": {"layers": [{"type": "linear", "in_features": 2, "out_features": 1},
                                                   {"type": "sigmoid"}]},
                              "loss": {"type": "bce_with_logits"}, "optimizer": {"type": "sgd"}})
    with pytest.raises(DataError, match=r"y must lie in \[0, 1\] \(0/1 labels or probabilities\). "
                                        r"Received: values from 0 to 2"):
        BCEWithLogitsLoss()(np.zeros((1, 2)), np.array([[0.0, 2.0]]))
    with pytest.raises(ConfigError, match=r"loss.delta: Input should be greater than 0"):
        registry.build("losses", "huber", {"delta": 0}, path="loss")
