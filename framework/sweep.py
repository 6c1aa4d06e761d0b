"""Sweeps: many runs of one experiment, varying parameters named by their dotted path.

An experiment's ``[sweep]`` section (or ``--grid`` on the command line) names
parameters by the dotted path ``--set`` uses (``optimizer.lr``,
``model.layers[0].out_features``, ``seed``) with either a list of values (a
grid: every combination) or a distribution (``uniform``, ``loguniform``,
``int``, ``choice``) for a seeded random search of ``n_trials``::

    [sweep]
    n_trials = 8
    objective = "val_loss"            # default: the first target, else val_loss
    [sweep.parameters]
    "optimizer.lr" = { type = "loguniform", low = 0.001, high = 1.0 }
    "model.layers[0].out_features" = [8, 16, 32]

:func:`load_sweep` reads and validates the sweep and every trial before
anything runs; :func:`run_sweep` runs the trials on a backend
(:mod:`framework.sweep_backends`) as ordinary run directories under one sweep
directory, and writes ``results.csv``, ``results.md`` and, with matplotlib,
``objective.png`` and ``curves.png``.

A sweep directory::

    sweep.toml           the experiment as given, sweep section included (sweep-experiment.json
                         instead when it holds a null, which TOML cannot hold)
    sweep.json           the trials (overrides and full specs), objective, and each trial's result
    results.csv          one row per trial, full precision
    results.md           the same, sorted by the objective
    objective.png        the objective against each varied parameter (with matplotlib)
    curves.png           learning curves of the best trials (with matplotlib)
    trial-0000/          an ordinary run directory (experiment.toml, metrics.csv, checkpoints/, summary.json)
"""

from __future__ import annotations

import copy
import csv
import io
import itertools
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from framework.config_files import atomic_write_text, parse_key, set_path
from framework.errors import ConfigError, InvalidTypeError, InvalidValueError, MinidlError
from framework.experiment import (Choice, Experiment, IntRange, LogUniform, SweepSpec, Uniform,
                                  read_experiment_data)
from framework.rundir import RunLock, create_run_dir
from framework.progress import format_number

FORMAT_VERSION = 1
STATUSES = ("ok", "failed", "interrupted", "cancelled", "pending")


class SweepError(MinidlError, RuntimeError):
    """A sweep cannot start or continue (a missing sweep directory, a backend that is not installed, ...)."""


@dataclass
class Trial:
    """One run of a sweep: its number, what it changes, and its whole spec (no sweep section)."""

    index: int
    overrides: dict[str, Any]
    spec: dict[str, Any]

    @property
    def name(self) -> str:
        return f"trial-{self.index:04d}"

    def describe(self) -> str:
        return ", ".join(f"{k}={_show(v)}" for k, v in self.overrides.items())


@dataclass
class Sweep:
    """A validated sweep: the trials to run and what they are judged by."""

    name: str
    parameters: list[str]
    trials: list[Trial]
    objective: str
    mode: str
    source: str | None = None
    document: dict[str, Any] = field(default_factory=dict)  # the experiment as given, sweep section included
    log_scale: list[str] = field(default_factory=list)  # parameters drawn log-uniformly, or a log-spaced grid


def _show(value: Any) -> str:
    if isinstance(value, float):
        return format_number(value)
    if isinstance(value, str):
        return value
    return json.dumps(value)


# ----------------------------------------------------------------------------
# Reading and expanding
# ----------------------------------------------------------------------------
def parse_grid(assignment: str) -> tuple[str, list[Any]]:
    """``"optimizer.lr=0.01,0.1,1"`` -> ("optimizer.lr", [0.01, 0.1, 1]); each value is read as TOML."""
    from framework.config_files import tomllib

    if "=" not in assignment:
        raise ConfigError([("--grid", f"expected KEY=V1,V2,... such as optimizer.lr=0.01,0.1,1. "
                                      f"Received: {assignment!r}")])
    key, raw = assignment.split("=", 1)
    key = key.strip()
    parse_key(key, where="--grid")
    values = []
    for item in raw.split(","):
        item = item.strip()
        if not item:
            raise ConfigError([("--grid", f"{assignment!r} has an empty value; separate values by commas")])
        try:
            values.append(tomllib.loads(f"v = {item}")["v"])
        except tomllib.TOMLDecodeError:
            values.append(item)  # a bare word: a string
    return key, values


