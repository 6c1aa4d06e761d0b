"""Optimizers: SGD (with momentum) and Adam.

SGD follows PyTorch's convention, so results carry over between the two:

    v <- momentum * v + g        p <- p - lr * v

The course form v <- beta * v + (1 - beta) * g, p <- p - alpha * v is the same
trajectory with lr = alpha * (1 - beta) (its v is (1 - beta) times ours).
With momentum = 0 both are plain gradient descent, p <- p - lr * g.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from framework.hookspecs import hookimpl
from framework.checks import check_hyperparameter
from framework.optimizer import Optimizer
from framework.parameter import Parameter
from framework.types import NonNegativeFloat, PositiveFloat, UnitInterval


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum and L2 weight decay.

    Args:
        params: the parameters to update.
        lr: learning rate (> 0).
        momentum: in [0, 1); 0 (default) is plain SGD.
        weight_decay: adds ``weight_decay * p`` to the gradient (L2 penalty).

    State per parameter: ``velocity`` (shape of the parameter) when momentum > 0.
    """

    hyperparameters = ("lr", "momentum", "weight_decay")
    elementwise = True

    def __init__(self, params: Iterable[Parameter], lr: PositiveFloat = 0.01,
                 momentum: UnitInterval = 0.0, weight_decay: NonNegativeFloat = 0.0):
        self.momentum = check_hyperparameter("SGD", "momentum", momentum, low=0.0, high=1.0, high_open=True)
        self.weight_decay = check_hyperparameter("SGD", "weight_decay", weight_decay, low=0.0)
        super().__init__(params, lr)

    def init_state(self, param):
        return {"velocity": np.zeros_like(param.data)} if self.momentum else {}

    def update(self, param, state):
        g, tmp = param.grad, self.scratch(param.data)
        if self.weight_decay:
            np.multiply(param.data, self.weight_decay, out=tmp)
            tmp += g
            g = tmp
        if self.momentum:
            v = state["velocity"]
            v *= self.momentum
            v += g
            g = v
        np.multiply(g, self.lr, out=tmp)
        param.data -= tmp


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) with bias correction.

    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
    p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)

    State per parameter: ``m`` and ``v`` (shape of the parameter); the step
    count t is the optimizer's ``steps``.
    """

    hyperparameters = ("lr", "beta1", "beta2", "eps")
    elementwise = True

    def __init__(self, params: Iterable[Parameter], lr: PositiveFloat = 0.001,
                 beta1: UnitInterval = 0.9, beta2: UnitInterval = 0.999, eps: PositiveFloat = 1e-8):
        self.beta1 = check_hyperparameter("Adam", "beta1", beta1, low=0.0, high=1.0, high_open=True)
        self.beta2 = check_hyperparameter("Adam", "beta2", beta2, low=0.0, high=1.0, high_open=True)
        self.eps = check_hyperparameter("Adam", "eps", eps, low=0.0, low_open=True)
        super().__init__(params, lr)

    def init_state(self, param):
        return {"m": np.zeros_like(param.data), "v": np.zeros_like(param.data)}

    def update(self, param, state):
        # Bias corrections folded into two scalars (t = self.steps, counted by step()):
        # lr * m_hat / (sqrt(v_hat) + eps) = step_size * m / (sqrt(v) + eps_hat).
        t, b1, b2 = self.steps, self.beta1, self.beta2
        step_size = self.lr * (1.0 - b2 ** t) ** 0.5 / (1.0 - b1 ** t)
        eps_hat = self.eps * (1.0 - b2 ** t) ** 0.5
        g, m, v, tmp = param.grad, state["m"], state["v"], self.scratch(param.data)
        m *= b1
        np.multiply(g, 1.0 - b1, out=tmp)
        m += tmp
        v *= b2
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - b2
        v += tmp
        np.sqrt(v, out=tmp)
        tmp += eps_hat
        np.divide(m, tmp, out=tmp)
        tmp *= step_size
        param.data -= tmp


@hookimpl
def minidl_optimizers():
    return {"sgd": SGD, "adam": Adam}
