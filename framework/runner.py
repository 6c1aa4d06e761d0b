"""Running an experiment: data, model, Trainer, and the run directory.

A run directory (created by :func:`framework.rundir.create_run_dir`) holds::

    experiment.toml      the spec the run was created with (overrides applied,
                         defaults filled, data paths absolute); never rewritten.
                         experiment.json instead when the spec holds a None
                         (batch norm's momentum), which TOML cannot hold
    metrics.csv          one row per epoch (MetricsLogger), each epoch once
    checkpoints/         atomic checkpoints (ModelCheckpoint), for --resume
    summary.json         the record: metrics of the model returned, targets,
                         early stopping, allowed spec changes, timings
    model.npz            the model the run returns (framework.load_model), the
                         restored best one when early stopping restores one
    .lock                while a process runs in it: its pid and host

Nothing is written until the spec, the data, the model and everything the
Trainer needs have been validated and built (:func:`prepare_run`, which
``minidl validate`` runs too).

The run directory is the unit of resume (:func:`resume_run`): the spec
stored in its checkpoints is the truth; a spec given with the resume may
differ from it only in fields that cannot change what was computed
(:data:`RESUMABLE_CHANGES`). See docs/checkpoints.md.
"""

from __future__ import annotations

import contextlib
import difflib
import inspect
import json
import os
import re
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from framework.checkpoint import Checkpoint, checkpoint_position, find_checkpoints, load_checkpoint
from framework.classification import (confusion_matrix, default_classes, is_multi_label, metric_inputs,
                                     metric_scores, n_classes)
from framework.checkpoint import run_provenance  # provenance of summary.json
from framework.config_files import atomic_write_text, read_config
from framework.data import Dataset, Standardizer
from framework.errors import CheckpointError, ConfigError, MinidlError
from framework.experiment import Experiment, build_model, prepare_data, rows_path
from framework.layer import Layer
from framework.loss import Loss
from framework.optimizer import Optimizer
from framework.paths import confine_callback_paths
from framework.registry import registry
from framework.saving import save_run_model
from framework.rundir import SPEC_NAMES, RunLock, create_run_dir, spec_path
from framework.sequential import Sequential
from framework.trainer import History, Trainer, batch_size_problem
from framework.types import LOG_KEY

#: Spec fields that may differ when a run is resumed: they cannot change what
#: was already computed. Everything else is refused.
RESUMABLE_CHANGES = ("trainer.epochs", "trainer.progress", "description")
SPEC_FILE, SUMMARY_FILE, MODEL_FILE = "experiment.toml", "summary.json", "model.npz"


class RunFinished(MinidlError):
    """``--resume`` of a run with nothing left to do (it completed, or stopped early)."""


@dataclass
class RunResult:
    experiment: Experiment
    model: Layer
    trainer: Trainer
    history: History
    summary: dict[str, Any] = field(default_factory=dict)
    run_dir: Path | None = None

    @property
    def targets_met(self) -> bool:
        return all(t["met"] for t in self.summary.get("targets", {}).values())


@dataclass
class PreparedRun:
    """Everything a run builds before its first step (see :func:`prepare_run`)."""

    experiment: Experiment
    train: Dataset
    val: Dataset | None
    scaler: Standardizer | None
    model: Layer
    loss: Loss
    optimizer: Optimizer
    callbacks: list
    trainer: Trainer
    log_keys: list[str]
    #: The class names of a classification run: the data's (``train.classes``), else the defaults of
    #: :func:`framework.classification.default_classes`; None for regression.
    classes: list[str] | None = None


def check_targets(experiment: Experiment, logs: dict[str, float]) -> dict[str, dict[str, Any]]:
    result = {}
    for key, target in experiment.targets.items():
        value = logs.get(key)
        met = value is not None and (target.min is None or value >= target.min) and (
            target.max is None or value <= target.max)
        result[key] = {"value": value, "min": target.min, "max": target.max, "met": bool(met)}
    return result


@contextlib.contextmanager
def _in_file(experiment: Experiment):
    """Configuration errors raised while building name the experiment's file."""
    try:
        yield
    except ConfigError as exc:
        if exc.source is None and experiment._source:
            raise ConfigError(exc.problems, experiment._source) from None
        raise


