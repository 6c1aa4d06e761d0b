"""Learning-rate schedules: factories returning ``schedule(epoch, base_lr) -> lr``.

Epochs count from 0; the LearningRateScheduler callback sets
``optimizer.lr = schedule(epoch, base_lr)`` before each epoch.

* constant: base_lr.
* step: base_lr * gamma ** (epoch // step_size).
* exponential: base_lr * gamma ** epoch.
* cosine: min_lr + (base_lr - min_lr) * (1 + cos(pi * epoch / total_epochs)) / 2
  for epoch <= total_epochs, which reaches min_lr at epoch = total_epochs
  (PyTorch's CosineAnnealingLR with T_max = total_epochs and eta_min =
  min_lr gives the same values up to there); after total_epochs it stays at
  min_lr, where PyTorch's would rise again along the cosine. With the default
  min_lr = 0 the learning rate is 0 from total_epochs on: training continues
  and the parameters no longer change.
* inverse_time: the course's decay, base_lr / (1 + decay_rate * (epoch // time_interval)).

Any Python callable ``f(epoch, base_lr) -> lr`` is a schedule too (give it to
``LearningRateScheduler``), and the callback's ``warmup_epochs`` puts a
linear warm-up in front of any of them.
"""

from __future__ import annotations

import math

from framework.checks import validate_arguments
from framework.hookspecs import hookimpl
from framework.types import NonNegativeFloat, PositiveFloat, PositiveInt


def constant():
    return lambda epoch, base_lr: base_lr


@validate_arguments
def step(step_size: PositiveInt, gamma: PositiveFloat = 0.1):
    return lambda epoch, base_lr: base_lr * gamma ** (epoch // step_size)


@validate_arguments
def exponential(gamma: PositiveFloat):
    return lambda epoch, base_lr: base_lr * gamma ** epoch


@validate_arguments
def cosine(total_epochs: PositiveInt, min_lr: NonNegativeFloat = 0.0):
    def schedule(epoch, base_lr):
        if epoch >= total_epochs:
            return min_lr
        return min_lr + (base_lr - min_lr) * (1 + math.cos(math.pi * epoch / total_epochs)) / 2

    return schedule


@validate_arguments
def inverse_time(decay_rate: NonNegativeFloat, time_interval: PositiveInt = 1):
    """The course's learning-rate decay: base_lr / (1 + decay_rate * (epoch // time_interval)).

    With time_interval = 1 this is alpha_0 / (1 + decay_rate * epoch_num);
    a larger interval lowers the rate in steps, every time_interval epochs.
    """
    return lambda epoch, base_lr: base_lr / (1.0 + decay_rate * (epoch // time_interval))


# The arguments `minidl check-plugins` builds each schedule with.
step.conformance_config = {"step_size": 5}
exponential.conformance_config = {"gamma": 0.9}
cosine.conformance_config = {"total_epochs": 10}
inverse_time.conformance_config = {"decay_rate": 0.5}


@hookimpl
def minidl_schedules():
    return {"constant": constant, "step": step, "exponential": exponential, "cosine": cosine,
            "inverse_time": inverse_time}
