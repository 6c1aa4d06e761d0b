"""The ``minidl`` command (also ``python -m framework``).

    minidl run EXPERIMENT [--set key=value ...] [--init-from RUN_DIR] [--runs-dir DIR] [--quiet]
    minidl run --resume RUN_DIR [EXPERIMENT] [--set trainer.epochs=N]
    minidl validate EXPERIMENT [--set key=value ...]
    minidl summary EXPERIMENT          the model's table of shapes, forward and backward
    minidl schema [--output FILE]      JSON Schema of the experiment format
    minidl plugins                     installed plugins, what each registers, clashes, failures
    minidl describe NAME               a component's arguments, defaults, summary and plugin
    minidl check-plugins [NAME ...]    run the conformance kit of each kind over registered components
    minidl sweep EXPERIMENT [--grid KEY=V1,V2,...] [--jobs N] [--backend local|ray] [--address ADDR]
    minidl sweep --resume SWEEP_DIR    many trials of one experiment, one run directory each

``-p no:NAME`` (repeatable, before the command) blocks one plugin, as
pytest's does; ``MINIDL_BLOCK_PLUGINS=NAME,...`` does the same.

Errors print one clear message and exit non-zero; ``--traceback`` (anywhere
on the line, or MINIDL_TRACEBACK=1) shows the Python traceback too.
``minidl --version`` prints the version; a closed pipe (``minidl plugins |
head -2``) ends quietly with status 0.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path

from framework.errors import ConfigError, MinidlError, TrainingError
from framework.progress import format_number

EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


def _version_text() -> str:
    from framework import __version__

    return f"minidl {__version__}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minidl", description="minidl: deep learning on numpy, explicitly.")
    parser.add_argument("--version", action="version", version=_version_text(),
                        help="print minidl's version and exit")
    parser.add_argument("-p", dest="plugin_options", action="append", default=[], metavar="no:NAME",
                        help="block the plugin NAME (a distribution, or distribution:entry_point as "
                             "`minidl plugins` shows it); repeatable; adds to MINIDL_BLOCK_PLUGINS")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="train an experiment and write a run directory")
    run.add_argument("experiment", type=Path, nargs="?",
                     help="a .toml or .json experiment file (optional with --resume: the run's stored spec is used)")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a field, e.g. --set trainer.epochs=5 (repeatable)")
    run.add_argument("--resume", type=Path, metavar="RUN_DIR",
                     help="continue the run in RUN_DIR (or the run holding a checkpoint file) exactly; "
                          "only trainer.epochs, trainer.progress and description may change")
    run.add_argument("--init-from", type=Path, metavar="RUN_DIR_OR_CHECKPOINT",
                     help="start a new run from these trained weights (same architecture)")
    run.add_argument("--init-optimizer", action="store_true",
                     help="with --init-from: also take the optimizer state from the checkpoint")
    run.add_argument("--runs-dir", type=Path, default=Path("runs"), help="where new run directories go (default: runs)")
    run.add_argument("--quiet", action="store_true",
                     help="no training display (no bar, no per-epoch lines); results still print")

    validate = sub.add_parser("validate", help="check an experiment: build everything a run builds, without training")
    validate.add_argument("experiment", type=Path, help="a .toml or .json experiment file")
    validate.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                          help="override a field before checking, e.g. --set trainer.epochs=5 (repeatable)")

    summary = sub.add_parser("summary", help="print the model's layers and shapes")
    summary.add_argument("experiment", type=Path, help="a .toml or .json experiment file")
    summary.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                         help="override a field first, e.g. --set model.layers[0].out_features=8 (repeatable)")

    schema = sub.add_parser("schema", help="print the JSON Schema of experiment files")
    schema.add_argument("--output", type=Path, help="write to a file instead of stdout")

    sub.add_parser("plugins", help="list plugins and the components they register")

    describe = sub.add_parser("describe", help="a component's arguments, defaults, summary and plugin")
    describe.add_argument("name", help="a registered name (mse), or KIND:NAME when several kinds have it "
                                       "(losses:mse, metric:mse)")

    _sweep_parser(sub)

    check = sub.add_parser("check-plugins", help="run the conformance kit of each kind over registered components")
    check.add_argument("names", nargs="*", help="component names, KIND:NAME when ambiguous (default: every "
                                                "registered component of every kind)")
    _add_use_commands(sub)
    _add_global_options(parser, sub)
    return parser


def _add_use_commands(sub) -> None:
    """predict, evaluate and plot: using what a run produced."""
    predict = sub.add_parser("predict", help="predict with a saved model on new data (CSV or .npz)")
    predict.add_argument("model", type=Path, metavar="MODEL_OR_RUN_DIR",
                         help="a model file (model.save) or a run directory (its model.npz)")
    predict.add_argument("data", type=Path, metavar="DATA",
                         help="new data: a CSV with the model's feature columns (by name), or an .npz with X "
                              "(one example per row)")
    predict.add_argument("-o", "--output", type=Path, metavar="OUT",
                         help="write the predictions to OUT (.csv or .npz) instead of printing CSV")

    evaluate = sub.add_parser("evaluate", help="the loss and the run's metrics of a saved model on labelled data")
    evaluate.add_argument("model", type=Path, metavar="MODEL_OR_RUN_DIR",
                          help="a model file (model.save) or a run directory (its model.npz)")
    evaluate.add_argument("data", type=Path, metavar="DATA",
                          help="labelled data: a CSV with the feature and target columns, or an .npz with X and y")

    plot = sub.add_parser("plot", help="learning curves of runs, or --boundary: decision regions (PNG or SVG)")
    plot.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR",
                      help="run directories; several are overlaid, one colour each")
    plot.add_argument("-o", "--output", type=Path, metavar="FILE",
                      help="FILE.png or FILE.svg (default: learning_curves.png, or decision_regions.png with "
                           "--boundary, in the current directory)")
    plot.add_argument("--metrics", metavar="KEYS",
                      help="comma-separated log keys to draw, e.g. loss,val_loss,val_accuracy (default: all "
                           "but lr); one panel per metric, training and validation together")
    plot.add_argument("--boundary", action="store_true",
                      help="draw the decision regions of a run's 2-feature classifier with its data instead")


def _add_global_options(parser: argparse.ArgumentParser, sub) -> None:
    """Options accepted before or after the subcommand (``minidl run X --traceback``)."""
    help_text = "show the Python traceback of an error (also MINIDL_TRACEBACK=1)"
    parser.add_argument("--traceback", action="store_true", help=help_text)
    for command in sub.choices.values():
        # SUPPRESS: a subcommand that did not see the option leaves the top-level value alone.
        command.add_argument("--traceback", action="store_true", default=argparse.SUPPRESS, help=help_text)


def _resume_hint(run_dir: Path | None, diverged: bool = False) -> str:
    """What a stopped run leaves and the one command that continues it."""
    from framework.runner import newest_checkpoint

    if run_dir is None:
        return ""
    newest = newest_checkpoint(run_dir)
    if newest is None:
        return f"minidl: the run directory {run_dir} has no checkpoint yet; nothing to resume\n"
    hint = (f"minidl: the newest checkpoint is {newest}\n"
            f"minidl: resume with: minidl run --resume {run_dir}\n")
    if diverged:
        hint += (f"minidl: (a resume repeats the same computation exactly; to change it, start a new run from "
                 f"these weights: minidl run EXPERIMENT --init-from {newest})\n")
    return hint


def cmd_run(args) -> int:
    from framework.experiment import load_experiment
    from framework.progress import format_duration
    from framework.runner import RunFinished, resume_run, run_experiment
    from framework.trainer import TrainingInterrupted

    if args.resume is not None and args.init_from is not None:
        raise ConfigError([("--init-from", "cannot be combined with --resume: a resume continues a run, "
                                           "--init-from starts a new one from its weights")])
    if args.experiment is None and args.resume is None:
        raise ConfigError([("EXPERIMENT", "give an experiment file (or --resume RUN_DIR to continue a run)")])
    if args.init_optimizer and args.init_from is None:
        raise ConfigError([("--init-optimizer", "only means something with --init-from")])
    experiment = load_experiment(args.experiment, args.overrides) if args.experiment is not None else None
    started: list[Path] = []
    progress = False if args.quiet else None
    try:
        if args.resume is not None:
            result = resume_run(args.resume, experiment=experiment,
                                overrides=() if experiment is not None else args.overrides,
                                progress=progress, on_run_dir=started.append)
        else:
            result = run_experiment(experiment, runs_dir=args.runs_dir, init_from=args.init_from,
                                    init_optimizer=args.init_optimizer, progress=progress,
                                    on_run_dir=started.append)
    except RunFinished as exc:
        print(f"minidl: {exc}")
        return 0
    except TrainingInterrupted as exc:
        run_dir = started[-1] if started else None
        if exc.checkpoint is None or run_dir is None:
            print(f"minidl: {exc}", file=sys.stderr)
        else:
            print(f"minidl: training interrupted at {exc.where}; checkpoint saved to {exc.checkpoint}\n"
                  f"minidl: resume with: minidl run --resume {run_dir}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:  # a second Ctrl-C: stopped at once, the newest checkpoint is what is left
        print("minidl: interrupted", file=sys.stderr)
        sys.stderr.write(_resume_hint(started[-1]) if started else "")
        return EXIT_INTERRUPTED
    except (MinidlError, OSError) as exc:
        if started and not isinstance(exc, ConfigError):
            exc.minidl_hint = _resume_hint(started[-1], diverged=isinstance(exc, TrainingError))
        raise
    experiment = result.experiment
    summary = result.summary
    stale = summary.get("stale_lock_taken_over")
    if stale:
        print(f"minidl: took over the lock of {result.run_dir} left by pid {stale.get('pid', '?')} on host "
              f"{stale.get('host', '?')} (that process is gone)", file=sys.stderr)
    final = summary["final"]
    model = (f"; the model returned (epoch {summary['model_epoch']}):"
             if summary.get("model_epoch") != result.trainer.epoch else ",")
    print(f"{experiment.name}: {result.trainer.epoch} epochs in {format_duration(result.trainer.seconds)}{model} "
          + ", ".join(f"{k} {format_number(v)}" for k, v in final.items() if k != "lr"))
    line = _early_stopping_line(result)
    if line:
        print(line)
    for key, t in summary["targets"].items():
        bound = " and ".join(s for s in (f">= {t['min']}" if t["min"] is not None else "",
                                         f"<= {t['max']}" if t["max"] is not None else "") if s)
        status = "met" if t["met"] else "NOT met"
        print(f"target {key} {bound}: {format_number(t['value'])} ({status})" if t["value"] is not None
              else f"target {key}: not in the logs (NOT met)")
    line = class_errors_line(summary)
    if line:
        print(line)
    print(f"run directory: {result.run_dir}")
    return 0 if result.targets_met else EXIT_ERROR


def class_errors_line(summary: dict, most: int = 5) -> str | None:
    """One line naming, by class label, where a classifier's mistakes are (from the confusion matrix)."""
    import numpy as np

    confusion = summary.get("confusion_matrix")
    if not isinstance(confusion, dict) or not confusion.get("matrix"):
        return None
    matrix = np.asarray(confusion["matrix"])
    labels = confusion.get("labels") or [str(k) for k in range(len(matrix))]
    totals, correct = matrix.sum(axis=1), np.diag(matrix)
    split = confusion.get("split", "data")
    if (correct == totals).all():
        return f"{split} by class: all {int(totals.sum())} correct"
    worst = sorted((k for k in range(len(matrix)) if correct[k] < totals[k]),
                   key=lambda k: (correct[k] / max(totals[k], 1), -totals[k]))
    shown = ", ".join(f"{labels[k]} {int(totals[k] - correct[k])}/{int(totals[k])} wrong" for k in worst[:most])
    more = f" (+{len(worst) - most} more classes)" if len(worst) > most else ""
    return f"{split} errors by true class: {shown}{more}"


