"""Optimizer: the base of every update rule."""

from __future__ import annotations

import math
from operator import is_, itemgetter
from typing import Any, Iterable

import numpy as np

from framework.checks import ValidatedArguments, argument_problems, check_hyperparameter
from framework.memory import check_bytes
from framework.errors import InvalidTypeError, InvalidValueError, StateError
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
    the cache instead of memory; and it updates the small parameters of one
    dtype (at most ``group_bytes`` each: biases, small layers) together, as
    one block, so that the dozen numpy calls of an update are paid once per
    step instead of once per parameter. Both give the same numbers, bit for
    bit, as updating each parameter alone: an elementwise update does the
    same operations on every element wherever it sits. The state arrays and
    the ``grad`` of grouped parameters become views of one shared array per
    key (values kept; ``state_dict`` copies them as before), so backward
    writes the gradients where the update reads them; ``data`` stays the
    parameter's own array, gathered before the update and written back in
    place after it. A ``grad`` a layer replaces by a new array is copied in.
    """

    #: Names of the hyperparameters saved in ``state_dict``, with their types
    #: kept: bool, int, float, str or None (numpy scalars become Python ones).
    hyperparameters: tuple[str, ...] = ("lr",)

    #: True when each element of the new ``data`` depends only on the same
    #: element of ``data``, ``grad`` and the state arrays (SGD, Adam ...):
    #: ``update`` may then be given a block of a parameter (or of several), so
    #: every state array must have the parameter's shape and be changed in
    #: place (``m *= beta``, not ``state["m"] = beta * m``).
    elementwise: bool = False

    #: The block size of elementwise updates; smaller parameters are updated whole.
    block_bytes: int = 1 << 18

    #: Parameters of at most this size are updated together (see above). Gathering
    #: and writing back ``data`` cost about a nanosecond per element, and grouping
    #: saves the per-call cost of the update's numpy calls (about 10 us per
    #: parameter), so it pays for parameters up to about ten thousand elements.
    group_bytes: int = 1 << 16

    def __init__(self, params: Iterable[Parameter], lr: float):
        name = type(self).__name__
        if callable(getattr(params, "parameters", None)) and not isinstance(params, Parameter):  # a Layer, a model
            raise InvalidTypeError(f"{name} expects an iterable of Parameter: pass model.parameters(), "
                                   f"not the {type(params).__name__} itself")
        try:
            self.params: list[Parameter] = list(params)
        except TypeError:
            raise InvalidTypeError(f"{name} expects an iterable of Parameter (e.g. model.parameters()). "
                                   f"Received: {params!r} ({type(params).__name__})") from None
        for i, p in enumerate(self.params):
            if not isinstance(p, Parameter):
                raise InvalidTypeError(
                    f"{type(self).__name__} expects an iterable of Parameter (e.g. "
                    f"model.parameters()); item {i} is {type(p).__name__}"
                )
        if not self.params:
            raise InvalidValueError(f"{name} got no parameters to update: pass model.parameters() of a model "
                                    f"with parameters (a Linear, ...)")
        seen: dict[int, int] = {}
        for i, p in enumerate(self.params):
            if id(p) in seen:  # it would be updated twice per step
                raise InvalidValueError(f"{name}: parameter {i} ({p.name}) is the same object as parameter "
                                        f"{seen[id(p)]}; pass each parameter once")
            seen[id(p)] = i
        self.lr = check_hyperparameter(type(self).__name__, "lr", lr, low=0.0, low_open=True)
        self.steps = 0
        self._scratch: dict[tuple, np.ndarray] = {}        # (name, dtype) -> flat buffer
        self._scratch_views: dict[tuple, np.ndarray] = {}  # (name, shape, dtype) -> view of it
        self.state: list[dict[str, np.ndarray]] = [self.init_state(p) for p in self.params]
        self._groups: list[_SmallParameterGroup] | None = None  # built at the first step
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
        if not self.elementwise:
            for p, s in zip(self.params, self.state):
                update(p, s)
            return
        groups = self._groups
        if groups is None or not all(g.ready(self) for g in groups):
            groups = self._groups = self._group_small_parameters()
        for g in groups:
            g.step(self)
        block_bytes = self.block_bytes
        for i in self._ungrouped:
            p, s = self.params[i], self.state[i]
            if p.data.nbytes > block_bytes:
                self._update_in_blocks(p, s)
            else:
                update(p, s)

    def _group_small_parameters(self) -> list[_SmallParameterGroup]:
        """Groups of the small parameters (one per dtype and set of state keys); the rest in ``_ungrouped``."""
        candidates: dict[tuple, list[int]] = {}
        for i, (p, s) in enumerate(zip(self.params, self.state)):
            arrays = (p.data, p.grad, *s.values())
            if p.data.nbytes <= self.group_bytes and all(
                    isinstance(a, np.ndarray) and a.flags.c_contiguous and a.shape == p.data.shape
                    and a.dtype == p.data.dtype for a in arrays):
                candidates.setdefault((p.data.dtype, tuple(sorted(s))), []).append(i)
        groups = [_SmallParameterGroup(self, members) for members in candidates.values() if len(members) > 1]
        grouped = {i for g in groups for i in g.members}
        self._ungrouped = [i for i in range(len(self.params)) if i not in grouped]
        return groups

    def _update_in_blocks(self, param: Parameter, state: dict[str, np.ndarray]) -> None:
        data = param.data
        if not (data.flags.c_contiguous and all(a.flags.c_contiguous for a in state.values())):
            self.update(param, state)  # flat views would be copies: update it whole
            return
        self._update_flat(data.reshape(-1), param.grad.reshape(-1),  # grad is read only: a copy does no harm
                          {key: arr.reshape(-1) for key, arr in state.items()}, param.name)

    def _update_flat(self, data: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray], name: str) -> None:
        """``update`` over flat arrays, in blocks of at most ``block_bytes``."""
        step = max(1, self.block_bytes // data.itemsize)
        if data.size <= step:
            self.update(ParameterBlock(data, grad, name), state)
            return
        for lo in range(0, data.size, step):
            hi = lo + step
            self.update(ParameterBlock(data[lo:hi], grad[lo:hi], name), {key: arr[lo:hi] for key, arr in state.items()})

    def __getstate__(self) -> dict:
        # A copy (deepcopy, pickle) regroups at its first step: copied views no longer share memory.
        state = self.__dict__.copy()
        state["_groups"] = None
        return state

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

    def check_saved_hyperparameters(self, state_dict: dict[str, Any]) -> None:
        """Refuse (:class:`StateError`) saved hyperparameters this optimizer's arguments would refuse.

        A checkpoint is a file a user may have edited or received: beta1 = 1
        there must be the same error as ``Adam(beta1=1)``, not a division by
        zero at the next step.
        """
        saved = state_dict.get("hyperparameters", {})
        if not isinstance(saved, dict):
            raise StateError(f"{type(self).__name__}.load_state_dict: the hyperparameters are not a mapping. "
                             f"Received: {type(saved).__name__}")
        problems = argument_problems(type(self).__init__,
                                     {k: v for k, v in saved.items() if k in self.hyperparameters})
        if problems:
            raise StateError(f"{type(self).__name__}.load_state_dict: the saved hyperparameters are not valid "
                             f"for {type(self).__name__}: " + "; ".join(problems))

    def upgrade_state_dict(self, state_dict: dict[str, Any]) -> dict[str, Any]:
        """A state dict saved by an earlier version of this optimizer, in this version's form.

        Called by :meth:`load_state_dict` after the saved hyperparameters were
        checked; the default returns it unchanged. Override it when the state's
        keys or meaning change, so that older checkpoints still load.
        """
        return state_dict

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned; shapes and dtypes must match."""
        name = type(self).__name__
        self.check_saved_hyperparameters(state_dict)
        state_dict = self.upgrade_state_dict(state_dict)
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


