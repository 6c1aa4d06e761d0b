"""Hook specifications: the one place that says what a minidl plugin can provide.

A plugin is a module (or any object) with functions marked ``@hookimpl`` whose
names are among the hooks below. It reaches minidl through the entry-point
group ``minidl.plugins``, exactly as the built-in components in ``plugins/``
do::

    # pyproject.toml of a plugin distribution
    [project.entry-points."minidl.plugins"]
    my_layers = "my_package.layers"

    # my_package/layers.py
    from framework import Layer, hookimpl

    class Swish(Layer): ...

    @hookimpl
    def minidl_layers():
        return {"swish": Swish}

Every hook takes no arguments and returns a dict mapping registered names
(lowercase, ``[a-z][a-z0-9_]*``) to components. All implementations are
called (none stops the others); a name given by two plugins is an error that
names both. Hooks are called once, when the registry is first used.
"""

from __future__ import annotations

from typing import Callable

import pluggy

#: Marker for hook specifications (used only in this module).
hookspec = pluggy.HookspecMarker("minidl")
#: Marker for hook implementations (used by every plugin, built-in or not).
hookimpl = pluggy.HookimplMarker("minidl")


@hookspec
def minidl_layers() -> dict[str, type]:
    """Register layers and activations (activations are layers).

    :returns: ``{name: LayerSubclass}``. Each class derives from
        :class:`framework.Layer` and implements ``forward_pass`` and
        ``backward_pass``. Its constructor's keyword arguments are what an
        experiment block may set; their type hints validate them.
    """


@hookspec
def minidl_losses() -> dict[str, type]:
    """Register losses.

    :returns: ``{name: LossSubclass}`` deriving from :class:`framework.Loss`
        and implementing ``forward_pass`` and ``backward_pass``.
    """


@hookspec
def minidl_optimizers() -> dict[str, type]:
    """Register optimizers.

    :returns: ``{name: OptimizerSubclass}`` deriving from
        :class:`framework.Optimizer` and implementing ``update``. The first
        constructor argument receives the model's parameters.
    """


@hookspec
def minidl_initializers() -> dict[str, Callable]:
    """Register weight initializers.

    :returns: ``{name: function}``, each ``f(shape, rng, dtype) -> ndarray``
        for a weight of shape (out, in).
    """


@hookspec
def minidl_datasets() -> dict[str, Callable]:
    """Register data sources.

    :returns: ``{name: function}``, each taking keyword arguments (validated
        from its signature) and returning a :class:`framework.Dataset`.
    """


@hookspec
def minidl_callbacks() -> dict[str, type]:
    """Register Trainer callbacks.

    :returns: ``{name: CallbackSubclass}`` deriving from :class:`framework.Callback`.
    """


@hookspec
def minidl_metrics() -> dict[str, Callable]:
    """Register metrics.

    :returns: ``{name: function}``, each ``f(y_hat, y) -> float`` on arrays
        of shape (out, m).
    """


@hookspec
def minidl_schedules() -> dict[str, Callable]:
    """Register learning-rate schedules.

    :returns: ``{name: function}``, each taking keyword arguments and
        returning ``schedule(epoch, base_lr) -> lr``.
    """
