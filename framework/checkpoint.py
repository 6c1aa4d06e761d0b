"""Checkpoints: one ``.npz`` file with everything needed to resume exactly.

Contents (format version 2; see docs/checkpoints.md):

* ``meta``: UTF-8 JSON bytes (a ``uint8`` array) validated by ONE pydantic
  model, :class:`CheckpointMeta`: format name and version, minidl version,
  every array of the file with its shape and dtype, parameter names, the
  optimizer (class, hyperparameters, steps, state keys), the trainer's
  position (epoch, batch, running sums, RNG states, callback states) and
  the experiment spec;
* ``param/<name>``: every parameter's data, by its dotted name ("0.W");
* ``state/<name>``: the rest of the model's ``state_dict()``: buffers
  ("3.running_mean") and the generator state of every stochastic layer
  ("2.rng"), so that a model with a random layer resumes bit for bit;
* ``optim/<index>/<key>``: the optimizer's per-parameter state arrays;
* ``history/<i>`` and ``arrays/<i>``: the training history, one numeric
  array per key, and any array found in a callback's state (the JSON holds
  ``{"__array__": "arrays/3"}`` in its place). Nothing is stored as text
  that is a number.

Reading goes through :mod:`framework.npz`: the metadata is validated first
(one :class:`CheckpointError` naming the file and the field), then exactly
the arrays it lists are read, each checked against its declared shape and
dtype, their total priced against available memory before any is read.

Writing is atomic: the file is written to a temporary name in the same
directory (``.checkpoint-....npz.XXXXXXXX.tmp``), flushed and fsynced, then
renamed over the target, so a crash mid-write leaves the previous checkpoint
intact; a temporary file left by a killed process is removed by
:func:`remove_stale_temps` when the run starts again. A model whose parameters
or floating-point buffers (a batch norm's running statistics) hold NaN or inf
is never saved.

Extending the format (other areas add fields here): add an optional field
with a default to :class:`CheckpointMeta` (or :class:`TrainerMeta` for
what ``Trainer.state_dict()`` returns), give ``save_checkpoint`` the value,
and store arrays as numpy arrays anywhere in the trainer or callback state
(or in ``extra_arrays=``): they become members listed in ``arrays``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from framework.config_files import depth_problem, loads_json
from framework.errors import CheckpointError, ConfigError, InvalidTypeError, InvalidValueError
from framework.fileio import atomic_write, temp_name_pattern
from framework.npz import NpzReader

FORMAT = "minidl-checkpoint"
FORMAT_VERSION = 2
#: The metadata member is refused beyond this size (real ones are a few KB).
MAX_META_BYTES = 16 * 2**20
ARRAY_REF = "__array__"

_Count = Annotated[int, Field(ge=0, le=2**62, strict=True)]
_NUMERIC_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                   "float16", "float32", "float64")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ArraySpec(_Strict):
    """Shape and dtype of one array member, checked against the member's own header."""

    shape: list[_Count] = Field(max_length=32)
    dtype: str

    @field_validator("dtype")
    @classmethod
    def _known_dtype(cls, value: str) -> str:
        if value not in _NUMERIC_DTYPES and not re.fullmatch(r"<U[0-9]{1,6}", value):
            raise InvalidValueError(f"unsupported dtype {value!r}; expected one of {', '.join(_NUMERIC_DTYPES)}")
        return value


class OptimizerMeta(_Strict):
    class_: str = Field(alias="class")
    hyperparameters: dict[str, bool | int | float | str | None]
    steps: _Count
    state_keys: list[list[str]]


class RngState(BaseModel):
    """A ``numpy.random.Generator``'s bit-generator state (as ``bit_generator.state`` gives it)."""

    model_config = ConfigDict(extra="allow")
    bit_generator: Literal["PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64"]
    state: dict[str, Any]


class HistoryMeta(_Strict):
    """Names of the history's arrays: ``epochs`` and one per log key."""

    epochs: str
    logs: dict[str, str]


class CallbackState(_Strict):
    class_: str = Field(alias="class")
    state: dict[str, Any]


