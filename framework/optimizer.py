"""Optimizer: the base of every update rule."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from framework.checks import check_hyperparameter
from framework.parameter import Parameter


class Optimizer:
    """Base class of optimizers.

    Args:
        params: the parameters to update (``model.parameters()``).
        lr: the learning rate, a finite positive number. Schedulers change
            ``optimizer.lr`` between steps.

    Subclasses implement ``update(param, state)``, which changes
    ``param.data`` in place from ``param.grad``; ``state`` is that
    parameter's dict of arrays (momentum, moments ...), created by
    ``init_state(param)``; keys starting with "_" hold scratch space that is
    not saved. The base provides ``zero_grad``, ``step`` and
    ``state_dict``/``load_state_dict`` (hyperparameters, a step counter and
    every per-parameter state array).
    """

    #: Names of the float hyperparameters saved in ``state_dict``.
    hyperparameters: tuple[str, ...] = ("lr",)

    def __init__(self, params: Iterable[Parameter], lr: float):
        self.params: list[Parameter] = list(params)
        for i, p in enumerate(self.params):
            if not isinstance(p, Parameter):
                raise TypeError(
                    f"{type(self).__name__} expects an iterable of Parameter (e.g. "
                    f"model.parameters()); item {i} is {type(p).__name__}"
                )
        self.lr = check_hyperparameter(type(self).__name__, "lr", lr, low=0.0, low_open=True)
        self.steps = 0
        self.state: list[dict[str, np.ndarray]] = [self.init_state(p) for p in self.params]

    def init_state(self, param: Parameter) -> dict[str, np.ndarray]:
        return {}

    def update(self, param: Parameter, state: dict[str, np.ndarray]) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement update(param, state)")

    def zero_grad(self) -> None:
        for p in self.params:
            p.zero_grad()

    def step(self) -> None:
        """Apply one update to every parameter from its current ``grad``."""
        self.steps += 1
        update = self.update
        for p, s in zip(self.params, self.state):
            update(p, s)

    def state_dict(self) -> dict[str, Any]:
        """Hyperparameters, step count and per-parameter state (copies)."""
        return {
            "hyperparameters": {name: float(getattr(self, name)) for name in self.hyperparameters},
            "steps": self.steps,
            "state": [{k: v.copy() for k, v in s.items() if not k.startswith("_")}
                      for s in self.state],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned; shapes and dtypes must match."""
        name = type(self).__name__
        states = state_dict["state"]
        if len(states) != len(self.params):
            raise ValueError(
                f"{name}.load_state_dict: the state holds {len(states)} parameters, this "
                f"optimizer has {len(self.params)}"
            )
        for i, (p, saved, mine) in enumerate(zip(self.params, states, self.state)):
            if set(saved) != {k for k in mine if not k.startswith("_")}:
                raise ValueError(
                    f"{name}.load_state_dict: parameter {i} ({p.name}) has state "
                    f"{sorted(saved)}, expected {sorted(k for k in mine if not k.startswith('_'))}"
                )
            for key, arr in saved.items():
                if arr.shape != mine[key].shape:
                    raise ValueError(
                        f"{name}.load_state_dict: state {key!r} of parameter {i} ({p.name}) "
                        f"has shape {arr.shape}, expected {mine[key].shape}"
                    )
        for saved, mine in zip(states, self.state):
            for key, arr in saved.items():
                mine[key][...] = arr
        for key, value in state_dict.get("hyperparameters", {}).items():
            if key in self.hyperparameters:
                setattr(self, key, value)
        self.steps = int(state_dict.get("steps", 0))

    def __repr__(self) -> str:
        hp = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.hyperparameters)
        return f"{type(self).__name__}({hp})"
