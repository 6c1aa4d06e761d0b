"""Sweep throughput: 8 small trials with --jobs 2 against the same 8 run one after another.

    python benchmarks/bench_sweep.py [--jobs 2] [--trials 8] [--repeat 3] [--json FILE]

The baseline is the trials' own work and nothing else: each trial's
experiment run with ``run_experiment`` in this process, one after another
(its BLAS free to use every core; no process start-up, no tables). The
contestant is ``run_sweep`` on the local backend with ``--jobs`` workers,
everything included: starting the workers, writing every run directory,
the tables and (when matplotlib is installed) the plots. ``--cli`` adds a
second baseline, what one did before sweeps: ``minidl run`` of each trial's
experiment.toml, one process after another. All are timed in the same run,
alternately, ``--repeat`` times; ratios of the medians are printed, with
the machine's load average (other processes on the same cores make every
number worse). Target (issue 14): at most 0.6 with 2 jobs on 2 cores,
against the first baseline. Nothing is asserted: the numbers are for
people.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from framework.experiment import Experiment  # noqa: E402
from framework.runner import run_experiment  # noqa: E402
from framework.sweep import load_sweep, run_sweep  # noqa: E402
from framework.sweep_backends import start_method  # noqa: E402


def _cpu() -> float:
    """CPU seconds of this process and of its children that have ended (the sweep's workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cli", action="store_true", help="also time `minidl run` processes one after another")
    parser.add_argument("--json", type=Path, help="also write the timings here")
    args = parser.parse_args(argv)
    seeds = ",".join(str(s) for s in range(args.trials))
    # The main job (100 epochs of a 129-parameter MLP on 1600 examples), one trial per seed.
    sweep = load_sweep(ROOT / "experiments" / "sigmoid_mlp.toml", grid=[f"seed={seeds}"])
    sequential, parallel, cli = [], [], []
    seq_cpu, par_cpu = [], []
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeat):
            if args.cli:
                start = time.perf_counter()
                for trial in sweep.trials:
                    spec = Path(tmp) / f"{trial.name}.toml"
                    Experiment.from_dict(trial.spec).save(spec)
                    subprocess.run([sys.executable, "-m", "framework", "run", str(spec), "--quiet", "--runs-dir",
                                    str(Path(tmp) / f"cli{r}")], check=True, capture_output=True)
                cli.append(time.perf_counter() - start)
            start, cpu = time.perf_counter(), _cpu()
            for trial in sweep.trials:
                run_experiment(Experiment.from_dict(trial.spec), run_dir=Path(tmp) / f"seq{r}" / trial.name,
                               progress=False)
            sequential.append(time.perf_counter() - start)
            seq_cpu.append(_cpu() - cpu)
            start, cpu = time.perf_counter(), _cpu()
            outcome = run_sweep(sweep, sweeps_dir=Path(tmp) / f"par{r}", jobs=args.jobs, progress=False)
            parallel.append(time.perf_counter() - start)
            par_cpu.append(_cpu() - cpu)
            assert all(res["status"] == "ok" for res in outcome.results.values()), outcome.results
    ratio = statistics.median(parallel) / statistics.median(sequential)
    load = max(load, os.getloadavg()[0])
    print(f"{args.trials} trials of experiments/sigmoid_mlp.toml on {os.cpu_count()} cores "
          f"(workers start by {start_method(1 if args.jobs > 1 else None)}; load average up to {load:.1f})")
    print(f"  one after another, in-process:     {', '.join(f'{t:.2f}' for t in sequential)} s")
    if cli:
        print(f"  one after another, minidl run:     {', '.join(f'{t:.2f}' for t in cli)} s")
    print(f"  minidl sweep --jobs {args.jobs}:             {', '.join(f'{t:.2f}' for t in parallel)} s")
    print(f"  sweep / in-process: {ratio:.3f} (target: at most 0.6)")
    if cli:
        print(f"  sweep / minidl run: {statistics.median(parallel) / statistics.median(cli):.3f}")
    cpu_ratio = statistics.median(par_cpu) / args.jobs / statistics.median(seq_cpu)
    print(f"  CPU seconds (this process and its workers): in-process {statistics.median(seq_cpu):.2f}, "
          f"sweep {statistics.median(par_cpu):.2f}; (sweep CPU / {args.jobs}) / in-process CPU: {cpu_ratio:.3f}, "
          f"the best wall-time ratio {args.jobs} idle cores allow")
    if args.json:
        args.json.write_text(json.dumps({"sequential": sequential, "parallel": parallel, "cli": cli,
                                         "jobs": args.jobs, "trials": args.trials, "ratio": ratio, "cpu_ratio": cpu_ratio, "sequential_cpu": seq_cpu,
                                         "parallel_cpu": par_cpu,
                                         "load": load}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
