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
  minidl hook (a typo), leaves that plugin out in the same way, naming it;
* the warning points at the plugin's own code (the line its import failed
  on, or its module), not at minidl;
* ``MINIDL_BLOCK_PLUGINS=name,...`` (or ``minidl -p no:NAME``) leaves out
  the plugins of those names ("distribution:entry_point") or distributions;
* ``MINIDL_DISABLE_PLUGIN_AUTOLOAD=1`` loads only this distribution's own
  built-in plugins, leaving out every third-party one.

Built-in components come in through exactly the same path: minidl's own
``pyproject.toml`` declares its modules in the same entry-point group.
"""

from __future__ import annotations

import importlib.metadata as metadata
import inspect
import os
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pluggy

from framework import hookspecs
from framework.errors import PluginError
from framework.kinds import KINDS

ENTRY_POINT_GROUP = "minidl.plugins"
DISTRIBUTION = "minidl"
DISABLE_AUTOLOAD_ENV = "MINIDL_DISABLE_PLUGIN_AUTOLOAD"
STRICT_ENV = "MINIDL_STRICT_PLUGINS"


BLOCK_ENV = "MINIDL_BLOCK_PLUGINS"


class PluginLoadWarning(UserWarning):
    """A plugin could not be loaded; the others were."""


@dataclass
class PluginRecord:
    """Where a plugin came from, and whether it loaded.

    ``error`` says why it failed (import error, invalid hook implementation,
    invalid component); ``blocked`` that the user left it out by name.
    """

    name: str
    entry_point: str  # "name = module:attr"
    distribution: str | None
    version: str | None
    plugin: Any = None
    error: str | None = None
    blocked: bool = False
    provides: dict[str, list[str]] = field(default_factory=dict)

    @property
    def source(self) -> str:
        if self.distribution is None:
            return f"plugin {self.name!r} (registered in-process)"
        return (f"plugin {self.name!r} (entry point '{self.entry_point}' of distribution "
                f"{self.distribution} {self.version})")

    @property
    def loaded(self) -> bool:
        return self.error is None and not self.blocked


def _env_flag(name: str, environ) -> bool:
    return environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


def blocked_names(environ=None) -> list[str]:
    """The plugin names listed in ``MINIDL_BLOCK_PLUGINS`` (comma-separated)."""
    environ = os.environ if environ is None else environ
    return [n.strip() for n in environ.get(BLOCK_ENV, "").split(",") if n.strip()]


def is_blocked(record: PluginRecord, blocked: list[str]) -> bool:
    """A plugin is blocked by its own name ("dist:entry_point") or by its distribution's name."""
    return record.name in blocked or (record.distribution is not None and record.distribution in blocked)


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
    return (f" To run without it, block it with `minidl -p no:{record.name} ...` (or {BLOCK_ENV}="
            f"{record.name}), or uninstall {record.distribution}.")


def _location(obj: Any = None, exc: BaseException | None = None) -> tuple[str, int] | None:
    """The file and line of a plugin's own code: where its import failed, or where ``obj`` is defined."""
    if exc is not None:
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if "importlib" not in f.filename and not f.filename.startswith("<")
                  and Path(f.filename).resolve() != Path(__file__).resolve()]
        if frames:
            return frames[-1].filename, frames[-1].lineno or 1
    if obj is not None:
        target = getattr(obj, "__wrapped__", obj)
        try:
            filename = inspect.getsourcefile(target)
            if filename:
                try:
                    return filename, inspect.getsourcelines(target)[1] or 1
                except (OSError, TypeError):
                    return filename, 1
        except TypeError:
            pass
    return None


def plugin_failed(record: PluginRecord, message: str, *, strict: bool, exc: BaseException | None = None,
                  where: Any = None) -> None:
    """Record that ``record`` failed; warn, pointing at the plugin's code (or raise when strict)."""
    record.error = message
    if strict:
        raise PluginError(f"{message} ({STRICT_ENV} is set)") from exc
    text = (f"{message}. The other plugins are loaded; set {STRICT_ENV}=1 to make this an error."
            + _disable_hint(record))
    location = _location(where, exc) or _location(record.plugin)
    if location is None:
        warnings.warn(text, PluginLoadWarning, stacklevel=2)
    else:
        warnings.warn_explicit(text, PluginLoadWarning, location[0], location[1])


def load_plugins(pm: pluggy.PluginManager,
                 entry_points: Iterable[tuple[Any, Any]] | None = None,
                 environ=None) -> list[PluginRecord]:
    """Import and register every entry-point plugin; return a record for each.

    ``entry_points`` defaults to :func:`discover_entry_points` (tests pass
    their own list of ``(entry_point, distribution)`` pairs). A plugin that
    fails to import or to register is recorded with its error and left out
    (:class:`PluginLoadWarning`); one blocked by name is recorded as blocked.
    """
    environ = os.environ if environ is None else environ
    pairs = discover_entry_points() if entry_points is None else list(entry_points)
    builtin_only = _env_flag(DISABLE_AUTOLOAD_ENV, environ)
    strict = _env_flag(STRICT_ENV, environ)
    blocked = blocked_names(environ)
    records = []
    for ep, dist in pairs:
        dist_name = dist.metadata["Name"]
        if builtin_only and dist_name != DISTRIBUTION:
            continue
        record = PluginRecord(name=f"{dist_name}:{ep.name}", entry_point=f"{ep.name} = {ep.value}",
                              distribution=dist_name, version=dist.version)
        records.append(record)
        if is_blocked(record, blocked):
            record.blocked = True
            continue
        try:
            plugin = ep.load()
        except Exception as exc:  # a plugin's import may raise anything
            plugin_failed(record, f"could not load {record.source}: {type(exc).__name__}: {exc}",
                          strict=strict, exc=exc)
            continue
        record.plugin = plugin
        try:
            register_plugin(pm, plugin, record)
        except PluginError as exc:
            plugin_failed(record, str(exc).split(" To run without it")[0], strict=strict, where=plugin)
    pm.check_pending()  # belt and braces: nothing may stay unverified
    return records


def call_hook(record: PluginRecord, hook_name: str, function) -> dict:
    """Call one registration hook of one plugin; a clear PluginError if it misbehaves."""
    try:
        value = function()
    except Exception as exc:
        raise PluginError(f"{record.source}: hook {hook_name}() raised {type(exc).__name__}: {exc}") from exc
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PluginError(f"{record.source}: hook {hook_name}() must return a dict "
                          f"{{name: component}}. Received: {type(value).__name__}")
    return value


def hook_functions(pm: pluggy.PluginManager, hook_name: str) -> list[tuple[str, Any]]:
    """(plugin name, hook function) of every plugin implementing ``hook_name``, in registration order."""
    return [(pm.get_name(impl.plugin), impl.function) for impl in getattr(pm.hook, hook_name).get_hookimpls()]


__all__ = ["ENTRY_POINT_GROUP", "DISABLE_AUTOLOAD_ENV", "STRICT_ENV", "BLOCK_ENV", "PluginLoadWarning",
           "PluginRecord", "blocked_names", "discover_entry_points", "load_plugins", "new_plugin_manager",
           "register_plugin", "call_hook", "hook_functions", "plugin_failed"]
