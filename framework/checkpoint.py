"""Checkpoints: one ``.npz`` file with everything needed to resume exactly.

Contents (format version 1; see docs/checkpoints.md):

* ``param/<name>``: every parameter's data, by its dotted name ("0.W");
* ``state/<name>``: the rest of the model's ``state_dict()``: buffers
  ("3.running_mean") and the generator state of every stochastic layer
  ("2.rng"), so that a model with a random layer resumes bit for bit;
* ``optim/<index>/<key>``: the optimizer's per-parameter state arrays;
* ``meta``: a JSON document (stored as a unicode array, so the file loads
  with ``allow_pickle=False``): format name and version, minidl version,
  parameter names, shapes and dtypes, optimizer class, hyperparameters and
  step count, trainer position (epoch, batch, running sums, history,
  callback states, the RNG state at the start of the epoch) and the
  experiment spec.

Writing is atomic: the file is written to a temporary name in the same
directory, flushed and fsynced, then renamed over the target, so a crash
mid-write leaves the previous checkpoint intact. A model whose parameters
hold NaN or inf is never saved.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from framework.errors import CheckpointError

FORMAT = "minidl-checkpoint"
FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    """A loaded checkpoint: parameter arrays, layer state, optimizer state, trainer state, spec."""

    path: Path
    params: dict[str, np.ndarray]
    optimizer: dict[str, Any] | None
    trainer: dict[str, Any] = field(default_factory=dict)
    spec: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    #: The model's state beyond parameters (buffers, generator states), by dotted name.
    state: dict[str, np.ndarray] = field(default_factory=dict)

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
            except (ValueError, KeyError) as exc:
                raise CheckpointError(f"{self.path}: optimizer state does not fit: {exc}") from exc
        apply_state()


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in a checkpoint")


def save_checkpoint(path: str | os.PathLike, model, optimizer=None, *, trainer: dict | None = None,
                    spec: dict | None = None) -> Path:
    """Write a checkpoint atomically; return its path."""
    path = Path(path)
    params = dict(model.named_parameters())
    for name, p in params.items():
        if not np.all(np.isfinite(p.data)):
            raise CheckpointError(f"refusing to save {path}: parameter {name} holds NaN or inf values")
    state = {n: a for n, a in model.state_dict().items() if n not in params}
    arrays: dict[str, np.ndarray] = {f"param/{n}": p.data for n, p in params.items()}
    arrays.update((f"state/{n}", a) for n, a in state.items())
    meta: dict[str, Any] = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "minidl_version": _version(),
        "params": {n: {"shape": list(p.shape), "dtype": str(p.dtype)} for n, p in params.items()},
        "state": {n: {"shape": list(a.shape), "dtype": str(a.dtype)} for n, a in state.items()},
        "trainer": trainer or {}, "spec": spec,
    }
    if optimizer is not None:
        state = optimizer.state_dict()
        meta["optimizer"] = {"class": type(optimizer).__name__, "hyperparameters": state["hyperparameters"],
                             "steps": state["steps"], "state_keys": [sorted(s) for s in state["state"]]}
        for i, s in enumerate(state["state"]):
            for key, arr in s.items():
                arrays[f"optim/{i}/{key}"] = arr
    arrays["meta"] = np.array(json.dumps(meta, default=_json_default))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    return path


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint; a missing, truncated or foreign file raises :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        # Open the file ourselves: np.load leaks the handle when the zip is truncated.
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as archive:
            data = {k: archive[k] for k in archive.files}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated or corrupted?): {exc}") from exc
    if "meta" not in data:
        raise CheckpointError(f"{path} is an .npz file but not a minidl checkpoint (no 'meta' entry)")
    try:
        meta = json.loads(str(data.pop("meta")))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: checkpoint metadata is corrupted: {exc}") from exc
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a minidl checkpoint (format {meta.get('format')!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format version {meta.get('format_version')}; this "
                              f"minidl reads version {FORMAT_VERSION}")
    params = {name: data[f"param/{name}"] for name in meta["params"] if f"param/{name}" in data}
    missing = [n for n in meta["params"] if n not in params]
    if missing:
        raise CheckpointError(f"{path} is incomplete: no array for parameter(s) {', '.join(missing)}")
    state = {name: data[f"state/{name}"] for name in meta.get("state", {}) if f"state/{name}" in data}
    missing = [n for n in meta.get("state", {}) if n not in state]
    if missing:
        raise CheckpointError(f"{path} is incomplete: no array for layer state {', '.join(missing)}")
    optimizer = None
    if "optimizer" in meta:
        o = meta["optimizer"]
        try:
            states = [{k: data[f"optim/{i}/{k}"] for k in keys} for i, keys in enumerate(o["state_keys"])]
        except KeyError as exc:
            raise CheckpointError(f"{path} is incomplete: no optimizer array {exc}") from exc
        optimizer = {"class": o["class"], "hyperparameters": o["hyperparameters"], "steps": o["steps"],
                     "state": states}
    return Checkpoint(path=path, params=params, optimizer=optimizer, trainer=meta.get("trainer", {}),
                      spec=meta.get("spec"), meta=meta, state=state)


def latest_checkpoint(directory: str | os.PathLike) -> Path | None:
    """The newest ``checkpoint-*.npz`` in ``directory`` (names sort by position)."""
    found = sorted(Path(directory).glob("checkpoint-*.npz"))
    return found[-1] if found else None


def checkpoint_name(epoch: int, batch: int) -> str:
    """File name for a checkpoint taken after ``epoch`` full epochs and ``batch`` more batches."""
    return f"checkpoint-e{epoch:05d}-b{batch:06d}.npz"


def _version() -> str:
    from framework import __version__

    return __version__