class _SmallParameterGroup:
    """Small parameters of one dtype updated as one block.

    Their state arrays are replaced by views of one flat array per key (the
    values kept), and so are their gradients: ``grad`` becomes a view of
    the group's flat gradient, which backward then writes directly, so a
    step gathers only ``data`` (copied in before the update and back after
    it: references to ``data`` stay valid). A gradient replaced by a new
    array of the same shape and dtype (a layer that assigns ``p.grad = ...``)
    is copied in and the view put back; :meth:`ready` tells whether anything
    else was replaced since (``load_state_dict`` of a model, ``astype``):
    the optimizer then groups afresh from the current arrays.
    """

    def __init__(self, optimizer: Optimizer, members: list[int]):
        self.members = members
        params = [optimizer.params[i] for i in members]
        states = [optimizer.state[i] for i in members]
        sizes = [p.data.size for p in params]
        bounds = np.cumsum([0, *sizes]).tolist()
        dtype = params[0].data.dtype
        self.data = np.empty(bounds[-1], dtype=dtype)
        self.grad = np.concatenate([p.grad.reshape(-1) for p in params])
        self.state: dict[str, np.ndarray] = {}
        for key in states[0]:
            flat = self.state[key] = np.concatenate([s[key].reshape(-1) for s in states])
            for s, p, lo, hi in zip(states, params, bounds, bounds[1:]):
                s[key] = flat[lo:hi].reshape(p.data.shape)
        for p, lo, hi in zip(params, bounds, bounds[1:]):
            p.grad = self.grad[lo:hi].reshape(p.data.shape)
        self.pieces = [self.data[lo:hi] for lo, hi in zip(bounds, bounds[1:])]
        self.params, self.states = tuple(params), tuple(states)
        self.datas, self.grads = tuple(p.data for p in params), tuple(p.grad for p in params)
        self.get_members = itemgetter(*members)  # a tuple: groups have two members or more
        self.data_flat = [p.data.reshape(-1) for p in params]
        self.name = f"{len(params)} small parameters ({', '.join(p.name for p in params[:4])}" + \
            (", ...)" if len(params) > 4 else ")")

    def ready(self, optimizer: Optimizer) -> bool:
        """Whether the optimizer still holds these parameters and state dicts, and they these arrays.

        Identity tests only (a few microseconds a step). A gradient replaced
        by an array of its shape and dtype is copied into the group and its
        view put back. State arrays are not looked at: an elementwise update
        changes them in place, as the blocked update requires, and
        ``load_state_dict`` writes into them.
        """
        params = self.params
        if not (all(map(is_, self.get_members(optimizer.params), params))
                and all(map(is_, self.get_members(optimizer.state), self.states))
                and all(map(is_, [p.data for p in params], self.datas))):
            return False
        if all(map(is_, [p.grad for p in params], self.grads)):
            return True
        for p, view in zip(params, self.grads):
            if p.grad is not view:
                grad = p.grad
                if not (isinstance(grad, np.ndarray) and grad.shape == view.shape and grad.dtype == view.dtype):
                    return False
                np.copyto(view, grad)
                p.grad = view
        return True

    def step(self, optimizer: Optimizer) -> None:
        np.concatenate(self.data_flat, out=self.data)
        optimizer._update_flat(self.data, self.grad, self.state, self.name)
        for flat, piece in zip(self.data_flat, self.pieces):
            np.copyto(flat, piece)
