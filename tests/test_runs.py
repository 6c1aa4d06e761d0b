"""Runs you can trust: resume from the run directory, honest early stopping, crash consistency.

Each measured case of issue 9 is replayed here; the subprocess tests send
real signals to a real ``minidl run``.
"""

import csv
import errno
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from framework import load_experiment, load_model, run_experiment
from framework.checkpoint import find_checkpoints, load_checkpoint
from framework.cli import main
from framework.errors import CheckpointError, RunLockedError
from framework.rundir import RunLock

ROOT = Path(__file__).resolve().parents[1]
MOONS = ROOT / "experiments" / "moons_classifier.toml"

SMALL = """\
name = "small"
seed = 3

[model]
layers = [{ type = "linear", out_features = 8 }, { type = "tanh" }, { type = "linear", out_features = 1 }]

[loss]
type = "mse"

[optimizer]
type = "sgd"
lr = 0.05
momentum = 0.9

[data]
validation_split = 0.25

[data.source]
type = "synthetic_nonlinear"
n_samples = 200
noise = 0.05

[trainer]
epochs = 4
batch_size = 20
metrics = ["r2"]
"""


@pytest.fixture
def small(tmp_path):
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    return path


def shown(doc: str, starts: str) -> str:
    """The ```text block of docs/DOC that starts with ``starts`` (the docs show real output)."""
    blocks = re.findall(r"```text\n(.*?)```", (ROOT / "docs" / doc).read_text(), re.S)
    (block,) = [b for b in blocks if b.lstrip().startswith(starts)]
    return textwrap.dedent(block)


def matches(shown_text: str, actual: str) -> bool:
    """``actual`` as the docs show it; ``...`` in the docs stands for anything."""
    pattern = ".*?".join(re.escape(part) for part in shown_text.strip().split("..."))
    return re.fullmatch(pattern, actual.strip(), re.S) is not None


def run_cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def only_run_dir(runs: Path) -> Path:
    (run_dir,) = list(runs.iterdir())
    return run_dir


def metric_epochs(run_dir: Path) -> list[int]:
    with open(run_dir / "metrics.csv", newline="") as fh:
        return [int(row["epoch"]) for row in csv.DictReader(fh)]


def test_resume_needs_no_file_and_follows_the_stored_spec(tmp_path, small, capsys):
    runs = tmp_path / "runs"
    run_cli(capsys, "run", str(small), "--runs-dir", str(runs), "--set", "trainer.epochs=2",
            "--set", "optimizer.lr=0.02", "--quiet")
    run_dir = only_run_dir(runs)
    stored = (run_dir / "experiment.toml").read_bytes()
    small.unlink()  # the experiment file is not needed any more
    code, out, err = run_cli(capsys, "run", "--resume", str(run_dir), "--set", "trainer.epochs=4", "--quiet")
    assert code == 0, err
    assert "small: 4 epochs" in out and f"run directory: {run_dir}" in out
    assert (run_dir / "experiment.toml").read_bytes() == stored  # never rewritten
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["spec_changes"] == [{"path": "trainer.epochs", "stored": 2, "new": 4}]
    assert metric_epochs(run_dir) == [1, 2, 3, 4]
    # The result is the one a run of 4 epochs with the same overrides gives, bit for bit.
    exp = load_experiment(run_dir / "experiment.toml", ["trainer.epochs=4"])
    whole = run_experiment(exp, progress=False)
    assert summary["final"] == whole.summary["final"]
    assert load_checkpoint(find_checkpoints(run_dir)[-1]).spec["optimizer"]["lr"] == 0.02