def _log_key_arguments(component) -> list[tuple[str, Any]]:
    """(name, default) of the constructor arguments annotated :data:`framework.types.LogKey`."""
    func = component.__init__ if isinstance(component, type) else component
    try:
        hints = typing.get_type_hints(func, include_extras=True)
        params = inspect.signature(func).parameters
    except Exception:
        return []
    found = []
    for name, hint in hints.items():
        if LOG_KEY in getattr(hint, "__metadata__", ()) and name in params:
            found.append((name, params[name].default))
    return found


def _unknown_key(key: str, keys: list[str], validation: bool) -> str:
    message = f"the run will not log {key!r}"
    close = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
    if not close and key.startswith("val_") and key[4:] in keys:
        close = [key[4:]]
    message += f"; did you mean {close[0]!r}?" if close else "."
    message += f" It will log: {', '.join(keys)}"
    metric = key[4:] if key.startswith("val_") else key
    if metric not in ("loss", "lr") and ("metrics", metric) in registry and metric not in keys:
        message += f" (add {metric!r} to trainer.metrics to log it)"
    if key.startswith("val_") and not validation:
        message += " (val_* keys need data.validation_split > 0)"
    return message


def _classes_problem(out: int, classes: list[str], loss, loss_name: str, path: str) -> str | None:
    """Why ``out`` output rows do not fit the data's ``classes``, or ``None``.

    One row per class fits; so does one row for two classes (a binary model:
    the probability, or logit, of the second class) when the loss takes one
    row. Anything else is refused by ``minidl predict``, so it is refused
    before training.
    """
    C = len(classes)
    binary = C == 2 and loss.output_rows_problem(1) is None and 1 in loss.target_rows(1)
    if out == C or (out == 1 and binary):
        return None
    names = ", ".join(classes[:10]) + (", ..." if C > 10 else "")
    if binary:
        fix = (f"set {path} = 1 (the probability of class {classes[1]!r})"
               + (", or 2, one row per class" if 1 in loss.target_rows(2) else
                  ", or 2 (one row per class) with 'cross_entropy'"))
    else:
        fix = f"set {path} = {C}, one row per class" + (
            "" if 1 in loss.target_rows(C) else f", with a loss taking class indices such as 'cross_entropy' "
                                                f"(the loss {loss_name!r} needs {C} target rows)")
    return f"the model outputs {out} row{'s' if out != 1 else ''}, but the data has {C} classes ({names}): {fix}"


