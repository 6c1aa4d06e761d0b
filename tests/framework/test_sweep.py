"""Sweeps: expansion, validation before anything runs, the local backend, faults, Ctrl-C and resume."""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from framework.cli import main
from framework.errors import ConfigError
from framework.experiment import Experiment
from framework.runner import run_experiment
from framework.sweep import SweepError, expand, load_state, load_sweep, parse_grid, run_sweep

ROOT = Path(__file__).resolve().parents[2]
SIGMOID = ROOT / "experiments" / "sigmoid_mlp.toml"
SMALL = ["trainer.epochs=3", "data.source.n_samples=300"]


def write(tmp_path, sweep_toml, base=SIGMOID, name="e.toml"):
    path = tmp_path / name
    path.write_text(base.read_text() + "\n" + sweep_toml)
    return path


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# -- expansion -----------------------------------------------------------------------------
def test_a_grid_is_every_combination_first_parameter_slowest(tmp_path):
    path = write(tmp_path, '[sweep.parameters]\n"optimizer.lr" = [0.01, 0.1]\n'
                           '"model.layers[0].out_features" = [4, 8, 16]\n')
    sweep = load_sweep(path, SMALL)
    assert [t.overrides for t in sweep.trials] == [
        {"optimizer.lr": lr, "model.layers[0].out_features": w} for lr in (0.01, 0.1) for w in (4, 8, 16)]
    assert [t.name for t in sweep.trials][-1] == "trial-0005"
    spec = sweep.trials[4].spec  # lr 0.1, width 8: the full spec, without the sweep section
    assert spec["optimizer"]["lr"] == 0.1 and spec["model"]["layers"][0]["out_features"] == 8
    assert "sweep" not in spec and spec["trainer"]["epochs"] == 3
    assert (sweep.objective, sweep.mode) == ("val_r2", "max")  # the experiment's target, to be maximised


def test_unquoted_keys_in_toml_mean_the_same_dotted_path(tmp_path):
    quoted = load_sweep(write(tmp_path, '[sweep.parameters]\n"optimizer.lr" = [0.01, 0.1]\n', name="a.toml"), SMALL)
    bare = load_sweep(write(tmp_path, '[sweep.parameters]\noptimizer.lr = [0.01, 0.1]\n', name="b.toml"), SMALL)
    assert [t.overrides for t in bare.trials] == [t.overrides for t in quoted.trials]


def test_a_random_search_is_seeded_and_draws_within_each_distribution(tmp_path):
    path = write(tmp_path, '[sweep]\nn_trials = 400\nseed = 7\n[sweep.parameters]\n'
                           '"optimizer.lr" = { type = "loguniform", low = 0.0001, high = 1.0 }\n'
                           '"optimizer.momentum" = { type = "uniform", low = 0.5, high = 0.9 }\n'
                           '"model.layers[0].out_features" = { type = "int", low = 2, high = 4 }\n'
                           '"seed" = { type = "choice", values = [1, 2] }\n'
                           '"trainer.batch_size" = [16, 64]\n')
    spec = Experiment.from_dict(__import__("framework.config_files", fromlist=["read_config"])
                                .read_config(path)).sweep
    draws = expand(spec, seed=7)
    assert draws == expand(spec, seed=7) and draws != expand(spec, seed=8)
    assert expand(spec.model_copy(update={"n_trials": 8}), seed=7) == draws[:8]   # --n-trials 8: the first 8
    lr = np.array([d["optimizer.lr"] for d in draws])
    assert lr.min() >= 1e-4 and lr.max() <= 1.0
    # log-uniform: each decade equally likely, so about a quarter fall below 1e-3 (uniform would give 0.1%)
    assert 0.17 < np.mean(lr < 1e-3) < 0.33
    mom = np.array([d["optimizer.momentum"] for d in draws])
    assert 0.5 <= mom.min() and mom.max() <= 0.9 and abs(mom.mean() - 0.7) < 0.03
    widths = [d["model.layers[0].out_features"] for d in draws]
    assert set(widths) == {2, 3, 4} and all(type(w) is int for w in widths)   # both ends included
    assert {d["seed"] for d in draws} == {1, 2} and {d["trainer.batch_size"] for d in draws} == {16, 64}


