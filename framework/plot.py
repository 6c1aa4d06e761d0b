"""Plots of runs: learning curves and decision regions (the optional extra ``minidl[plot]``).

Every function returns a :class:`matplotlib.figure.Figure` built without
pyplot (no global state, no GUI backend needed), which Jupyter displays and
:func:`save_figure` writes as PNG or SVG::

    from framework import plot
    fig = plot.learning_curves(history)                      # a History
    fig = plot.learning_curves("runs/moons_classifier-...")  # a run directory
    fig = plot.learning_curves(["runs/a", "runs/b"], metrics=["loss", "val_loss"])
    fig = plot.decision_regions("runs/moons_classifier-...")
    plot.save_figure(fig, "curves.png")

Learning curves: one panel per metric, the training values (solid) and the
validation values (``val_*``, dashed) of the same metric together; several
runs are overlaid, one colour each, with a legend. Decision regions: for a
classifier of two features, the class the model predicts over the plane
(shaded, with the 0.5 probability contour of a binary model), and the
data's points coloured by their class.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from framework.errors import DataError, MissingDependencyError

INSTALL_HINT = "pip install 'minidl[plot]' (or: pip install matplotlib)"


def _matplotlib():
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependencyError(f"plotting needs matplotlib, which is not installed: {INSTALL_HINT}") from None
    return matplotlib, Figure


# ----------------------------------------------------------------------------
# Where the curves come from
# ----------------------------------------------------------------------------
def read_run_logs(run_dir: str | os.PathLike) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(epochs, {key: values}) from a run directory's metrics.csv (or metrics.jsonl)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"{run_dir}: not a run directory (no such directory)")
    csv_path, jsonl_path = run_dir / "metrics.csv", run_dir / "metrics.jsonl"
    rows: list[dict[str, Any]]
    if csv_path.is_file():
        with csv_path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        source = csv_path
    elif jsonl_path.is_file():
        rows = []
        with jsonl_path.open(encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as exc:
                        raise DataError(f"{jsonl_path}, line {line_no}: not JSON ({exc.msg})") from None
        source = jsonl_path
    else:
        raise DataError(f"{run_dir}: no metrics.csv or metrics.jsonl (is it a run directory?)")
    if not rows:
        raise DataError(f"{source}: no epochs logged yet")
    keys = [k for k in rows[0] if k != "epoch"]
    epochs = np.array([_float(r.get("epoch"), source, i) for i, r in enumerate(rows, 2)])
    logs = {k: np.array([_float(r.get(k), source, i) for i, r in enumerate(rows, 2)]) for k in keys}
    return epochs, logs


def _float(value: Any, source: Path, line: int) -> float:
    if value is None or value == "":
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        raise DataError(f"{source}, line {line}: {str(value)[:40]!r} is not a number") from None


def _source(item) -> tuple[str, np.ndarray, dict[str, np.ndarray]]:
    from framework.trainer import History

    if isinstance(item, History):
        return "", np.asarray(item.epochs, dtype=float), {k: item[k] for k in item}
    if isinstance(item, (str, os.PathLike)):
        epochs, logs = read_run_logs(item)
        return Path(item).name, epochs, logs
    raise DataError(f"plot: expected a History or a run directory. Received: {type(item).__name__}")


def panels_for(keys: Iterable[str], metrics: Sequence[str] | None = None) -> dict[str, list[str]]:
    """Panel name -> the keys drawn in it: "loss" -> ["loss", "val_loss"].

    Without ``metrics``, every logged key but the learning rate; with it,
    exactly those keys, in that order.
    """
    keys = list(keys)
    chosen = list(metrics) if metrics else [k for k in keys if k != "lr"]
    panels: dict[str, list[str]] = {}
    for key in chosen:
        base = key[4:] if key.startswith("val_") else key
        panels.setdefault(base, [])
        if key not in panels[base]:
            panels[base].append(key)
    return panels


# ----------------------------------------------------------------------------
# Learning curves
# ----------------------------------------------------------------------------
def learning_curves(sources, metrics: Sequence[str] | None = None, *, labels: Sequence[str] | None = None):
    """Learning curves of one or several runs (History objects or run directories): a Figure.

    Args:
        sources: a :class:`~framework.History`, a run directory, or a list of them.
        metrics: the log keys to draw (default: all but ``lr``), e.g.
            ``["loss", "val_loss", "val_accuracy"]``; a key no run has is an error.
        labels: the legend name of each run (default: the run directory's name).
    """
    _, Figure = _matplotlib()
    if isinstance(sources, (str, os.PathLike)) or not isinstance(sources, (list, tuple)):
        sources = [sources]
    runs = [_source(s) for s in sources]
    if labels is not None:
        if len(labels) != len(runs):
            raise DataError(f"plot: {len(labels)} labels for {len(runs)} runs")
        runs = [(label, e, logs) for label, (_, e, logs) in zip(labels, runs)]
    if len(runs) > 1:
        runs = [(name or f"run {i + 1}", e, logs) for i, (name, e, logs) in enumerate(runs)]
    every = list(dict.fromkeys(k for _, _, logs in runs for k in logs))
    if metrics:
        unknown = [m for m in metrics if m not in every]
        if unknown:
            raise DataError(f"plot: no run logged {', '.join(unknown)}; logged: {', '.join(every)}")
    panels = panels_for(every, metrics)
    if not panels:
        raise DataError("plot: nothing to draw (the runs logged no metrics)")
    n = len(panels)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(4.6 * cols, 3.4 * rows), layout="constrained")
    colours = [f"C{i}" for i in range(10)]
    for index, (panel, keys) in enumerate(panels.items()):
        ax = fig.add_subplot(rows, cols, index + 1)
        for r, (name, epochs, logs) in enumerate(runs):
            for key in keys:
                if key not in logs:
                    continue
                validation = key.startswith("val_")
                label = f"{name} {key}" if name and len(runs) > 1 else key
                ax.plot(epochs, logs[key], color=colours[r % 10], linestyle="--" if validation else "-",
                        label=label)
        ax.set_title(panel)
        ax.set_xlabel("epoch")
        ax.set_ylabel(panel)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    if len(runs) == 1 and runs[0][0]:
        fig.suptitle(runs[0][0])
    return fig


# ----------------------------------------------------------------------------
# Decision regions
# ----------------------------------------------------------------------------
def run_data(run_dir: str | os.PathLike):
    """The dataset a run trained on, rebuilt from its stored experiment."""
    from framework.experiment import build_dataset, load_experiment

    from framework.rundir import spec_path

    spec = spec_path(run_dir)
    if spec is None:
        raise DataError(f"{run_dir}: no experiment.toml (or experiment.json), so the run's data cannot be drawn "
                        f"(is it a run directory?)")
    return build_dataset(load_experiment(spec))


def decision_regions(source, X: np.ndarray | None = None, y: np.ndarray | None = None, *,
                     resolution: int = 200, title: str | None = None):
    """Decision regions of a classifier of two features, with the data: a Figure.

    Args:
        source: a run directory (its model and its data) or a loaded model
            (then give ``X`` (2, m) and the class indices ``y`` (1, m)).
        resolution: grid points along each axis.
    """
    from framework.inference import predict
    from framework.saving import class_probabilities, load_model

    _, Figure = _matplotlib()
    if isinstance(source, (str, os.PathLike)):
        model = load_model(source)
        name = Path(source).name if Path(source).is_dir() else Path(source).stem
        if X is None:
            data = run_data(source) if Path(source).is_dir() else None
            if data is None:
                raise DataError("decision_regions: give X and y, or a run directory")
            X, y = data.X, data.y
    else:
        model, name = source, ""
        if X is None or y is None:
            raise DataError("decision_regions: with a model, give the data X (2, m) and y (1, m)")
    info = getattr(model, "info", None)
    classes = getattr(info, "classes", None)
    if not classes:
        raise DataError(f"decision regions need a classifier (a model saved with class names); "
                        f"{name or 'this model'} is a regression model")
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] != 2:
        raise DataError(f"decision regions are drawn for 2 features; {name or 'the model'} takes "
                        f"{X.shape[0] if X.ndim == 2 else X.shape} features")
    lo, hi = X.min(axis=1), X.max(axis=1)
    margin = 0.1 * np.maximum(hi - lo, 1e-9)
    gx = np.linspace(lo[0] - margin[0], hi[0] + margin[0], resolution)
    gy = np.linspace(lo[1] - margin[1], hi[1] + margin[1], resolution)
    xx, yy = np.meshgrid(gx, gy)
    grid = np.vstack([xx.ravel(), yy.ravel()]).astype(model.dtype or np.float64)
    probs = class_probabilities(model, predict(model, grid))
    predicted = (probs[1] >= 0.5).astype(int) if len(classes) == 2 else np.argmax(probs, axis=0)
    fig = Figure(figsize=(6.4, 5.2), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    from matplotlib.colors import ListedColormap

    colours = [f"C{i}" for i in range(len(classes))]
    ax.contourf(xx, yy, predicted.reshape(xx.shape), levels=np.arange(len(classes) + 1) - 0.5,
                cmap=ListedColormap(colours), alpha=0.25)
    if len(classes) == 2:
        ax.contour(xx, yy, probs[1].reshape(xx.shape), levels=[0.5], colors="k", linewidths=1)
    labels = np.asarray(y).reshape(-1).astype(int)
    for k, cls in enumerate(classes):
        mask = labels == k
        ax.scatter(X[0, mask], X[1, mask], s=12, color=colours[k], edgecolors="white", linewidths=0.3,
                   label=f"class {cls}")
    feature_names = getattr(info, "feature_names", None) or ["feature 0", "feature 1"]
    ax.set_xlabel(feature_names[0])
    ax.set_ylabel(feature_names[1])
    ax.set_title(title or f"decision regions{': ' + name if name else ''}")
    ax.legend(fontsize="small")
    return fig


def save_figure(fig, path: str | os.PathLike) -> Path:
    """Write ``fig`` as .png or .svg (by the suffix), atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from framework.errors import ConfigError

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".png", ".svg"):
        raise ConfigError([("-o", f"the plot is written as .png or .svg. Received: {path.name}")])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    FigureCanvasAgg(fig)
    try:
        fig.savefig(tmp, format=suffix[1:], dpi=120)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


__all__ = ["decision_regions", "learning_curves", "panels_for", "read_run_logs", "run_data", "save_figure"]