def prepare_run(experiment: Experiment, data=None, *, progress: bool | None = None) -> PreparedRun:
    """Build everything a run needs before its first step, checking all of it.

    Data, model (its output rows against the targets), loss (evaluated once
    on the training data), optimizer, callbacks and their arguments
    (schedules included), metrics (each evaluated once), the Trainer, and
    the names looked up later: every :data:`~framework.types.LogKey`
    argument (early stopping's ``monitor``) and every ``targets`` key
    against the keys the run will log. ``minidl validate`` runs exactly
    this, so an error ``minidl run`` raises before its first batch is
    raised by ``validate`` too, with the file and the dotted path.
    """
    source = experiment._source
    with _in_file(experiment):
        train, val, scaler = prepare_data(experiment, data)
        model = build_model(experiment, in_features=train.n_features, standardizer=scaler)
        loss = registry.build("losses", experiment.loss.type, experiment.loss.args, path="loss")
        out = model.predict(train.X[:, :1]).shape[0]
        layers = [{"type": b.type, **b.args} for b in experiment.model.layers]
        problem = loss.output_rows_problem(out)  # the layers' own rows were checked; these are the built model's
        if problem is None and train.classes is not None:
            problem = _classes_problem(out, train.classes, loss, experiment.loss.type, rows_path(layers))
        elif problem is not None:
            problem = f"the model outputs {out} row{'s' if out != 1 else ''}, but the loss " \
                      f"({experiment.loss.type!r}) {problem}"
        if problem is not None:
            raise ConfigError([(rows_path(layers), problem)], source)
        accepted = loss.target_rows(out)
        if train.n_outputs not in accepted:
            rows = " or ".join(str(r) for r in accepted)
            if train.classes is not None and len(train.classes) > 2 and train.n_outputs == 1:
                hint = (f"; the data's targets are labels of {len(train.classes)} classes, one row: for one "
                        f"class among them use the loss 'cross_entropy', with {out} output rows")
            else:
                hint = f"; set {rows_path(layers)} = {train.n_outputs}, one output row per target row"
            raise ConfigError([(rows_path(layers),
                                f"the model outputs {out} rows, so the loss {experiment.loss.type!r} needs "
                                f"{rows} target row(s), but the data has {train.n_outputs}{hint}")], source)
        optimizer = registry.build("optimizers", experiment.optimizer.type, experiment.optimizer.args,
                                   path="optimizer", params=model.parameters())
        callbacks = [registry.build("callbacks", b.type, b.args, path=f"trainer.callbacks[{i}]")
                     for i, b in enumerate(experiment.trainer.callbacks)]
        try:
            trainer = Trainer(model, loss, optimizer, epochs=experiment.trainer.epochs,
                              batch_size=experiment.trainer.batch_size, shuffle=experiment.trainer.shuffle,
                              seed=experiment.seed, callbacks=callbacks, metrics=experiment.trainer.metrics,
                              progress=experiment.trainer.progress if progress is None else progress,
                              display_keys=list(experiment.targets), l2=experiment.trainer.l2,
                              clip_grad_norm=experiment.trainer.clip_grad_norm,
                              clip_grad_value=experiment.trainer.clip_grad_value)
        except ConfigError:
            raise
        except (MinidlError, ValueError, TypeError) as exc:
            raise ConfigError([("trainer", str(exc))], source) from None
    problems: list[tuple[str, str]] = []
    batches = _batch_size_problem(experiment, model, train, val)
    if batches is not None:  # the Trainer would refuse it at fit; said here with the experiment's paths
        raise ConfigError([batches], source)
    # The loss and the metrics against the data, with the untrained model.
    y_hat = trainer.predict(train.X)
    received = None  # what the loss found wrong with the targets
    try:
        value = loss(y_hat, train.y)
        loss.release()
    except (MinidlError, ValueError, TypeError) as exc:
        problems.append(("loss", f"{experiment.loss.type} does not fit the training data: {exc}"))
        received = str(exc).partition(" Received: ")[2] or None
    else:
        del value
    scores, targets = metric_inputs(y_hat, train.y, loss)
    for i, (name, fn) in enumerate(trainer.metrics.items()):
        try:
            with np.errstate(all="ignore"):
                float(fn(scores, targets))
        except (MinidlError, ValueError, TypeError, ArithmeticError) as exc:
            if received is not None and str(exc).partition(" Received: ")[2] == received:
                continue  # the same values refused for the same reason: said once, by the loss
            problems.append((f"trainer.metrics[{i}]", f"{name} cannot be computed on this data: {exc}"))
    # Names looked up during training, against what the run will log.
    keys = trainer.log_keys(validation=val is not None)
    for cb in trainer.callbacks:
        keys += [k for k in cb.log_keys() if k not in keys]
    for i, block in enumerate(experiment.trainer.callbacks):
        for arg, default in _log_key_arguments(registry.get("callbacks", block.type)):
            key = block.args.get(arg, default)
            if isinstance(key, str) and key not in keys:
                problems.append((f"trainer.callbacks[{i}].{arg}", _unknown_key(key, keys, val is not None)))
    for key in experiment.targets:
        if key not in keys:
            problems.append((f"targets.{key}", _unknown_key(key, keys, val is not None)))
    if problems:
        raise ConfigError(problems, source)
    classes = train.classes if train.classes is not None else default_classes(loss, out, train.target_names)
    return PreparedRun(experiment, train, val, scaler, model, loss, optimizer, callbacks, trainer, keys, classes)