def _early_stopping_line(result) -> str:
    """One line when training stopped early or an earlier epoch's weights were restored."""
    trainer = result.trainer
    stopped, restored = trainer.stopped_epoch, trainer.restored_epoch
    if restored == trainer.epoch and stopped is None:
        restored = None  # the best epoch was the last one: nothing was put back
    monitor = trainer.restored_monitor
    what = ""
    if restored is not None:
        value = trainer.final_logs().get(monitor) if monitor else None
        what = f"restored epoch {restored}" + (f", {monitor} {format_number(value)}" if value is not None else "")
    if stopped is not None:
        return f"stopped early at epoch {stopped}; " + (what or "kept the last epoch's weights")
    return what + (f" (the best of {trainer.epoch} epochs)" if what else "")


def cmd_validate(args) -> int:
    from framework.experiment import load_experiment
    from framework.runner import prepare_run

    experiment = load_experiment(args.experiment, args.overrides)
    p = prepare_run(experiment, progress=False)
    def count(n: int, noun: str) -> str:
        return f"{n:,} {noun}{'s' * (n != 1)}"

    print(f"{args.experiment}: valid ({count(len(p.model), 'layer')}, {count(p.model.num_parameters(), 'parameter')}, "
          f"{count(p.train.n_examples, 'training example')} of {count(p.train.n_features, 'feature')})")
    return 0


