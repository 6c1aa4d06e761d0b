"""Argument checks shared by constructors, with Keras-style messages.

Each names the owner, the argument, what would be valid and what was received:
``SGD: expected `lr` to be a finite number > 0. Received: lr=0.0``.
"""

from __future__ import annotations

import math

import numpy as np


def check_positive_int(owner: str, name: str, value) -> int:
    """Return ``value`` as an int, or raise naming owner and what was received."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{owner}: expected `{name}` to be a positive integer. Received: {name}={value!r}")
    return int(value)


def check_hyperparameter(owner: str, name: str, value, *, low: float | None = None,
                         high: float | None = None, low_open: bool = False,
                         high_open: bool = False) -> float:
    """Return ``value`` as a float, or raise naming owner, bounds and what was received."""
    bounds = []
    if low is not None:
        bounds.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        bounds.append(f"{'<' if high_open else '<='} {high:g}")
    expected = f"a finite number {' and '.join(bounds)}".rstrip()
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{owner}: expected `{name}` to be {expected}. Received: {name}={value!r}")
    value = float(value)
    bad = not math.isfinite(value)
    if low is not None:
        bad = bad or value < low or (low_open and value == low)
    if high is not None:
        bad = bad or value > high or (high_open and value == high)
    if bad:
        raise ValueError(f"{owner}: expected `{name}` to be {expected}. Received: {name}={value!r}")
    return value