def expand(spec: SweepSpec, seed: int) -> list[dict[str, Any]]:
    """The trials' overrides: every combination of a grid, or ``n_trials`` seeded draws."""
    names = list(spec.parameters)
    if spec.n_trials is None:
        grids = [spec.parameters[name] for name in names]
        return [dict(zip(names, combo)) for combo in itertools.product(*grids)]
    rng = np.random.default_rng(seed)
    return [{name: _draw(spec.parameters[name], rng) for name in names} for _ in range(spec.n_trials)]


def _draw(values: Any, rng: np.random.Generator) -> Any:
    if isinstance(values, list):
        return copy.deepcopy(values[int(rng.integers(len(values)))])
    if isinstance(values, Choice):
        return copy.deepcopy(values.values[int(rng.integers(len(values.values)))])
    if isinstance(values, Uniform):
        return float(rng.uniform(values.low, values.high))
    if isinstance(values, LogUniform):
        return float(math.exp(rng.uniform(math.log(values.low), math.log(values.high))))
    if isinstance(values, IntRange):
        return int(rng.integers(values.low, values.high, endpoint=True))
    raise InvalidTypeError(f"not a sweep distribution: {values!r}")  # pragma: no cover


def _absolute_paths(spec: dict[str, Any], base_dir: Path) -> None:
    """Relative data paths, made absolute: a trial's experiment.toml runs from anywhere."""
    source = (spec.get("data") or {}).get("source")
    if isinstance(source, dict) and isinstance(source.get("path"), str):
        path = Path(source["path"]).expanduser()
        if not path.is_absolute():
            source["path"] = str(base_dir / path)


def _trial_label(indices: list[int], total: int) -> str:
    if len(indices) == total and total > 1:
        return "every trial"
    shown = ", ".join(f"trial-{i:04d}" for i in indices[:5])
    return shown + (f" and {len(indices) - 5} more" if len(indices) > 5 else "")


def load_sweep(path: str | Path, overrides: Iterable[str] = (), grid: Iterable[str] = (),
               n_trials: int | None = None, check_data: bool = True) -> Sweep:
    """Read an experiment file with a sweep and validate the sweep and every trial.

    ``overrides`` (``--set``) change the experiment, ``grid`` (``--grid
    KEY=V1,V2``) adds or replaces swept parameters, ``n_trials`` sets the
    random search's size. Every problem of every trial is reported at once
    (:class:`ConfigError`, each with its dotted path and the trials it
    concerns) before anything runs. ``check_data=False`` leaves the data
    unread (a cluster whose files this machine does not have).
    """
    path = Path(path)
    data = read_experiment_data(path, overrides)
    if grid or n_trials is not None:
        section = data.setdefault("sweep", {})
        if not isinstance(section, dict):
            raise ConfigError([("sweep", f"must be a table. Received: {section!r}")], str(path))
        params = section.setdefault("parameters", {})
        for assignment in grid:
            key, values = parse_grid(assignment)
            params[key] = values
        if n_trials is not None:
            section["n_trials"] = n_trials
    if "sweep" not in data:
        raise ConfigError([("sweep", "the experiment has no [sweep] section; add one, or give "
                                     "--grid KEY=V1,V2,... (e.g. --grid optimizer.lr=0.01,0.1,1)")], str(path))
    experiment = Experiment.from_dict(data, source=str(path))
    return _build(experiment, data, path.resolve().parent, str(path), check_data)


