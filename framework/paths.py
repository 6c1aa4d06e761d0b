"""Output paths stay inside the run directory.

An experiment's output paths (a callback's ``path`` or ``directory``, and
anything a plugin declares with :data:`framework.types.RunPath`) are
relative to the run directory. Two checks keep them there:

* at validation, :func:`check_run_path` refuses an absolute path, a home
  path (``~``) and one whose ``..`` climbs out (the dotted path of the field
  is in the error);
* when the run directory is known, :func:`inside_run_dir` resolves the path
  (``..`` and symlinks included, e.g. a ``checkpoints`` symlink planted in
  a shared run directory) and refuses it unless it stays inside.
"""

from __future__ import annotations

import os
import posixpath
import typing
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from framework.errors import ConfigError, InvalidValueError, UnsafePathError


class RunPathMarker:
    """Marks a field annotated :data:`framework.types.RunPath` (found by :func:`run_path_fields`)."""

    def __repr__(self) -> str:
        return "RunPathMarker()"


RUN_PATH = RunPathMarker()


def check_run_path(value: str) -> str:
    """Validator of :data:`~framework.types.RunPath`: relative, and not climbing out with ``..``."""
    text = os.fspath(value)
    if not text.strip():
        raise InvalidValueError("must be a non-empty path relative to the run directory")
    if "\0" in text:
        raise InvalidValueError("must not contain a NUL character")
    if PurePosixPath(text).is_absolute() or PureWindowsPath(text).is_absolute() or PureWindowsPath(text).drive:
        raise InvalidValueError("must be relative to the run directory; absolute paths are refused, so that an "
                         "experiment cannot write outside its run")
    if text.startswith("~"):
        raise InvalidValueError("must be relative to the run directory ('~' is not expanded)")
    normal = posixpath.normpath(text.replace("\\", "/"))
    if normal == ".." or normal.startswith("../"):
        raise InvalidValueError("must stay inside the run directory; this path climbs out of it with '..'")
    return text


def inside_run_dir(run_dir: str | os.PathLike, relative: str | os.PathLike, what: str) -> Path:
    """``run_dir / relative``, refused (:class:`UnsafePathError`) unless it resolves inside ``run_dir``.

    ``..`` and symlinks are resolved as far as the path exists; ``what``
    names the field in the error.
    """
    try:
        check_run_path(os.fspath(relative))
    except ValueError as exc:
        raise UnsafePathError(f"{what}: {exc}. Received: {os.fspath(relative)!r}") from None
    base = Path(run_dir).resolve()
    target = (base / relative).resolve()
    if target != base and base not in target.parents:
        raise UnsafePathError(f"{what}: {os.fspath(relative)!r} resolves to {target}, outside the run directory "
                              f"{base} (a symlink in the run directory?); refused")
    return target


def run_path_fields(config_model) -> list[str]:
    """Names of the fields of a pydantic model annotated with :data:`~framework.types.RunPath`."""
    names = []
    for name, field in config_model.model_fields.items():
        metadata = list(field.metadata)
        for arg in typing.get_args(field.annotation):
            metadata += list(getattr(arg, "__metadata__", ()))
        if any(isinstance(m, RunPathMarker) for m in metadata):
            names.append(name)
    return names


def confine_callback_paths(blocks: list[Any], run_dir: str | os.PathLike, source: str | None = None) -> None:
    """Check every RunPath argument of the experiment's callback blocks against ``run_dir``.

    Raises :class:`ConfigError` with the dotted path (``trainer.callbacks[0].path``).
    """
    from framework.registry import registry

    problems = []
    for i, block in enumerate(blocks):
        model = registry.config_model("callbacks", block.type)
        args = block.args
        for name in run_path_fields(model):
            value = args.get(name, model.model_fields[name].default)
            if not isinstance(value, (str, os.PathLike)):
                continue
            try:
                inside_run_dir(run_dir, value, f"trainer.callbacks[{i}].{name}")
            except UnsafePathError as exc:
                problems.append((f"trainer.callbacks[{i}].{name}", str(exc).split(": ", 1)[1]))
    if problems:
        raise ConfigError(problems, source)
