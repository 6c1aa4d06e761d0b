"""Where a sweep's trials run: worker processes on this machine, or Ray tasks.

A backend receives tasks (``{"name", "spec", "run_dir", "resume"}``) and
reports one result per task (``{"name", "status", "final", "epochs",
"seconds", "error"}``) through a callback, as each finishes. Every trial runs
:func:`run_trial`, the same function on every backend, so results are
identical: the spec travels, and data that an experiment generates travels
as its seed (the worker generates it again).

* ``local`` (default): ``jobs`` worker processes (default: every core),
  each in its own process group so that Ctrl-C reaches the sweep, which
  forwards one interrupt to each running trial (that trial saves a
  checkpoint). With several workers, each BLAS library gets one thread
  (the environment variables set before numpy loads in the worker, and
  threadpoolctl when installed). A worker that dies fails only its trial;
  a new one takes its place.
* ``ray``: one Ray task per trial (``num_cpus=1``, no retries) on the
  cluster at ``address``, or on a local Ray instance started for the sweep.
"""

from __future__ import annotations

import os
import signal
import time
import warnings
from pathlib import Path
from typing import Any, Callable

from framework.errors import MinidlError

BLAS_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                  "NUMEXPR_NUM_THREADS", "BLIS_NUM_THREADS")
#: The files a fresh trial writes; a trial restarted from scratch removes only these.
TRIAL_FILES = ("experiment.toml", "experiment.json", "metrics.csv", "metrics.jsonl", "summary.json", "model.npz")
INTERRUPT_GRACE = 60.0  # seconds a running trial gets to save its checkpoint after Ctrl-C


def run_trial(task: dict[str, Any], blas_threads: int | None = None) -> dict[str, Any]:
    """Run one trial in its run directory; never raises for the trial's own failure.

    A ``resume`` task continues from the trial's newest checkpoint when it
    has one, and otherwise starts again (removing only the files a trial
    writes).
    """
    started = time.perf_counter()
    result: dict[str, Any] = {"name": task["name"], "status": "failed", "final": None, "epochs": None,
                              "seconds": None, "error": None}
    try:
        if blas_threads is not None:
            _limit_blas(blas_threads)
        from framework.checkpoint import latest_checkpoint
        from framework.experiment import Experiment
        from framework.runner import run_experiment

        run_dir = Path(task["run_dir"])
        from framework.runner import stored_spec_file

        # Named as the file the trial stores (experiment.json when its spec holds a None).
        experiment = Experiment.from_dict(task["spec"], source=str(run_dir / stored_spec_file(task["spec"])[0]))
        resume = None
        if task.get("resume") and run_dir.is_dir():
            if latest_checkpoint(run_dir / "checkpoints") is not None:
                resume = run_dir
            else:
                _clear_unstarted(run_dir)
        else:
            # Exclusive, and under this exact name (not create_unique_dir's "-2"): the sweep's table,
            # sweep.json and --resume name each trial's directory by its number.
            run_dir.mkdir()
        run = run_experiment(experiment, run_dir=None if resume else run_dir, resume=resume, progress=False)
        result.update(status="ok", final={k: float(v) for k, v in run.summary["final"].items()},
                      epochs=int(run.summary["epochs"]))
    except KeyboardInterrupt as exc:  # TrainingInterrupted too: the checkpoint is saved
        result.update(status="interrupted", error=str(exc) or "interrupted before training")
    except Exception as exc:  # a trial's failure is its result, never the sweep's
        message = str(exc) if isinstance(exc, MinidlError) else f"{type(exc).__name__}: {exc}"
        result.update(status="failed", error=" ".join(message.split()))
    result["seconds"] = round(time.perf_counter() - started, 3)
    return result


def start_method(blas_threads: int | None) -> str:
    """How worker processes start: "fork" where it is safe and the BLAS can still be limited, else "spawn".

    A forked worker starts in milliseconds with everything imported; a
    spawned one imports numpy and minidl again (most of a second). Fork is
    used on Linux when Ray is not running in this process (its threads do
    not survive a fork) and, when the BLAS must be limited to one thread,
    when threadpoolctl can limit it after numpy has loaded. Otherwise the
    worker is spawned with the BLAS variables set before numpy loads.
    ``MINIDL_SWEEP_START=spawn`` (or ``fork``) chooses explicitly.
    """
    import multiprocessing
    import sys

    chosen = os.environ.get("MINIDL_SWEEP_START", "")
    if chosen in ("fork", "spawn"):
        return chosen
    if not sys.platform.startswith("linux") or "fork" not in multiprocessing.get_all_start_methods():
        return "spawn"
    ray = sys.modules.get("ray")
    if ray is not None and getattr(ray, "is_initialized", lambda: True)():
        return "spawn"
    if blas_threads is not None:
        try:
            import threadpoolctl  # noqa: F401
        except ImportError:
            return "spawn"
    return "fork"


