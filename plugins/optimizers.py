"""Optimizers: SGD, Adam, AdamW and RMSprop, each equal to its ``torch.optim`` namesake.

SGD follows PyTorch's convention, so results carry over between the two:

    g <- g + weight_decay * p
    v <- g                                   on the first step
    v <- momentum * v + (1 - dampening) * g  after it
    g <- g + momentum * v  (nesterov)   or   g <- v
    p <- p - lr * g

The course's momentum, v <- beta v + (1 - beta) g, p <- p - alpha v, is
``dampening = momentum = beta`` with ``lr = alpha``, except that PyTorch (and
minidl) start the velocity at the first gradient g_1 where the course starts
from 0 (so the course's v_1 is (1 - beta) g_1); the difference,
beta^t g_1, fades geometrically. The same trajectory exactly, from the first
step, is ``dampening = 0`` with ``lr = alpha (1 - beta)`` (its v is
(1 - beta) times the course's). With momentum = 0 all are plain gradient
descent, p <- p - lr * g.

Derivations and the torch.optim equivalence: docs/shapes-and-math.md.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from framework.hookspecs import hookimpl
from framework.optimizer import Optimizer
from framework.parameter import Parameter
from framework.types import NonNegativeFloat, PositiveFloat, UnitClosed, UnitInterval
from framework.checks import check_hyperparameter
from framework.errors import InvalidValueError



class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening, Nesterov and weight decay (``torch.optim.SGD``).

    Args:
        params: the parameters to update.
        lr: learning rate (> 0).
        momentum: in [0, 1); 0 (default) is plain SGD.
        dampening: in [0, 1]; the velocity adds (1 - dampening) g after the
            first step. ``dampening = momentum`` is the course's
            exponentially weighted average (see the module docstring).
        weight_decay: adds ``weight_decay * p`` to the gradient (coupled L2).
        nesterov: Nesterov momentum, g + momentum * v; needs momentum > 0
            and dampening = 0, as in PyTorch.

    State per parameter: ``velocity`` (shape of the parameter) when momentum > 0.
    """

    hyperparameters = ("lr", "momentum", "dampening", "weight_decay")
    elementwise = True

    def __init__(self, params: Iterable[Parameter], lr: PositiveFloat = 0.01,
                 momentum: UnitInterval = 0.0, dampening: UnitClosed = 0.0,
                 weight_decay: NonNegativeFloat = 0.0, nesterov: bool = False):
        self.momentum = momentum
        self.dampening = dampening
        self.weight_decay = weight_decay
        if nesterov and (self.momentum == 0 or self.dampening != 0):
            raise InvalidValueError(f"SGD: nesterov momentum requires momentum > 0 and dampening = 0. "
                             f"Received: momentum={self.momentum!r}, dampening={self.dampening!r}")
        self.nesterov = nesterov
        if not (momentum or weight_decay):
            # Two numpy calls per parameter: gathering small parameters into one block
            # costs more than it saves (measured: 10-30% slower steps on small MLPs).
            self.group_bytes = 0
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
            if self.steps == 1:
                v[...] = g  # PyTorch starts the velocity at the first gradient, undamped
            else:
                v *= self.momentum
                if self.dampening:
                    v += (1.0 - self.dampening) * g
                else:
                    v += g
            if self.nesterov:
                if g is not tmp:
                    np.copyto(tmp, g)
                tmp += self.momentum * v
                g = tmp
            else:
                g = v
        np.multiply(g, self.lr, out=tmp)
        param.data -= tmp

    def __repr__(self):
        extra = ", nesterov=True" if self.nesterov else ""
        return super().__repr__()[:-1] + extra + ")"


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) with bias correction, ``torch.optim.Adam``.

    g <- g + weight_decay p  (coupled: the decay goes through the moments)
    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;  v_max <- max(v_max, v) (amsgrad)
    p <- p - lr * (m / (1 - b1^t)) / (sqrt(v or v_max) / sqrt(1 - b2^t) + eps)

    Args:
        lr, beta1, beta2, eps: as in the paper (PyTorch's ``betas=(beta1, beta2)``).
        weight_decay: coupled L2, added to the gradient (for the decoupled
            form use ``adamw``).
        amsgrad: divide by the running maximum of v (Reddi et al., 2018).

    State per parameter, shape of the parameter: ``m_scaled`` = m / (1 - b1),
    the paper's first moment kept times a constant so that its update is
    two numpy passes instead of three (m_scaled <- b1 m_scaled + g; the
    constant joins the step's scalars), and ``v`` (and ``v_max`` with
    amsgrad) as the paper has them. The step count t is the optimizer's
    ``steps``. ``m_scaled`` in a state dict goes with that dict's beta1: to
    train on with other betas, load it, then set ``beta1`` and ``beta2``
    (``m_scaled`` is rescaled at the next step). A state saved by an
    earlier minidl (key ``m``) is converted when loaded.
    """

    hyperparameters = ("lr", "beta1", "beta2", "eps", "weight_decay")
    elementwise = True
    #: Decay applied to p directly (AdamW) instead of through the gradient.
    decoupled = False

    def __init__(self, params: Iterable[Parameter], lr: PositiveFloat = 0.001,
                 beta1: UnitInterval = 0.9, beta2: UnitInterval = 0.999, eps: PositiveFloat = 1e-8,
                 weight_decay: NonNegativeFloat = 0.0, amsgrad: bool = False):
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weight_decay = weight_decay
        self.amsgrad = amsgrad
        super().__init__(params, lr)
        self._betas_checked = (beta1, beta2)  # m_scaled is scaled with this beta1

    def init_state(self, param):
        state = {"m_scaled": np.zeros_like(param.data), "v": np.zeros_like(param.data)}
        if self.amsgrad:
            state["v_max"] = np.zeros_like(param.data)
        return state

    def step(self) -> None:
        self._rescale_first_moment()
        super().step()

    def _rescale_first_moment(self) -> None:
        """Check betas set by hand since the last step, and keep m_scaled = m / (1 - beta1) true."""
        betas = (self.beta1, self.beta2)
        if betas == self._betas_checked:
            return
        for name, value in zip(("beta1", "beta2"), betas):
            check_hyperparameter(type(self).__name__, name, value, low=0.0, high=1.0, high_open=True)
        if self.beta1 != self._betas_checked[0]:
            factor = (1.0 - self._betas_checked[0]) / (1.0 - self.beta1)
            for state in self.state:
                state["m_scaled"] *= factor
        self._betas_checked = betas

    def state_dict(self):
        self._rescale_first_moment()
        return super().state_dict()

    def upgrade_state_dict(self, state_dict):
        states = state_dict.get("state")
        if not (isinstance(states, list) and any(isinstance(s, dict) and "m" in s for s in states)):
            return state_dict
        # An earlier minidl saved the paper's m (its saved beta1 was checked before this divides by 1 - beta1).
        keep = 1.0 - state_dict.get("hyperparameters", {}).get("beta1", self.beta1)
        states = [{("m_scaled" if k == "m" else k): (a / keep if k == "m" else a) for k, a in s.items()}
                  if isinstance(s, dict) else s for s in states]
        return {**state_dict, "state": states}

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        self._betas_checked = (self.beta1, self.beta2)  # m_scaled is now scaled with the loaded beta1

    def update(self, param, state):
        # m is kept as m / (1 - b1): then m <- b1 m + g, a numpy pass fewer per step,
        # and (1 - b1) joins the bias corrections in step_size (t = self.steps):
        # lr * m_hat / (sqrt(v_hat) + eps) = step_size * m / (sqrt(v) + eps_hat).
        # (v is kept as the paper's: scaled by 1 / (1 - b2) it would overflow float32
        # for gradients above about 6e17 instead of 2e19.)
        t, b1, b2 = self.steps, self.beta1, self.beta2
        step_size = self.lr * (1.0 - b1) * (1.0 - b2 ** t) ** 0.5 / (1.0 - b1 ** t)
        eps_hat = self.eps * (1.0 - b2 ** t) ** 0.5
        g, m, v, tmp = param.grad, state["m_scaled"], state["v"], self.scratch(param.data)
        if self.weight_decay:
            if self.decoupled:
                param.data *= 1.0 - self.lr * self.weight_decay
            else:
                g = np.multiply(param.data, self.weight_decay, out=self.scratch(param.data, "decayed"))
                g += param.grad
        m *= b1
        m += g
        v *= b2
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - b2
        v += tmp
        if self.amsgrad:
            np.maximum(state["v_max"], v, out=state["v_max"])
            np.sqrt(state["v_max"], out=tmp)
        else:
            np.sqrt(v, out=tmp)
        tmp += eps_hat
        np.divide(m, tmp, out=tmp)
        tmp *= step_size
        param.data -= tmp

    def __repr__(self):
        extra = ", amsgrad=True" if self.amsgrad else ""
        return super().__repr__()[:-1] + extra + ")"


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019), ``torch.optim.AdamW``.

    p <- p (1 - lr weight_decay), then the Adam step on the plain gradient:
    the decay does not pass through m and v, so every weight shrinks by the
    same factor whatever its gradient history. Default weight_decay = 0.01,
    as PyTorch. Arguments and state as :class:`Adam`.
    """

    decoupled = True

    def __init__(self, params: Iterable[Parameter], lr: PositiveFloat = 0.001,
                 beta1: UnitInterval = 0.9, beta2: UnitInterval = 0.999, eps: PositiveFloat = 1e-8,
                 weight_decay: NonNegativeFloat = 0.01, amsgrad: bool = False):
        super().__init__(params, lr, beta1, beta2, eps, weight_decay, amsgrad)


class RMSprop(Optimizer):
    """RMSprop (Hinton), ``torch.optim.RMSprop``.

    g <- g + weight_decay p
    s <- alpha s + (1 - alpha) g^2;  a <- alpha a + (1 - alpha) g (centered)
    d <- sqrt(s - a^2) + eps (centered)  or  sqrt(s) + eps
    with momentum:  b <- momentum b + g / d;  p <- p - lr b
    without:        p <- p - lr g / d

    The course's form, s <- beta s + (1 - beta) g^2, W <- W - alpha g / (sqrt(s) + eps),
    is ``alpha = beta``, ``lr = alpha`` (the course's learning rate).

    Args:
        lr: learning rate (default 0.01, as PyTorch).
        alpha: smoothing constant of the squared-gradient average, in [0, 1).
        eps: added to the denominator (> 0).
        weight_decay: coupled L2, added to the gradient.
        momentum: in [0, 1); the buffer b starts at 0.
        centered: divide by an estimate of the gradient's variance instead
            of its second moment.

    State per parameter: ``square_avg`` (and ``grad_avg`` when centered,
    ``momentum_buffer`` with momentum), shape of the parameter.
    """

    hyperparameters = ("lr", "alpha", "eps", "weight_decay", "momentum")
    elementwise = True

    def __init__(self, params: Iterable[Parameter], lr: PositiveFloat = 0.01, alpha: UnitInterval = 0.99,
                 eps: PositiveFloat = 1e-8, weight_decay: NonNegativeFloat = 0.0,
                 momentum: UnitInterval = 0.0, centered: bool = False):
        self.alpha = alpha
        self.eps = eps
        self.weight_decay = weight_decay
        self.momentum = momentum
        self.centered = centered
        super().__init__(params, lr)

    def init_state(self, param):
        state = {"square_avg": np.zeros_like(param.data)}
        if self.centered:
            state["grad_avg"] = np.zeros_like(param.data)
        if self.momentum:
            state["momentum_buffer"] = np.zeros_like(param.data)
        return state

    def update(self, param, state):
        g, tmp = param.grad, self.scratch(param.data)
        if self.weight_decay:
            g = np.multiply(param.data, self.weight_decay, out=self.scratch(param.data, "decayed"))
            g += param.grad
        a = self.alpha
        s = state["square_avg"]
        s *= a
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - a
        s += tmp
        if self.centered:
            ga = state["grad_avg"]
            ga *= a
            np.multiply(g, 1.0 - a, out=tmp)
            ga += tmp
            np.multiply(ga, ga, out=tmp)
            np.subtract(s, tmp, out=tmp)
            np.sqrt(tmp, out=tmp)
        else:
            np.sqrt(s, out=tmp)
        tmp += self.eps
        np.divide(g, tmp, out=tmp)
        if self.momentum:
            b = state["momentum_buffer"]
            b *= self.momentum
            b += tmp
            np.multiply(b, self.lr, out=tmp)
        else:
            tmp *= self.lr
        param.data -= tmp

    def __repr__(self):
        extra = ", centered=True" if self.centered else ""
        return super().__repr__()[:-1] + extra + ")"


@hookimpl
def minidl_optimizers():
    return {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop}
