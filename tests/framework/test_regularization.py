"""The Trainer's L2 (the course's form) and gradient clipping, against finite differences and PyTorch."""

import numpy as np
import pytest

from framework import ConfigError, Experiment, Layer, Sequential, Trainer, TrainingError
from framework.gradcheck import _numeric_grad
from plugins.activations import Tanh
from plugins.layers import Linear
from plugins.losses import MSELoss
from plugins.optimizers import SGD


def setup(m=12, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((3, m))
    y = np.tanh(X[:1] - X[1:2]) * 2
    model = Sequential([Linear(3, 5, seed=1, bias_init="glorot_uniform"), Tanh(), Linear(5, 1, seed=2)])
    return X, y, model


def one_step(model, X, y, **options):
    """One full-batch step with SGD(lr=1): returns (reported loss, the gradient applied to each parameter)."""
    before = [p.data.copy() for p in model.parameters()]
    trainer = Trainer(model, MSELoss(), SGD(model.parameters(), lr=1.0), epochs=1, batch_size=X.shape[1],
                      shuffle=False, progress=False, **options)
    history = trainer.fit(X, y)
    return history["loss"][0], [b - p.data for b, p in zip(before, model.parameters())]


def test_l2_is_the_course_penalty_on_weights_only():
    X, y, model = setup()
    lam, m = 0.7, X.shape[1]
    probe = Sequential([Linear(3, 5, seed=1, bias_init="glorot_uniform"), Tanh(), Linear(5, 1, seed=2)])

    def cost():  # J = data loss + lambda/(2m) * (||W1||^2 + ||W2||^2); the biases are not in it
        weights = [probe[0].W.data, probe[2].W.data]
        return MSELoss()(probe.predict(X), y) + lam / (2 * m) * sum(float(np.sum(W * W)) for W in weights)

    expected_loss = cost()
    numeric = [_numeric_grad(cost, p.data, 1e-6) for p in probe.parameters()]
    loss, applied = one_step(model, X, y, l2=lam)
    assert loss == pytest.approx(expected_loss, rel=1e-12)
    for got, want in zip(applied, numeric):
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9)
    # The biases' gradients are those of the data loss alone.
    _, plain = one_step(setup()[2], X, y)
    np.testing.assert_allclose(applied[1], plain[1], rtol=1e-12)
    np.testing.assert_allclose(applied[0] - plain[0], lam / m * setup()[2][0].W.data, rtol=1e-9, atol=1e-15)


def test_l2_uses_each_batchs_own_size():
    X, y, model = setup(m=10)
    trainer = Trainer(model, MSELoss(), SGD(model.parameters(), lr=1e-9), epochs=1, batch_size=4, shuffle=False,
                      progress=False, l2=2.0)
    squares = sum(float(np.sum(p.data ** 2)) for p in model.penalized_parameters())
    data_losses = [MSELoss()(model.predict(X[:, lo:lo + 4]), y[:, lo:lo + 4]) for lo in (0, 4, 8)]
    loss = trainer.fit(X, y)["loss"][0]
    expected = sum((d + 2.0 / (2 * n) * squares) * n for d, n in zip(data_losses, (4, 4, 2))) / 10
    assert loss == pytest.approx(expected, rel=1e-6)  # lr = 1e-9: the weights barely move within the epoch
    assert [p.name for p in model.penalized_parameters()] == ["W", "W"]


def test_options_are_checked():
    X, y, model = setup()
    opt = SGD(model.parameters())
    with pytest.raises(ValueError, match=r"Trainer: expected `l2` to be a finite number >= 0. Received: l2=-1"):
        Trainer(model, MSELoss(), opt, l2=-1)
    with pytest.raises(ValueError, match=r"Trainer: expected `clip_grad_norm` to be a finite number > 0. "
                                         r"Received: clip_grad_norm=0"):
        Trainer(model, MSELoss(), opt, clip_grad_norm=0)
    with pytest.raises(ConfigError, match=r"trainer.clip_grad_value: Input should be greater than 0"):
        Experiment.from_dict({"model": {"layers": [{"type": "linear", "in_features": 2, "out_features": 1}]},
                              "loss": {"type": "mse"}, "optimizer": {"type": "sgd"},
                              "trainer": {"clip_grad_value": -1.0, "l2": 0.1, "clip_grad_norm": 1.0}})


class InfGrad(Layer):
    """Identity with a parameter whose gradient is infinite while the loss stays finite."""

    def __init__(self):
        super().__init__()
        self.w = self.add_parameter("w", np.zeros((1, 1)))

    def forward_pass(self, X, training):
        return X, None

    def backward_pass(self, dY, cache):
        self.w.grad[...] = np.inf
        return dY


def test_a_non_finite_gradient_norm_stops_training():
    X = np.ones((1, 4))
    model = Sequential([InfGrad()])
    trainer = Trainer(model, MSELoss(), SGD(model.parameters()), epochs=1, batch_size=4, progress=False,
                      clip_grad_norm=1.0)
    with pytest.raises(TrainingError, match=r"the gradient norm became inf at epoch 1, batch 1 of 1; clipping "
                                            r"cannot rescale it"):
        trainer.fit(X, X)
    assert model.parameters()[0].data[0, 0] == 0.0  # the step was not applied


def test_options_reach_the_trainer_from_an_experiment():
    from framework import run_experiment

    X, y, _ = setup(m=40)
    spec = {"model": {"layers": [{"type": "linear", "out_features": 4}, {"type": "tanh"},
                                 {"type": "linear", "out_features": 1}]},
            "loss": {"type": "mse"}, "optimizer": {"type": "sgd", "lr": 0.1},
            "trainer": {"epochs": 2, "batch_size": 8, "progress": False}}
    plain = run_experiment(Experiment.from_dict(spec), data=(X, y))
    spec["trainer"].update(l2=0.5, clip_grad_norm=0.5, clip_grad_value=0.1)
    regularized = run_experiment(Experiment.from_dict(spec), data=(X, y))
    t = regularized.trainer
    assert (t.l2, t.clip_grad_norm, t.clip_grad_value) == (0.5, 0.5, 0.1)
    assert regularized.history["loss"][0] != plain.history["loss"][0]


def test_l2_leaves_batch_norms_scale_and_shift_out():
    from plugins.layers import BatchNorm

    model = Sequential([Linear(3, 4, seed=1), BatchNorm(4), Tanh(), Linear(4, 1, seed=2)])
    penalized = {id(p) for p in model.penalized_parameters()}
    assert penalized == {id(model[0].W), id(model[3].W)}   # gamma, beta and the biases are not weights