def test_grid_on_the_command_line(tmp_path):
    assert parse_grid("optimizer.lr=0.01,0.1,1") == ("optimizer.lr", [0.01, 0.1, 1])
    assert parse_grid("optimizer.type=sgd,adam") == ("optimizer.type", ["sgd", "adam"])
    with pytest.raises(ConfigError, match="expected KEY=V1,V2"):
        parse_grid("optimizer.lr")
    sweep = load_sweep(SIGMOID, SMALL, grid=["optimizer.lr=0.01,0.1,1"])
    assert [t.overrides["optimizer.lr"] for t in sweep.trials] == [0.01, 0.1, 1]


# -- validation before anything runs ----------------------------------------------------------
def test_every_trial_is_validated_with_dotted_paths_before_anything_runs(tmp_path):
    path = write(tmp_path, '[sweep.parameters]\n"optimizer.lrr" = [0.1, 0.2]\n"trainer.epochs" = [2, 0, -1]\n'
                           '"model.layers[7].out_features" = [3]\n')
    with pytest.raises(ConfigError) as info:
        load_sweep(path)
    problems = dict(info.value.problems)
    assert isinstance(info.value, ValueError) and info.value.source == str(path)
    assert problems["optimizer.lrr"].startswith("unknown")
    assert "did you mean lr?" in problems["optimizer.lrr"] and problems["optimizer.lrr"].endswith("[every trial]")
    msg = problems["model.layers[7].out_features"]
    assert "there is no item [7] here" in msg and "[every trial]" in msg
    rejected = [m for p, m in info.value.problems if p == "trainer.epochs"]
    assert rejected == [
        "Input should be greater than 0. Received: 0 (trainer.epochs=0) [trial-0001, trial-0004]",
        "Input should be greater than 0. Received: -1 (trainer.epochs=-1) [trial-0002, trial-0005]"]