def _batch_size_problem(experiment: Experiment, model: Layer, train: Dataset,
                        val: Dataset | None) -> tuple[str, str] | None:
    """``trainer.batch_size`` against the training split and the layers' ``min_training_batch``
    (batch norm's 2), as (path, message), or None."""
    problem = batch_size_problem(model, train.n_examples, experiment.trainer.batch_size)
    if problem is None:
        return None
    index, _, rest = problem.layer.partition(".")
    # A Standardize layer the data put first shifts the model's layers by one from the spec's.
    offset = len(model.layers) - len(experiment.model.layers) if isinstance(model, Sequential) else -1
    if offset >= 0 and index.isdigit() and int(index) >= offset:
        i = int(index) - offset
        layer = f"model.layers[{i}]{''.join(f'[{p}]' for p in rest.split('.')) if rest else ''} " \
                f"({experiment.model.layers[i].type})"
    else:
        layer = problem.layer_repr
    message = problem.message(layer)
    split = experiment.data.validation_split if experiment.data is not None else 0.0
    if val is not None and split:
        message += (f" (data.validation_split = {split} leaves {problem.n} of the {problem.n + val.n_examples} "
                    f"examples for training)")
    return ("data" if problem.n < problem.needs else "trainer.batch_size"), message


# ----------------------------------------------------------------------------
# Specs: stored, given, compared
# ----------------------------------------------------------------------------
def spec_dict(experiment: Experiment) -> dict[str, Any]:
    """The spec a run stores: ``experiment.to_dict()`` with relative data paths made absolute,
    so that resuming from anywhere reads the same data."""
    spec = experiment.to_dict()
    source = (spec.get("data") or {}).get("source") or {}
    path = source.get("path")
    if isinstance(path, str) and not Path(path).expanduser().is_absolute():
        source["path"] = str((experiment.base_dir / path).resolve())
    return spec