class TrainerMeta(_Strict):
    """``Trainer.state_dict()``, with the history as array names."""

    epoch: _Count
    batch: _Count
    epochs: _Count
    batch_size: _Count
    shuffle: bool
    rng_state: RngState
    epoch_rng_state: RngState | None
    loss_sum: float
    seen: _Count
    history: HistoryMeta
    callbacks: list[CallbackState] = Field(default_factory=list)
    stop_training: bool = Field(False, description="a callback had asked to stop: the run is over")


class PluginUse(_Strict):
    """One plugin a run used: where it came from and which of its components (``kind:name``)."""

    plugin: str
    distribution: str | None
    version: str | None
    components: list[str]


class CheckpointMeta(_Strict):
    """The metadata of a checkpoint: everything but the array data, validated as a whole."""

    format: Literal["minidl-checkpoint"]
    format_version: int
    minidl_version: str
    arrays: dict[str, ArraySpec]
    params: list[str]
    state: list[str] = Field(default_factory=list, description="layer state beyond parameters, by dotted name")
    optimizer: OptimizerMeta | None = None
    trainer: TrainerMeta | None = None
    spec: dict[str, Any] | None = None
    plugins: list[PluginUse] | None = Field(None, description="the plugins whose components the run used, "
                                                              "with distribution and version (provenance)")

    @model_validator(mode="after")
    def _references_exist(self):
        wanted = [f"param/{n}" for n in self.params] + [f"state/{n}" for n in self.state]
        if self.optimizer is not None:
            wanted += [f"optim/{i}/{k}" for i, keys in enumerate(self.optimizer.state_keys) for k in keys]
        if self.trainer is not None:
            wanted += [self.trainer.history.epochs, *self.trainer.history.logs.values()]
            wanted += _refs_in([cb.state for cb in self.trainer.callbacks])
        missing = [n for n in wanted if n not in self.arrays]
        if missing:
            raise InvalidValueError(f"refers to array(s) not listed in `arrays`: {', '.join(missing[:10])}")
        return self