def cmd_summary(args) -> int:
    from framework.experiment import build_model, load_experiment, prepare_data

    experiment = load_experiment(args.experiment, args.overrides)
    train, _, scaler = prepare_data(experiment)
    build_model(experiment, in_features=train.n_features, standardizer=scaler).summary(train.n_features)
    return 0


def cmd_schema(args) -> int:
    from framework.schema import experiment_schema

    text = json.dumps(experiment_schema(), indent=2) + "\n"
    if args.output:
        from framework.config_files import atomic_write_text

        atomic_write_text(args.output, text)
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def cmd_plugins(args) -> int:
    """Every plugin, what it registers, overrides, clashes and failures. Never refuses: it is the diagnosis."""
    from framework.plugin_manager import BLOCK_ENV
    from framework.registry import registry

    plugins = registry.plugins()
    overridden = {(e.kind, e.name, e.plugin.name): e.overrides.plugin.name for e in registry.overrides()}
    dists = sorted({f"{p.distribution}-{p.version}" for p in plugins if p.distribution and p.loaded})
    print(f"plugins: {', '.join(dists) or '(none)'}")
    for p in plugins:
        origin = f"{p.distribution} {p.version}" if p.distribution else "in-process"
        if p.blocked:
            print(f"  {p.name} ({origin}): blocked ({BLOCK_ENV} or -p no:NAME)")
            continue
        if p.error:
            print(f"  {p.name} ({origin}): FAILED TO LOAD: {p.error}")
            continue
        provided = "; ".join(
            f"{kind}: " + ", ".join(name + (f" (overrides {overridden[(kind, name, p.name)]})"
                                            if (kind, name, p.name) in overridden else "")
                                    for name in sorted(names))
            for kind, names in p.provides.items())
        print(f"  {p.name} ({origin}): {provided or 'nothing'}")
    clashes = registry.clashes()
    if clashes:
        print("name clashes (commands that need these kinds refuse until one plugin is blocked, "
              "uninstalled or declares an override):")
        for kind, names in clashes.items():
            for name, entries in sorted(names.items()):
                print(f"  {kind} {name!r}: {', '.join(e.plugin.name for e in entries)}")
    return 0


