"""Metrics: the direction every metric declares.

A metric is a function ``f(y_hat, y) -> float`` on arrays of shape (out, m).
Whether a larger value is better is part of its definition, not of its
name: early stopping in ``mode="auto"``, model selection and anything that
picks "the best" epoch read ``higher_is_better``, never the metric's name::

    from framework import metric

    @metric(higher_is_better=True)
    def hit_rate(y_hat, y):
        return float(((y_hat >= 0.5) == (y >= 0.5)).mean())

Every registered metric must carry the attribute (the registry refuses one
without it); a plain callable given to ``Trainer(metrics=[...])`` may omit
it, as long as nothing needs its direction.
"""

from __future__ import annotations

from typing import Any, Callable

from framework.errors import ConfigError, InvalidTypeError

#: Direction of the loss, which every run logs ("loss", "val_loss").
LOSS_HIGHER_IS_BETTER = False


def metric(*, higher_is_better: bool) -> Callable[[Callable], Callable]:
    """Mark a metric function with its direction; returns the function itself."""
    if not isinstance(higher_is_better, bool):
        raise InvalidTypeError(f"metric(): expected `higher_is_better` to be True or False. "
                        f"Received: higher_is_better={higher_is_better!r}")

    def mark(fn: Callable) -> Callable:
        fn.higher_is_better = higher_is_better
        return fn

    return mark


def higher_is_better(fn: Any) -> bool | None:
    """The direction ``fn`` declares, or ``None`` when it declares none."""
    value = getattr(fn, "higher_is_better", None)
    return value if isinstance(value, bool) else None


def direction_of(key: str, metrics: dict[str, Callable], owner: str = "") -> bool:
    """Whether a larger value of the epoch-log ``key`` is better.

    ``key`` is "loss", "val_loss", a metric name or "val_" + a metric name;
    ``metrics`` maps the run's metric names to their functions. A key whose
    direction nobody declares is an error naming what would fix it.
    """
    name = key[4:] if key.startswith("val_") else key
    if name == "loss":
        return LOSS_HIGHER_IS_BETTER
    if name in metrics:
        declared = higher_is_better(metrics[name])
        if declared is not None:
            return declared
        raise ConfigError([(owner, f"metric {name!r} does not declare higher_is_better, so its best "
                                   f"value is unknown; decorate it with @framework.metric("
                                   f"higher_is_better=...) or set mode='min' or 'max'")])
    raise ConfigError([(owner, f"cannot tell whether a higher {key!r} is better: it is neither the loss "
                               f"nor one of the run's metrics ({', '.join(metrics) or 'none'}); set mode="
                               f"'min' or 'max'")])


__all__ = ["metric", "higher_is_better", "direction_of", "LOSS_HIGHER_IS_BETTER"]
