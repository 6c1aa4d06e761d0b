"""Running an experiment: data, model, Trainer, and the run directory.

A run directory holds::

    experiment.toml      the resolved spec (overrides applied, defaults filled)
    metrics.csv          one row per epoch (MetricsLogger)
    checkpoints/         atomic checkpoints (ModelCheckpoint), for --resume
    summary.json         final logs, targets met or not, timings
    model.npz            the model the run returns, for inference (framework.load_model)

Nothing is written until the spec, the data and the model have all been
validated and built.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from framework.checkpoint import latest_checkpoint
from framework.config_files import atomic_write_text
from framework.errors import CheckpointError, ConfigError
from framework.experiment import Experiment, build_model, prepare_data
from framework.layer import Layer
from framework.paths import confine_callback_paths
from framework.registry import registry
from framework.saving import save_run_model
from framework.trainer import History, Trainer


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


def new_run_dir(experiment: Experiment, runs_dir: str | Path = "runs") -> Path:
    """``runs/<name>-<YYYYmmdd-HHMMSS>``, never an existing folder."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", experiment.name).strip("-") or "experiment"
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(runs_dir) / f"{safe}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


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


def check_targets(experiment: Experiment, logs: dict[str, float]) -> dict[str, dict[str, Any]]:
    result = {}
    for key, target in experiment.targets.items():
        value = logs.get(key)
        met = value is not None and (target.min is None or value >= target.min) and (
            target.max is None or value <= target.max)
        result[key] = {"value": value, "min": target.min, "max": target.max, "met": bool(met)}
    return result


def run_experiment(experiment: Experiment, *, data=None, run_dir: str | Path | None = None,
                   resume: str | Path | None = None, progress: bool | None = None) -> RunResult:
    """Validate, build and train ``experiment``; return a :class:`RunResult`.

    Args:
        data: a :class:`Dataset` or an ``(X, y)`` pair (features, m) instead
            of the experiment's data section.
        run_dir: write the run directory there (resolved spec, metrics,
            checkpoints, summary); ``None`` writes nothing.
        resume: a run directory (or checkpoint file) to continue exactly.
        progress: override the spec's ``trainer.progress``.
    """
    started = time.perf_counter()
    train, val, scaler = prepare_data(experiment, data)
    model = build_model(experiment, in_features=train.n_features, standardizer=scaler)
    loss = registry.build("losses", experiment.loss.type, experiment.loss.args, path="loss")
    out = model.predict(train.X[:, :1]).shape[0]
    accepted = loss.target_rows(out)
    if train.n_outputs not in accepted:
        rows = " or ".join(str(r) for r in accepted)
        raise ConfigError([(f"model.layers[{len(experiment.model.layers) - 1}]", f"the model outputs {out} rows, so the loss "
                                                               f"{experiment.loss.type!r} needs {rows} target "
                                                               f"row(s), but the data has {train.n_outputs}")],
                          experiment._source)
    optimizer = registry.build("optimizers", experiment.optimizer.type, experiment.optimizer.args,
                               path="optimizer", params=model.parameters())
    callbacks = [registry.build("callbacks", b.type, b.args, path=f"trainer.callbacks[{i}]")
                 for i, b in enumerate(experiment.trainer.callbacks)]
    checkpoint = None
    if resume is not None:
        resume = Path(resume)
        checkpoint = latest_checkpoint(resume / "checkpoints") if resume.is_dir() else resume
        if checkpoint is None:
            raise CheckpointError(f"no checkpoint-*.npz in {resume / 'checkpoints'}; nothing to resume")
        run_dir = resume if resume.is_dir() else run_dir
    if run_dir is not None:
        run_dir = Path(run_dir)
        # Output paths were refused at validation when absolute or escaping; now that the run
        # directory is known, symlinks in it are resolved too (a shared run directory).
        confine_callback_paths(experiment.trainer.callbacks, run_dir, experiment._source)
        callbacks += run_dir_defaults(callbacks)
        spec = experiment.to_dict()
        for cb in callbacks:
            cb.bind_run(run_dir, spec)
    trainer = Trainer(model, loss, optimizer, epochs=experiment.trainer.epochs,
                      batch_size=experiment.trainer.batch_size, shuffle=experiment.trainer.shuffle,
                      seed=experiment.seed, callbacks=callbacks, metrics=experiment.trainer.metrics,
                      progress=experiment.trainer.progress if progress is None else progress,
                      display_keys=list(experiment.targets))
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        experiment.save(run_dir / "experiment.toml")
    history = trainer.fit(train.X, train.y, validation_data=(val.X, val.y) if val is not None else None,
                          resume_from=checkpoint)
    logs = history.last()
    summary = {
        "experiment": experiment.name,
        "epochs": trainer.epoch,
        "parameters": model.num_parameters(),
        "train_examples": train.n_examples,
        "validation_examples": 0 if val is None else val.n_examples,
        "final": logs,
        "targets": check_targets(experiment, logs),
        "seconds": round(time.perf_counter() - started, 3),
        "resumed_from": str(checkpoint) if checkpoint else None,
        "standardization": scaler.state_dict() if scaler else None,
        "classes": train.classes,  # the label of each class index, for classification data
    }
    if run_dir is not None:
        save_run_model(run_dir / "model.npz", model, experiment, train, epoch=trainer.epoch)
        atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    return RunResult(experiment, model, trainer, history, summary, run_dir)