def _clear_unstarted(run_dir: Path) -> None:
    """Remove what a trial killed before its first checkpoint wrote, so that it can start again:
    only the files a run writes (and their temporary files), nothing else."""
    from framework.checkpoint import remove_stale_temps

    for entry in list(run_dir.iterdir()):
        if entry.name in TRIAL_FILES or any(entry.name.startswith(f".{name}.") and entry.name.endswith(".tmp")
                                            for name in TRIAL_FILES):
            entry.unlink()
    checkpoints = run_dir / "checkpoints"
    if checkpoints.is_dir():
        remove_stale_temps(checkpoints)
        if not any(checkpoints.iterdir()):
            checkpoints.rmdir()


def _limit_blas(threads: int) -> None:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return  # the environment variables, set before numpy loaded, already did it
    threadpool_limits(threads)


def _cores() -> int:
    """The cores this process may run on (its affinity), else the machine's."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def make_backend(name: str, *, jobs: int | None = None, address: str | None = None):
    if name == "local":
        if address is not None:
            raise MinidlError("--address is for the ray backend; add --backend ray")
        return LocalBackend(jobs)
    if name == "ray":
        return RayBackend(jobs, address)
    raise MinidlError(f"unknown sweep backend {name!r}; use 'local' or 'ray'")


# ----------------------------------------------------------------------------
# Local: worker processes
# ----------------------------------------------------------------------------
def _worker_main(conn, blas_threads: int | None) -> None:
    os.setpgrp()  # Ctrl-C in the terminal reaches the sweep only; it forwards one interrupt to us
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if task is None:
            return
        result = run_trial(task, blas_threads)
        try:
            conn.send(result)
        except (OSError, KeyboardInterrupt):
            return


class _Worker:
    def __init__(self, context, blas_threads: int | None):
        import multiprocessing

        self.conn, child = multiprocessing.Pipe()
        self.process = context.Process(target=_worker_main, args=(child, blas_threads), daemon=True)
        saved = {k: os.environ.get(k) for k in BLAS_VARIABLES}
        if blas_threads is not None:  # read by the BLAS libraries when numpy loads in the worker
            os.environ.update({k: str(blas_threads) for k in BLAS_VARIABLES})
        try:
            with warnings.catch_warnings():
                # Python 3.12+ warns of fork in a process with threads: the BLAS's own threads are
                # reset by its fork handlers, and the worker uses nothing else of the parent's.
                warnings.simplefilter("ignore", DeprecationWarning)
                self.process.start()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        child.close()
        self.task: dict[str, Any] | None = None

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass

    def close(self) -> None:
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()
        self.process.close()


class LocalBackend:
    """Trials in ``jobs`` worker processes on this machine (default: one per core)."""

    def __init__(self, jobs: int | None = None):
        if jobs is not None and jobs < 1:
            raise MinidlError(f"--jobs must be at least 1. Received: {jobs}")
        self.jobs = jobs or _cores()

    def prepare(self, tasks: list[dict[str, Any]]) -> None:
        pass

    def run(self, tasks: list[dict[str, Any]], on_result: Callable[[dict[str, Any]], None]) -> None:
        import multiprocessing
        from multiprocessing.connection import wait

        jobs = min(self.jobs, len(tasks)) or 1
        blas = 1 if jobs > 1 else None
        context = multiprocessing.get_context(start_method(blas))
        pending = list(tasks)
        workers = [_Worker(context, blas) for _ in range(jobs)]
        retired: list[_Worker] = []
        try:
            while pending or any(w.task for w in workers):
                for w in workers:
                    if w.task is None and pending:
                        w.task = pending.pop(0)
                        w.conn.send(w.task)
                busy = [w for w in workers if w.task]
                ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
                for w in busy:
                    if w.conn in ready or w.process.sentinel in ready:
                        self._collect(w, on_result)
                        if not w.process.is_alive() and pending:
                            retired.append(w)
                            workers[workers.index(w)] = _Worker(context, blas)
        except KeyboardInterrupt:
            self._interrupt([w for w in workers if w.task], on_result)
            raise
        finally:
            for w in workers + retired:
                w.stop()
            for w in workers + retired:
                w.close()

    @staticmethod
    def _collect(w: _Worker, on_result) -> None:
        """The result of ``w``'s task, or a failure naming how the worker died."""
        result = None
        try:
            if w.conn.poll():
                result = w.conn.recv()
        except (EOFError, OSError):
            result = None
        if result is None:
            w.process.join(timeout=5)
            code = w.process.exitcode
            how = (f"killed by signal {-code} ({signal.Signals(-code).name})" if code is not None and code < 0
                   else f"exit status {code}")
            result = {"name": w.task["name"], "status": "failed", "final": None, "epochs": None,
                      "seconds": None, "error": f"the worker process died ({how}) during this trial"}
        w.task = None
        on_result(result)

    def _interrupt(self, running: list[_Worker], on_result) -> None:
        """Ask each running trial to stop (it saves a checkpoint) and record what each reports."""
        from multiprocessing.connection import wait

        for w in running:
            if w.process.pid is not None and w.process.is_alive():
                os.kill(w.process.pid, signal.SIGINT)
        deadline = time.monotonic() + INTERRUPT_GRACE
        while running and time.monotonic() < deadline:
            ready = wait([w.conn for w in running] + [w.process.sentinel for w in running],
                         timeout=deadline - time.monotonic())
            for w in list(running):
                if w.conn in ready or w.process.sentinel in ready:
                    self._collect(w, on_result)
                    running.remove(w)
        for w in running:
            w.process.kill()
            on_result({"name": w.task["name"], "status": "interrupted", "final": None, "epochs": None,
                       "seconds": None, "error": f"did not stop within {INTERRUPT_GRACE:.0f} s of Ctrl-C"})


