"""The registry: every component, by kind and registered name.

Kinds (layers, losses, optimizers, initializers, datasets, callbacks,
metrics, schedules) are the records of :mod:`framework.kinds`, which say
which hook registers each, what a component must be, and which arguments a
builder injects or infers. The registry is filled,
on first use, by calling each plugin's hooks; plugins come only from the
``minidl.plugins`` entry points (see :mod:`framework.plugin_manager`), the
built-ins included.

Components are built from keyword arguments validated by a pydantic model
derived from the constructor's signature (type hints, defaults), with unknown
keys forbidden::

    from framework.registry import registry
    layer = registry.build("layers", "linear", {"in_features": 3, "out_features": 2})
"""

from __future__ import annotations

import difflib
import inspect
import os
import re
import typing
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Optional

import pydantic
from pydantic import ConfigDict, StrictBool, create_model

from framework.errors import (ConfigError, InvalidTypeError, InvalidValueError, MemoryLimitError,
                              MinidlError, PluginError, RegistryError)
from framework.kinds import KINDS, kind as kind_record
from framework.plugin_manager import (BLOCK_ENV, STRICT_ENV, PluginRecord, _env_flag, call_hook,
                                      hook_functions, load_plugins, new_plugin_manager, plugin_failed,
                                      register_plugin)

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")

@dataclass(frozen=True)
class Override:
    """A component a plugin registers in place of one of the same name (see :func:`override`)."""

    component: Any


def override(component: Any) -> Override:
    """Declare, in a registration hook, that ``component`` replaces the one already of that name::

        @hookimpl
        def minidl_layers():
            return {"sigmoid": override(MyFasterSigmoid)}

    Without it, a name registered twice is a clash that every command needing
    that kind reports; with it, the plugin's component wins and ``minidl
    plugins`` shows what it overrides.
    """
    return Override(component)


@dataclass(frozen=True)
class Entry:
    """One registered component and where it came from.

    ``overrides`` is the entry this one deliberately replaces (or None).
    """

    kind: str
    name: str
    component: Any
    plugin: PluginRecord
    declared_override: bool = False
    overrides: "Entry | None" = None

    @property
    def distribution(self) -> str:
        p = self.plugin
        return f"{p.distribution} {p.version}" if p.distribution else "(in-process)"


def check_component(kind: str, name: str, component: Any, record: PluginRecord) -> None:
    """Reject what is not a proper component of ``kind``, saying what it lacks."""
    record_of_kind = kind_record(kind)
    where = f"{record.source} registers {record_of_kind.singular} {name!r}"
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise PluginError(f"{where}: names must be lowercase identifiers ([a-z][a-z0-9_]*)")
    problems = record_of_kind.problems(component)
    if problems:
        raise PluginError(f"{where}, which " + "; it ".join(problems))


