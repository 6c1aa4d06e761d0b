"""Saving a trained model for inference: one ``.npz`` file, no pickle.

``model.save(path)`` (or :func:`save_model`) writes, and
:func:`load_model` reads back, a file holding everything needed to use the
model on new, raw data:

* ``meta``: JSON (UTF-8 bytes) validated by :class:`ModelMeta`: the format
  name and version, the minidl version, the dtype, the architecture (each
  layer's registered name and constructor arguments, with the distribution
  and version of the plugin that registered it), the plugins needed, the
  input and output sizes, what the data's columns were called
  (``feature_names``, ``target_names``), the class names of a classifier,
  the loss and metrics of the run (for ``minidl evaluate``), a table of the
  arrays, and ``info`` (the run it came from, its epoch ...);
* ``state/<key>``: the model's ``state_dict()``: parameters, buffers (a
  standardisation's mean and std, batch-norm statistics) and generators.

Loading rebuilds each layer through the registry from its name and
arguments, then loads the state strictly. A file that needs a layer no
installed plugin registers is refused naming the distribution (and version)
that provided it; a file of a newer format version is refused with that
version. Files are read with :mod:`framework.npz`'s checks: only the
members the metadata lists, priced before anything is allocated.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from framework.errors import MinidlError, ModelFileError, RegistryError
from framework.layer import Layer

FORMAT = "minidl-model"
FORMAT_VERSION = 1
#: The metadata of a model file is small; beyond this it is not one.
MAX_META_BYTES = 4 * 2**20
#: Layer classes of the framework itself (not plugins), named by these types in a file.
FRAMEWORK_TYPES = ("framework.Sequential", "framework.Standardize")

STRICT = ConfigDict(extra="forbid")


class LayerNode(BaseModel):
    """One layer of the architecture: a registered layer, or a framework container/preprocessing layer."""

    model_config = STRICT
    type: str = Field(description="the registered name, or framework.Sequential / framework.Standardize")
    args: dict[str, Any] = Field(default_factory=dict, description="constructor arguments (JSON values)")
    layers: list["LayerNode"] | None = Field(None, description="the children of a framework.Sequential")
    distribution: str | None = Field(None, description="the distribution whose plugin registered `type`")
    version: str | None = Field(None, description="that distribution's version when the file was written")


class ArrayInfo(BaseModel):
    model_config = STRICT
    shape: list[int]
    dtype: str


class ModelMeta(BaseModel):
    """What a model file's ``meta`` member holds (format version 1)."""

    model_config = STRICT
    format: Literal["minidl-model"]
    format_version: Literal[1]
    minidl_version: str
    dtype: Literal["float32", "float64"]
    architecture: LayerNode
    plugins: dict[str, str] = Field(default_factory=dict, description="distribution -> version, of every layer")
    in_features: int | None = None
    out_features: int | None = None
    feature_names: list[str] | None = None
    target_names: list[str] | None = None
    classes: list[str] | None = None
    loss: dict[str, Any] | None = Field(None, description="{'type': name, ...args}, for evaluate")
    metrics: list[str] = Field(default_factory=list)
    state: dict[str, ArrayInfo]
    info: dict[str, Any] = Field(default_factory=dict, description="free-form: the run, its epoch ...")


class ModelInfo:
    """What a loaded model knows about its data: ``model.info`` after :func:`load_model`.

    Attributes: ``feature_names``, ``target_names``, ``classes`` (None for
    regression), ``loss`` and ``metrics`` (as in the experiment), ``info``
    (free-form), ``meta`` (the whole :class:`ModelMeta`), ``path``.
    """

    def __init__(self, meta: ModelMeta, path: Path | None = None):
        self.meta, self.path = meta, path
        self.feature_names, self.target_names = meta.feature_names, meta.target_names
        self.classes, self.loss, self.metrics, self.info = meta.classes, meta.loss, meta.metrics, meta.info

    @property
    def is_classifier(self) -> bool:
        return self.classes is not None

    def __repr__(self) -> str:
        what = f"classes={self.classes}" if self.classes else f"targets={self.target_names}"
        return f"ModelInfo(features={self.feature_names}, {what})"


# ----------------------------------------------------------------------------
# The architecture
# ----------------------------------------------------------------------------
def constructor_arguments(layer: Layer) -> dict[str, Any]:
    """The arguments ``layer`` was constructed with, by name (recorded by ``Layer.__new__``)."""
    args, kwargs = getattr(layer, "_init_args", ((), {}))
    try:
        bound = inspect.signature(type(layer)).bind_partial(*args, **kwargs)
    except TypeError:
        return dict(kwargs)
    out = dict(bound.arguments)
    for name, param in inspect.signature(type(layer)).parameters.items():
        if param.kind is param.VAR_KEYWORD and name in out:
            out.update(out.pop(name))
    return out