# ----------------------------------------------------------------------------
# Ray
# ----------------------------------------------------------------------------
def _ray_trial(task: dict[str, Any]) -> dict[str, Any]:
    return run_trial(task, blas_threads=1)


class RayBackend:
    """One Ray task per trial, on the cluster at ``address`` or on a local Ray instance."""

    def __init__(self, jobs: int | None = None, address: str | None = None):
        try:
            import ray  # noqa: F401
        except ImportError:
            raise MinidlError("the ray backend needs Ray, which is not installed: "
                              "pip install 'minidl[ray]'") from None
        if jobs is not None and jobs < 1:
            raise MinidlError(f"--jobs must be at least 1. Received: {jobs}")
        self.jobs, self.address = jobs, address
        self._started = False

    def connect(self):
        import ray

        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                      "configure_logging": False}
            if self.address is None:
                kwargs["num_cpus"] = self.jobs or _cores()
            # "local": a new instance for this sweep, never a cluster that `ray start` left running here
            ray.init(address=self.address or "local", **kwargs)
            self._started = True
        return ray

    def is_local(self) -> bool:
        """True when every node of the cluster is this machine."""
        ray = self.connect()
        here = ray.util.get_node_ip_address()
        return all(node.get("NodeManagerAddress") == here for node in ray.nodes() if node.get("Alive"))

    def prepare(self, tasks: list[dict[str, Any]]) -> None:
        self.connect()

    def run(self, tasks: list[dict[str, Any]], on_result: Callable[[dict[str, Any]], None]) -> None:
        ray = self.connect()
        remote = ray.remote(num_cpus=1, max_retries=0)(_ray_trial)
        pending = list(tasks)
        refs: dict[Any, dict[str, Any]] = {}
        limit = self.jobs or len(tasks)  # at most --jobs trials at once on a cluster; else as many as it has CPUs
        try:
            while pending or refs:
                while pending and len(refs) < limit:
                    task = pending.pop(0)
                    refs[remote.remote(task)] = task
                # with a timeout, so that Ctrl-C reaches this loop: a blocking wait would not return to Python
                done, _ = ray.wait(list(refs), num_returns=1, timeout=0.2)
                for ref in done:
                    task = refs.pop(ref)
                    on_result(self._get(ray, ref, task))
        except KeyboardInterrupt:
            for ref in refs:
                ray.cancel(ref)
            deadline = time.monotonic() + INTERRUPT_GRACE
            while refs and time.monotonic() < deadline:
                done, _ = ray.wait(list(refs), num_returns=1, timeout=min(0.2, deadline - time.monotonic()))
                for ref in done:
                    task = refs.pop(ref)
                    result = self._get(ray, ref, task)
                    if result["status"] == "failed" and "cancelled" in (result["error"] or ""):
                        continue  # never started: left pending, reported as cancelled
                    on_result(result)
            raise
        finally:
            if self._started:
                ray.shutdown()
                self._started = False

    @staticmethod
    def _get(ray, ref, task) -> dict[str, Any]:
        try:
            return ray.get(ref)
        except ray.exceptions.TaskCancelledError:
            return {"name": task["name"], "status": "failed", "final": None, "epochs": None, "seconds": None,
                    "error": "cancelled"}
        except ray.exceptions.RayError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return {"name": task["name"], "status": "failed", "final": None, "epochs": None, "seconds": None,
                    "error": f"{type(exc).__name__}: {first}"}