@pytest.mark.parametrize("change, paths", [
    (["--set", "optimizer.lr=0.5"], ["optimizer.lr: stored 0.02, new 0.5"]),
    (["FILE:tanh->sigmoid"], ['model.layers[1].type: stored "tanh", new "sigmoid"']),
    (["FILE:n_samples = 200->n_samples = 300", "--set", "seed=4"],
     ["seed: stored 3, new 4", "data.source.n_samples: stored 200, new 300"]),
])
def test_resume_refuses_a_change_of_the_computation_listing_every_path(tmp_path, small, capsys, change, paths):
    runs = tmp_path / "runs"
    run_cli(capsys, "run", str(small), "--runs-dir", str(runs), "--set", "trainer.epochs=2",
            "--set", "optimizer.lr=0.02", "--quiet")
    run_dir = only_run_dir(runs)
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    args = ["run", "--resume", str(run_dir), "--set", "trainer.epochs=4", "--quiet"]
    for item in change:
        if item.startswith("FILE:"):
            old, new = item[5:].split("->")
            edited = tmp_path / "edited.toml"
            edited.write_text(small.read_text().replace(old, new).replace("lr = 0.05", "lr = 0.02"))
            args.insert(1, str(edited))
        else:
            args.append(item)
    code, out, err = run_cli(capsys, *args)
    assert code == 2 and "Traceback" not in err
    for line in paths:
        assert f"  {line}\n" in err
    count = f"{len(paths)} problem{'s' if len(paths) > 1 else ''} in"
    assert count in err and "trainer.epochs" not in err.split(" in ")[1].split("a resume")[0]
    assert f"--init-from {run_dir}" in err
    if change == ["--set", "optimizer.lr=0.5"]:
        assert matches(shown("checkpoints.md", "minidl: error: 1 problem in --set"),
                       err.replace(str(run_dir), "runs/small-20261128-170000"))
    after = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    assert after == before  # nothing trained, nothing rewritten


def test_resume_accepts_a_component_argument_written_out_with_its_default(tmp_path, small, capsys):
    # synthetic_nonlinear's seed defaults to 0 and the run left it out; writing it out (in a file
    # or with --set) changes nothing computed, so it is no difference. Another value still is one.
    runs = tmp_path / "runs"
    run_cli(capsys, "run", str(small), "--runs-dir", str(runs), "--set", "trainer.epochs=2", "--quiet")
    run_dir = only_run_dir(runs)
    code, out, err = run_cli(capsys, "run", "--resume", str(run_dir), "--set", "trainer.epochs=3",
                             "--set", "data.source.seed=1", "--quiet")  # the refusal says what "absent" means
    assert code == 2 and "  data.source.seed: stored (absent) = default 0, new 1\n" in err
    spelled = tmp_path / "spelled.toml"
    spelled.write_text(small.read_text().replace("noise = 0.05\n", "noise = 0.05\nseed = 0\nn_features = 2\n")
                       .replace("momentum = 0.9\n", "momentum = 0.9\nnesterov = false\n"))
    code, out, err = run_cli(capsys, "run", str(spelled), "--resume", str(run_dir), "--set", "trainer.epochs=3",
                             "--quiet")
    assert code == 0, err
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["spec_changes"] == [{"path": "trainer.epochs", "stored": 2, "new": 3}]
    assert metric_epochs(run_dir) == [1, 2, 3]
    code, out, err = run_cli(capsys, "run", "--resume", str(run_dir), "--set", "trainer.epochs=4",
                             "--set", "data.source.seed=1", "--quiet")
    assert code == 2 and "  data.source.seed: stored 0, new 1\n" in err
    code, out, err = run_cli(capsys, "run", "--resume", str(run_dir), "--set", "trainer.epochs=4",
                             "--set", "data.source.seed=0", "--quiet")
    assert code == 0, err
    assert metric_epochs(run_dir) == [1, 2, 3, 4]


def test_resume_with_a_checkpoint_file_continues_in_its_run_directory(tmp_path, small, capsys):
    runs = tmp_path / "runs"
    small.write_text(SMALL + '\n[[trainer.callbacks]]\ntype = "checkpoint"\ndirectory = "ckpts"\nkeep_last = 5\n')
    run_cli(capsys, "run", str(small), "--runs-dir", str(runs), "--set", "trainer.epochs=3", "--quiet")
    run_dir = only_run_dir(runs)
    assert not (run_dir / "checkpoints").exists()
    second = run_dir / "ckpts" / "checkpoint-e00002-b000000.npz"
    code, out, err = run_cli(capsys, "run", "--resume", str(second), "--set", "trainer.epochs=4", "--quiet")
    assert code == 0, err
    assert f"run directory: {run_dir}" in out
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["resumed_from"] == str(second) and summary["epochs"] == 4
    assert metric_epochs(run_dir) == [1, 2, 3, 4]  # epoch 3's row came after that checkpoint: replaced, once
    # a checkpoint callback writing to "ckpts" is found by a resume of the directory
    code, out, err = run_cli(capsys, "run", "--resume", str(run_dir), "--set", "trainer.epochs=5", "--quiet")
    assert code == 0 and "small: 5 epochs" in out


