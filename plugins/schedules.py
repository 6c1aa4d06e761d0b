"""Learning-rate schedules: factories returning ``schedule(epoch, base_lr) -> lr``.

Epochs count from 0; the LearningRateScheduler callback sets
``optimizer.lr = schedule(epoch, base_lr)`` before each epoch.

* constant: base_lr.
* step: base_lr * gamma ** (epoch // step_size).
* exponential: base_lr * gamma ** epoch.
* cosine: min_lr + (base_lr - min_lr) * (1 + cos(pi * epoch / total_epochs)) / 2,
  then min_lr once epoch >= total_epochs.
"""

from __future__ import annotations

import math

from framework.hookspecs import hookimpl
from framework.types import NonNegativeFloat, PositiveFloat, PositiveInt


def constant():
    return lambda epoch, base_lr: base_lr


def step(step_size: PositiveInt, gamma: PositiveFloat = 0.1):
    if step_size <= 0 or not gamma > 0:
        raise ValueError(f"step schedule: expected step_size > 0 and gamma > 0. "
                         f"Received: step_size={step_size!r}, gamma={gamma!r}")
    return lambda epoch, base_lr: base_lr * gamma ** (epoch // step_size)


def exponential(gamma: PositiveFloat):
    if not gamma > 0:
        raise ValueError(f"exponential schedule: expected gamma > 0. Received: gamma={gamma!r}")
    return lambda epoch, base_lr: base_lr * gamma ** epoch


def cosine(total_epochs: PositiveInt, min_lr: NonNegativeFloat = 0.0):
    if total_epochs <= 0 or min_lr < 0:
        raise ValueError(f"cosine schedule: expected total_epochs > 0 and min_lr >= 0. "
                         f"Received: total_epochs={total_epochs!r}, min_lr={min_lr!r}")

    def schedule(epoch, base_lr):
        if epoch >= total_epochs:
            return min_lr
        return min_lr + (base_lr - min_lr) * (1 + math.cos(math.pi * epoch / total_epochs)) / 2

    return schedule


@hookimpl
def minidl_schedules():
    return {"constant": constant, "step": step, "exponential": exponential, "cosine": cosine}
