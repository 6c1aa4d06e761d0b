"""Optimizer: the base of every update rule."""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from framework.checks import ValidatedArguments, check_hyperparameter
from framework.memory import check_bytes
from framework.errors import InvalidTypeError, StateError
from framework.parameter import Parameter


class Optimizer(ValidatedArguments):
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

    Going fast (opt-in): ``self.scratch(like)`` is a temporary reused from
    step to step instead of a fresh array, and an optimizer whose update is
    elementwise declares ``elementwise = True``. The base then runs
    ``update`` over consecutive blocks of each large parameter (at most
    ``block_bytes`` each, flat views of ``data``, ``grad`` and the state),
    so that the several passes an update makes over the same numbers hit
    the cache instead of memory.
    """

    #: Names of the hyperparameters saved in ``state_dict``, with their types
    #: kept: bool, int, float, str or None (numpy scalars become Python ones).
    hyperparameters: tuple[str, ...] = ("lr",)

    #: True when each element of the new ``data`` depends only on the same
    #: element of ``data``, ``grad`` and the state arrays (SGD, Adam ...):
    #: ``update`` may then be given a block of a parameter, and every state
    #: array must have the parameter's shape.
    elementwise: bool = False

    #: The block size of elementwise updates; smaller parameters are updated whole.
    block_bytes: int = 1 << 18

    def __init__(self, params: Iterable[Parameter], lr: float):
        self.params: list[Parameter] = list(params)
        for i, p in enumerate(self.params):
            if not isinstance(p, Parameter):
                raise InvalidTypeError(
                    f"{type(self).__name__} expects an iterable of Parameter (e.g. "
                    f"model.parameters()); item {i} is {type(p).__name__}"
                )
        self.lr = check_hyperparameter(type(self).__name__, "lr", lr, low=0.0, low_open=True)
        self.steps = 0
        self._scratch: dict[tuple, np.ndarray] = {}        # (name, dtype) -> flat buffer
        self._scratch_views: dict[tuple, np.ndarray] = {}  # (name, shape, dtype) -> view of it
        self.state: list[dict[str, np.ndarray]] = [self.init_state(p) for p in self.params]
        # Zero-filled state is not in memory until a step writes it: price it now, before it is.
        state_bytes = sum(a.nbytes for s in self.state for a in s.values() if isinstance(a, np.ndarray))
        check_bytes(state_bytes, f"{type(self).__name__}: optimizer state for {len(self.params)} parameter(s)")
        if self.elementwise:
            for p, s in zip(self.params, self.state):
                for key, arr in s.items():
                    if not isinstance(arr, np.ndarray) or arr.shape != p.shape:
                        got = arr.shape if isinstance(arr, np.ndarray) else type(arr).__name__
                        raise InvalidTypeError(
                            f"{type(self).__name__} declares elementwise = True, so every state array "
                            f"must have its parameter's shape; state {key!r} of {p.name} ({p.shape}) "
                            f"is {got}. Set elementwise = False for this optimizer.")

    def init_state(self, param: Parameter) -> dict[str, np.ndarray]:
        return {}

    def update(self, param: Parameter, state: dict[str, np.ndarray]) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement update(param, state)")

    def zero_grad(self) -> None:
        for p in self.params:
            p.zero_grad()

    def scratch(self, like: np.ndarray, name: str = "tmp") -> np.ndarray:
        """An uninitialised array of ``like``'s shape and dtype, reused across calls.

        For temporaries inside ``update``: one buffer per (name, dtype), as
        large as the largest request, shared by all parameters and blocks,
        never saved. Two temporaries in use at the same time need two names.
        """
        try:  # the hot path: a dict hit, a few hundred nanoseconds
            return self._scratch_views[name, like.shape, like.dtype]
        except KeyError:
            return self._new_scratch(name, like.shape, like.dtype)

    def _new_scratch(self, name: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        size = math.prod(shape)
        buf = self._scratch.get((name, dtype))
        if buf is None or buf.size < size:
            buf = self._scratch[(name, dtype)] = np.empty(size, dtype=dtype)
            # Views of the old, smaller buffer go with it.
            self._scratch_views = {k: v for k, v in self._scratch_views.items() if k[0] != name or k[2] != dtype}
        view = self._scratch_views[(name, shape, dtype)] = buf[:size].reshape(shape)
        return view

    def step(self) -> None:
        """Apply one update to every parameter from its current ``grad``."""
        self.steps += 1
        update = self.update
        block_bytes = self.block_bytes if self.elementwise else None
        for p, s in zip(self.params, self.state):
            if block_bytes is not None and p.data.nbytes > block_bytes:
                self._update_in_blocks(p, s)
            else:
                update(p, s)

    def _update_in_blocks(self, param: Parameter, state: dict[str, np.ndarray]) -> None:
        data = param.data
        if not (data.flags.c_contiguous and all(a.flags.c_contiguous for a in state.values())):
            self.update(param, state)  # flat views would be copies: update it whole
            return
        flat = data.reshape(-1)
        grad = param.grad.reshape(-1)  # read only: a copy would do no harm
        flat_state = {key: arr.reshape(-1) for key, arr in state.items()}
        step = max(1, self.block_bytes // data.itemsize)
        for lo in range(0, flat.size, step):
            hi = lo + step
            self.update(ParameterBlock(flat[lo:hi], grad[lo:hi], param.name),
                        {key: arr[lo:hi] for key, arr in flat_state.items()})

    def state_dict(self) -> dict[str, Any]:
        """Hyperparameters, step count and per-parameter state (copies)."""
        return {
            "hyperparameters": {name: self._hyperparameter(name) for name in self.hyperparameters},
            "steps": self.steps,
            "state": [{k: v.copy() for k, v in s.items() if not k.startswith("_")}
                      for s in self.state],
        }

    def _hyperparameter(self, name: str) -> bool | int | float | str | None:
        value = getattr(self, name)
        if isinstance(value, np.generic):
            value = value.item()
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise StateError(f"{type(self).__name__}: hyperparameter {name!r} is a {type(value).__name__}; "
                         f"state_dict saves bool, int, float, str or None. Received: {name}={value!r}")

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned; shapes and dtypes must match."""
        name = type(self).__name__
        states = state_dict["state"]
        if len(states) != len(self.params):
            raise StateError(
                f"{name}.load_state_dict: the state holds {len(states)} parameters, this "
                f"optimizer has {len(self.params)}"
            )
        for i, (p, saved, mine) in enumerate(zip(self.params, states, self.state)):
            if set(saved) != {k for k in mine if not k.startswith("_")}:
                raise StateError(
                    f"{name}.load_state_dict: parameter {i} ({p.name}) has state "
                    f"{sorted(saved)}, expected {sorted(k for k in mine if not k.startswith('_'))}"
                )
            for key, arr in saved.items():
                if arr.shape != mine[key].shape:
                    raise StateError(
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


class ParameterBlock(Parameter):
    """A run of consecutive elements of a parameter, as an elementwise update sees it.

    ``data`` and ``grad`` are flat views: writing ``data`` writes the parameter.
    """

    __slots__ = ()

    def __init__(self, data: np.ndarray, grad: np.ndarray, name: str):
        # Views into the parameter, not the copies Parameter.__init__ would make.
        self.data, self.grad, self.name = data, grad, name

    def __repr__(self) -> str:
        return f"ParameterBlock(name={self.name!r}, size={self.data.size})"