def test_a_kill_between_the_metrics_row_and_the_checkpoint_leaves_no_duplicate(tmp_path, small, capsys):
    runs = tmp_path / "runs"
    run_cli(capsys, "run", str(small), "--runs-dir", str(runs), "--set", "trainer.epochs=3", "--quiet")
    run_dir = only_run_dir(runs)
    # What SIGKILL after epoch 3's row but before its checkpoint leaves: a row past the newest
    # checkpoint, plus half of the next row, and the temporary file of a killed save.
    (run_dir / "checkpoints" / "checkpoint-e00003-b000000.npz").unlink()
    with open(run_dir / "metrics.csv", "a") as fh:
        fh.write("4,0.1,0.0")
    ckpts = run_dir / "checkpoints"
    killed_save = ckpts / ".checkpoint-e00003-b000000.npz.k1ll3d_x.tmp"
    killed_save.write_bytes(b"PK half")
    not_ours = [ckpts / ".notes.tmp", ckpts / "checkpoint-e00003-b000000.npz.tmp", run_dir / ".summary.json.abcdefgh.tmp"]
    for p in not_ours:
        p.write_text("keep")
    code, out, err = run_cli(capsys, "run", "--resume", str(run_dir), "--set", "trainer.epochs=4", "--quiet")
    assert code == 0, err
    assert metric_epochs(run_dir) == [1, 2, 3, 4]
    assert not killed_save.exists() and all(p.read_text() == "keep" for p in not_ours)


