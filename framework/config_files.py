"""Reading and writing experiment files (TOML and JSON) with precise errors.

Syntax errors name the file, line and column; duplicate keys in JSON (which
Python's json module would silently collapse to the last one) are rejected.
Writes are atomic (temporary file, fsync, rename).
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from pathlib import Path
from typing import Any

from framework.errors import ConfigError, InvalidTypeError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SUFFIXES = (".toml", ".json")

#: How deeply tables, arrays and objects may nest in an experiment file, a
#: ``--set`` value or a checkpoint's metadata (real ones nest 5 deep or so).
MAX_DEPTH = 32

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _bracket_depth(text: str) -> int:
    """Deepest nesting of [ and { outside JSON strings (a scan before parsing, without recursion)."""
    import numpy as np

    stripped = _JSON_STRING.sub("", text).encode("utf-8", "replace")
    codes = np.frombuffer(stripped, dtype=np.uint8)
    steps = (np.isin(codes, (ord("["), ord("{"))).astype(np.int64)
             - np.isin(codes, (ord("]"), ord("}"))).astype(np.int64))
    return int(np.cumsum(steps).max()) if steps.size else 0


def nesting_depth(value: Any) -> int:
    """Depth of nested dicts and lists in ``value`` (scalars: 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, (list, tuple)):
            children = node
        else:
            deepest = max(deepest, depth)
            continue
        deepest = max(deepest, depth + 1)
        if depth + 1 > MAX_DEPTH:  # no need to look further
            return depth + 1
        stack.extend((child, depth + 1) for child in children)
    return deepest


def depth_problem(value: Any, what: str) -> str | None:
    depth = nesting_depth(value)
    if depth > MAX_DEPTH:
        return (f"{what} nests tables, arrays or objects more than {MAX_DEPTH} deep; "
                f"minidl reads at most {MAX_DEPTH} levels")
    return None


def loads_json(text: str, *, source: str = "JSON") -> Any:
    """``json.loads`` for untrusted text: depth checked first, duplicate keys refused.

    Raises :class:`ConfigError` naming ``source`` (and the line and column of a
    syntax error) instead of ``RecursionError`` or a silent last-key-wins.
    """
    if _bracket_depth(text) > MAX_DEPTH:
        raise ConfigError([("", f"the document nests arrays or objects more than {MAX_DEPTH} deep; "
                                f"minidl reads at most {MAX_DEPTH} levels")], source)
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except _DuplicateKey as exc:
        line = _line_of_second(text, exc.key)
        where = f" (line {line})" if line else ""
        raise ConfigError([("", f"duplicate key {exc.key!r}{where}; each key may appear once")], source) from None
    except json.JSONDecodeError as exc:
        raise ConfigError([("", f"JSON syntax error at line {exc.lineno}, column {exc.colno}: {exc.msg}")],
                          source) from None
    except RecursionError:  # pragma: no cover - the depth scan comes first
        raise ConfigError([("", "the document nests too deeply")], source) from None


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


def _line_of_second(text: str, key: str) -> int | None:
    hits = [m.start() for m in re.finditer(re.escape(json.dumps(key)) + r"\s*:", text)]
    return text.count("\n", 0, hits[1]) + 1 if len(hits) > 1 else None


def decode_utf8(data: bytes, source: str) -> str:
    """UTF-8 text of ``data`` (a leading BOM, as Excel and Notepad write, is dropped).

    Undecodable bytes raise :class:`~framework.errors.DataError`-compatible
    :class:`ConfigError` naming the file, line and column (1-based) and the byte.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError([("", undecodable_message(data, exc))], source) from None


def undecodable_message(data: bytes, exc: UnicodeDecodeError, position: str = "column") -> str:
    """"line 3, column 7: byte 0xff is not UTF-8 ..." for a decode error in ``data``.

    ``position`` names what the number counts: "column" (an editor's column, for experiment
    files) or "character" (in a CSV file, where "column" means a field).
    """
    start = exc.start
    line = data.count(b"\n", 0, start) + 1
    line_start = data.rfind(b"\n", 0, start) + 1
    prefix = data[line_start:start]
    if prefix.startswith(b"\xef\xbb\xbf") and line == 1:
        prefix = prefix[3:]
    column = len(prefix.decode("utf-8", "replace")) + 1
    return (f"line {line}, {position} {column}: byte 0x{data[start]:02x} is not UTF-8 text; "
            f"save the file as UTF-8")


def read_config(path: str | os.PathLike) -> dict[str, Any]:
    """Parse a .toml or .json experiment file into a dict.

    A UTF-8 BOM is accepted; undecodable bytes, syntax errors and nesting
    deeper than :data:`MAX_DEPTH` are reported with the file (and line and
    column where there is one), never as a traceback.
    """
    path = Path(path)
    if path.suffix not in SUFFIXES:
        raise ConfigError([("", f"unsupported file type {path.suffix or '(none)'!r}; use .toml or .json")], str(path))
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError([("", "file not found")], str(path)) from None
    except OSError as exc:
        raise ConfigError([("", f"cannot read the file: {exc.strerror or exc}")], str(path)) from None
    text = decode_utf8(raw, str(path))
    if path.suffix == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([("", f"TOML syntax error: {exc}")], str(path)) from None
        except RecursionError:
            raise ConfigError([("", f"tables or arrays nest more than {MAX_DEPTH} deep; minidl reads at most "
                                    f"{MAX_DEPTH} levels")], str(path)) from None
    else:
        data = loads_json(text, source=str(path))
    if not isinstance(data, dict):
        raise ConfigError([("", f"the top level must be an object. Received: {type(data).__name__}")], str(path))
    problem = depth_problem(data, "the file")
    if problem:
        raise ConfigError([("", problem)], str(path))
    return data


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise InvalidTypeError(f"cannot write {type(value).__name__} to TOML")


def null_paths(value: Any, path: str = "") -> list[str]:
    """The dotted paths of every ``None`` (JSON's null) in ``value``: what TOML, which has no null, cannot hold."""
    if value is None:
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in null_paths(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, (list, tuple)):
        return [p for i, v in enumerate(value) for p in null_paths(v, f"{path}[{i}]")]
    return []


def toml_problems(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Each null in ``data`` as a (path, message) problem: TOML cannot write it, and leaving it out
    would change its meaning (``momentum = null`` is not the default momentum)."""
    return [(path, "is None (null in JSON), which TOML cannot hold: TOML has no null, and leaving the key "
                   "out would mean its default instead; save the experiment as .json") for path in null_paths(data)]


def to_toml(data: dict[str, Any], prefix: str = "") -> str:
    """Serialise nested dicts/lists to TOML.

    A ``None`` anywhere is refused (:class:`ConfigError` naming its path):
    TOML has no null, and leaving the key out could change what it means.
    """
    if not prefix:
        problems = toml_problems(data)
        if problems:
            raise ConfigError(problems)
    lines, tables, arrays = [], [], []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            arrays.append((key, value))
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    out = "\n".join(lines)
    for key, value in tables:
        name = f"{prefix}{_toml_key(key)}"
        body = to_toml(value, prefix=name + ".")
        out += f"\n\n[{name}]\n{body}".rstrip()
    for key, items in arrays:
        name = f"{prefix}{_toml_key(key)}"
        for item in items:
            out += f"\n\n[[{name}]]\n" + to_toml(item, prefix=name + ".").rstrip()
    return out.strip() + "\n"


def atomic_write_text(path: str | os.PathLike, text: str, *, what: str = "file") -> Path:
    """Write ``text`` to ``path`` so that readers see the old or the new file, never half
    (see :func:`framework.fileio.atomic_write`)."""
    from framework.fileio import atomic_write

    data = text.encode("utf-8")
    return atomic_write(path, lambda fh: fh.write(data), what=what)


def write_config(path: str | os.PathLike, data: dict[str, Any]) -> Path:
    path = Path(path)
    if path.suffix == ".toml":
        problems = toml_problems(data)
        if problems:
            raise ConfigError([(where, f"{message} (e.g. {path.with_suffix('.json').name})")
                               for where, message in problems], str(path))
        return atomic_write_text(path, to_toml(data))
    if path.suffix == ".json":
        return atomic_write_text(path, json.dumps(data, indent=2) + "\n")
    raise ConfigError([("", f"unsupported file type {path.suffix or '(none)'!r}; use .toml or .json")], str(path))


def parse_key(key: str, where: str = "--set") -> list[str | int]:
    """``"model.layers[0].out_features"`` -> ["model", "layers", 0, "out_features"]."""
    path: list[str | int] = []
    parts = key.strip().split(".")
    if len(parts) > MAX_DEPTH:
        raise ConfigError([(where, f"the key {key[:60]!r}... has more than {MAX_DEPTH} parts")])
    for part in parts:
        match = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)", part)
        if not match:
            raise ConfigError([(where, f"cannot read the key {key[:80]!r}; use dotted names with [i] for list "
                                       f"items, e.g. model.layers[0].out_features=64")])
        path.append(match.group(1))
        path += [int(i) for i in re.findall(r"\[(\d+)\]", match.group(2))]
    return path


def parse_override(assignment: str) -> tuple[list[str | int], Any]:
    """``"trainer.epochs=5"`` -> (["trainer", "epochs"], 5); values are read as TOML."""
    if "=" not in assignment:
        raise ConfigError([("--set", f"expected KEY=VALUE such as trainer.epochs=5. Received: {assignment[:80]!r}")])
    key, raw = assignment.split("=", 1)
    path = parse_key(key)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word: take it as a string
    except RecursionError:
        raise ConfigError([("--set", f"the value of {key.strip()} nests more than {MAX_DEPTH} deep")]) from None
    problem = depth_problem(value, f"the value of {key.strip()}")
    if problem:
        raise ConfigError([("--set", problem)])
    return path, value


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _dotted(path: list[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the top level"


def set_path(data: dict[str, Any], path: list[str | int], value: Any, what: str, where: str = "--set") -> None:
    """Set ``data[path] = value``, creating missing tables; ``what`` names the assignment in errors.

    A path through a number or a string (``trainer.epochs.x``) is a
    :class:`ConfigError` naming what is there, never a ``TypeError``.
    """
    node: Any = data
    for i, part in enumerate(path[:-1]):
        nxt = path[i + 1]
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                raise ConfigError([(where, f"{what}: there is no item [{part}] here")])
            node = node[part]
        else:
            if not isinstance(node, dict):
                raise ConfigError([(where, f"{what}: {_dotted(path[:i])} is {_describe(node)}, not a table; "
                                           f"it has no field {part!r}")])
            if part not in node or node[part] is None:
                node[part] = [] if isinstance(nxt, int) else {}
            node = node[part]
    last = path[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last >= len(node):
            raise ConfigError([(where, f"{what}: there is no item [{last}] here")])
    elif not isinstance(node, dict):
        raise ConfigError([(where, f"{what}: {_dotted(path[:-1])} is {_describe(node)}, not a table; "
                                   f"it has no field {last!r}")])
    node[last] = value


def apply_override(data: dict[str, Any], assignment: str) -> None:
    path, value = parse_override(assignment)
    set_path(data, path, value, repr(assignment[:80]))