def cmd_describe(args) -> int:
    from framework.errors import RegistryError
    from framework.schema import describe, find_entries

    entries = find_entries(args.name)
    if len(entries) > 1:
        raise RegistryError(f"{args.name!r} names a component of several kinds; say which: "
                            + ", ".join(f"minidl describe {e.kind}:{e.name}" for e in entries))
    print(describe(entries[0]))
    return 0


def cmd_check_plugins(args) -> int:
    """The conformance kit of each kind over every registered component (or the NAMEs given)."""
    from framework.kinds import KINDS, kit
    from framework.registry import registry
    from framework.schema import find_entries

    failed_plugins = registry.failures()
    for p in failed_plugins:
        print(f"plugin {p.name}: FAILED TO LOAD: {p.error}")
    if args.names:
        targets = [(e.kind, e.name) for name in args.names for e in find_entries(name)]
    else:
        targets = [(k.name, name) for k in KINDS for name in registry.names(k.name)]
    records = {k.name: k for k in KINDS}
    failed = 0
    for kind, name in targets:
        report = kit(records[kind])(name)
        print(report.render())
        failed += not report.ok
    print(f"{len(targets) - failed} passed, {failed} failed"
          + (f"; {len(failed_plugins)} plugin(s) failed to load" if failed_plugins else ""))
    return 1 if failed or failed_plugins else 0