def test_resume_never_holds_an_epoch_twice_in_jsonl_either(tmp_path, small, capsys):
    small.write_text(SMALL + '\n[[trainer.callbacks]]\ntype = "metrics_logger"\npath = "log.jsonl"\n')
    runs = tmp_path / "runs"
    run_cli(capsys, "run", str(small), "--runs-dir", str(runs), "--set", "trainer.epochs=3", "--quiet")
    run_dir = only_run_dir(runs)
    (run_dir / "checkpoints" / "checkpoint-e00003-b000000.npz").unlink()
    assert main(["run", "--resume", str(run_dir), "--set", "trainer.epochs=4", "--quiet"]) == 0
    rows = [json.loads(line)["epoch"] for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert rows == [1, 2, 3, 4]


def test_an_unreadable_newest_checkpoint_is_named_with_the_intact_one_and_the_command(tmp_path, small, capsys):
    small.write_text(SMALL + '\n[[trainer.callbacks]]\ntype = "checkpoint"\nkeep_last = 5\n')
    runs = tmp_path / "runs"
    run_cli(capsys, "run", str(small), "--runs-dir", str(runs), "--set", "trainer.epochs=3", "--quiet")
    run_dir = only_run_dir(runs)
    newest = run_dir / "checkpoints" / "checkpoint-e00003-b000000.npz"
    newest.write_bytes(newest.read_bytes()[:100])
    code, out, err = run_cli(capsys, "run", "--resume", str(run_dir), "--set", "trainer.epochs=4", "--quiet")
    intact = run_dir / "checkpoints" / "checkpoint-e00002-b000000.npz"
    assert code == 1
    assert f"minidl: error: the newest checkpoint of {run_dir} is unreadable: {newest}" in err
    # The one command given is the one that works: no "resume with: minidl run --resume RUN_DIR",
    # which would stop at the same unreadable checkpoint.
    assert err.count("minidl run --resume") == 1 and "minidl: resume with:" not in err
    assert f"the newest intact checkpoint is {intact}; to resume from it (dropping what came after it): " \
           f"minidl run --resume {intact}\n" in err
    # No advice to resume the run directory itself: that is the command that just failed.
    assert "resume with" not in err and "the newest checkpoint is" not in err, err
    command = err.split("to resume from it (dropping what came after it): ")[1].split("\n")[0]
    code, out, err = run_cli(capsys, *command.split()[1:], "--set", "trainer.epochs=4", "--quiet")
    assert code == 0, err
    assert metric_epochs(run_dir) == [1, 2, 3, 4]


def test_init_from_starts_a_new_run_from_trained_weights(tmp_path, small, capsys):
    runs = tmp_path / "runs"
    small.write_text(SMALL.replace('type = "sgd"', 'type = "adam"').replace("momentum = 0.9\n", ""))
    run_cli(capsys, "run", str(small), "--runs-dir", str(runs), "--set", "trainer.epochs=4", "--quiet")
    (first,) = list(runs.iterdir())
    trained = load_model(first).state_dict()
    exp = load_experiment(small, ["trainer.epochs=1", "optimizer.lr=1e-12"])
    result = run_experiment(exp, init_from=first, runs_dir=runs, progress=False)
    assert result.run_dir != first and len(list(runs.iterdir())) == 2
    for name, p in result.model.named_parameters():  # lr 1e-12: the weights are the trained ones
        np.testing.assert_allclose(p.data, trained[name], rtol=0, atol=1e-9)
    assert result.trainer.optimizer.state_dict()["steps"] == 8  # fresh optimizer state: 8 steps of this run
    assert result.summary["initialized_from"] == str(first / "model.npz")
    carried = run_experiment(exp, init_from=first, init_optimizer=True, progress=False)
    assert carried.trainer.optimizer.state_dict()["steps"] == 4 * 8 + 8
    wider = load_experiment(small, ["model.layers[0].out_features=9"])
    with pytest.raises(CheckpointError, match=r"does not fit this model \(3 mismatches\):\n  0.W: file "
                                              r"has shape \(8, 2\), model has \(9, 2\)"):
        run_experiment(wider, init_from=first, progress=False)
    code, out, err = run_cli(capsys, "run", str(small), "--resume", str(first), "--init-from", str(first))
    assert code == 2 and "--init-from: cannot be combined with --resume" in err


def test_two_resumes_of_one_run_at_once_the_second_is_refused(tmp_path, small, capsys):
    runs = tmp_path / "runs"
    run_cli(capsys, "run", str(small), "--runs-dir", str(runs), "--set", "trainer.epochs=2", "--quiet")
    run_dir = only_run_dir(runs)
    with RunLock(run_dir):  # the first resume, still running
        code, out, err = run_cli(capsys, "run", "--resume", str(run_dir), "--set", "trainer.epochs=4", "--quiet")
    assert code == 1 and f"is in use by a live run (pid {os.getpid()} on host" in err
    # Not the hint of a stopped run: resuming now would be refused the same way.
    assert "resume with" not in err and "newest checkpoint" not in err
    assert metric_epochs(run_dir) == [1, 2]
    with pytest.raises(RunLockedError):
        with RunLock(run_dir):
            run_experiment(load_experiment(small), resume=run_dir)


def test_a_full_disk_while_checkpointing_names_the_file_and_what_is_intact(tmp_path, small, capsys, monkeypatch):
    import framework.checkpoint as checkpoint

    real = np.savez
    calls = []

    def savez(fh, **arrays):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fh, **arrays)

    monkeypatch.setattr(checkpoint.np, "savez", savez)
    runs = tmp_path / "runs"
    code, out, err = run_cli(capsys, "run", str(small), "--runs-dir", str(runs), "--quiet")
    run_dir = only_run_dir(runs)
    ckpt = run_dir / "checkpoints"
    assert code == 1 and "Traceback" not in err
    assert (f"minidl: error: cannot write {ckpt / 'checkpoint-e00003-b000000.npz'} (writing): [Errno 28] No space "
            f"left on device. checkpoint-e00003-b000000.npz was not created; nothing else was changed\n") in err
    assert (f"minidl: the newest checkpoint is {ckpt / 'checkpoint-e00002-b000000.npz'}\n"
            f"minidl: resume with: minidl run --resume {run_dir}\n") in err
    assert sorted(os.listdir(ckpt)) == ["checkpoint-e00001-b000000.npz", "checkpoint-e00002-b000000.npz"]
    doc = shown("checkpoints.md", "minidl: error: cannot write")
    assert matches(doc, err.replace(str(run_dir), "runs/small-20261128-170000"))
    monkeypatch.setattr(checkpoint.np, "savez", real)
    assert main(["run", "--resume", str(run_dir), "--quiet"]) == 0
    assert metric_epochs(run_dir) == [1, 2, 3, 4]


def test_run_directory_files_follow_the_umask(tmp_path, small, capsys):
    old = os.umask(0o022)
    try:
        run_cli(capsys, "run", str(small), "--runs-dir", str(tmp_path / "runs"), "--quiet")
    finally:
        os.umask(old)
    run_dir = only_run_dir(tmp_path / "runs")
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert len(files) >= 6
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in files} == {p.name: "0o644" for p in files}


