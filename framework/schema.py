"""What the registered components accept: the experiment's JSON Schema, and one component described.

:func:`experiment_schema` is ``minidl schema``: the schema of
:class:`~framework.experiment.Experiment` in which every component block
(``model.layers[i]``, ``loss``, ``optimizer``, ``data.source``,
``trainer.callbacks[i]``) is a union discriminated on ``type``: ``type`` must
be one of the registered names of that kind, and for each name the block's
other keys are exactly that component's arguments, with their types,
constraints and defaults (``if type == "linear" then <linear's arguments>``).
Metric names (``trainer.metrics``) are an enum. An editor given the schema
therefore flags a misspelled component, a misspelled argument and an argument
of the wrong type or range as you type.

:func:`describe` is ``minidl describe NAME``: a component's arguments,
defaults, the first line of its docstring and the plugin it came from.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

import pydantic
from pydantic.json_schema import GenerateJsonSchema

from framework.errors import RegistryError
from framework.kinds import KINDS, Kind, kind as kind_record
from framework.registry import Entry, Registry, registry as default_registry


class _Lenient(GenerateJsonSchema):
    """Types JSON cannot express (an ndarray, a Generator) become "anything" instead of an error."""

    def handle_invalid_for_json_schema(self, schema, error_info):
        return {}


def component_schema(reg: Registry, kind: str, name: str) -> dict[str, Any]:
    """The JSON Schema of one component's block: ``type`` fixed to ``name``, its arguments, nothing else."""
    model = reg.config_model(kind, name)
    schema = model.model_json_schema(schema_generator=_Lenient, ref_template="#/$defs/{model}")
    properties = {"type": {"const": name}, **schema.get("properties", {})}
    out = {"type": "object", "properties": properties, "required": ["type", *schema.get("required", [])],
           "additionalProperties": False, "title": f"{kind}.{name}"}
    summary = doc_summary(reg.get(kind, name))
    if summary:
        out["description"] = summary
    if "$defs" in schema:
        out["$defs"] = schema["$defs"]
    return out


def _hoist_defs(schema: dict, prefix: str, defs: dict) -> dict:
    """Move a sub-schema's ``$defs`` to the top level under unique names, rewriting its ``$ref``s."""
    local = schema.pop("$defs", {})
    if not local:
        return schema
    text = json.dumps(schema)
    for name, definition in local.items():
        unique = f"{prefix}.{name}"
        defs[unique] = definition
        text = text.replace(f'"#/$defs/{name}"', f'"#/$defs/{unique}"')
    return json.loads(text)


def kind_schema(reg: Registry, k: Kind, defs: dict) -> dict[str, Any]:
    """A block of kind ``k``: one of its registered names, then exactly that component's arguments."""
    names = reg.names(k.name)
    branches = []
    for name in names:
        sub = _hoist_defs(component_schema(reg, k.name, name), f"{k.name}.{name}", defs)
        defs[f"{k.name}.{name}"] = sub
        branches.append({"if": {"properties": {"type": {"const": name}}, "required": ["type"]},
                         "then": {"$ref": f"#/$defs/{k.name}.{name}"}})
    return {"type": "object", "title": f"a registered {k.singular}",
            "description": f"a registered {k.singular} (`type`) and its arguments",
            "properties": {"type": {"enum": names, "description": f"registered name of the {k.singular}"}},
            "required": ["type"], "allOf": branches}


#: Where, in the experiment's schema, the blocks of each kind sit: (kind, path of properties, is a list).
_BLOCK_PLACES = [("layers", ("ModelSpec", "layers"), True), ("losses", (None, "loss"), False),
                 ("optimizers", (None, "optimizer"), False), ("datasets", ("DataSpec", "source"), False),
                 ("callbacks", ("TrainerSpec", "callbacks"), True)]


def experiment_schema(reg: Registry | None = None) -> dict[str, Any]:
    """The experiment's JSON Schema with every component block checked against its component."""
    from framework.experiment import Experiment

    reg = reg or default_registry
    schema = Experiment.model_json_schema()
    defs = schema.setdefault("$defs", {})
    for k in KINDS:
        if k.config != "block":
            continue
        defs[f"kind.{k.name}"] = kind_schema(reg, k, defs)
    for kind, (model, field), many in _BLOCK_PLACES:
        owner = schema if model is None else defs.get(model)
        if owner is None or field not in owner.get("properties", {}):
            continue
        ref = {"$ref": f"#/$defs/kind.{kind}"}
        prop = owner["properties"][field]
        keep = {key: prop[key] for key in ("description", "default", "minItems") if key in prop}
        owner["properties"][field] = {"type": "array", "items": ref, **keep} if many else {**ref, **keep}
    # An optional section (``data``) is "the section or null": TOML has no null, and a union
    # would bury the section's own errors under "not valid under any schema". Say the section.
    for owner in [schema, *defs.values()]:
        for name, prop in owner.get("properties", {}).items():
            options = prop.get("anyOf", [])
            refs = [o for o in options if "$ref" in o]
            if len(options) == 2 and len(refs) == 1 and {"type": "null"} in options:
                owner["properties"][name] = {**{k: v for k, v in prop.items() if k != "anyOf"}, **refs[0]}
    trainer = defs.get("TrainerSpec", {}).get("properties", {})
    if "metrics" in trainer:
        trainer["metrics"]["items"] = {"enum": reg.names("metrics")}
    return schema