def _refs_in(value: Any) -> list[str]:
    found, stack = [], [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if set(node) == {ARRAY_REF} and isinstance(node[ARRAY_REF], str):
                found.append(node[ARRAY_REF])
            else:
                stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _swap_arrays(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    """Replace every numpy array in ``value`` by a reference, storing it in ``arrays``."""
    if isinstance(value, np.ndarray):
        name = f"arrays/{sum(k.startswith('arrays/') for k in arrays)}"
        arrays[name] = value
        return {ARRAY_REF: name}
    if isinstance(value, dict):
        return {k: _swap_arrays(v, arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_swap_arrays(v, arrays) for v in value]
    return value


def _restore_arrays(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, dict):
        if set(value) == {ARRAY_REF}:
            return arrays[value[ARRAY_REF]]
        return {k: _restore_arrays(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_restore_arrays(v, arrays) for v in value]
    return value


@dataclass
class Checkpoint:
    """A loaded checkpoint: parameter arrays, layer state, optimizer state, trainer state, spec.

    ``arrays`` holds every array of the file by member name; ``meta`` the
    validated :class:`CheckpointMeta`.
    """

    path: Path
    params: dict[str, np.ndarray]
    optimizer: dict[str, Any] | None
    trainer: dict[str, Any] = field(default_factory=dict)
    spec: dict[str, Any] | None = None
    meta: CheckpointMeta | None = None
    #: The model's state beyond parameters (buffers, generator states), by dotted name.
    state: dict[str, np.ndarray] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def apply(self, model, optimizer=None) -> None:
        """Copy the parameters and layer state into ``model`` (and state into ``optimizer``).

        Fails, changing nothing, when the architecture differs, listing
        every mismatch (missing, unexpected, shape or dtype).
        """
        problems, apply_state, _ = model._plan_state_load({**self.params, **self.state}, strict=True,
                                                          source="file")
        if problems:
            raise CheckpointError(f"{self.path} does not fit this model ({len(problems)} mismatch"
                                  f"{'es' if len(problems) > 1 else ''}):\n  " + "\n  ".join(problems))
        if optimizer is not None:
            if self.optimizer is None:
                raise CheckpointError(f"{self.path} holds no optimizer state")
            if self.optimizer["class"] != type(optimizer).__name__:
                raise CheckpointError(f"{self.path} holds {self.optimizer['class']} state; the optimizer "
                                      f"is {type(optimizer).__name__}")
            try:
                optimizer.load_state_dict(self.optimizer)
            except (ValueError, KeyError, TypeError) as exc:
                raise CheckpointError(f"{self.path}: optimizer state does not fit: {exc}") from exc
        apply_state()


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise InvalidTypeError(f"cannot store {type(value).__name__} in a checkpoint")


def run_provenance(spec: dict | None = None, objects: Any = ()) -> list[dict[str, Any]]:
    """The plugins (distribution, version, components) behind ``spec``'s components and ``objects``.

    ``objects`` may hold models: their layers, nested ones included, count.
    """
    from framework.experiment import used_components
    from framework.registry import registry

    found: list[Any] = []
    stack = list(objects)
    while stack:
        obj = stack.pop()
        found.append(obj)
        children = getattr(obj, "named_children", None)
        if callable(children):
            stack.extend(child for _, child in children())
    return registry.provenance(used_components(spec) if spec else [], found)


def save_checkpoint(path: str | os.PathLike, model, optimizer=None, *, trainer: dict | None = None,
                    spec: dict | None = None, plugins: list[dict] | None = None) -> Path:
    """Write a checkpoint atomically; return its path.

    ``trainer`` is ``Trainer.state_dict()`` (or None); numpy arrays anywhere
    in it are stored as array members, the history as numeric arrays.
    ``plugins`` (provenance) defaults to the plugins behind the spec's
    components, the model's layers and the optimizer (:func:`run_provenance`).
    """
    path = Path(path)
    params = dict(model.named_parameters())
    for name, p in params.items():
        if not np.all(np.isfinite(p.data)):
            raise CheckpointError(f"refusing to save {path}: parameter {name} holds NaN or inf values")
    state = {n: a for n, a in model.state_dict().items() if n not in params}
    for name, a in state.items():  # a diverged batch norm's running statistics, say
        if isinstance(a, np.ndarray) and a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            raise CheckpointError(f"refusing to save {path}: {name} holds NaN or inf values")
    arrays: dict[str, np.ndarray] = {f"param/{n}": p.data for n, p in params.items()}
    arrays.update((f"state/{n}", np.asarray(a)) for n, a in state.items())
    meta: dict[str, Any] = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "minidl_version": _version(),
        "params": list(params), "state": list(state), "spec": spec,
        "plugins": run_provenance(spec, [model, optimizer]) if plugins is None else plugins,
    }
    if optimizer is not None:
        ostate = optimizer.state_dict()
        meta["optimizer"] = {"class": type(optimizer).__name__, "hyperparameters": ostate["hyperparameters"],
                             "steps": ostate["steps"], "state_keys": [sorted(s) for s in ostate["state"]]}
        for i, s in enumerate(ostate["state"]):
            for key, arr in s.items():
                arrays[f"optim/{i}/{key}"] = np.asarray(arr)
    if trainer is not None:
        trainer = dict(trainer)
        history = trainer.get("history") or {"epochs": [], "logs": {}}
        arrays["history/epochs"] = np.asarray(history["epochs"], dtype=np.int64)
        logs = {}
        for i, (key, values) in enumerate(history["logs"].items()):
            arrays[f"history/{i}"] = np.asarray(values, dtype=np.float64)
            logs[key] = f"history/{i}"
        trainer["history"] = {"epochs": "history/epochs", "logs": logs}
        meta["trainer"] = _swap_arrays(trainer, arrays)
    meta["arrays"] = {name: {"shape": list(a.shape), "dtype": a.dtype.name if a.dtype.kind != "U" else a.dtype.str}
                      for name, a in arrays.items()}
    try:
        CheckpointMeta.model_validate(meta)
    except ValidationError as exc:  # a bug in whoever assembled the state: say which field
        raise CheckpointError(f"refusing to save {path}: the checkpoint metadata is invalid: "
                              f"{_problems(exc)}") from None
    text = json.dumps(meta, default=_json_default, separators=(",", ":"), allow_nan=True)
    arrays["meta"] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    atomic_write(path, lambda fh: np.savez(fh, **arrays), what="checkpoint file")
    return path


def _problems(exc: ValidationError, limit: int = 5) -> str:
    from framework.registry import format_loc

    parts = []
    for err in exc.errors()[:limit]:
        where = format_loc(tuple(err["loc"])) or "(top level)"
        parts.append(f"field {where}: {err['msg']}")
    more = len(exc.errors()) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def read_checkpoint_meta(npz: NpzReader) -> CheckpointMeta:
    """The validated metadata of an open checkpoint (raises :class:`CheckpointError`)."""
    path = npz.what
    if "meta" not in npz:
        raise CheckpointError(f"{path} is an .npz file but not a minidl checkpoint (no 'meta' entry)")
    info = npz.info("meta")
    if info.dtype.kind == "U" and info.nbytes <= MAX_META_BYTES:
        raw = str(npz.read(["meta"])["meta"])  # format 1 stored the JSON as text
    elif info.dtype != np.uint8 or len(info.shape) != 1:
        raise CheckpointError(f"{path}: the 'meta' entry is {info.dtype} {info.shape}, not JSON bytes "
                              f"(uint8); not a minidl checkpoint")
    elif info.nbytes > MAX_META_BYTES:
        raise CheckpointError(f"{path}: the metadata is {info.nbytes:,} bytes; checkpoints hold at most "
                              f"{MAX_META_BYTES:,}")
    else:
        try:
            raw = npz.read(["meta"])["meta"].tobytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CheckpointError(f"{path}: the metadata is not UTF-8 text (byte {exc.start})") from None
    try:
        meta = loads_json(raw, source=str(path))
    except ConfigError as exc:
        raise CheckpointError(f"{path}: checkpoint metadata is corrupted: {exc.problems[0][1]}") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: checkpoint metadata must be a JSON object. Received: {type(meta).__name__}")
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a minidl checkpoint (format {str(meta.get('format'))[:40]!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format version {str(meta.get('format_version'))[:20]}; "
                              f"this minidl reads version {FORMAT_VERSION}")
    problem = depth_problem(meta, "the metadata")
    if problem:
        raise CheckpointError(f"{path}: {problem}")
    try:
        return CheckpointMeta.model_validate(meta)
    except ValidationError as exc:
        raise CheckpointError(f"{path}: malformed checkpoint metadata: {_problems(exc)}") from None


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint; a missing, truncated, foreign or malformed file raises :class:`CheckpointError`.

    Only the arrays the metadata lists are read, each checked against its
    declared shape and dtype, their total priced against memory first.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    with NpzReader(path, error=CheckpointError, what=str(path)) as npz:
        meta = read_checkpoint_meta(npz)
        missing = [n for n in meta.arrays if n not in npz]
        if missing:
            raise CheckpointError(f"{path} is incomplete: no array {', '.join(missing[:10])}")
        for name, want in meta.arrays.items():
            info = npz.info(name)
            if list(info.shape) != want.shape or (info.dtype.name if info.dtype.kind != "U" else
                                                  info.dtype.newbyteorder("<").str) != want.dtype:
                raise CheckpointError(f"{path}: array {name!r} is {info.dtype.name} {info.shape}, but the "
                                      f"metadata declares {want.dtype} {tuple(want.shape)}")
        arrays = npz.read(list(meta.arrays))
    params = {name: arrays[f"param/{name}"] for name in meta.params}
    state = {name: arrays[f"state/{name}"] for name in meta.state}
    optimizer = None
    if meta.optimizer is not None:
        o = meta.optimizer
        states = [{k: arrays[f"optim/{i}/{k}"] for k in keys} for i, keys in enumerate(o.state_keys)]
        optimizer = {"class": o.class_, "hyperparameters": o.hyperparameters, "steps": o.steps, "state": states}
    trainer: dict[str, Any] = {}
    if meta.trainer is not None:
        trainer = meta.trainer.model_dump(by_alias=True)
        history = meta.trainer.history
        trainer["history"] = {"epochs": arrays[history.epochs].tolist(),
                              "logs": {k: arrays[v].tolist() for k, v in history.logs.items()}}
        trainer["callbacks"] = _restore_arrays(trainer["callbacks"], arrays)
    return Checkpoint(path=path, params=params, optimizer=optimizer, trainer=trainer,
                      spec=meta.spec, meta=meta, state=state, arrays=arrays)


#: The names :class:`ModelCheckpoint`-style rotation may delete: its own pattern, nothing else.
CHECKPOINT_NAME = re.compile(r"checkpoint-e(\d{5,})-b(\d{6,})\.npz")
_TEMP_NAME = temp_name_pattern(r"checkpoint-e\d{5,}-b\d{6,}\.npz")


def checkpoint_position(path: str | os.PathLike) -> tuple[int, int] | None:
    """(completed epochs, batches of the next epoch) from a checkpoint's file name, else None."""
    match = CHECKPOINT_NAME.fullmatch(Path(path).name)
    return (int(match.group(1)), int(match.group(2))) if match else None


def find_checkpoints(root: str | os.PathLike, *, recursive: bool = True) -> list[Path]:
    """Every checkpoint file under ``root`` (in any folder of it when ``recursive``), oldest first.

    Only names of the form ``checkpoint-eEEEEE-bBBBBBB.npz`` count; hidden
    folders and symbolic links are not followed.
    """
    root = Path(root)
    found: list[Path] = []
    if not root.is_dir():
        return found
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
        found += [Path(folder) / f for f in files
                  if CHECKPOINT_NAME.fullmatch(f) and not os.path.islink(os.path.join(folder, f))]
    return sorted(found, key=lambda p: (checkpoint_position(p), str(p)))


def remove_stale_temps(directory: str | os.PathLike) -> list[Path]:
    """Delete the temporary files a killed :func:`save_checkpoint` left in ``directory``.

    Only this module's own temporary names (``.checkpoint-eEEEEE-bBBBBBB.npz.XXXXXXXX.tmp``),
    only in ``directory`` itself, only regular files; returns what was removed.
    Call it only when no other process saves into ``directory`` (a run holds
    its directory's lock).
    """
    directory = Path(directory)
    removed: list[Path] = []
    if not directory.is_dir():
        return removed
    for entry in os.scandir(directory):
        if _TEMP_NAME.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
            try:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            except FileNotFoundError:
                pass
    return removed


def checkpoint_name(epoch: int, batch: int) -> str:
    """File name for a checkpoint taken after ``epoch`` full epochs and ``batch`` more batches."""
    return f"checkpoint-e{epoch:05d}-b{batch:06d}.npz"


def checkpoint_files(directory: str | os.PathLike) -> list[str]:
    """Names (relative to ``directory``) of the regular files matching :data:`CHECKPOINT_NAME`,
    oldest position first. Symlinks, folders and every other name are left out."""
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = []
    for entry in entries:
        match = CHECKPOINT_NAME.fullmatch(entry.name)
        if match and entry.is_file(follow_symlinks=False):
            found.append((int(match.group(1)), int(match.group(2)), entry.name))
    return [name for _, _, name in sorted(found)]


def latest_checkpoint(directory: str | os.PathLike) -> Path | None:
    """The newest ``checkpoint-eEEEEE-bBBBBBB.npz`` in ``directory`` (by position, not by text)."""
    found = checkpoint_files(directory)
    return Path(directory) / found[-1] if found else None


def rotate_checkpoints(directory: str | os.PathLike, keep_last: int) -> list[str]:
    """Delete all but the newest ``keep_last`` checkpoints in ``directory``; return the names deleted.

    Deletes only regular files named by :data:`CHECKPOINT_NAME`, listed in
    ``directory`` itself (names relative to it, no path from anywhere else):
    whatever a checkpoint's metadata claims, nothing else can be deleted.
    """
    names = checkpoint_files(directory)
    doomed = names[:-keep_last] if keep_last > 0 else names
    for name in doomed:
        try:
            os.unlink(os.path.join(directory, name))
        except FileNotFoundError:
            pass
    return doomed


def _version() -> str:
    from framework import __version__

    return __version__