def test_a_value_the_component_rejects_names_its_trials(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_sweep(SIGMOID, SMALL, grid=["optimizer.type=sgd,sgdd", "model.layers[1].type=tanh,sigmoidd"])
    problems = info.value.problems
    assert any(p == "optimizer.type" and re.fullmatch(
        r"can't find 'sgdd' in registry optimizers. Did you mean 'sgd'\? Available names: adam, ([a-z_]+, )*sgd\b.*"
        r"\. \(optimizer.type=sgdd\) \[trial-0002, trial-0003\]", m) for p, m in problems)
    assert any(p == "model.layers[1].type" and m.endswith("(model.layers[1].type=sigmoidd) [trial-0001, trial-0003]")
               for p, m in problems)


def test_sweep_section_problems_and_objective(tmp_path):
    bad = write(tmp_path, '[sweep]\nmode = "up"\nobjective = "val_r3"\n[sweep.parameters]\n'
                          '"optimizer.lr" = { type = "loguniform", low = 0, high = 1 }\n'
                          '"seed" = { type = "normal" }\n"trainer.epochs" = 3\n')
    with pytest.raises(ConfigError) as info:
        load_sweep(bad)
    assert dict(info.value.problems) == {
        'sweep.parameters."optimizer.lr".low': "Input should be greater than 0. Received: 0",
        'sweep.parameters."seed"': "unknown distribution 'normal'; use one of: uniform, loguniform, int, choice",
        'sweep.parameters."trainer.epochs"': 'expected a list of values (a grid) or a distribution such as '
                                             '{ type = "loguniform", low = 0.0001, high = 1 }. Received: 3',
        "sweep.mode": "Input should be 'min' or 'max'. Received: 'up'"}
    with pytest.raises(ConfigError, match=r"sweep.objective: 'val_r3' is not a log the trials produce; did you "
                                          r"mean 'val_r2'\? they log: loss, lr, r2, mae, val_loss"):
        load_sweep(write(tmp_path, '[sweep]\nobjective = "val_r3"\n[sweep.parameters]\nseed = [1, 2]\n', name="o.toml"))
    with pytest.raises(ConfigError, match=r'sweep.parameters."optimizer.lr": a distribution needs a random search'):
        load_sweep(write(tmp_path, '[sweep.parameters]\n"optimizer.lr" = { type = "uniform", low = 0.1, high = 1 }\n',
                         name="d.toml"))
    with pytest.raises(ConfigError, match="low must not exceed high. Received: low=2, high=1"):
        load_sweep(write(tmp_path, '[sweep]\nn_trials = 2\n[sweep.parameters]\n'
                                   'seed = { type = "int", low = 2, high = 1 }\n', name="i.toml"))
    with pytest.raises(ConfigError, match=r"sweep: the experiment has no \[sweep\] section; add one, or give --grid"):
        load_sweep(SIGMOID)


def test_objective_defaults_to_val_loss_then_loss(tmp_path):
    text = SIGMOID.read_text().split("[targets]")[0]
    base = tmp_path / "base.toml"
    base.write_text(text)
    sweep = load_sweep(base, SMALL, grid=["seed=1,2"])
    assert (sweep.objective, sweep.mode) == ("val_loss", "min")
    sweep = load_sweep(base, SMALL + ["data.validation_split=0.0"], grid=["seed=1,2"])
    assert (sweep.objective, sweep.mode) == ("loss", "min")


def test_data_problems_are_found_before_anything_runs(tmp_path, capsys):
    exp = tmp_path / "e.toml"
    exp.write_text(SIGMOID.read_text().replace('type = "synthetic_nonlinear"',
                                               'type = "csv"\npath = "nope.csv"\ntarget_columns = ["y"]')
                   .replace("n_samples = 2000\nnoise = 0.05\n", ""))
    code = main(["sweep", str(exp), "--grid", "seed=1,2", "--sweeps-dir", str(tmp_path / "sweeps")])
    err = capsys.readouterr().err
    assert code == 2 and "nope.csv: file does not exist" in err and "[every trial]" in err
    assert not (tmp_path / "sweeps").exists()
    # what only building a trial on its data shows (as `minidl validate` would), for the trials concerned
    with pytest.raises(ConfigError) as info:
        load_sweep(SIGMOID, grid=["model.layers[2].out_features=1,3"])
    assert info.value.problems == [("model.layers[2].out_features", "the model outputs 3 rows, so the loss 'mse' needs 3 target "
                                                       "row(s), but the data has 1; set model.layers[2].out_features = 1, one output row "
                                                       "per target row [trial-0001]")]


# -- running ------------------------------------------------------------------------------
def test_a_local_sweep_writes_run_directories_that_reproduce_alone(tmp_path, capsys):
    code = main(["sweep", str(SIGMOID), "--grid", "optimizer.lr=0.01,0.1", "--set", SMALL[0], "--set", SMALL[1],
                 "--jobs", "2", "--sweeps-dir", str(tmp_path / "sweeps"), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    sweep_dir = next((tmp_path / "sweeps").iterdir())
    assert sweep_dir.name.startswith("sigmoid_mlp-")
    rows = read_csv(sweep_dir / "results.csv")
    values = [float(r["val_r2"]) for r in rows]
    assert values == sorted(values, reverse=True) and values[0] != values[1] and {r["status"] for r in rows} == {"ok"}
    best = rows[0]["trial"]
    lr = {"trial-0000": "0.01", "trial-0001": "0.1"}[best]
    assert list(rows[0])[:4] == ["trial", "optimizer.lr", "val_r2", "loss"] and rows[0]["optimizer.lr"] == lr
    md = (sweep_dir / "results.md").read_text().splitlines()
    assert md[0].startswith("| trial | `optimizer.lr` | val_r2 (max) | loss |") and md[2].startswith(f"| {best} | {lr} |")
    assert f"best: {best}, val_r2 {values[0]:.6g} (max), with optimizer.lr={lr}" in out
    assert f"run directory: {sweep_dir / best}" in out and f"sweep directory: {sweep_dir}" in out
    for row in rows:
        trial_dir = sweep_dir / row["trial"]
        assert {"experiment.toml", "metrics.csv", "checkpoints", "summary.json"} <= {p.name for p in trial_dir.iterdir()}
        stored = (trial_dir / "experiment.toml").read_text()
        assert "[sweep" not in stored
        # Run alone, in this process, from the trial's own experiment.toml: bit for bit the same.
        from framework.experiment import load_experiment

        alone = run_experiment(load_experiment(trial_dir / "experiment.toml"), run_dir=tmp_path / f"alone-{row['trial']}",
                               progress=False)
        assert float(row["val_r2"]) == alone.summary["final"]["val_r2"]
        assert json.loads((trial_dir / "summary.json").read_text())["final"] == alone.summary["final"]
        assert (trial_dir / "metrics.csv").read_text() == (tmp_path / f"alone-{row['trial']}" / "metrics.csv").read_text()
        # and it is a run directory like any other: its model loads and predicts what the run alone's does
        from framework import load_model

        X = np.random.default_rng(0).standard_normal((2, 5))
        np.testing.assert_array_equal(load_model(trial_dir).predict(X),
                                      load_model(tmp_path / f"alone-{row['trial']}").predict(X))


def test_worker_processes_get_one_blas_thread_when_several_run(tmp_path):
    import multiprocessing

    from framework.sweep_backends import BLAS_VARIABLES, LocalBackend, _Worker

    before = {k: os.environ.get(k) for k in BLAS_VARIABLES}
    context = multiprocessing.get_context("spawn")
    for threads, expected in ((1, "1"), (None, None)):
        worker = _Worker(context, threads)
        _wait_for(lambda: "PATH=" in Path(f"/proc/{worker.process.pid}/environ").read_text())  # exec'd
        environ = dict(item.split("=", 1) for item in
                       Path(f"/proc/{worker.process.pid}/environ").read_text().split("\0") if "=" in item)
        worker.stop()
        worker.close()
        assert environ.get("OPENBLAS_NUM_THREADS") == (expected or before["OPENBLAS_NUM_THREADS"])
        assert environ.get("OMP_NUM_THREADS") == (expected or before["OMP_NUM_THREADS"])
    assert {k: os.environ.get(k) for k in BLAS_VARIABLES} == before   # the sweep's own process is unchanged
    seen = []
    tasks = [{"name": f"trial-{i:04d}", "spec": {"bad": True}, "run_dir": str(tmp_path / f"t{i}")} for i in range(2)]
    LocalBackend(2).run(tasks, seen.append)
    assert {r["status"] for r in seen} == {"failed"}   # an invalid spec fails its trial, the pool goes on
    assert all("bad: unknown field" in r["error"] for r in seen)


def test_workers_fork_only_where_the_blas_can_still_be_limited(monkeypatch):
    from framework.sweep_backends import start_method

    monkeypatch.delenv("MINIDL_SWEEP_START", raising=False)
    monkeypatch.setitem(sys.modules, "ray", None)   # Ray not running in this process
    assert start_method(None) == "fork"               # one worker: nothing to limit
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)   # not installed: import fails
    assert start_method(1) == "spawn"                 # the BLAS variables must be set before numpy loads
    monkeypatch.setenv("MINIDL_SWEEP_START", "fork")
    assert start_method(1) == "fork"

    class RunningRay:
        @staticmethod
        def is_initialized():
            return True

    monkeypatch.delenv("MINIDL_SWEEP_START")
    monkeypatch.setitem(sys.modules, "ray", RunningRay)
    assert start_method(None) == "spawn"              # Ray's threads do not survive a fork


def test_a_failing_trial_is_recorded_and_never_stops_the_others(tmp_path, capsys):
    code = main(["sweep", str(SIGMOID), "--grid", "optimizer.lr=1e6,0.1", "--set", SMALL[0], "--set", SMALL[1],
                 "--jobs", "2", "--sweeps-dir", str(tmp_path), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    sweep_dir = next(tmp_path.iterdir())
    rows = read_csv(sweep_dir / "results.csv")
    assert [(r["trial"], r["status"]) for r in rows] == [("trial-0001", "ok"), ("trial-0000", "failed")]
    assert re.match(r"the loss became (inf|nan) at epoch \d+, batch \d+ of 8; training stopped", rows[1]["error"])
    assert "| trial-0000 | 1e+06 |" in out and "| failed: the loss became" in out
    assert "2 trials: 1 ok, 1 failed" in out or "2 trials: 1 failed, 1 ok" in out


def _children(pid):
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry))
    return kids


def _wait_for(predicate, timeout=60, proc=None):
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline or (proc is not None and proc.poll() is not None):
            if proc is not None:
                proc.kill()
                out, err = proc.communicate()
                raise AssertionError(f"timed out (exit status {proc.returncode}): {err[-2000:]}")
            raise AssertionError("timed out")
        time.sleep(0.05)


@pytest.mark.slow
def test_a_killed_worker_fails_only_its_trial(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "framework", "sweep", str(SIGMOID), "--grid", "trainer.epochs=100000,2",
                             "--set", SMALL[1], "--jobs", "2", "--sweeps-dir", str(tmp_path), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: any(tmp_path.glob("*/trial-0000/checkpoints/*.npz")), proc=proc)
    _wait_for(lambda: any(tmp_path.glob("*/trial-0001/summary.json")), proc=proc)
    sweep_dir = next(tmp_path.iterdir())
    for pid in _children(proc.pid):  # the worker of trial-0000, and the idle one that ran trial-0001
        os.kill(pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    rows = {r["trial"]: r for r in read_csv(sweep_dir / "results.csv")}
    assert rows["trial-0001"]["status"] == "ok"
    assert rows["trial-0000"]["status"] == "failed"
    assert rows["trial-0000"]["error"] == "the worker process died (killed by signal 9 (SIGKILL)) during this trial"


@pytest.mark.slow
def test_ctrl_c_cancels_pending_keeps_finished_and_resume_completes_exactly(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "framework", "sweep", str(SIGMOID),
                             "--grid", "trainer.epochs=2,1000,2", "--set", SMALL[1], "--jobs", "1",
                             "--sweeps-dir", str(tmp_path), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: any(tmp_path.glob("*/trial-0001/checkpoints/*.npz")), proc=proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 130, err
    sweep_dir = next(tmp_path.iterdir())
    assert f"minidl: resume with: minidl sweep --resume {sweep_dir}" in err and "Traceback" not in err
    rows = {r["trial"]: r for r in read_csv(sweep_dir / "results.csv")}
    assert [rows[t]["status"] for t in ("trial-0000", "trial-0001", "trial-0002")] == ["ok", "interrupted", "cancelled"]
    assert (sweep_dir / "trial-0000" / "summary.json").exists() and not (sweep_dir / "trial-0002").exists()
    finished = (sweep_dir / "trial-0000" / "metrics.csv").read_text()

    done = subprocess.run([sys.executable, "-m", "framework", "sweep", "--resume", str(sweep_dir), "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = {r["trial"]: r for r in read_csv(sweep_dir / "results.csv")}
    assert {r["status"] for r in rows.values()} == {"ok"}
    assert (sweep_dir / "trial-0000" / "metrics.csv").read_text() == finished   # skipped, untouched
    summary = json.loads((sweep_dir / "trial-0001" / "summary.json").read_text())
    assert summary["resumed_from"] and summary["epochs"] == 1000
    from framework.experiment import load_experiment

    alone = run_experiment(load_experiment(sweep_dir / "trial-0001" / "experiment.toml"), progress=False)
    assert summary["final"] == alone.summary["final"]   # resumed from its checkpoint, bit for bit


def test_resume_needs_a_sweep_directory(tmp_path, capsys):
    assert main(["sweep", "--resume", str(tmp_path)]) == 1
    assert f"{tmp_path} is not a sweep directory: it has no sweep.json" in capsys.readouterr().err
    with pytest.raises(SweepError):
        load_state(tmp_path)
    (tmp_path / "sweep.json").write_text("[" * 100_000 + "]" * 100_000)   # untrusted: never a RecursionError
    with pytest.raises(SweepError, match=r"sweep.json is damaged \(the document nests arrays or objects more than 32 deep"):
        load_state(tmp_path)
    (tmp_path / "sweep.json").write_text(json.dumps({"format_version": 1, "name": "x", "parameters": [], "mode": "min",
                                                     "objective": "loss", "trials": [
                                                         {"index": 0, "overrides": {}, "spec": {}},
                                                         {"index": 0, "overrides": {}, "spec": {}}]}))
    with pytest.raises(SweepError, match=r"damaged \(InvalidValueError: trial numbers must be distinct and non-negative\); it cannot be resumed"):
        load_state(tmp_path)
    (tmp_path / "sweep.json").unlink()
    assert main(["sweep"]) == 2
    assert "give an experiment file, or --resume SWEEP_DIR" in capsys.readouterr().err
    assert main(["sweep", str(SIGMOID), "--grid", "seed=1", "--backend", "local", "--address", "x:1"]) == 1
    assert "--address is for the ray backend" in capsys.readouterr().err


def test_plots_of_a_sweep_are_images_and_log_scaled_where_the_values_are(tmp_path):
    pytest.importorskip("matplotlib")
    from framework.sweep import _log_spaced, markdown_table

    assert _log_spaced([0.01, 0.1, 1]) and _log_spaced([0.01, 0.03, 0.1, 0.3])
    assert not _log_spaced([16, 32, 48]) and not _log_spaced([1, 50, 100]) and not _log_spaced([0.1, 1])
    assert not _log_spaced([2, 150, 2]) and not _log_spaced(["sgd", "adam", "x"])
    path = write(tmp_path, '[sweep]\nn_trials = 3\n[sweep.parameters]\n'
                           '"optimizer.lr" = { type = "loguniform", low = 0.01, high = 1.0 }\n'
                           '"optimizer.momentum" = { type = "uniform", low = 0.0, high = 0.9 }\n')
    outcome = run_sweep(load_sweep(path, SMALL), sweeps_dir=tmp_path / "s", jobs=1, progress=False)
    assert outcome.sweep.log_scale == ["optimizer.lr"]
    assert load_state(outcome.sweep_dir)[0].log_scale == ["optimizer.lr"]   # kept for --resume
    for name in ("objective.png", "curves.png"):
        assert (outcome.sweep_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert markdown_table(outcome).count("\n") == 2 + 3 - 1


def test_a_sweep_being_run_is_locked_and_a_stale_lock_is_taken_over(tmp_path, capsys):
    import socket

    from framework.rundir import RunLock

    assert main(["sweep", str(SIGMOID), "--grid", "seed=1", "--set", SMALL[0], "--set", SMALL[1], "--jobs", "1",
                 "--sweeps-dir", str(tmp_path), "--quiet"]) == 0
    sweep_dir = next(tmp_path.iterdir())
    assert not (sweep_dir / ".lock").exists()   # released at the end
    finished = (sweep_dir / "trial-0000" / "summary.json").read_text()
    capsys.readouterr()
    with RunLock(sweep_dir):   # as another live `minidl sweep --resume` would hold it
        assert main(["sweep", "--resume", str(sweep_dir), "--quiet"]) == 1
    assert f"{sweep_dir} is in use by a live run (pid {os.getpid()} on host" in capsys.readouterr().err
    (sweep_dir / ".lock").write_text(json.dumps({"pid": 999_999_999, "host": socket.gethostname()}))   # left behind
    assert main(["sweep", "--resume", str(sweep_dir), "--quiet"]) == 0
    assert "1 trial: 1 ok" in capsys.readouterr().out
    assert not (sweep_dir / ".lock").exists()
    assert (sweep_dir / "trial-0000" / "summary.json").read_text() == finished   # finished: skipped


def test_a_trial_killed_before_its_first_checkpoint_starts_again_keeping_foreign_files(tmp_path):
    from framework.sweep_backends import _clear_unstarted

    trial = tmp_path / "trial-0003"
    (trial / "checkpoints").mkdir(parents=True)
    for name in ("experiment.toml", "metrics.csv", ".metrics.csv.abcd1234.tmp", "notes.txt"):
        (trial / name).write_text("x")
    (trial / "checkpoints" / ".checkpoint-e00001-b0000000.npz.abcd1234.tmp").write_text("x")
    _clear_unstarted(trial)
    assert sorted(p.name for p in trial.iterdir()) == ["notes.txt"]   # not minidl's: kept