class Registry:
    """Components by kind and name, filled from the plugins on first use."""

    def __init__(self, entry_points=None, environ=None):
        self._entry_points = entry_points
        self._environ = environ
        self._entries: dict[str, dict[str, Entry]] | None = None
        self._records: list[PluginRecord] = []
        self._clashes: dict[str, dict[str, list[Entry]]] = {}
        self._extra: list[tuple[Any, str]] = []
        self._models: dict[tuple[str, str], type[pydantic.BaseModel]] = {}

    # -- loading --------------------------------------------------------------
    def load(self) -> "Registry":
        """Load every plugin and fill the tables (once; :meth:`reload` starts again).

        Never raises for a plugin's fault (unless ``MINIDL_STRICT_PLUGINS``):
        a plugin that fails to import, to register or to provide valid
        components is left out, recorded and warned about; a name given by
        two plugins is recorded as a clash, reported when that kind is used.
        """
        if self._entries is not None:
            return self
        environ = os.environ if self._environ is None else self._environ
        strict = _env_flag(STRICT_ENV, environ)
        pm = new_plugin_manager()
        records = load_plugins(pm, self._entry_points, environ)
        for plugin, name in self._extra:
            record = PluginRecord(name=name, entry_point="", distribution=None, version=None, plugin=plugin)
            records.append(record)
            try:
                register_plugin(pm, plugin, record)
            except PluginError as exc:
                plugin_failed(record, str(exc), strict=strict, where=plugin)
        by_name = {r.name: r for r in records}
        # First every plugin's components, checked: a plugin with one bad component is left out whole.
        provided: dict[str, list[tuple[str, str, Any, bool]]] = {}
        for k in KINDS:
            for plugin_name, function in hook_functions(pm, k.hook):
                record = by_name[plugin_name]
                if record.error:
                    continue
                component = None
                try:
                    for name, component in call_hook(record, k.hook, function).items():
                        declared = isinstance(component, Override)
                        component = component.component if declared else component
                        check_component(k.name, name, component, record)
                        provided.setdefault(plugin_name, []).append((k.name, name, component, declared))
                except PluginError as exc:
                    bad = component if component is not None and not isinstance(component, (int, float, str)) else None
                    plugin_failed(record, str(exc), strict=strict, exc=exc.__cause__, where=bad or function)
                    provided.pop(plugin_name, None)
        # Then the tables, in plugin order (built-ins first).
        entries: dict[str, dict[str, Entry]] = {k.name: {} for k in KINDS}
        clashes: dict[str, dict[str, list[Entry]]] = {k.name: {} for k in KINDS}
        for record in records:
            for kind, name, component, declared in provided.get(record.name, []):
                entry = Entry(kind, name, component, record, declared_override=declared)
                table, existing = entries[kind], entries[kind].get(name)
                if existing is None:
                    table[name] = entry
                elif declared and not existing.declared_override:
                    table[name] = replace(entry, overrides=existing)
                elif existing.declared_override and not declared and existing.overrides is None:
                    table[name] = replace(existing, overrides=entry)
                else:
                    clashes[kind].setdefault(name, [existing]).append(entry)
                record.provides.setdefault(kind, []).append(name)
        self._records, self._entries, self._clashes = records, entries, clashes
        return self

    def register(self, plugin: Any, name: str) -> None:
        """Add an in-process plugin object (a module or class with hookimpls).

        Meant for scripts and tests; installed plugins come from entry points.
        The registry is rebuilt on next use.
        """
        self._extra.append((plugin, name))
        self.reload()

    def unregister(self, name: str) -> None:
        self._extra = [(p, n) for p, n in self._extra if n != name]
        self.reload()

    def reload(self) -> None:
        self._entries = None
        self._models.clear()

    # -- queries --------------------------------------------------------------
    @property
    def kinds(self) -> list[str]:
        return [k.name for k in KINDS]

    def _kind(self, kind: str) -> dict[str, Entry]:
        kind_record(kind)  # an unknown kind is a RegistryError listing the kinds
        self.load()
        if self._clashes[kind]:
            raise PluginError(self.clash_message(kind))
        return self._entries[kind]

    def clashes(self) -> dict[str, dict[str, list[Entry]]]:
        """``{kind: {name: [entries...]}}`` for every name two plugins register (never raises)."""
        self.load()
        return {kind: dict(names) for kind, names in self._clashes.items() if names}

    def overrides(self) -> list[Entry]:
        """Every entry that deliberately replaces another of the same name (never raises)."""
        self.load()
        return [e for table in self._entries.values() for e in table.values() if e.overrides is not None]

    def clash_message(self, kind: str) -> str:
        k = kind_record(kind)
        lines = []
        for name, entries in sorted(self._clashes[kind].items()):
            by = " and by ".join(e.plugin.source for e in entries)
            lines.append(f"{k.singular} name {name!r} is registered twice: by {by}")
        last = [e.plugin for entries in self._clashes[kind].values() for e in entries[1:]]
        block = ", ".join(sorted({p.name for p in last}))
        return ("; ".join(lines) + ". Names must be unique: block one plugin (`minidl -p no:NAME ...` or "
                f"{BLOCK_ENV}=NAME, e.g. {block}), uninstall it, or have it declare the replacement with "
                f"framework.override(component). `minidl plugins` lists every clash.")

    def names(self, kind: str) -> list[str]:
        return sorted(self._kind(kind))

    def entries(self, kind: str | None = None) -> list[Entry]:
        kinds = [kind] if kind else self.kinds
        return [e for k in kinds for _, e in sorted(self._kind(k).items())]

    def plugins(self) -> list[PluginRecord]:
        self.load()
        return list(self._records)

    def failures(self) -> list[PluginRecord]:
        return [r for r in self.plugins() if r.error]

    def __contains__(self, key: tuple[str, str]) -> bool:
        kind, name = key
        return name in self._kind(kind)

    def entry(self, kind: str, name: str, where: str | None = None) -> Entry:
        table = self._kind(kind)
        if name in table:
            return table[name]
        raise RegistryError(self.unknown_name_message(kind, name, where))

    def get(self, kind: str, name: str, where: str | None = None) -> Any:
        """The component registered as ``name``; a clear error lists the alternatives."""
        return self.entry(kind, name, where).component

    def unknown_name_message(self, kind: str, name: Any, where: str | None = None) -> str:
        table = self._kind(kind)
        prefix = f"{where}: " if where else ""
        message = f"{prefix}can't find {name!r} in registry {kind}."
        if isinstance(name, str):
            close = difflib.get_close_matches(name.lower(), list(table), n=1, cutoff=0.5)
            if close:
                message += f" Did you mean {close[0]!r}?"
        message += f" Available names: {', '.join(sorted(table)) or '(none)'}."
        failed = self.failures()
        if failed:
            message += " Plugins that failed to load, and may have provided it: " + "; ".join(
                f"{r.source}: {r.error}" for r in failed)
        return message

    # -- provenance --------------------------------------------------------------
    def provenance(self, used: Iterable[tuple[str, str]] = (), objects: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Which plugins provided the components a run used, with distribution and version.

        ``used`` names components as (kind, name); ``objects`` are component
        instances or functions (a model's layers, a loss, a metric), found by
        their class or identity. One dict per plugin, sorted::

            {"plugin": "minidl:layers", "distribution": "minidl", "version": "0.1.0",
             "components": ["layers:linear"]}

        (``distribution`` and ``version`` are None for an in-process plugin.)
        Components nobody registered (a plain Python callable) are left out.
        """
        self.load()
        found: dict[str, tuple[PluginRecord, set[str]]] = {}

        def add(entry: Entry) -> None:
            found.setdefault(entry.plugin.name, (entry.plugin, set()))[1].add(f"{entry.kind}:{entry.name}")

        for kind, name in used:
            entry = self._entries.get(kind, {}).get(name)
            if entry is not None:
                add(entry)
        by_identity = {id(e.component): e for table in self._entries.values() for e in table.values()}
        for obj in objects:
            entry = by_identity.get(id(obj)) or by_identity.get(id(type(obj)))
            if entry is not None:
                add(entry)
        return [{"plugin": record.name, "distribution": record.distribution, "version": record.version,
                 "components": sorted(names)} for _, (record, names) in sorted(found.items())]

    # -- validation and construction -----------------------------------------
    def config_model(self, kind: str, name: str) -> type[pydantic.BaseModel]:
        """The pydantic model of the arguments ``name`` accepts in a config."""
        key = (kind, name)
        if key not in self._models:
            k = kind_record(kind)
            self._models[key] = model_from_signature(self.get(kind, name), skip=k.injected,
                                                     optional=k.inferred, title=f"{kind}.{name}")
        return self._models[key]

    def check_args(self, kind: str, name: str, args: dict[str, Any]) -> list[tuple[str, str]]:
        """Problems with ``args`` for component ``name``, as (field path, message)."""
        model = self.config_model(kind, name)
        try:
            model.model_validate(args)
        except pydantic.ValidationError as exc:
            return pydantic_problems(exc, known_fields=list(model.model_fields))
        return []

    def build(self, kind: str, name: str, args: dict[str, Any] | None = None, *,
              path: str = "", **injected: Any) -> Any:
        """Validate ``args`` and call the component with them (and ``injected``)."""
        args = dict(args or {})
        component = self.get(kind, name, where=path or None)
        problems = self.check_args(kind, name, args)
        if problems:
            raise ConfigError([(join_path(path, p), m) for p, m in problems])
        validated = self.config_model(kind, name).model_validate(args)
        kwargs = {k: getattr(validated, k) for k in validated.model_fields_set}
        try:
            built = component(**injected, **kwargs)
        except ConfigError as exc:
            if not path:
                raise
            # a component that builds components itself (a callback's schedule): paths inside it
            raise ConfigError([(join_path(path, p), m) for p, m in exc.problems], exc.source) from None
        except MemoryLimitError as exc:
            raise MemoryLimitError(f"{path}: {exc}" if path else str(exc)) from None
        except (InvalidValueError, InvalidTypeError) as exc:  # a bad value, said without its config path
            raise ConfigError([(path or name, str(exc))]) from exc
        except MinidlError:
            raise  # already says what and where (a missing data file, ...)
        except (ValueError, TypeError) as exc:
            raise ConfigError([(path or name, str(exc))]) from exc
        if kind == "layers":
            built._registered_name = name  # what a saved model calls it (a class may have two names)
        return built


def join_path(base: str, suffix: str) -> str:
    if not base:
        return suffix
    if not suffix:
        return base
    return f"{base}{suffix}" if suffix.startswith("[") else f"{base}.{suffix}"


def format_loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def pydantic_problems(exc: pydantic.ValidationError, known_fields: list[str] | None = None,
                      nested_fields: Callable[[tuple], list[str]] | None = None) -> list[tuple[str, str]]:
    """One (path, message) per pydantic error, with "did you mean" for unknown keys."""
    problems = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and ("function-" in p or p.startswith("lax-"))))
        path = format_loc(loc)
        kind = err["type"]
        if kind == "extra_forbidden":
            fields = nested_fields(loc[:-1]) if nested_fields else (known_fields or [])
            message = "unknown field"
            close = difflib.get_close_matches(str(loc[-1]), fields, n=1, cutoff=0.6)
            if close:
                message += f", did you mean {close[0]}?"
            elif fields:
                message += f"; valid fields: {', '.join(fields)}"
        elif kind == "missing":
            message = "required field is missing"
        else:
            message = err["msg"]
            if "input" in err and kind not in ("missing",):
                message += f". Received: {err['input']!r}"
        problems.append((path, message))
    return problems


def model_from_signature(component: Callable, *, skip=frozenset(), optional=frozenset(),
                         title: str = "") -> type[pydantic.BaseModel]:
    """A pydantic model of the keyword arguments ``component`` takes.

    Type hints become field types (``Annotated`` constraints included),
    defaults become defaults, and unknown keys are forbidden. A class may
    instead declare ``config_model``, a pydantic model of its own.
    """
    declared = getattr(component, "config_model", None)
    if isinstance(declared, type) and issubclass(declared, pydantic.BaseModel):
        return declared
    func = component.__init__ if isinstance(component, type) else component
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception:  # unresolvable annotations: validate presence only
        hints = {}
    fields: dict[str, Any] = {}
    params = list(inspect.signature(func).parameters.values())
    if isinstance(component, type):
        params = params[1:]  # self
    for param in params:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD) or param.name in skip:
            continue
        annotation = hints.get(param.name, Any)
        if annotation is bool:  # a switch is true or false: not 1, "yes" or "off"
            annotation = StrictBool
        default = ... if param.default is param.empty else param.default
        if param.name in optional and default is ...:
            annotation, default = Optional[annotation], None
        fields[param.name] = (annotation, default)
    name = (title or getattr(component, "__name__", "component")).replace(".", "_") + "_config"
    return create_model(name, __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=True,
                                                    title=title or None), **fields)


#: The registry of this process, filled from the installed plugins on first use.
registry = Registry()