def _sweep_parser(sub) -> None:
    sweep = sub.add_parser("sweep", help="run many trials of an experiment (a grid or a random search)",
                           description="Run the trials of an experiment's [sweep] section (or --grid), each "
                                       "as an ordinary run directory under one sweep directory, and write "
                                       "results.csv and results.md sorted by the objective.")
    sweep.add_argument("experiment", type=Path, nargs="?", help="a .toml or .json experiment file")
    sweep.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a field of the experiment, e.g. --set trainer.epochs=5 (repeatable)")
    sweep.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                       help="sweep a parameter over these values, e.g. --grid optimizer.lr=0.01,0.1,1 (repeatable)")
    sweep.add_argument("--n-trials", type=int, metavar="N", help="a random search of N trials")
    sweep.add_argument("--jobs", type=int, metavar="N", help="trials at once (default: every core, or the cluster's)")
    sweep.add_argument("--backend", choices=["local", "ray"], default="local",
                       help="local worker processes (default) or Ray tasks (pip install 'minidl[ray]')")
    sweep.add_argument("--address", metavar="ADDR", help="a Ray cluster's address, as `ray start --head` prints it "
                                                         "(default: a local Ray instance)")
    sweep.add_argument("--sweeps-dir", type=Path, default=Path("sweeps"),
                       help="where new sweep directories go (default: sweeps)")
    sweep.add_argument("--resume", type=Path, metavar="SWEEP_DIR",
                       help="continue a sweep: skip finished trials, resume unfinished ones from their checkpoints")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar or per-trial lines")