# -- early stopping -----------------------------------------------------------------
def test_moons_summary_targets_and_saved_weights_describe_the_model_returned(tmp_path, capsys):
    code, out, err = run_cli(capsys, "run", str(MOONS), "--runs-dir", str(tmp_path), "--quiet")
    run_dir = only_run_dir(tmp_path)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["epochs"] == 60 and summary["best_epoch"] == 57 and summary["stopped_epoch"] is None
    assert summary["model_epoch"] == 57 and summary["restored_by"] == "val_loss"
    # An independent oracle: evaluate the returned weights (model.npz) on the validation split.
    exp = load_experiment(MOONS)
    result = run_experiment(exp, progress=False)
    weights = load_model(run_dir).state_dict()
    for name, p in result.model.named_parameters():
        np.testing.assert_array_equal(weights[name], p.data)
    from framework.experiment import prepare_data
    _, val, _ = prepare_data(exp)
    evaluated = result.trainer.evaluate(val.X, val.y, prefix="val_")
    assert summary["final"]["val_loss"] == evaluated["val_loss"]
    assert summary["final"]["val_accuracy"] == evaluated["val_accuracy"]
    history = result.history
    assert summary["final"]["val_loss"] == history["val_loss"][56] != history["val_loss"][59]
    assert summary["targets"]["val_accuracy"]["value"] == evaluated["val_accuracy"]
    assert f"restored epoch 57, val_loss {summary['final']['val_loss']:.6g} (the best of 60 epochs)\n" in out
    assert re.search(r"moons_classifier: 60 epochs in [0-9.]+ m?s; the model returned \(epoch 57\): loss ", out)
    doc = shown("trainer.md", "moons_classifier: 60 epochs")
    assert out.splitlines()[:3] == re.sub(r"in [0-9.]+ s;", re.search(r"in [0-9.]+ m?s;", out).group(0),
                                          doc).splitlines()
    code, out, err = run_cli(capsys, "run", "--resume", str(run_dir))
    assert code == 0 and "already completed 60 of 60 epochs; nothing to resume" in out


def test_stopping_early_is_said_in_one_line_recorded_and_not_resumed(tmp_path, capsys):
    runs = tmp_path / "runs"
    code, out, err = run_cli(capsys, "run", str(MOONS), "--runs-dir", str(runs), "--quiet",
                             "--set", "trainer.callbacks[0].patience=2", "--set", "trainer.epochs=200")
    run_dir = only_run_dir(runs)
    summary = json.loads((run_dir / "summary.json").read_text())
    stopped, best = summary["stopped_epoch"], summary["best_epoch"]
    assert stopped is not None and stopped < 200 and best == stopped - 2
    line = f"stopped early at epoch {stopped}; restored epoch {best}, val_loss {summary['final']['val_loss']:.6g}\n"
    assert line in out
    rows = list(csv.DictReader((run_dir / "metrics.csv").read_text().splitlines()))
    assert len(rows) == stopped and float(rows[best - 1]["val_loss"]) == summary["final"]["val_loss"]
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    code, out, err = run_cli(capsys, "run", "--resume", str(run_dir), "--set", "trainer.epochs=300")
    assert code == 0 and f"already stopped early at epoch {stopped}" in out and "nothing to resume" in out
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before


# -- real processes ---------------------------------------------------------------------
MINIDL = [sys.executable, "-m", "framework"]


def slow_small(tmp_path) -> Path:
    """SMALL with enough data that a run takes a few seconds (time to send a signal)."""
    path = tmp_path / "slow.toml"
    path.write_text(SMALL.replace("n_samples = 200", "n_samples = 8000").replace("epochs = 4", "epochs = 30"))
    return path


def wait_for_checkpoint(run_parent: Path, proc, timeout=60.0):
    deadline = time.time() + timeout
    while not list(run_parent.glob("*/checkpoints/checkpoint-*.npz")):
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.02)
    (run_dir,) = list(run_parent.iterdir())
    return run_dir


def as_command(printed: str) -> list[str]:
    words = printed.split()
    assert words[0] == "minidl"
    return MINIDL + words[1:]


