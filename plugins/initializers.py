"""Weight initializers: ``f(shape, rng, dtype) -> array`` for W of shape (out, in).

For a weight of shape (out, in), fan_in = in and fan_out = out.

* ``glorot_uniform`` (Xavier): U(-a, a), a = sqrt(6 / (fan_in + fan_out)).
  Keeps activation variance steady through sigmoid and tanh layers; the
  default of :class:`~plugins.layers.Linear`.
* ``glorot_normal``: N(0, 2 / (fan_in + fan_out)).
* ``he_normal`` (Kaiming): N(0, 2 / fan_in), for ReLU networks, whose
  activations zero half of their inputs.
* ``he_uniform``: U(-a, a), a = sqrt(6 / fan_in).
* ``lecun_normal``: N(0, 1 / fan_in).
* ``zeros``: all zeros (the default for biases).

Values are drawn in float64 from the given ``numpy.random.Generator`` and
then cast, so float32 and float64 models start from the same numbers
(rounded), bit for bit reproducible for a given seed.
"""

from __future__ import annotations

import numpy as np

from framework.hookspecs import hookimpl


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    fan_out, fan_in = shape[0], (shape[1] if len(shape) > 1 else 1)
    return fan_in, fan_out


def glorot_uniform(shape, rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
    fan_in, fan_out = _fans(shape)
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def glorot_normal(shape, rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
    fan_in, fan_out = _fans(shape)
    return (rng.standard_normal(shape) * np.sqrt(2.0 / (fan_in + fan_out))).astype(dtype)


def he_normal(shape, rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
    fan_in, _ = _fans(shape)
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


def he_uniform(shape, rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
    fan_in, _ = _fans(shape)
    limit = np.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def lecun_normal(shape, rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
    fan_in, _ = _fans(shape)
    return (rng.standard_normal(shape) * np.sqrt(1.0 / fan_in)).astype(dtype)


def zeros(shape, rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
    return np.zeros(shape, dtype=dtype)


@hookimpl
def minidl_initializers():
    return {
        "glorot_uniform": glorot_uniform,
        "glorot_normal": glorot_normal,
        "he_normal": he_normal,
        "he_uniform": he_uniform,
        "lecun_normal": lecun_normal,
        "zeros": zeros,
    }