# -- describing one component ------------------------------------------------------
def doc_summary(component: Any) -> str:
    doc = inspect.getdoc(component) or ""
    return doc.strip().split("\n\n")[0].replace("\n", " ")


def find_entries(name: str, reg: Registry | None = None) -> list[Entry]:
    """The entries called ``name`` ("mse"), or ``kind:name`` ("losses:mse" or "loss:mse")."""
    reg = reg or default_registry
    kind_part, _, bare = name.rpartition(":")
    if kind_part:
        matches = [k for k in KINDS if kind_part in (k.name, k.singular)]
        if not matches:
            raise RegistryError(f"unknown component kind {kind_part!r} in {name!r}; kinds: "
                                f"{', '.join(k.name for k in KINDS)}")
        return [reg.entry(matches[0].name, bare)]
    found = [reg.entry(k.name, name) for k in KINDS if (k.name, name) in reg]
    if not found:
        import difflib

        every = {n: f"{k.name}:{n}" for k in KINDS for n in reg.names(k.name)}
        near = [every[n] for n in difflib.get_close_matches(name, list(every), n=3, cutoff=0.6)]
        raise RegistryError(f"no component is registered as {name!r}"
                            + (f"; similar: {', '.join(near)}" if near else "")
                            + ". `minidl plugins` lists them all.")
    return found


def _type_text(schema: dict) -> str:
    if not schema:
        return "any"
    if "anyOf" in schema:
        return " or ".join(_type_text(s) for s in schema["anyOf"])
    if "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"])
    text = {"integer": "int", "number": "float", "string": "str", "boolean": "bool", "null": "None",
            "object": "table", "array": "list"}.get(schema.get("type"), schema.get("type", "any"))
    bounds = [f"{op} {schema[key]:g}" for key, op in (("exclusiveMinimum", ">"), ("minimum", ">="),
                                                      ("exclusiveMaximum", "<"), ("maximum", "<="))
              if key in schema and abs(schema[key]) < 2 ** 62]
    return text + (f" ({', '.join(bounds)})" if bounds else "")


def describe(entry: Entry, reg: Registry | None = None) -> str:
    """A few lines a user reads before writing a block: arguments, defaults, doc, origin."""
    reg = reg or default_registry
    k = kind_record(entry.kind)
    origin = (f"plugin {entry.plugin.name} ({entry.distribution})"
              + (f", overriding {entry.overrides.plugin.name}" if entry.overrides else ""))
    lines = [f"{entry.name} ({k.singular}, {getattr(entry.component, '__qualname__', type(entry.component).__name__)}"
             f" from {origin})"]
    summary = doc_summary(entry.component)
    if summary:
        lines.append(f"  {summary}")
    if k.config == "name":
        lines.append(f"  used by name in {k.where}; signature: "
                     f"{entry.name}{inspect.signature(entry.component)}")
        direction = getattr(entry.component, "higher_is_better", None)
        if isinstance(direction, bool):
            lines.append(f"  higher is better: {'yes' if direction else 'no'}")
        return "\n".join(lines)
    model = reg.config_model(entry.kind, entry.name)
    schema = model.model_json_schema(schema_generator=_Lenient)
    props = schema.get("properties", {})
    lines.append(f"  arguments (in {k.where}):" if model.model_fields else f"  arguments (in {k.where}): none")
    for field_name, info in model.model_fields.items():
        if field_name in k.inferred:
            default = "inferred (from the layer before, or the data)"
        elif info.is_required():
            default = "required"
        else:
            default = f"default {json.dumps(info.default) if _jsonable(info.default) and info.default is not None else repr(info.default)}"
        lines.append(f"    {field_name}: {_type_text(props.get(field_name, {}))}, {default}")
    if k.injected:
        lines.append(f"  supplied by minidl: {', '.join(sorted(k.injected))}")
    return "\n".join(lines)


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
        return True
    except TypeError:
        return False


__all__ = ["experiment_schema", "component_schema", "describe", "find_entries", "doc_summary"]