def _flatten(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{path}.{k}" if path else str(k)))
        return out
    if isinstance(value, list) and value:
        out = {}
        for i, v in enumerate(value):
            out.update(_flatten(v, f"{path}[{i}]"))
        return out
    return {path: value}


_ABSENT = "(absent)"


def spec_differences(stored: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """Every dotted path where two specs differ, as (path, stored value, new value)."""
    a, b = _flatten(stored), _flatten(new)
    diffs = []
    for path in list(a) + [p for p in b if p not in a]:
        va, vb = a.get(path, _ABSENT), b.get(path, _ABSENT)
        # A component argument written out with its default value is the same computation as
        # one left out (``seed = 0`` where the default seed is 0).
        da = _default_of(stored, path) if path not in a else va
        db = _default_of(new, path) if path not in b else vb
        if da == db and type(da) is type(db) and da is not _ABSENT:
            continue
        va, vb = (_Default(v, d) if v is _ABSENT and d is not _ABSENT else v for v, d in ((va, da), (vb, db)))
        if va != vb or type(va) is not type(vb):
            diffs.append((path, va, vb))
    # An empty list on one side whose items the other side lists is said by those items.
    return [d for d in diffs if not (_ABSENT in (d[1], d[2]) and any(
        v in ([], {}) for v in (d[1], d[2])) and any(o[0].startswith((d[0] + "[", d[0] + ".")) for o in diffs))]


# Where each kind's arguments sit in a spec: an argument left out there means its default.
_COMPONENT_ARGS = (
    (re.compile(r"^(model\.layers\[(\d+)\])\.(\w+)$"), "layers"),
    (re.compile(r"^(loss)\.(\w+)$"), "losses"),
    (re.compile(r"^(optimizer)\.(\w+)$"), "optimizers"),
    (re.compile(r"^(data\.source)\.(\w+)$"), "datasets"),
    (re.compile(r"^(trainer\.callbacks\[(\d+)\])\.(\w+)$"), "callbacks"),
    (re.compile(r"^(trainer\.callbacks\[(\d+)\]\.schedule)\.(\w+)$"), "schedules"),
)


def _block(spec: dict[str, Any], dotted: str) -> Any:
    node: Any = spec
    for part in re.findall(r"[^.\[\]]+", dotted):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return None
    return node


def _default_of(spec: dict[str, Any], path: str) -> Any:
    """The default a component gives the argument at ``path`` (left out of ``spec``), or _ABSENT."""
    for pattern, kind in _COMPONENT_ARGS:
        match = pattern.match(path)
        if not match:
            continue
        block, arg = _block(spec, match.group(1)), match.groups()[-1]
        if not isinstance(block, dict) or not isinstance(block.get("type"), str) or arg == "type":
            return _ABSENT
        try:
            field = registry.config_model(kind, block["type"]).model_fields.get(arg)
        except MinidlError:
            return _ABSENT
        if field is None or field.is_required() or field.default_factory is not None:
            return _ABSENT
        try:
            return json.loads(json.dumps(field.default))
        except (TypeError, ValueError):
            return _ABSENT
    return _ABSENT


class _Default(str):
    """An argument left out of a spec, shown with the default it stands for."""

    def __new__(cls, absent: str, default: Any):
        return super().__new__(cls, f"{absent} = default {json.dumps(default)}")


def _fmt(value: Any) -> str:
    return value if value == _ABSENT or isinstance(value, _Default) else json.dumps(value)


def _refusal(problems: list[tuple[str, str]], advice: str, source: str) -> ConfigError:
    """A ConfigError listing ``problems``, then one line of advice (not counted as a problem)."""
    exc = ConfigError(problems, source)
    exc.args = (f"{exc.args[0]}\n{advice}",)
    return exc


def _normalized(data: dict[str, Any], source: str) -> dict[str, Any]:
    return Experiment.from_dict(data, source=source).to_dict()


# ----------------------------------------------------------------------------
# Running
# ----------------------------------------------------------------------------
def run_dir_defaults(callbacks: list) -> list:
    """The callbacks every run directory has (metrics log, checkpoints ...) that ``callbacks`` lacks.

    Each callback class declares its own ``run_dir_default`` arguments; the
    runner names none of them.
    """
    added = []
    for entry in registry.entries("callbacks"):
        cls = entry.component
        if cls.run_dir_default is not None and not any(isinstance(cb, cls) for cb in callbacks):
            added.append(registry.build("callbacks", entry.name, dict(cls.run_dir_default),
                                        path=f"{cls.__name__}.run_dir_default"))
    return added


def _bind(prepared: PreparedRun, run_dir: Path, spec: dict[str, Any]) -> None:
    experiment = prepared.experiment
    # Output paths were refused at validation when absolute or escaping; now that the run
    # directory is known, symlinks in it are resolved too (a shared run directory).
    confine_callback_paths(experiment.trainer.callbacks, run_dir, experiment._source)
    callbacks = prepared.callbacks + run_dir_defaults(prepared.callbacks)
    for cb in callbacks:
        cb.bind_run(run_dir, spec)
    prepared.callbacks = callbacks
    prepared.trainer.callbacks = sorted(callbacks, key=lambda cb: cb.order)


def confusion_summary(prepared: PreparedRun) -> dict[str, Any]:
    """The confusion matrix of the returned model on the validation split (else the training data)."""
    train, val = prepared.train, prepared.val
    split, data = ("validation", val) if val is not None else ("training", train)
    y_hat = metric_scores(prepared.trainer.predict(data.X), prepared.trainer.loss)
    classes = prepared.classes  # the data's class names, else a classification run's defaults
    n = len(classes) if classes is not None else n_classes(y_hat)
    labels = list(classes) if classes is not None else [str(i) for i in range(n)]
    return {"split": split, "labels": labels, "rows": "true class", "columns": "predicted class",
            "matrix": confusion_matrix(y_hat, data.y, n).tolist()}


#: The sections of an experiment that name components (for provenance).
_COMPONENT_SECTIONS = {"model", "loss", "optimizer", "data", "trainer"}


def _summary(prepared: PreparedRun, started: float, **extra) -> dict[str, Any]:
    trainer, experiment = prepared.trainer, prepared.experiment
    logs = trainer.final_logs()
    # One class per example: a multi-label model (C yes/no questions) has no confusion matrix of classes.
    if (prepared.train.classes is not None or prepared.loss.classification) and \
            not is_multi_label(prepared.loss, prepared.train.y.shape[0]):
        extra = {"confusion_matrix": confusion_summary(prepared), **extra}
    return {
        "experiment": experiment.name,
        "epochs": trainer.epoch,
        "stopped_epoch": trainer.stopped_epoch,
        "best_epoch": trainer.restored_epoch,
        "model_epoch": trainer.restored_epoch or trainer.epoch,
        "restored_by": trainer.restored_monitor,
        "parameters": prepared.model.num_parameters(),
        "train_examples": prepared.train.n_examples,
        "validation_examples": 0 if prepared.val is None else prepared.val.n_examples,
        "final": logs,
        "targets": check_targets(experiment, logs),
        "seconds": round(time.perf_counter() - started, 3),
        "standardization": prepared.scaler.state_dict() if prepared.scaler else None,
        "classes": prepared.classes,
        # provenance: the distribution and version of every plugin whose component the run used
        "plugins": run_provenance(experiment.model_dump(mode="json", exclude_none=True, include=_COMPONENT_SECTIONS), [prepared.model, prepared.loss, prepared.optimizer,
                                                         *trainer.callbacks, *trainer.metrics.values()]),
        **extra,
    }


def _train(prepared: PreparedRun, run_dir: Path | None, started: float, *, resume_from=None,
           **extra) -> RunResult:
    p = prepared
    history = p.trainer.fit(p.train.X, p.train.y,
                            validation_data=(p.val.X, p.val.y) if p.val is not None else None,
                            resume_from=resume_from)
    summary = _summary(p, started, **extra)
    if run_dir is not None:
        save_run_model(run_dir / MODEL_FILE, p.model, p.experiment, p.train, classes=p.classes,
                       epoch=summary["model_epoch"])
        atomic_write_text(run_dir / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n", what="summary")
    return RunResult(p.experiment, p.model, p.trainer, history, summary, run_dir)


def run_experiment(experiment: Experiment, *, data=None, run_dir: str | Path | None = None,
                   runs_dir: str | Path | None = None, resume: str | Path | None = None,
                   init_from: str | Path | None = None, init_optimizer: bool = False,
                   progress: bool | None = None,
                   on_run_dir: Callable[[Path], None] | None = None) -> RunResult:
    """Validate, build and train ``experiment``; return a :class:`RunResult`.

    Args:
        data: a :class:`Dataset` or an ``(X, y)`` pair (features, m) instead
            of the experiment's data section.
        run_dir: write the run directory there (it must not exist, or be
            empty); ``None`` (and no ``runs_dir``) writes nothing.
        runs_dir: create a new, uniquely named run directory in it
            (:func:`framework.rundir.create_run_dir`), once everything is built.
        resume: a run directory (or a checkpoint file in one) to continue
            exactly; ``experiment`` is then compared with the stored spec
            (see :func:`resume_run`).
        init_from: a run directory, checkpoint or model file whose weights
            start this new run (architecture checked); the optimizer
            starts fresh unless ``init_optimizer``.
        progress: override the spec's ``trainer.progress``.
        on_run_dir: called with the run directory as soon as it exists (on a
            resume: once the run is locked and its checkpoint and spec accepted).
    """
    if resume is not None:
        return resume_run(resume, experiment=experiment, data=data, progress=progress, on_run_dir=on_run_dir)
    started = time.perf_counter()
    prepared = prepare_run(experiment, data, progress=progress)
    init = None
    if init_from is not None:
        init = initial_weights(init_from, need_optimizer=init_optimizer)
        init.apply(prepared.model, prepared.optimizer if init_optimizer else None)
    if run_dir is None and runs_dir is None:
        return _train(prepared, None, started, resumed_from=None,
                      initialized_from=str(init.path) if init else None)
    if run_dir is None:
        run_dir = create_run_dir(runs_dir, experiment.name)
    else:
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        if any(p.name != ".lock" for p in run_dir.iterdir()):
            raise ConfigError([("", f"{run_dir} is not empty; a new run needs a new directory "
                                    f"(to continue the run in it: minidl run --resume {run_dir})")])
    if on_run_dir is not None:
        on_run_dir(run_dir)
    with RunLock(run_dir):
        spec = spec_dict(experiment)
        name, text = stored_spec_file(spec)
        atomic_write_text(run_dir / name, text, what="spec")
        _bind(prepared, run_dir, spec)
        return _train(prepared, run_dir, started, resumed_from=None,
                      initialized_from=str(init.path) if init else None)


def stored_spec_file(spec: dict[str, Any]) -> tuple[str, str]:
    """The name and text of the run's stored spec: TOML, or JSON when the spec holds a None
    (TOML has no null, and leaving it out would run the default instead)."""
    from framework.config_files import null_paths, to_toml

    if null_paths(spec):
        return SPEC_NAMES[1], json.dumps(spec, indent=2) + "\n"
    return SPEC_NAMES[0], to_toml(spec)


# ----------------------------------------------------------------------------
# Starting from trained weights
# ----------------------------------------------------------------------------
def initial_weights(source: str | Path, *, need_optimizer: bool = False) -> Checkpoint:
    """The weights ``--init-from`` starts a new run with, as a :class:`Checkpoint`.

    ``source``: a run directory (its ``model.npz``, the model that run
    returned, else its newest checkpoint), a checkpoint file, or a model
    file. ``need_optimizer`` (to carry the optimizer state over) needs a
    checkpoint.
    """
    source = Path(source)
    if source.is_dir():
        if (source / MODEL_FILE).is_file() and not need_optimizer:
            source = source / MODEL_FILE
        else:
            found = find_checkpoints(source)
            if not found:
                raise CheckpointError(f"--init-from {source}: no {MODEL_FILE} and no checkpoint-*.npz in it")
            source = found[-1]
    if not source.is_file():
        raise CheckpointError(f"--init-from {source}: no such file or run directory")
    if checkpoint_position(source) is not None or need_optimizer:
        return load_checkpoint(source)
    from framework.saving import load_model

    model = load_model(source)
    return Checkpoint(path=source, params=model.state_dict(), optimizer=None)


# ----------------------------------------------------------------------------
# Resuming
# ----------------------------------------------------------------------------
def find_run_dir(path: Path) -> Path:
    """The run directory holding ``path`` (itself, or the nearest folder above with an experiment.toml
    or experiment.json)."""
    path = Path(path)
    for candidate in [path, *path.parents][:6]:
        if candidate.is_dir() and spec_path(candidate) is not None:
            return candidate
    raise CheckpointError(f"{path} is not in a run directory (no {' or '.join(SPEC_NAMES)} in it or in the "
                          f"folders above); "
                          f"to start a new run from its weights: minidl run EXPERIMENT --init-from {path}")


def _newest_readable(run_dir: Path, chosen: Path | None) -> Checkpoint:
    found = find_checkpoints(run_dir)
    if chosen is not None:
        return load_checkpoint(chosen)
    if not found:
        links = sorted(str(Path(folder, name).relative_to(run_dir)) for folder, dirs, _ in os.walk(run_dir)
                       for name in dirs if os.path.islink(os.path.join(folder, name)))
        if links:
            raise CheckpointError(
                f"{run_dir} has no checkpoint (checkpoint-*.npz in any folder of it); "
                f"{', '.join(links[:3])} {'is a symbolic link' if len(links) == 1 else 'are symbolic links'}, "
                f"which minidl never follows, so nothing can be resumed from there")
        raise CheckpointError(
            f"{run_dir} has no checkpoint (checkpoint-*.npz in any folder of it): the run stopped before its "
            f"first one was saved, so there is nothing to resume. Start it again in a new run directory with: "
            f"minidl run {spec_path(run_dir) or run_dir / SPEC_FILE}")
    newest = found[-1]
    try:
        return load_checkpoint(newest)
    except CheckpointError as exc:
        why = str(exc)
        for older in reversed(found[:-1]):
            try:
                load_checkpoint(older)
            except CheckpointError:
                continue
            raise CheckpointError(
                f"the newest checkpoint of {run_dir} is unreadable: {why}\n"
                f"the newest intact checkpoint is {older}; to resume from it "
                f"(dropping what came after it): minidl run --resume {older}") from None
        raise CheckpointError(f"the newest checkpoint of {run_dir} is unreadable: {why}\n"
                              f"no older checkpoint is intact; nothing can be resumed") from None


def resume_run(target: str | Path, *, experiment: Experiment | None = None, overrides=(), data=None,
               progress: bool | None = None, on_run_dir: Callable[[Path], None] | None = None) -> RunResult:
    """Continue the run in ``target`` (a run directory, or a checkpoint file in one) exactly.

    The spec stored in the checkpoint is the truth. ``experiment`` (a given
    file) or ``overrides`` (``--set``, applied to the stored spec when no
    file is given) are compared with it: a difference in any field but
    :data:`RESUMABLE_CHANGES` is refused, listing every differing dotted
    path with its stored and its new value. Allowed changes are used and
    recorded in summary.json; ``experiment.toml`` is never rewritten.
    Raises :class:`RunFinished` when the run has nothing left to do.
    """
    started = time.perf_counter()
    target = Path(target)
    if not target.exists():
        raise CheckpointError(f"--resume {target}: no such run directory or checkpoint")
    run_dir = find_run_dir(target if target.is_dir() else target.parent)
    with RunLock(run_dir) as lock:
        ckpt = _newest_readable(run_dir, None if target.is_dir() else target)
        stored = spec_path(run_dir) or run_dir / SPEC_FILE
        spec_file, spec_name = str(stored), stored.name
        if not ckpt.spec:
            raise CheckpointError(f"{ckpt.path} stores no experiment spec, so it cannot be resumed by "
                                  f"minidl run; resume it in Python with Trainer.fit(..., resume_from=...)")
        truth = _normalized(ckpt.spec, f"{ckpt.path} (stored spec)")
        created = _normalized(read_config(stored), spec_file)
        edited = [d for d in spec_differences(created, truth) if d[0] not in RESUMABLE_CHANGES]
        if edited:
            raise _refusal([(path, f"{spec_name} says {_fmt(a)}, the checkpoint's stored spec {_fmt(b)}")
                            for path, a, b in edited],
                           f"{spec_name} was edited after the run started; a resume follows the stored spec, so "
                           f"put {spec_name} back as it was, or start a new run from these weights with "
                           f"--init-from", spec_file)
        if experiment is not None:
            new = spec_dict(experiment)
            given = experiment._source or "the given experiment"
        else:
            new = json.loads(json.dumps(truth))
            given = "--set"
        if overrides:
            from framework.config_files import apply_override

            for assignment in overrides:
                apply_override(new, assignment)
        new = _normalized(new, given)
        changes = spec_differences(truth, new)
        refused = [d for d in changes if d[0] not in RESUMABLE_CHANGES]
        if refused:
            raise _refusal([(path, f"stored {_fmt(a)}, new {_fmt(b)}") for path, a, b in refused],
                           f"a resume continues the stored spec of {run_dir}; only {', '.join(RESUMABLE_CHANGES)} "
                           f"may change, since the others would change what was already computed. Resume without "
                           f"them (minidl run --resume {run_dir}), or start a new run from this run's weights: "
                           f"minidl run EXPERIMENT --init-from {run_dir}", given)
        effective = Experiment.from_dict(new, source=spec_file)
        effective._base_dir = run_dir
        position = (int(ckpt.trainer.get("epoch", 0)), int(ckpt.trainer.get("batch", 0)))
        if ckpt.trainer.get("stop_training"):
            raise RunFinished(f"{run_dir} already stopped early at epoch {position[0]} (see {SUMMARY_FILE}); "
                              f"nothing to resume")
        epochs = effective.trainer.epochs
        if position[0] > epochs or (position[0] == epochs and position[1]):
            raise ConfigError([("trainer.epochs", f"the run has already trained past epoch {epochs} (its "
                                                  f"checkpoint is at epoch {position[0]}, batch {position[1]}); "
                                                  f"give at least {position[0] + (1 if position[1] else 0)}")],
                              given)
        if position == (epochs, 0):
            raise RunFinished(f"{run_dir} already completed {epochs} of {epochs} epochs; nothing to resume "
                              f"(to train longer: minidl run --resume {run_dir} --set trainer.epochs=N)")
        # Only now is the run resumable: an error before this point (an unreadable checkpoint, a
        # refused change) must not be followed by "resume with" advice that would fail the same way.
        if on_run_dir is not None:
            on_run_dir(run_dir)
        prepared = prepare_run(effective, data, progress=progress)
        spec = spec_dict(effective)
        _bind(prepared, run_dir, spec)
        # Only now: the CLI's hint "resume with: minidl run --resume RUN" is for a run that was
        # going; a resume refused before (a live lock, an unreadable checkpoint) would be refused again.
        if on_run_dir is not None:
            on_run_dir(run_dir)
        recorded = [{"path": p, "stored": a, "new": b} for p, a, b in spec_differences(created, spec)]
        return _train(prepared, run_dir, started, resume_from=ckpt, resumed_from=str(ckpt.path),
                      spec_changes=recorded,
                      stale_lock_taken_over=lock.stale)


def newest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest checkpoint anywhere in ``run_dir`` (None when there is none)."""
    found = find_checkpoints(run_dir)
    return found[-1] if found else None
