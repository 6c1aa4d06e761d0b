"""Finding and loading plugins through the ``minidl.plugins`` entry points.

pluggy's own ``load_setuptools_entrypoints`` imports every entry point with no
error handling (one broken plugin stops all the others) and silently skips a
second plugin of a name already registered. This module does the loading
itself so that:

* a plugin whose import fails is reported with its entry point, distribution
  and version and the original error, as a :class:`PluginLoadWarning`, and
  every other plugin still loads (``MINIDL_STRICT_PLUGINS=1`` makes it an
  error instead);
* a hook implementation with a wrong signature, or whose name is not a
  minidl hook (a typo), is an error at start-up that names the plugin;
* ``MINIDL_DISABLE_PLUGIN_AUTOLOAD=1`` loads only this distribution's own
  built-in plugins, leaving out every third-party one.

Built-in components come in through exactly the same path: minidl's own
``pyproject.toml`` declares its modules in the same entry-point group.
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable

import pluggy

from framework import hookspecs
from framework.errors import PluginError
from framework.kinds import KINDS

ENTRY_POINT_GROUP = "minidl.plugins"
DISTRIBUTION = "minidl"
DISABLE_AUTOLOAD_ENV = "MINIDL_DISABLE_PLUGIN_AUTOLOAD"
STRICT_ENV = "MINIDL_STRICT_PLUGINS"


class PluginLoadWarning(UserWarning):
    """A plugin could not be loaded; the others were."""


@dataclass
class PluginRecord:
    """Where a plugin came from, and whether it loaded."""

    name: str
    entry_point: str  # "name = module:attr"
    distribution: str | None
    version: str | None
    plugin: Any = None
    error: str | None = None
    provides: dict[str, list[str]] = field(default_factory=dict)

    @property
    def source(self) -> str:
        if self.distribution is None:
            return f"plugin {self.name!r} (registered in-process)"
        return (f"plugin {self.name!r} (entry point '{self.entry_point}' of distribution "
                f"{self.distribution} {self.version})")


def _env_flag(name: str, environ) -> bool:
    return environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


def discover_entry_points() -> list[tuple[metadata.EntryPoint, metadata.Distribution]]:
    """Every ``minidl.plugins`` entry point of the installed distributions (no imports)."""
    found, seen = [], set()
    for dist in metadata.distributions():
        for ep in dist.entry_points:
            if ep.group != ENTRY_POINT_GROUP:
                continue
            key = (dist.metadata["Name"], ep.name, ep.value)
            if key in seen:  # the same distribution found twice on sys.path
                continue
            seen.add(key)
            found.append((ep, dist))
    found.sort(key=lambda pair: (pair[1].metadata["Name"] != DISTRIBUTION, pair[1].metadata["Name"], pair[0].name))
    return found


def new_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("minidl")
    pm.add_hookspecs(hookspecs)
    return pm


def register_plugin(pm: pluggy.PluginManager, plugin: Any, record: PluginRecord) -> None:
    """Register one plugin object, turning pluggy's errors into ones that name it."""
    if pm.has_plugin(record.name):
        raise PluginError(f"two plugins are named {record.name!r}: {record.source} and one "
                          f"registered before it. Rename one of the entry points.")
    try:
        pm.register(plugin, name=record.name)
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"{record.source} has an invalid hook implementation: {exc}. "
                          f"See framework/hookspecs.py for the hooks and their signatures."
                          + _disable_hint(record)) from exc
    # A marked function whose name matches no hookspec (a typo such as
    # "minidl_layer") is otherwise ignored without a word.
    unknown = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [] if not caller.has_spec())
    if unknown:
        pm.unregister(plugin)
        raise PluginError(
            f"{record.source} implements unknown hook(s) {', '.join(unknown)}; known hooks: "
            f"{', '.join(k.hook for k in KINDS)}." + _disable_hint(record))


def _disable_hint(record: PluginRecord) -> str:
    if record.distribution in (None, DISTRIBUTION):
        return ""
    return (f" To run without third-party plugins, set {DISABLE_AUTOLOAD_ENV}=1 or uninstall "
            f"{record.distribution}.")


def load_plugins(pm: pluggy.PluginManager,
                 entry_points: Iterable[tuple[Any, Any]] | None = None,
                 environ=None) -> list[PluginRecord]:
    """Import and register every entry-point plugin; return a record for each.

    ``entry_points`` defaults to :func:`discover_entry_points` (tests pass
    their own list of ``(entry_point, distribution)`` pairs).
    """
    environ = os.environ if environ is None else environ
    pairs = discover_entry_points() if entry_points is None else list(entry_points)
    builtin_only = _env_flag(DISABLE_AUTOLOAD_ENV, environ)
    strict = _env_flag(STRICT_ENV, environ)
    records = []
    for ep, dist in pairs:
        dist_name = dist.metadata["Name"]
        if builtin_only and dist_name != DISTRIBUTION:
            continue
        record = PluginRecord(name=f"{dist_name}:{ep.name}", entry_point=f"{ep.name} = {ep.value}",
                              distribution=dist_name, version=dist.version)
        records.append(record)
        try:
            plugin = ep.load()
        except Exception as exc:  # a plugin's import may raise anything
            record.error = f"{type(exc).__name__}: {exc}"
            message = f"could not load {record.source}: {record.error}"
            if strict:
                raise PluginError(message + f" ({STRICT_ENV} is set)") from exc
            warnings.warn(message + f". The other plugins are loaded; set {STRICT_ENV}=1 to "
                          f"make this an error." + _disable_hint(record), PluginLoadWarning,
                          stacklevel=3)
            continue
        register_plugin(pm, plugin, record)
        record.plugin = plugin
    pm.check_pending()  # belt and braces: nothing may stay unverified
    return records


def call_hook_per_plugin(pm: pluggy.PluginManager, hook_name: str,
                         records: dict[str, PluginRecord]) -> list[tuple[PluginRecord, dict]]:
    """Call one registration hook of every plugin separately, to know who gave what."""
    results = []
    caller = getattr(pm.hook, hook_name)
    for impl in caller.get_hookimpls():  # registration order
        record = records[pm.get_name(impl.plugin)]
        try:
            value = impl.function()
        except Exception as exc:
            raise PluginError(f"{record.source}: hook {hook_name}() raised "
                              f"{type(exc).__name__}: {exc}" + _disable_hint(record)) from exc
        if value is None:
            continue
        if not isinstance(value, dict):
            raise PluginError(f"{record.source}: hook {hook_name}() must return a dict "
                              f"{{name: component}}. Received: {type(value).__name__}")
        results.append((record, value))
    return results


__all__ = ["ENTRY_POINT_GROUP", "DISABLE_AUTOLOAD_ENV", "STRICT_ENV", "PluginLoadWarning",
           "PluginRecord", "discover_entry_points", "load_plugins", "new_plugin_manager",
           "register_plugin", "call_hook_per_plugin"]