def cmd_sweep(args) -> int:
    from framework.sweep import check_trials, load_state, load_sweep, markdown_table, run_sweep
    from framework.sweep_backends import make_backend

    if (args.experiment is None) == (args.resume is None):
        raise ConfigError([("", "give an experiment file, or --resume SWEEP_DIR (not both)")])
    if args.resume is not None and (args.overrides or args.grid or args.n_trials is not None):
        raise ConfigError([("--resume", "a resumed sweep runs the trials it stored; --set, --grid and "
                                        "--n-trials apply to a new sweep only")])
    if args.n_trials is not None and args.n_trials < 1:
        raise ConfigError([("--n-trials", f"must be a positive integer. Received: {args.n_trials}")])
    backend = make_backend(args.backend, jobs=args.jobs, address=args.address)
    remote = args.backend == "ray" and args.address is not None
    if args.resume is not None:
        sweep, results = load_state(args.resume)
    else:
        sweep, results = load_sweep(args.experiment, args.overrides, args.grid, args.n_trials,
                                    check_data=not remote), None
    if remote:
        if backend.is_local():  # files must be where the workers read them: here, checked before submission
            check_trials(sweep.trials, sweep.source)
    try:
        outcome = run_sweep(sweep, sweeps_dir=args.sweeps_dir, sweep_dir=args.resume, results=results,
                            backend=backend, progress=not args.quiet)
    except KeyboardInterrupt as exc:
        outcome = getattr(exc, "sweep_result", None)
        if outcome is None:
            raise
        counts = _status_counts(outcome)
        print(f"minidl: sweep interrupted ({counts}); finished trials are intact.\n"
              f"minidl: resume with: minidl sweep --resume {_shown(outcome.sweep_dir)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(markdown_table(outcome))
    n = len(sweep.trials)
    print(f"\n{n} trial{'' if n == 1 else 's'}: {_status_counts(outcome)}")
    best = outcome.best
    if best is not None:
        trial, result = best
        print(f"best: {trial.name}, {sweep.objective} {format_number(result['final'][sweep.objective])} ({sweep.mode}), "
              f"with {trial.describe()}")
        print(f"  run directory: {_shown(outcome.sweep_dir / trial.name)}")
    print(f"sweep directory: {_shown(outcome.sweep_dir)}")
    return 0 if best is not None else EXIT_ERROR


def _shown(path: Path) -> Path:
    """``path`` relative to the working directory when it is below it."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def _status_counts(outcome) -> str:
    counts: dict[str, int] = {}
    for trial in outcome.sweep.trials:
        status = outcome.results.get(trial.name, {}).get("status", "pending")
        counts[status] = counts.get(status, 0) + 1
    return ", ".join(f"{n} {status}" for status, n in counts.items())


def cmd_predict(args) -> int:
    from framework.inference import check_output, predict, prediction_columns, read_table, write_predictions
    from framework.saving import load_model

    if args.output is not None:
        check_output(args.output)  # before anything is read, computed or written
    model = load_model(args.model)
    table = read_table(args.data, model)
    columns = prediction_columns(model, predict(model, table.X))
    write_predictions(columns, args.output, stream=sys.stdout)
    if args.output is not None:
        print(f"wrote {table.n_examples} predictions ({', '.join(columns)}) to {args.output}")
    return 0


def cmd_evaluate(args) -> int:
    from framework.inference import evaluate, read_table
    from framework.saving import load_model

    model = load_model(args.model)
    table = read_table(args.data, model, need_targets=True)
    results = evaluate(model, table)
    width = max(len(k) for k in results)
    print(f"{table.n_examples} examples of {args.data}")
    for key, value in results.items():
        print(f"{key:<{width}}  {format_number(value)}")
    return 0


def cmd_plot(args) -> int:
    from framework import plot

    if args.boundary:
        if len(args.runs) != 1:
            raise ConfigError([("--boundary", f"draws the decision regions of one run; received "
                                              f"{len(args.runs)} run directories")])
        figure = plot.decision_regions(args.runs[0])
        default = "decision_regions.png"
    else:
        metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
        figure = plot.learning_curves(list(args.runs), metrics=metrics)
        default = "learning_curves.png"
    path = plot.save_figure(figure, args.output or Path(default))
    print(f"wrote {path}")
    return 0


COMMANDS = {"plot": cmd_plot, "predict": cmd_predict, "evaluate": cmd_evaluate, "run": cmd_run, "validate": cmd_validate, "summary": cmd_summary, "schema": cmd_schema,
            "plugins": cmd_plugins, "describe": cmd_describe, "check-plugins": cmd_check_plugins, "sweep": cmd_sweep}


def _block_plugins(options: list[str]) -> None:
    """``-p no:NAME`` adds NAME to MINIDL_BLOCK_PLUGINS, for this process and what it starts."""
    from framework.plugin_manager import BLOCK_ENV, blocked_names
    from framework.registry import registry

    names = blocked_names()
    for option in options:
        if not option.startswith("no:") or not option[3:]:
            _parser().error(f"-p takes no:NAME (block the plugin NAME). Received: -p {option}")
        names.append(option[3:])
    os.environ[BLOCK_ENV] = ",".join(dict.fromkeys(names))
    registry.reload()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.plugin_options:
        _block_plugins(args.plugin_options)
    show_tb = args.traceback or os.environ.get("MINIDL_TRACEBACK", "") not in ("", "0")
    try:
        code = COMMANDS[args.command](args)
        sys.stdout.flush()  # a closed pipe shows up here, not at interpreter exit
        return code
    except BrokenPipeError:
        return _closed_pipe()
    except ConfigError as exc:
        if show_tb:
            traceback.print_exc()
        print(f"minidl: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (MinidlError, OSError) as exc:
        if show_tb:
            traceback.print_exc()
        print(f"minidl: error: {exc}", file=sys.stderr)
        sys.stderr.write(getattr(exc, "minidl_hint", ""))
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("minidl: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _closed_pipe() -> int:
    """The reader of our output went away (``minidl plugins | head -2``): stop quietly, status 0.

    Like ``git log | head``. stdout is pointed at /dev/null so that the
    interpreter's final flush of what is still buffered cannot fail again.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