@pytest.mark.slow
def test_ctrl_c_prints_the_resume_command_and_running_it_finishes_the_same_run(tmp_path):
    exp = slow_small(tmp_path)
    runs = tmp_path / "runs"
    proc = subprocess.Popen(MINIDL + ["run", str(exp), "--runs-dir", str(runs), "--set", "optimizer.lr=0.02",
                                      "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run_dir = wait_for_checkpoint(runs, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    printed = re.search(r"minidl: resume with: (.*)\n", err).group(1)
    assert printed == f"minidl run --resume {run_dir}"  # exactly: the overrides live in the stored spec
    done = subprocess.run(as_command(printed) + ["--quiet"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert metric_epochs(run_dir) == list(range(1, 31))
    whole = run_experiment(load_experiment(exp, ["optimizer.lr=0.02"]), progress=False)
    assert json.loads((run_dir / "summary.json").read_text())["final"] == whole.summary["final"]


@pytest.mark.slow
def test_sigkill_a_second_resume_is_refused_while_live_and_the_stale_lock_is_taken_over(tmp_path):
    exp = slow_small(tmp_path)
    runs = tmp_path / "runs"
    proc = subprocess.Popen(MINIDL + ["run", str(exp), "--runs-dir", str(runs), "--quiet", "--set",
                                      "trainer.epochs=100000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    run_dir = wait_for_checkpoint(runs, proc)
    second = subprocess.run(MINIDL + ["run", "--resume", str(run_dir), "--quiet"], capture_output=True, text=True,
                            timeout=60)
    assert second.returncode == 1 and f"is in use by a live run (pid {proc.pid} on host" in second.stderr
    proc.kill()
    proc.communicate()
    assert (run_dir / ".lock").exists()  # left behind by the killed process
    epochs = find_checkpoints(run_dir)[-1].name
    target = int(epochs[len("checkpoint-e"):][:5]) + 2
    done = subprocess.run(MINIDL + ["run", "--resume", str(run_dir), "--quiet", "--set", f"trainer.epochs={target}"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["stale_lock_taken_over"]["pid"] == proc.pid
    assert f"minidl: took over the lock of {run_dir} left by pid {proc.pid} on host " in done.stderr
    assert metric_epochs(run_dir) == list(range(1, target + 1)) and not (run_dir / ".lock").exists()
    whole = run_experiment(load_experiment(exp, [f"trainer.epochs={target}"]), progress=False)
    assert summary["final"] == whole.summary["final"]


@pytest.mark.slow
def test_concurrent_runs_started_together_never_share_a_directory(tmp_path):
    runs = tmp_path / "runs"
    procs = [subprocess.Popen(MINIDL + ["run", str(MOONS), "--runs-dir", str(runs), "--quiet",
                                        "--set", f"seed={seed}", "--set", "trainer.epochs=2"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for seed in range(4)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert "Traceback" not in err and "error" not in err, err
    dirs = sorted(runs.iterdir())
    assert len(dirs) == 4
    seeds = sorted(load_experiment(d / "experiment.toml").seed for d in dirs)
    assert seeds == [0, 1, 2, 3]
    for d in dirs:
        assert json.loads((d / "summary.json").read_text())["epochs"] == 2


def test_a_diverging_run_prints_the_resume_command_and_running_it_repeats_exactly(tmp_path, small, capsys):
    runs = tmp_path / "runs"
    small.write_text(SMALL.replace("epochs = 4", "epochs = 30"))
    code, out, err = run_cli(capsys, "run", str(small), "--runs-dir", str(runs), "--set", "optimizer.lr=0.8", "--quiet")
    run_dir = only_run_dir(runs)
    # the validation loss overflows first, at the end of epoch 26 (its last batch's loss, 1e304, is finite)
    assert code == 1 and "minidl: error: the validation loss (val_loss) became inf at epoch 26 (training loss" in err
    newest = run_dir / "checkpoints" / "checkpoint-e00025-b000000.npz"
    assert (f"minidl: the newest checkpoint is {newest}\nminidl: resume with: minidl run --resume {run_dir}\n"
            f"minidl: (a resume repeats the same computation exactly; to change it, start a new run from these "
            f"weights: minidl run EXPERIMENT --init-from {newest})\n") in err
    printed = re.search(r"resume with: minidl (.*)\n", err).group(1).split()
    code, out, err2 = run_cli(capsys, *printed, "--quiet")
    assert code == 1 and "the validation loss (val_loss) became inf at epoch 26" in err2  # the same run, exactly
    assert metric_epochs(run_dir) == list(range(1, 26))


def test_a_run_whose_validation_loss_is_nan_stops_at_that_epoch(tmp_path, capsys):
    """Trial 12: batch norm's running variance overflowed, val_loss was nan from epoch 1 while the
    training loss (1e304) stayed finite; all 20 epochs ran, then model.npz was refused and a resume
    from a checkpoint holding the same values was suggested."""
    runs = tmp_path / "runs"
    code, out, err = run_cli(capsys, "run", str(ROOT / "experiments" / "digits_mlp.toml"), "--set",
                             "optimizer.type=sgd", "--set", "optimizer.lr=1e8", "--quiet", "--runs-dir", str(runs))
    run_dir = only_run_dir(runs)
    assert code == 1
    assert re.search(r"minidl: error: the validation loss \(val_loss\) became nan at epoch 1 \(training loss "
                     r"[0-9.e+]+\); training stopped before the end of this epoch was recorded or saved", err), err
    assert f"minidl: the run directory {run_dir} has no checkpoint yet; nothing to resume\n" in err
    assert "refusing to save" not in err and "resume with" not in err
    assert not (run_dir / "checkpoints").exists() or not list((run_dir / "checkpoints").iterdir())
    assert not (run_dir / "model.npz").exists()


def test_an_edited_experiment_toml_is_refused_on_resume(tmp_path, small, capsys):
    runs = tmp_path / "runs"
    run_cli(capsys, "run", str(small), "--runs-dir", str(runs), "--set", "trainer.epochs=2", "--quiet")
    run_dir = only_run_dir(runs)
    spec = run_dir / "experiment.toml"
    spec.write_text(spec.read_text().replace("lr = 0.05", "lr = 0.07"))
    code, out, err = run_cli(capsys, "run", "--resume", str(run_dir), "--set", "trainer.epochs=3", "--quiet")
    assert code == 2
    assert f"1 problem in {spec}:\n  optimizer.lr: experiment.toml says 0.07, the checkpoint's stored spec 0.05\n" \
           f"experiment.toml was edited after the run started" in err
    assert metric_epochs(run_dir) == [1, 2]


def test_a_failed_metrics_append_names_the_file_and_keeps_the_rows(tmp_path, small, capsys, monkeypatch):
    from pathlib import Path as P

    real_open = P.open

    def failing_open(self, mode="r", *args, **kwargs):
        if self.name == "metrics.csv" and mode == "a" and metric_epochs(self.parent) == [1, 2]:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(P, "open", failing_open)
    runs = tmp_path / "runs"
    code, out, err = run_cli(capsys, "run", str(small), "--runs-dir", str(runs), "--quiet")
    run_dir = only_run_dir(runs)
    assert code == 1
    assert (f"minidl: error: cannot write {run_dir / 'metrics.csv'} (appending the row of epoch 3): [Errno 28] No "
            f"space left on device. metrics.csv still holds the rows of epochs 1 to 2 and nothing of this one\n") in err
    assert f"resume with: minidl run --resume {run_dir}\n" in err
    monkeypatch.undo()
    assert main(["run", "--resume", str(run_dir), "--quiet"]) == 0
    assert metric_epochs(run_dir) == [1, 2, 3, 4]


def test_stopping_early_without_restoring_says_it_kept_the_last_weights(tmp_path, capsys):
    code, out, err = run_cli(capsys, "run", str(MOONS), "--runs-dir", str(tmp_path), "--quiet",
                             "--set", "trainer.callbacks[0].patience=2", "--set", "trainer.epochs=200",
                             "--set", "trainer.callbacks[0].restore_best_weights=false")
    summary = json.loads((only_run_dir(tmp_path) / "summary.json").read_text())
    stopped = summary["stopped_epoch"]
    assert stopped is not None and summary["best_epoch"] is None and summary["model_epoch"] == stopped
    assert f"stopped early at epoch {stopped}; kept the last epoch's weights\n" in out
    rows = list(csv.DictReader((only_run_dir(tmp_path) / "metrics.csv").read_text().splitlines()))
    assert float(rows[-1]["val_loss"]) == summary["final"]["val_loss"]


def test_a_second_ctrl_c_stops_at_once_and_still_says_how_to_resume(tmp_path, small, capsys, monkeypatch):
    from framework.trainer import Trainer

    real = Trainer._run_batches

    def interrupted(self, *args, **kwargs):
        if self.epoch == 2:
            raise KeyboardInterrupt  # what the second Ctrl-C raises inside a step
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "_run_batches", interrupted)
    code, out, err = run_cli(capsys, "run", str(small), "--runs-dir", str(tmp_path / "runs"), "--quiet")
    run_dir = only_run_dir(tmp_path / "runs")
    assert code == 130
    assert err == (f"minidl: interrupted\nminidl: the newest checkpoint is "
                   f"{run_dir / 'checkpoints' / 'checkpoint-e00002-b000000.npz'}\n"
                   f"minidl: resume with: minidl run --resume {run_dir}\n")
    assert not (run_dir / ".lock").exists()
    monkeypatch.undo()
    assert main(["run", "--resume", str(run_dir), "--quiet"]) == 0 and metric_epochs(run_dir) == [1, 2, 3, 4]


def test_the_quickstart_shows_what_minidl_run_prints(tmp_path, capsys, monkeypatch):
    # docs/quickstart.md shows the three lines `minidl run experiments/sigmoid_mlp.toml` ends with;
    # only the wall time and the run directory's timestamp differ from run to run.
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "run", str(ROOT / "experiments" / "sigmoid_mlp.toml"), "--quiet")
    assert code == 0, err
    block = shown("quickstart.md", "sigmoid_mlp: 100 epochs")
    timed = re.compile(r" in [0-9.]+ s,")
    dated = re.compile(r"-\d{8}-\d{6}$", re.M)
    assert timed.search(block) and dated.search(block)
    assert dated.sub("-T", timed.sub(" in T,", out)).strip() == dated.sub("-T", timed.sub(" in T,", block)).strip()


# A spec holding a None that is not its default: batch norm's cumulative average (momentum = null, JSON only).
CUMULATIVE = {
    "name": "cumulative", "seed": 3,
    "model": {"layers": [{"type": "linear", "out_features": 8}, {"type": "batch_norm", "momentum": None},
                         {"type": "tanh"}, {"type": "linear", "out_features": 1}]},
    "loss": {"type": "mse"}, "optimizer": {"type": "adam", "lr": 0.01},
    "data": {"validation_split": 0.25, "source": {"type": "synthetic_nonlinear", "n_samples": 200}},
    "trainer": {"epochs": 2, "batch_size": 20},
}


def test_a_run_whose_spec_holds_a_none_stores_it_as_json_and_resumes_bit_for_bit(tmp_path, capsys):
    source = tmp_path / "cumulative.json"
    source.write_text(json.dumps(CUMULATIVE))
    code, _, err = run_cli(capsys, "run", str(source), "--runs-dir", str(tmp_path / "A"), "--quiet")
    assert code == 0, err
    run_dir = only_run_dir(tmp_path / "A")
    # TOML has no null: the spec is stored as JSON, and loads back equal to the one given
    assert not (run_dir / "experiment.toml").exists()
    stored = load_experiment(run_dir / "experiment.json")
    assert stored.to_dict() == load_experiment(source).to_dict()
    assert stored.to_dict()["model"]["layers"][1] == {"type": "batch_norm", "momentum": None}
    assert load_checkpoint(find_checkpoints(run_dir)[-1]).spec["model"]["layers"][1]["momentum"] is None
    code, out, err = run_cli(capsys, "run", "--resume", str(run_dir), "--set", "trainer.epochs=4", "--quiet")
    assert code == 0, err
    code, _, err = run_cli(capsys, "run", str(source), "--set", "trainer.epochs=4", "--runs-dir", str(tmp_path / "B"),
                           "--quiet")
    assert code == 0, err
    straight = only_run_dir(tmp_path / "B")
    assert (run_dir / "metrics.csv").read_text() == (straight / "metrics.csv").read_text()
    with np.load(run_dir / "model.npz") as resumed, np.load(straight / "model.npz") as whole:
        assert sorted(resumed.files) == sorted(whole.files)
        for key in resumed.files:
            np.testing.assert_array_equal(resumed[key], whole[key], err_msg=key)
        # the oracle: a cumulative average of the 4 epochs' batches is not what momentum 0.1 gives
        default = run_experiment(load_experiment(source, ["trainer.epochs=4", "model.layers[1].momentum=0.1"]),
                                 progress=False)
        assert not np.array_equal(whole["state/1.running_mean"],
                                  default.model.state_dict()["1.running_mean"])
    # a sweep's trial stores it the same way
    code, _, err = run_cli(capsys, "sweep", str(source), "--grid", "seed=3,4", "--sweeps-dir", str(tmp_path / "S"),
                           "--quiet")
    assert code == 0, err
    sweep_dir = only_run_dir(tmp_path / "S")
    assert json.loads((sweep_dir / "sweep-experiment.json").read_text())["model"]["layers"][1]["momentum"] is None
    assert not (sweep_dir / "sweep.toml").exists()
    trial = load_experiment(sweep_dir / "trial-0000" / "experiment.json")
    assert trial.to_dict()["model"]["layers"][1]["momentum"] is None