def _build(experiment: Experiment, document: dict[str, Any], base_dir: Path, source: str | None,
           check_data: bool) -> Sweep:
    spec = experiment.sweep
    assert spec is not None
    base = {k: v for k, v in document.items() if k != "sweep"}
    seed = experiment.seed if spec.seed is None else spec.seed
    for key in spec.parameters:
        parse_key(key, where=f'sweep.parameters."{key}"')
    if spec.n_trials is None:
        dists = [k for k, v in spec.parameters.items() if not isinstance(v, list)]
        if dists:
            raise ConfigError([(f'sweep.parameters."{k}"', "a distribution needs a random search: set "
                                                           "sweep.n_trials (a grid takes a list of values)")
                               for k in dists], source)
    trials, problems = [], {}
    combos = expand(spec, seed)
    for index, combo in enumerate(combos):
        trial = copy.deepcopy(base)
        found: list[tuple[str, str]] = []
        for key, value in combo.items():
            try:
                set_path(trial, parse_key(key), value, "not in the experiment", where=key)
            except ConfigError as exc:
                found += [(where, message.replace("not in the experiment: ", "not in the experiment: "))
                          for where, message in exc.problems]
        try:
            Experiment.from_dict(trial)
        except ConfigError as exc:
            found += exc.problems
        if found:
            for where, message in found:
                problems.setdefault((where, message), []).append(index)
            continue
        _absolute_paths(trial, base_dir)
        trials.append(Trial(index, combo, trial))
    if problems:
        reported = []
        for (where, message), indices in problems.items():
            values = {json.dumps(combos[i].get(where), sort_keys=True) for i in indices}
            swept = {json.dumps(c.get(where), sort_keys=True) for c in combos}
            if where in combos[0] and len(values) == 1 and len(swept) > 1:  # this value is the problem
                message += f" ({where}={_show(combos[indices[0]][where])})"
            reported.append((where, f"{message} [{_trial_label(indices, len(combos))}]"))
        raise ConfigError(reported, source)
    objective, mode = resolve_objective(experiment, spec)
    if check_data:
        check_trials(trials, source)
    log_scale = [name for name, values in spec.parameters.items() if isinstance(values, LogUniform)
                 or (isinstance(values, list) and _log_spaced(values))]
    return Sweep(experiment.name, list(spec.parameters), trials, objective, mode, source, document, log_scale)


def _log_spaced(values: list[Any]) -> bool:
    """Positive numbers spanning a factor of 20 or more whose ratios vary less than their differences."""
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return False
    numbers = sorted(set(values))
    if len(numbers) < 3 or numbers[0] <= 0 or numbers[-1] / numbers[0] < 20:
        return False
    ratios = [b / a for a, b in zip(numbers, numbers[1:])]
    steps = [b - a for a, b in zip(numbers, numbers[1:])]
    return max(ratios) / min(ratios) < max(steps) / min(steps)


def produced_logs(experiment: Experiment) -> list[str]:
    """The keys of the final epoch logs a run of ``experiment`` produces."""
    metrics = list(experiment.trainer.metrics)
    logs = ["loss", "lr"] + metrics
    if experiment.data is not None and experiment.data.validation_split > 0:
        logs += ["val_loss"] + [f"val_{m}" for m in metrics]
    return logs


