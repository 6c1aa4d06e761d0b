"""Argument validation: a component's type hints are the rule, checked once, in one style.

:class:`ValidatedArguments` (a base of Layer, Loss and Optimizer)
wraps the ``__init__`` of every subclass, and :func:`validate_arguments`
decorates a function component (a schedule, a data source): the call's
arguments are validated by the pydantic model the registry derives from the
same signature (:func:`framework.registry.model_from_signature`), so
``Linear(0, 3)`` and ``out_features = 0`` in an experiment file are refused
with the same message, naming the argument, what was received and what is
valid::

    ArgumentError: 1 problem in Linear(in_features=0, out_features=3):
      in_features: Input should be greater than 0. Received: 0

Numpy scalars are taken as the Python numbers they hold. Arguments whose hint
is an iterator-like abstract type (an optimizer's ``params``, a Sequential's
``layers``) are left to the component, which consumes them.

``check_positive_int`` and ``check_hyperparameter`` remain for values that
have no type hint of their own (a base class's arguments).
"""

from __future__ import annotations

import collections.abc
import functools
import inspect
import math
import os
import typing
from typing import Any, Callable

import numpy as np

from framework.errors import ArgumentError, ArgumentTypeError, InvalidTypeError, InvalidValueError

#: Hints of arguments consumed lazily by the component itself: never validated here.
_LAZY = (collections.abc.Iterable, collections.abc.Iterator, collections.abc.Generator)
#: pydantic error types that mean "wrong type" rather than "wrong value".
_TYPE_ERRORS = ("is_instance_of", "is_subclass_of", "callable_type", "model_type", "dataclass_type")

_models: dict[Any, tuple[Any, inspect.Signature]] = {}


def _lazy(hint: Any) -> bool:
    hint = typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Annotated else hint
    origin = typing.get_origin(hint) or hint
    return origin in _LAZY


def _model_of(func: Callable, is_method: bool):
    """(pydantic model of func's arguments, signature), cached; model None when there is nothing to check."""
    key = func
    if key not in _models:
        from framework.registry import model_from_signature

        signature = inspect.signature(func)
        try:
            hints = typing.get_type_hints(func, include_extras=True)
        except Exception:  # unresolvable annotations: nothing to check
            hints = {}
        params = list(signature.parameters.values())[1 if is_method else 0:]
        skip = {p.name for p in params if p.name not in hints or _lazy(hints[p.name])}
        checked = [p for p in params if p.name not in skip
                   and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        model = None
        if checked:
            if is_method:
                skip.add(list(signature.parameters)[0])  # self
            model = model_from_signature(func, skip=frozenset(skip),
                                         title=getattr(func, "__qualname__", "").replace(".__init__", ""))
        _models[key] = (model, signature)
    return _models[key]


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return os.fspath(value) if isinstance(value, os.PathLike) else value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def validate_call(owner: str, func: Callable, args: tuple, kwargs: dict, *, is_method: bool = False):
    """Validate a call of ``func`` against its type hints; return (args, kwargs) with validated values.

    Raises :class:`ArgumentError` (a ValueError) or, when every problem is
    one of type, :class:`ArgumentTypeError` (also a TypeError). A call that
    does not even bind (a missing or unexpected argument) is returned as is,
    for Python to report as usual.
    """
    model, signature = _model_of(func, is_method)
    if model is None:
        return args, kwargs
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:
        return args, kwargs
    values = {k: _plain(v) for k, v in bound.arguments.items() if k in model.model_fields}
    try:
        validated = model.model_validate(values, strict=True)
    except Exception as exc:  # pydantic.ValidationError
        import pydantic

        if not isinstance(exc, pydantic.ValidationError):
            raise
        from framework.registry import pydantic_problems

        problems = pydantic_problems(exc, known_fields=list(model.model_fields))
        shown = [(k, v) for k, v in bound.arguments.items() if not (is_method and k == next(iter(bound.arguments)))]
        call = f"{owner}({', '.join(f'{k}={_short(v)}' for k, v in shown)})"
        kinds = [err["type"] for err in exc.errors()]
        typed = all(k.endswith("_type") or k in _TYPE_ERRORS for k in kinds)
        raise (ArgumentTypeError if typed else ArgumentError)(problems, source=call) from None
    for name in values:
        bound.arguments[name] = getattr(validated, name)
    return bound.args, bound.kwargs


def argument_problems(func: Callable, values: dict[str, Any], *, is_method: bool = True) -> list[str]:
    """What is wrong with ``values``, some of ``func``'s arguments, by its type hints ([] when nothing).

    For values that arrive without a call: the hyperparameters a state dict
    or checkpoint restores. Each problem reads ``name: what is valid.
    Received: value``; arguments not given are not asked for.
    """
    model, _ = _model_of(func, is_method)
    if model is None:
        return []
    values = {k: _plain(v) for k, v in values.items() if k in model.model_fields}
    try:
        model.model_validate(values, strict=True)
    except Exception as exc:  # pydantic.ValidationError
        import pydantic

        if not isinstance(exc, pydantic.ValidationError):
            raise
        from framework.registry import pydantic_problems

        kinds = [err["type"] for err in exc.errors()]
        return [f"{path}: {message}" for (path, message), kind in zip(pydantic_problems(exc), kinds)
                if kind != "missing"]
    return []


def validate_arguments(func: Callable) -> Callable:
    """Decorate a function component so that every call is validated against its type hints."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        args, kwargs = validate_call(getattr(func, "__name__", "component"), func, args, kwargs)
        return func(*args, **kwargs)

    wrapper.__minidl_validated__ = True
    return wrapper


class ValidatedArguments:
    """Base-class hook: each subclass's ``__init__`` validates its arguments against its type hints.

    A class may opt out with ``validate_arguments = False`` (it then checks
    its arguments itself).
    """

    validate_arguments: bool = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None or getattr(init, "__minidl_validated__", False) or not cls.__dict__.get(
                "validate_arguments", True):
            return

        @functools.wraps(init)
        def __init__(self, *args, **kwargs):
            args, kwargs = validate_call(type(self).__name__, init, (self, *args), kwargs, is_method=True)
            init(*args, **kwargs)

        __init__.__minidl_validated__ = True
        cls.__init__ = __init__


def check_positive_int(owner: str, name: str, value) -> int:
    """Return ``value`` as an int, or raise naming owner and what was received."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise InvalidValueError(f"{owner}: expected `{name}` to be a positive integer. Received: {name}={value!r}")
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
        raise InvalidTypeError(f"{owner}: expected `{name}` to be {expected}. Received: {name}={value!r}")
    value = float(value)
    bad = not math.isfinite(value)
    if low is not None:
        bad = bad or value < low or (low_open and value == low)
    if high is not None:
        bad = bad or value > high or (high_open and value == high)
    if bad:
        raise InvalidValueError(f"{owner}: expected `{name}` to be {expected}. Received: {name}={value!r}")
    return value