def _json_value(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            raise ModelFileError(f"{where} is {value}, which a model file cannot hold")
        return float(value)
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return _json_value(value.tolist(), where)
    if isinstance(value, (list, tuple)):
        return [_json_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _json_value(v, f"{where}.{k}") for k, v in value.items()}
    raise ModelFileError(f"{where} is {value!r} ({type(value).__name__}), which a model file cannot hold: only "
                         f"numbers, strings, booleans, lists and tables; use a registered name instead "
                         f"(e.g. init=\"he_normal\") or build the layer from an experiment")


def _registered_name(layer: Layer, where: str):
    from framework.registry import registry

    cls = type(layer)
    recorded = getattr(layer, "_registered_name", None)
    if recorded is not None and ("layers", recorded) in registry and registry.get("layers", recorded) is cls:
        return registry.entry("layers", recorded)
    for entry in registry.entries("layers"):
        if entry.component is cls:
            return entry
    raise ModelFileError(f"{where}: {cls.__module__}.{cls.__name__} is not a registered layer, so a model file "
                         f"cannot name it; register it through a plugin (docs/plugins.md)")


def describe_layer(layer: Layer, where: str = "model") -> LayerNode:
    """The :class:`LayerNode` of ``layer`` (recursively for a Sequential)."""
    from framework.kinds import kind
    from framework.preprocessing import Standardize
    from framework.sequential import Sequential

    if type(layer) is Sequential:
        return LayerNode(type="framework.Sequential",
                         layers=[describe_layer(child, f"{where}[{i}]") for i, child in enumerate(layer)])
    injected = kind("layers").injected
    args = {name: value for name, value in constructor_arguments(layer).items() if name not in injected}
    if type(layer) is Standardize:
        # The statistics are state (buffers), saved with the arrays.
        return LayerNode(type="framework.Standardize", args={"in_features": layer.in_features})
    if list(layer.named_children()):
        raise ModelFileError(f"{where}: {type(layer).__name__} has sub-layers; model files hold Sequential "
                             f"containers of registered layers")
    entry = _registered_name(layer, where)
    args = {name: _json_value(value, f"{where} ({entry.name}) argument {name}") for name, value in args.items()}
    plugin = entry.plugin
    return LayerNode(type=entry.name, args=args, distribution=plugin.distribution, version=plugin.version)


def _nodes(node: LayerNode):
    yield node
    for child in node.layers or ():
        yield from _nodes(child)


def build_layer(node: LayerNode, dtype: str, where: str, source: str) -> Layer:
    """Rebuild a layer (and its children) from its node; a missing plugin is named."""
    from framework.preprocessing import Standardize
    from framework.registry import registry
    from framework.sequential import Sequential

    if node.type == "framework.Sequential":
        return Sequential([build_layer(child, dtype, f"{where}[{i}]", source)
                           for i, child in enumerate(node.layers or [])])
    if node.type == "framework.Standardize":
        return Standardize(dtype=dtype, **node.args)
    if ("layers", node.type) not in registry:
        if node.distribution is not None:
            raise ModelFileError(
                f"{source} needs the layer {node.type!r} (at {where}) from the distribution "
                f"{node.distribution!r} {node.version or ''}, which is not installed: "
                f"pip install '{node.distribution}=={node.version}'".replace(" ,", ","))
        raise ModelFileError(f"{source} needs the layer {node.type!r} (at {where}), which no installed plugin "
                             f"registers. {registry.unknown_name_message('layers', node.type)}")
    component = registry.get("layers", node.type)
    injected = {"dtype": dtype} if "dtype" in inspect.signature(component).parameters else {}
    try:
        layer = registry.build("layers", node.type, dict(node.args), path=f"{where}", **injected)
    except MinidlError as exc:
        raise ModelFileError(f"{source}: cannot rebuild {where} ({node.type}) from the file: {exc}") from None
    return layer


# ----------------------------------------------------------------------------
# Saving
# ----------------------------------------------------------------------------
def save_run_model(path: str | os.PathLike, model: Layer, experiment, train, *,
                   classes: list[str] | None = None, **info: Any) -> Path:
    """``RUN/model.npz``: the model a run returns, with what the run knows of its data.

    ``experiment`` gives the loss and metrics (for ``minidl evaluate``),
    ``train`` (the training :class:`~framework.Dataset`) the feature and
    target names and the class names, unless ``classes`` gives them (a
    classification run's default names, ``PreparedRun.classes``); ``info``
    is recorded as is (the experiment's name is added).
    """
    loss = {"type": experiment.loss.type, **experiment.loss.args}
    return save_model(model, path, feature_names=train.feature_names, target_names=train.target_names,
                      classes=train.classes if classes is None else classes, loss=loss, metrics=list(experiment.trainer.metrics),
                      info={"experiment": experiment.name, **info})


def save_model(model: Layer, path: str | os.PathLike, *, feature_names: list[str] | None = None,
               target_names: list[str] | None = None, classes: list[str] | None = None,
               loss: dict[str, Any] | None = None, metrics: list[str] | None = None,
               info: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (and what it knows of its data) to ``path`` atomically; return the path.

    Args:
        model: a layer or a :class:`~framework.Sequential` of registered layers.
        feature_names, target_names: the data's row names (CSV columns), so
            that ``minidl predict`` checks the columns of new data.
        classes: the class names of a classifier (``Dataset.classes``).
        loss: ``{"type": name, **args}`` and ``metrics`` (registered names),
            what ``minidl evaluate`` reports.
        info: anything JSON (the run directory, the epoch of the weights ...).

    A model loaded with :func:`load_model` keeps these unless they are given
    again. Raises :class:`ModelFileError` for what a file cannot hold (a
    layer class no plugin registers, an argument that is a function).
    """
    from framework import __version__

    path = Path(path)
    previous: ModelInfo | None = getattr(model, "info", None) if isinstance(getattr(model, "info", None),
                                                                            ModelInfo) else None

    def pick(value, attr):
        return value if value is not None else (getattr(previous, attr) if previous is not None else None)

    architecture = describe_layer(model)
    state = model.state_dict()
    for key, value in state.items():
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            raise ModelFileError(f"refusing to save {path}: {key} holds NaN or inf values")
    dtype = model.dtype or np.dtype("float64")
    in_features = model.in_features
    out_features = None
    if in_features is not None:
        out_features = int(model.output_features(in_features))
    plugins = {n.distribution: n.version or "" for n in _nodes(architecture) if n.distribution}
    classes = pick(classes, "classes")
    meta = ModelMeta(
        format=FORMAT, format_version=FORMAT_VERSION, minidl_version=__version__, dtype=np.dtype(dtype).name,
        architecture=architecture, plugins=plugins, in_features=in_features, out_features=out_features,
        feature_names=_names(pick(feature_names, "feature_names"), in_features, "feature_names"),
        target_names=pick(target_names, "target_names"),
        classes=None if classes is None else [str(c) for c in classes],
        loss=_json_value(pick(loss, "loss"), "loss"), metrics=list(pick(metrics, "metrics") or []),
        state={k: ArrayInfo(shape=list(v.shape), dtype=_dtype_text(v.dtype)) for k, v in state.items()},
        info=_json_value(dict(pick(info, "info") or {}), "info"))
    arrays = {f"state/{k}": v for k, v in state.items()}
    arrays["meta"] = np.frombuffer(meta.model_dump_json().encode("utf-8"), dtype=np.uint8)
    _atomic_savez(path, arrays)
    return path


def _names(names, count, what) -> list[str] | None:
    if names is None:
        return None
    names = [str(n) for n in names]
    if count is not None and len(names) != count:
        raise ModelFileError(f"{what} has {len(names)} names but the model takes {count} features")
    return names


def _dtype_text(dtype: np.dtype) -> str:
    return dtype.name if dtype.kind != "U" else dtype.newbyteorder("<").str


def _atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise ModelFileError(f"cannot write the model file {path}: {exc.strerror or exc}; nothing was "
                                 f"written there (an existing file is intact)") from exc
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ----------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------
def resolve_model_path(source: str | os.PathLike) -> Path:
    """A model file, or a run directory's ``model.npz``."""
    path = Path(source)
    if path.is_dir():
        candidate = path / "model.npz"
        if not candidate.is_file():
            raise ModelFileError(f"{path} is a directory without a model.npz; give a model file or the "
                                 f"directory of a finished run")
        return candidate
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file or run directory")
    return path


def read_model_meta(path: str | os.PathLike) -> ModelMeta:
    """The validated metadata of a model file (nothing else is read)."""
    from framework.npz import NpzReader

    path = resolve_model_path(path)
    with NpzReader(path, error=ModelFileError, what=str(path)) as npz:
        return _read_meta(npz, path)


def _read_meta(npz, path: Path) -> ModelMeta:
    from framework.config_files import loads_json
    from framework.errors import ConfigError

    if "meta" not in npz:
        raise ModelFileError(f"{path} is an .npz file but not a minidl model (no 'meta' entry)")
    info = npz.info("meta")
    if info.dtype != np.uint8 or len(info.shape) != 1 or info.nbytes > MAX_META_BYTES:
        raise ModelFileError(f"{path}: the 'meta' entry is {info.dtype} {info.shape}, not the JSON of a "
                             f"minidl model")
    try:
        raw = loads_json(npz.read(["meta"])["meta"].tobytes().decode("utf-8"), source=str(path))
    except (UnicodeDecodeError, ConfigError) as exc:
        raise ModelFileError(f"{path}: the model metadata is corrupted ({exc})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        fmt = raw.get("format") if isinstance(raw, dict) else None
        hint = " (it is a checkpoint: give the run directory, or its model.npz)" if fmt == "minidl-checkpoint" else ""
        raise ModelFileError(f"{path} is not a minidl model file (format {str(fmt)[:40]!r}){hint}")
    version = raw.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(f"{path} has model format version {str(version)[:20]}, newer than this minidl "
                             f"reads ({FORMAT_VERSION}); it was written by minidl "
                             f"{str(raw.get('minidl_version'))[:20]}: upgrade minidl to load it")
    try:
        return ModelMeta.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ModelFileError(f"{path}: malformed model metadata: field {where}: {err['msg']}") from None


def load_model(source: str | os.PathLike) -> Layer:
    """Load a model saved by ``model.save`` (a file, or a run directory's ``model.npz``).

    The result's ``predict`` takes raw data, as the data the run read (its
    standardisation is a layer of the model); ``model.info`` is a
    :class:`ModelInfo` (feature names, class names, loss and metrics).
    Raises :class:`ModelFileError` naming the file and what is wrong.
    """
    from framework.npz import NpzReader

    path = resolve_model_path(source)
    with NpzReader(path, error=ModelFileError, what=str(path)) as npz:
        meta = _read_meta(npz, path)
        names = [f"state/{k}" for k in meta.state]
        missing = [n for n in names if n not in npz]
        if missing:
            raise ModelFileError(f"{path} is incomplete: no array {', '.join(missing[:10])}")
        for key, want in meta.state.items():
            info = npz.info(f"state/{key}")
            if list(info.shape) != want.shape or _dtype_text(info.dtype) != want.dtype:
                raise ModelFileError(f"{path}: array state/{key} is {info.dtype} {info.shape}, but the metadata "
                                     f"declares {want.dtype} {tuple(want.shape)}")
        # Build first: a missing plugin is reported before any array is read.
        model = build_layer(meta.architecture, meta.dtype, "model", str(path))
        arrays = npz.read(names)
    state = {key: arrays[f"state/{key}"] for key in meta.state}
    try:
        model.load_state_dict(state, strict=True)
    except MinidlError as exc:
        raise ModelFileError(f"{path}: the saved state does not fit the architecture it describes: {exc}") from None
    model.info = ModelInfo(meta, path)
    return model


# ----------------------------------------------------------------------------
# Using a model's outputs
# ----------------------------------------------------------------------------
def class_probabilities(model: Layer, y_hat: np.ndarray) -> np.ndarray:
    """(C, m) class probabilities from a classifier's outputs (C >= 2 classes).

    A model whose last layer declares ``produces = "probabilities"`` (a
    sigmoid, a softmax) is taken as is; otherwise its outputs are logits
    (softmax over the rows, or a sigmoid for one row). One output row is the
    probability of the second class: [1 - p, p].
    """
    last = model
    while list(last.named_children()):
        last = list(last.named_children())[-1][1]
    probabilities = getattr(last, "produces", None) == "probabilities"
    y_hat = np.asarray(y_hat, dtype=np.float64)
    if y_hat.shape[0] == 1:
        p = y_hat if probabilities else _sigmoid(y_hat)
        return np.vstack([1.0 - p, p])
    if probabilities:
        return y_hat
    shifted = y_hat - y_hat.max(axis=0, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=0, keepdims=True)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    e = np.exp(z[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def predicted_labels(model: Layer, y_hat: np.ndarray, classes: list[str] | None = None) -> list[str]:
    """The class name of each column: arg-max of :func:`class_probabilities` (p >= 0.5 for one row).

    ``classes`` None names the classes by their indices, "0" .. "C-1" (the
    default names a classification run without class names gets).
    """
    probs = class_probabilities(model, y_hat)
    if classes is None:
        classes = [str(k) for k in range(probs.shape[0])]
    if len(classes) != probs.shape[0]:
        raise ModelFileError(f"the model outputs {probs.shape[0]} class probabilities but names "
                             f"{len(classes)} classes ({', '.join(classes)})")
    if probs.shape[0] == 2:
        idx = (probs[1] >= 0.5).astype(int)  # the binary rule of the accuracy metric
    else:
        idx = np.argmax(probs, axis=0)
    return [classes[i] for i in idx]


__all__ = ["save_run_model", "FORMAT", "FORMAT_VERSION", "LayerNode", "ModelInfo", "ModelMeta", "class_probabilities",
           "load_model", "predicted_labels", "read_model_meta", "resolve_model_path", "save_model"]