def resolve_objective(experiment: Experiment, spec: SweepSpec) -> tuple[str, str]:
    """(metric, "min" or "max"): the sweep's own, else the first target, else val_loss (loss without validation)."""
    logs = produced_logs(experiment)
    if spec.objective is not None:
        objective = spec.objective
    elif experiment.targets:
        objective = next(iter(experiment.targets))
    else:
        objective = "val_loss" if "val_loss" in logs else "loss"
    if objective not in logs:
        import difflib

        close = difflib.get_close_matches(objective, logs, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError([("sweep.objective", f"{objective!r} is not a log the trials produce; {hint}"
                                               f"they log: {', '.join(logs)}")], experiment._source)
    mode = spec.mode or _direction(objective, experiment)
    if mode is None:
        raise ConfigError([("sweep.mode", f"cannot tell whether {objective!r} is better high or low; "
                                          f"set mode = \"min\" or \"max\"")], experiment._source)
    return objective, mode


def _direction(objective: str, experiment: Experiment) -> str | None:
    """From the direction the metric declares (``higher_is_better``), else from the target's one bound."""
    from framework.metric import direction_of
    from framework.registry import registry

    metrics = {name: registry.get("metrics", name) for name in experiment.trainer.metrics
               if ("metrics", name) in registry}
    try:
        return "max" if direction_of(objective, metrics) else "min"
    except ConfigError:
        pass
    target = experiment.targets.get(objective)
    if target is not None and (target.min is None) != (target.max is None):
        return "max" if target.min is not None else "min"
    return None


def check_trials(trials: list[Trial], source: str | None) -> None:
    """Load each distinct data source once, and build each trial on it as `minidl run` would before its
    first step (model, loss and metrics against the data, callbacks, monitored names), before anything runs."""
    from framework.experiment import build_dataset
    from framework.runner import prepare_run

    datasets: dict[str, Any] = {}
    problems: dict[tuple[str, str], list[int]] = {}
    for trial in trials:
        experiment = Experiment.from_dict(trial.spec)
        key = json.dumps(trial.spec.get("data"), sort_keys=True)
        try:
            if key not in datasets:
                datasets[key] = build_dataset(experiment)
            prepare_run(experiment, datasets[key], progress=False)  # all that `minidl validate` checks
        except ConfigError as exc:
            for where, message in exc.problems:
                problems.setdefault((where, message), []).append(trial.index)
        except MinidlError as exc:
            problems.setdefault(("data.source", str(exc)), []).append(trial.index)
    if problems:
        raise ConfigError([(where, f"{message} [{_trial_label(idx, len(trials))}]")
                           for (where, message), idx in problems.items()], source)


# ----------------------------------------------------------------------------
# The sweep directory
# ----------------------------------------------------------------------------
def new_sweep_dir(name: str, sweeps_dir: str | Path = "sweeps") -> Path:
    """Create ``sweeps/<name>-<YYYYmmdd-HHMMSS>[-N]`` atomically, as run directories are created."""
    return create_run_dir(sweeps_dir, name)


def save_state(sweep_dir: Path, sweep: Sweep, results: dict[str, dict[str, Any]]) -> None:
    state = {
        "format_version": FORMAT_VERSION, "name": sweep.name, "source": sweep.source,
        "objective": sweep.objective, "mode": sweep.mode, "parameters": sweep.parameters,
        "log_scale": sweep.log_scale,
        "trials": [{"name": t.name, "index": t.index, "overrides": t.overrides, "spec": t.spec}
                   for t in sweep.trials],
        "results": results,
    }
    atomic_write_text(sweep_dir / "sweep.json", json.dumps(state, indent=1) + "\n")


def load_state(sweep_dir: str | Path) -> tuple[Sweep, dict[str, dict[str, Any]]]:
    """The sweep stored in ``sweep_dir`` and the results recorded so far."""
    sweep_dir = Path(sweep_dir)
    path = sweep_dir / "sweep.json"
    if not path.is_file():
        raise SweepError(f"{sweep_dir} is not a sweep directory: it has no sweep.json "
                         f"(minidl sweep FILE creates one)")
    from framework.config_files import loads_json

    try:
        state = loads_json(path.read_text(encoding="utf-8"), source=str(path))
        if not isinstance(state, dict):
            raise InvalidTypeError("the top level is not an object")
        if state.get("format_version") != FORMAT_VERSION:
            raise SweepError(f"{path}: format version {state.get('format_version')!r}; "
                             f"this minidl reads version {FORMAT_VERSION}")
        trials = [Trial(int(t["index"]), dict(t["overrides"]), dict(t["spec"])) for t in state["trials"]]
        sweep = Sweep(str(state["name"]), list(state["parameters"]), trials, str(state["objective"]),
                      str(state["mode"]), state.get("source"), log_scale=list(state.get("log_scale") or []))
        if len({t.index for t in trials}) != len(trials) or any(t.index < 0 for t in trials):
            raise InvalidValueError("trial numbers must be distinct and non-negative")
        results = {name: _checked_result(value) for name, value in dict(state.get("results") or {}).items()
                   if name in {t.name for t in trials}}
    except (ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        why = "; ".join(m for _, m in exc.problems) if isinstance(exc, ConfigError) else f"{type(exc).__name__}: {exc}"
        raise SweepError(f"{path} is damaged ({why}); it cannot be resumed") from None
    for trial in trials:  # the stored specs are validated like any experiment
        Experiment.from_dict(trial.spec, source=f"{path} ({trial.name})")
    return sweep, results


def _checked_result(value: Any) -> dict[str, Any]:
    """A stored trial result with the types the tables expect (anything else makes it pending)."""
    if not isinstance(value, dict) or value.get("status") not in STATUSES:
        return {"status": "pending"}
    final = value.get("final")
    if final is not None and not (isinstance(final, dict) and all(
            isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) for k, v in final.items())):
        return {"status": "pending"}
    out = {"status": value["status"], "final": final}
    for key, kind in (("epochs", int), ("seconds", (int, float)), ("error", str)):
        item = value.get(key)
        out[key] = item if isinstance(item, kind) and not isinstance(item, bool) else None
    return out


def trial_finished(sweep_dir: Path, trial: Trial, results: dict[str, dict[str, Any]]) -> bool:
    return results.get(trial.name, {}).get("status") == "ok" and (sweep_dir / trial.name / "summary.json").is_file()


# ----------------------------------------------------------------------------
# Running
# ----------------------------------------------------------------------------
@dataclass
class SweepResult:
    sweep: Sweep
    sweep_dir: Path
    results: dict[str, dict[str, Any]]
    interrupted: bool = False

    def ranked(self) -> list[tuple[Trial, dict[str, Any]]]:
        """Trials best first: finished ones by the objective, then the others by number."""
        rows = [(t, self.results.get(t.name, {"status": "pending"})) for t in self.sweep.trials]
        sign = 1.0 if self.sweep.mode == "min" else -1.0

        def key(row):
            trial, result = row
            value = (result.get("final") or {}).get(self.sweep.objective)
            usable = result.get("status") == "ok" and value is not None and math.isfinite(value)
            return (0, sign * value, trial.index) if usable else (1, 0.0, trial.index)

        return sorted(rows, key=key)

    @property
    def best(self) -> tuple[Trial, dict[str, Any]] | None:
        top = self.ranked()
        if top and top[0][1].get("status") == "ok":
            return top[0]
        return None


def run_sweep(sweep: Sweep, *, sweeps_dir: str | Path = "sweeps", sweep_dir: str | Path | None = None,
              results: dict[str, dict[str, Any]] | None = None, backend: Any = "local",
              jobs: int | None = None, address: str | None = None, progress: bool = True,
              log: Callable[[str], None] | None = None) -> SweepResult:
    """Run every trial not finished yet; return the results (also written to the sweep directory).

    A new sweep gets a new directory under ``sweeps_dir``; ``sweep_dir`` with
    ``results`` continues one (finished trials are skipped, unfinished ones
    resume from their checkpoints). A failing trial is recorded with its
    error and never stops the others. On Ctrl-C, pending trials are
    cancelled, running ones save a checkpoint, the tables are written and
    :class:`KeyboardInterrupt` propagates (``SweepResult`` is on it as
    ``.sweep_result``).
    """
    from framework.sweep_backends import make_backend

    log = log or (lambda line: print(line, file=sys.stderr))
    runner = make_backend(backend, jobs=jobs, address=address) if isinstance(backend, str) else backend
    if sweep_dir is None:
        sweep_dir = new_sweep_dir(sweep.name, sweeps_dir)
        atomic_write_text(sweep_dir / _document_name(sweep), _document_text(sweep))
    sweep_dir = Path(sweep_dir).resolve()
    with RunLock(sweep_dir):  # a second run of this sweep is refused; a dead one's lock is taken over
        return _run_locked(sweep, sweep_dir, dict(results or {}), runner, progress, log)


def _run_locked(sweep: Sweep, sweep_dir: Path, results: dict[str, dict[str, Any]], runner, progress: bool,
                log: Callable[[str], None]) -> SweepResult:
    todo = [t for t in sweep.trials if not trial_finished(sweep_dir, t, results)]
    for trial in todo:
        results[trial.name] = {"status": "pending"}
    save_state(sweep_dir, sweep, results)
    tasks = [{"name": t.name, "spec": t.spec, "run_dir": str(sweep_dir / t.name),
              "resume": (sweep_dir / t.name).exists()} for t in todo]
    outcome = SweepResult(sweep, sweep_dir, results)
    show = progress and sys.stderr.isatty()
    from tqdm import tqdm

    bar = tqdm(total=len(sweep.trials), initial=len(sweep.trials) - len(todo), desc="trials", unit="trial",
               disable=not show, dynamic_ncols=True)

    def on_result(result: dict[str, Any]) -> None:
        name = result.pop("name")
        results[name] = result
        save_state(sweep_dir, sweep, results)
        write_tables(outcome)
        bar.update(1)
        if progress and not show:
            log(f"{name}: {_one_line(sweep, result)}")

    try:
        with bar:
            runner.prepare(tasks)
            runner.run(tasks, on_result)
    except KeyboardInterrupt as exc:
        for trial in todo:
            if results[trial.name].get("status") == "pending":
                results[trial.name] = {"status": "cancelled"}
        save_state(sweep_dir, sweep, results)
        write_tables(outcome)
        outcome.interrupted = True
        exc.sweep_result = outcome  # type: ignore[attr-defined]
        raise
    write_tables(outcome)
    write_plots(outcome)
    return outcome


def _one_line(sweep: Sweep, result: dict[str, Any]) -> str:
    if result["status"] == "ok":
        value = result["final"].get(sweep.objective)
        return f"{sweep.objective} {format_number(value)} ({result['seconds']:.1f} s)"
    return f"{result['status']}: {result.get('error') or ''}".rstrip(": ")


def _document_name(sweep: Sweep) -> str:
    """sweep.toml, or sweep-experiment.json when the experiment holds a None (null), which TOML cannot hold."""
    from framework.config_files import null_paths

    return "sweep-experiment.json" if null_paths(sweep.document) else "sweep.toml"


def _document_text(sweep: Sweep) -> str:
    from framework.config_files import null_paths, to_toml

    if null_paths(sweep.document):
        return json.dumps(sweep.document, indent=2) + "\n"
    return to_toml(sweep.document) if sweep.document else ""


# ----------------------------------------------------------------------------
# Tables and plots
# ----------------------------------------------------------------------------
def _columns(outcome: SweepResult) -> list[str]:
    metrics: list[str] = []
    for _, result in outcome.ranked():
        for key in (result.get("final") or {}):
            if key not in metrics and key not in (outcome.sweep.objective, "lr"):
                metrics.append(key)
    return metrics


def results_rows(outcome: SweepResult) -> tuple[list[str], list[list[Any]]]:
    """The table's header and rows, best trial first (values unformatted)."""
    sweep = outcome.sweep
    metrics = _columns(outcome)
    header = ["trial", *sweep.parameters, sweep.objective, *metrics, "epochs", "seconds", "status", "error"]
    rows = []
    for trial, result in outcome.ranked():
        final = result.get("final") or {}
        rows.append([trial.name, *(trial.overrides.get(p) for p in sweep.parameters), final.get(sweep.objective),
                     *(final.get(m) for m in metrics), result.get("epochs"), result.get("seconds"),
                     result.get("status", "pending"), result.get("error") or ""])
    return header, rows


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (dict, list, bool)):
        return json.dumps(value)
    return str(value)


