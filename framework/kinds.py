"""Component kinds: one record per kind, the only place the differences live.

minidl knows eight kinds of component (layers, losses, optimizers,
initializers, datasets, callbacks, metrics, schedules). Everything that
differs between them -- the hook that registers them, the base class they
derive from, the methods they must implement, the arguments a builder
supplies itself, the arguments it can infer, how an experiment refers to
them, and which kit checks them -- is one :class:`Kind` record in
:data:`KINDS`. The registry, the conformance kit (:mod:`framework.testing`),
``minidl schema`` and the docs all read these records; nothing else keeps a
table of kinds::

    from framework.kinds import KINDS, kind
    kind("optimizers").injected        # frozenset({'params'})
    [k.hook for k in KINDS]            # ['minidl_layers', 'minidl_losses', ...]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from framework.callback import Callback
from framework.errors import RegistryError
from framework.layer import Layer
from framework.loss import Loss
from framework.optimizer import Optimizer


@dataclass(frozen=True)
class Kind:
    """What is true of every component of one kind.

    Attributes:
        name: the registry's name of the kind, plural ("layers").
        singular: one of them, for messages ("layer").
        hook: the hook of :mod:`framework.hookspecs` that registers them.
        base: the class every component derives from, or ``None`` for
            kinds that are plain callables (initializers, metrics ...).
        required: methods a subclass must override; each item is a tuple
            of alternatives, any one of which suffices (an optimizer may
            implement ``update`` or replace ``step``).
        attributes: attributes each component must carry, with their type
            (a metric's ``higher_is_better``).
        injected: constructor arguments the builder supplies itself; an
            experiment block cannot set them.
        inferred: arguments the builder can infer (a layer's
            ``in_features`` from the layer before it); optional in a block.
        config: how an experiment refers to a component: ``"block"`` is a
            table ``{type = NAME, ...arguments}`` validated against the
            constructor's signature; ``"name"`` is a bare registered name
            (metrics in ``trainer.metrics``, initializers in a layer's ``init``).
        where: where in an experiment (or in another component's arguments)
            these components are named, for the docs and the schema.
        contract: what each registered value must be, one line (docs, errors).
        kit: the name of the check in :mod:`framework.testing` that
            ``minidl check-plugins`` runs on each registered component.
    """

    name: str
    singular: str
    hook: str
    base: type | None
    required: tuple[tuple[str, ...], ...] = ()
    attributes: dict[str, type] = field(default_factory=dict)
    injected: frozenset[str] = frozenset()
    inferred: frozenset[str] = frozenset()
    config: Literal["block", "name"] = "block"
    where: str = ""
    contract: str = ""
    kit: str = ""

    def problems(self, component: Any) -> list[str]:
        """What ``component`` lacks to be one of this kind (empty when it conforms)."""
        base = self.base
        if base is None:
            if not callable(component):
                return [f"is not callable. Received: {component!r}"]
        elif not (isinstance(component, type) and issubclass(component, base)):
            return [f"is not a subclass of framework.{base.__name__}. Received: {component!r}"]
        else:
            missing = [" or ".join(group) for group in self.required
                       if all(getattr(component, m, None) is getattr(base, m, None) for m in group)]
            if missing:
                return [f"does not implement {', '.join(missing)} (required of every {base.__name__})"]
        out = []
        for attr, typ in self.attributes.items():
            value = getattr(component, attr, None)
            if not isinstance(value, typ):
                out.append(f"does not declare `{attr}` ({typ.__name__}); "
                           f"{ATTRIBUTE_HINTS.get(attr, '')}".rstrip("; ")
                           + (f". Received: {attr}={value!r}" if value is not None else ""))
        return out


#: How to fix a missing attribute, by attribute name.
ATTRIBUTE_HINTS = {
    "higher_is_better": "decorate the function with @framework.metric(higher_is_better=True or False)",
}

KINDS: tuple[Kind, ...] = (
    Kind("layers", "layer", "minidl_layers", Layer,
         required=(("forward_pass",), ("backward_pass",)),
         injected=frozenset({"rng", "dtype"}), inferred=frozenset({"in_features"}),
         where="model.layers[i]",
         contract="a framework.Layer subclass implementing forward_pass and backward_pass "
                  "(activations are layers)",
         kit="check_registered_layer"),
    Kind("losses", "loss", "minidl_losses", Loss,
         required=(("forward_pass",), ("backward_pass",)),
         where="loss",
         contract="a framework.Loss subclass implementing forward_pass and backward_pass",
         kit="check_registered_loss"),
    Kind("optimizers", "optimizer", "minidl_optimizers", Optimizer,
         required=(("update", "step"),), injected=frozenset({"params"}),
         where="optimizer",
         contract="a framework.Optimizer subclass implementing update (or step); its first "
                  "argument receives the parameters",
         kit="check_registered_optimizer"),
    Kind("initializers", "initializer", "minidl_initializers", None, config="name",
         where="a layer's init argument",
         contract="f(shape, rng, dtype) -> ndarray, for a weight of shape (out, in)",
         kit="check_registered_initializer"),
    Kind("datasets", "dataset", "minidl_datasets", None,
         where="data.source",
         contract="a function of keyword arguments returning a framework.Dataset",
         kit="check_registered_dataset"),
    Kind("callbacks", "callback", "minidl_callbacks", Callback,
         where="trainer.callbacks[i]",
         contract="a framework.Callback subclass",
         kit="check_registered_callback"),
    Kind("metrics", "metric", "minidl_metrics", None, config="name",
         attributes={"higher_is_better": bool},
         where="trainer.metrics[i]",
         contract="f(y_hat, y) -> float, declaring higher_is_better (see framework.metric)",
         kit="check_registered_metric"),
    Kind("schedules", "schedule", "minidl_schedules", None,
         where="the schedule argument of the lr_scheduler callback",
         contract="a function of keyword arguments returning schedule(epoch, base_lr) -> lr",
         kit="check_registered_schedule"),
)

_BY_NAME: dict[str, Kind] = {k.name: k for k in KINDS}
_BY_HOOK: dict[str, Kind] = {k.hook: k for k in KINDS}


def kind(name: str) -> Kind:
    """The record of kind ``name`` ("layers", "losses", ...)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise RegistryError(f"unknown component kind {name!r}; kinds: {', '.join(_BY_NAME)}") from None


def kind_of_hook(hook: str) -> Kind:
    return _BY_HOOK[hook]


def kind_names() -> list[str]:
    return list(_BY_NAME)


def kit(k: Kind) -> Callable:
    """The kit function that checks one registered component of kind ``k``."""
    import framework.testing as testing

    return getattr(testing, k.kit)


__all__ = ["Kind", "KINDS", "kind", "kind_of_hook", "kind_names", "kit"]
