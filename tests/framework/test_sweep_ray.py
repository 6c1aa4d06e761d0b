"""The Ray backend against a local Ray instance: the same tables as the local backend, trial by trial.

Skipped where Ray is not installed (pip install 'minidl[ray]'); marked ``ray`` and ``slow`` (starting Ray
takes seconds), so a quick loop can leave it out with -m "not slow".
"""

import csv
import json
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from framework.experiment import load_experiment  # noqa: E402
from framework.runner import run_experiment  # noqa: E402
from framework.sweep import load_sweep, run_sweep  # noqa: E402
from framework.sweep_backends import RayBackend  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
SIGMOID = ROOT / "experiments" / "sigmoid_mlp.toml"
SEARCH = ROOT / "experiments" / "sigmoid_mlp_search.toml"


@pytest.fixture(scope="module")
def local_ray():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def table(sweep_dir):
    """results.csv without the durations, which differ from run to run."""
    with open(sweep_dir / "results.csv", newline="") as fh:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(fh)]


@pytest.mark.parametrize("how", ["grid of 4", "random search of 8"])
def test_ray_and_local_give_identical_tables_and_trials_reproduce_alone(tmp_path, local_ray, how):
    if how == "grid of 4":
        sweep = load_sweep(SIGMOID, grid=["optimizer.lr=0.01,0.03,0.1,0.3"])
    else:
        sweep = load_sweep(SEARCH, n_trials=8)
    assert len(sweep.trials) == (4 if how == "grid of 4" else 8)
    local = run_sweep(sweep, sweeps_dir=tmp_path / "local", backend="local", jobs=2, progress=False)
    remote = run_sweep(sweep, sweeps_dir=tmp_path / "ray", backend=RayBackend(jobs=2), progress=False)
    assert ray.is_initialized()  # a Ray instance the sweep did not start is left running
    rows = table(local.sweep_dir)
    assert rows == table(remote.sweep_dir) and {r["status"] for r in rows} == {"ok"}
    assert (local.sweep_dir / "results.md").read_text().split("| duration")[0] == \
        (remote.sweep_dir / "results.md").read_text().split("| duration")[0]
    for row in (rows[0], rows[-1]):   # the best and the worst trial's directory, run alone: the same numbers
        trial_dir = remote.sweep_dir / row["trial"]
        alone = run_experiment(load_experiment(trial_dir / "experiment.toml"), progress=False)
        assert json.loads((trial_dir / "summary.json").read_text())["final"] == alone.summary["final"]
        assert float(row[sweep.objective]) == alone.summary["final"][sweep.objective]


def test_a_failing_trial_on_ray_is_recorded_and_the_others_finish(tmp_path, local_ray):
    sweep = load_sweep(SIGMOID, ["trainer.epochs=3", "data.source.n_samples=300"], grid=["optimizer.lr=1e6,0.1"])
    outcome = run_sweep(sweep, sweeps_dir=tmp_path, backend=RayBackend(), progress=False)
    assert outcome.results["trial-0001"]["status"] == "ok"
    assert outcome.results["trial-0000"]["status"] == "failed"
    assert outcome.results["trial-0000"]["error"].startswith("the loss became")


def test_the_local_cluster_is_recognised(local_ray):
    assert RayBackend().is_local()


def _children(pid):
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append((int(entry.name), cmdline))
    return kids


def test_a_killed_ray_worker_fails_only_its_trial(tmp_path, local_ray):
    import os
    import signal
    import threading
    import time

    sweep = load_sweep(SIGMOID, ["data.source.n_samples=300"], grid=["trainer.epochs=100000,2"])
    killed = []

    def kill_the_long_trial():
        deadline = time.time() + 120
        while time.time() < deadline and not (any(tmp_path.glob("*/trial-0000/checkpoints/*.npz"))
                                              and any(tmp_path.glob("*/trial-0001/summary.json"))):
            time.sleep(0.1)
        # the raylet of the Ray instance this test started is a child of this process; its workers are its children
        for raylet, _ in [k for k in _children(os.getpid()) if "raylet" in k[1]]:
            for pid, cmdline in _children(raylet):
                if "_ray_trial" in cmdline:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)

    killer = threading.Thread(target=kill_the_long_trial)
    killer.start()
    outcome = run_sweep(sweep, sweeps_dir=tmp_path, backend=RayBackend(jobs=2), progress=False)
    killer.join()
    assert killed
    assert outcome.results["trial-0001"]["status"] == "ok"
    assert outcome.results["trial-0000"]["status"] == "failed"
    assert outcome.results["trial-0000"]["error"].startswith(
        "WorkerCrashedError: The worker died unexpectedly while executing this task")