def _md_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return format_number(value)
    text = _show(value)
    return text.replace("|", "\\|")


def write_tables(outcome: SweepResult) -> tuple[Path, Path]:
    """``results.csv`` (full precision) and ``results.md`` (sorted by the objective)."""
    header, rows = results_rows(outcome)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[_csv_value(v) for v in row] for row in rows])
    csv_path = atomic_write_text(outcome.sweep_dir / "results.csv", buffer.getvalue())
    md_path = atomic_write_text(outcome.sweep_dir / "results.md", markdown_table(outcome) + "\n")
    return csv_path, md_path


def markdown_table(outcome: SweepResult) -> str:
    """The results as a Markdown table, best first; a failed trial's status carries its error."""
    header, rows = results_rows(outcome)
    shown = header[:-3] + ["duration", "status"]
    objective = 1 + len(outcome.sweep.parameters)
    shown[objective] = f"{shown[objective]} ({outcome.sweep.mode})"
    lines = ["| " + " | ".join(f"`{h}`" if "." in h or "[" in h else h for h in shown) + " |",
             "|" + "|".join("---" for _ in shown) + "|"]
    for row in rows:
        *values, seconds, status, error = row
        if error:
            status = f"{status}: {error if len(error) <= 80 else error[:77] + '...'}"
        duration = f"{seconds:.1f} s" if isinstance(seconds, (int, float)) else ""
        lines.append("| " + " | ".join([*(_md_value(v) for v in values), duration,
                                         _md_value(status).replace("\n", " ")]) + " |")
    return "\n".join(lines)


def write_plots(outcome: SweepResult, best: int = 5) -> list[Path]:
    """``objective.png`` and ``curves.png`` when matplotlib is installed (else nothing)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    sweep = outcome.sweep
    done = [(t, r) for t, r in outcome.ranked() if r.get("status") == "ok"
            and math.isfinite((r.get("final") or {}).get(sweep.objective, math.nan))]
    if not done:
        return []
    written = []
    n = len(sweep.parameters)
    fig, axes = plt.subplots(1, n, figsize=(4 * n, 3.4), squeeze=False)
    for ax, name in zip(axes[0], sweep.parameters):
        xs = [t.overrides[name] for t, _ in done]
        ys = [r["final"][sweep.objective] for _, r in done]
        if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs):
            if name in sweep.log_scale:
                ax.set_xscale("log")
            ax.scatter(xs, ys)
        else:
            labels = sorted({_show(x) for x in xs})
            ax.scatter([labels.index(_show(x)) for x in xs], ys)
            ax.set_xticks(range(len(labels)), labels)
        ax.set_xlabel(name)
        ax.set_ylabel(sweep.objective)
        if all(y > 0 for y in ys) and max(ys) / min(ys) >= 20:
            ax.set_yscale("log")
    fig.suptitle(f"{sweep.name}: {sweep.objective} ({sweep.mode}) of {len(done)} trials")
    fig.tight_layout()
    written.append(outcome.sweep_dir / "objective.png")
    fig.savefig(written[-1], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.8))
    for trial, _ in done[:best]:
        epochs, values = _curve(outcome.sweep_dir / trial.name / "metrics.csv", sweep.objective)
        if values:
            short = ", ".join(f"{re.split(r'[.]', k)[-1]}={_show(v)}" for k, v in trial.overrides.items())
            ax.plot(epochs, values, label=f"{trial.name}: {short}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(sweep.objective)
    values = [line.get_ydata() for line in ax.get_lines()]
    if values and all(min(v) > 0 for v in values):
        ax.set_yscale("log")
    ax.set_title(f"{sweep.name}: the {min(best, len(done))} best trials")
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=1, frameon=False)
    fig.tight_layout()
    written.append(outcome.sweep_dir / "curves.png")
    fig.savefig(written[-1], dpi=100)
    plt.close(fig)
    return written


def _curve(path: Path, key: str) -> tuple[list[int], list[float]]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError:
        return [], []
    epochs, values = [], []
    for i, row in enumerate(rows):
        try:
            values.append(float(row[key]))
            epochs.append(int(row.get("epoch") or i + 1))
        except (KeyError, TypeError, ValueError):
            continue
    return epochs, values
