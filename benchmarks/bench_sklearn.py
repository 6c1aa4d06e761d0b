"""Benchmark: training the digits network, minidl's Trainer against scikit-learn's MLPClassifier.

    pip install -e '.[bench]'                       # scikit-learn, the peer
    python benchmarks/bench_sklearn.py              # full run (10-20 seconds)
    python benchmarks/bench_sklearn.py --quick      # few rounds (CI)
    python benchmarks/bench_sklearn.py --json out.json

The same network, data, optimizer and schedule on both sides:
Linear(64, 128), ReLU, Linear(128, 10), softmax cross-entropy (scikit-learn:
``MLPClassifier(hidden_layer_sizes=(128,), activation="relu")``, whose
output is a softmax and whose loss is the cross-entropy), Adam with
lr = 0.01 and the default betas and eps, batch size 64, no L2 penalty
(``alpha=0``), shuffled every epoch, float64 (scikit-learn's dtype for
float64 input), on the 1,438 training images of ``digits(subset="train")``.

Reported:

* **epoch time**: a whole ``fit`` of E epochs each (scikit-learn with
  ``max_iter=E`` and its stopping rule disabled: ``tol=0``,
  ``n_iter_no_change > E``), timed in interleaved rounds (minidl,
  scikit-learn, minidl, ...) so machine noise hits both alike; the median
  per epoch and the ratio minidl / scikit-learn (target: at most 0.6).
* **time to 97% test accuracy**: training one epoch at a time (minidl:
  ``Trainer.fit`` with a callback; scikit-learn: ``partial_fit``), the
  training time until the accuracy on the 359 held-out images of
  ``digits(subset="test")`` first reaches 0.97, evaluation excluded from
  the clock; the median over a few seeds, and the epoch it happened in.

Nothing is asserted: the numbers are facts of this machine, today.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "14")  # see bench_step.py

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_step import report  # noqa: E402
from framework import Callback, Sequential, Trainer  # noqa: E402
from plugins.activations import ReLU  # noqa: E402
from plugins.datasets import digits  # noqa: E402
from plugins.layers import Linear  # noqa: E402
from plugins.losses import CrossEntropyLoss  # noqa: E402
from plugins.optimizers import Adam  # noqa: E402

try:
    import sklearn
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
except ImportError:  # the optional peer
    sklearn = None

HIDDEN, LR, BATCH = 128, 0.01, 64
TARGET_ACCURACY = 0.97


def minidl_trainer(epochs, seed, callbacks=()):
    model = Sequential([Linear(64, HIDDEN, init="he_normal", seed=seed), ReLU(), Linear(HIDDEN, 10, seed=seed + 1)])
    return Trainer(model, CrossEntropyLoss(), Adam(model.parameters(), lr=LR), epochs=epochs, batch_size=BATCH,
                   seed=seed, callbacks=list(callbacks), progress=False)


def sklearn_classifier(epochs, seed):
    return MLPClassifier(hidden_layer_sizes=(HIDDEN,), activation="relu", solver="adam", alpha=0.0,
                         batch_size=BATCH, learning_rate_init=LR, max_iter=epochs, shuffle=True,
                         random_state=seed, tol=0.0, n_iter_no_change=epochs + 1, early_stopping=False)


def epoch_times(train, epochs, rounds) -> dict:
    """Median seconds per epoch of a whole fit, minidl and scikit-learn interleaved."""
    Xr, yr = np.ascontiguousarray(train.X.T), train.y[0].astype(int)
    times = {"minidl": [], "sklearn": []}
    for r in range(rounds):
        t = time.perf_counter()
        minidl_trainer(epochs, seed=r).fit(train.X, train.y)
        times["minidl"].append((time.perf_counter() - t) / epochs)
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            sklearn_classifier(epochs, seed=r).fit(Xr, yr)
        times["sklearn"].append((time.perf_counter() - t) / epochs)
    paired = [a / b for a, b in zip(times["minidl"], times["sklearn"])]
    return {"epochs_per_fit": epochs, "rounds": rounds,
            "minidl_seconds_per_epoch": statistics.median(times["minidl"]),
            "sklearn_seconds_per_epoch": statistics.median(times["sklearn"]),
            "minidl_over_sklearn": statistics.median(paired), "rounds_seconds": times}


class _Clock(Callback):
    """Training time per epoch (evaluation excluded) and the test accuracy after it."""

    def __init__(self, test):
        self.test, self.trace = test, []
        self.elapsed, self.started = 0.0, None

    def on_epoch_begin(self, trainer, epoch, logs):
        self.started = time.perf_counter()

    def on_epoch_end(self, trainer, epoch, logs):
        self.elapsed += time.perf_counter() - self.started
        accuracy = float(np.mean(trainer.model.predict(self.test.X).argmax(axis=0) == self.test.y[0]))
        self.trace.append((self.elapsed, accuracy))


def first_reaching(trace, target):
    for epoch, (seconds, accuracy) in enumerate(trace, start=1):
        if accuracy >= target:
            return {"epoch": epoch, "seconds": seconds, "accuracy": accuracy}
    return {"epoch": None, "seconds": None, "accuracy": max(a for _, a in trace)}


def time_to_accuracy(train, test, max_epochs, seeds) -> dict:
    Xr, yr, Xt, yt = np.ascontiguousarray(train.X.T), train.y[0].astype(int), test.X.T, test.y[0].astype(int)
    out = {"minidl": [], "sklearn": []}
    for seed in seeds:
        clock = _Clock(test)
        minidl_trainer(max_epochs, seed, [clock]).fit(train.X, train.y)
        out["minidl"].append(first_reaching(clock.trace, TARGET_ACCURACY))
        model, trace, elapsed = sklearn_classifier(1, seed), [], 0.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for _ in range(max_epochs):
                t = time.perf_counter()
                model.partial_fit(Xr, yr, classes=np.arange(10))
                elapsed += time.perf_counter() - t
                trace.append((elapsed, float(np.mean(model.predict(Xt) == yt))))
        out["sklearn"].append(first_reaching(trace, TARGET_ACCURACY))
    summary = {}
    for who, runs in out.items():
        reached = [r for r in runs if r["seconds"] is not None]
        summary[who] = {"runs": runs, "reached": f"{len(reached)} of {len(runs)}",
                        "median_seconds": statistics.median(r["seconds"] for r in reached) if reached else None,
                        "median_epoch": statistics.median(r["epoch"] for r in reached) if reached else None}
    return summary


def render(results) -> str:
    e = results["epoch"]
    lines = [f"digits network (64-{HIDDEN}-10, Adam lr {LR}, batch {BATCH}, float64), "
             f"{results['train_examples']} training images:",
             f"  one epoch (median of {e['rounds']} fits of {e['epochs_per_fit']} epochs, interleaved): "
             f"minidl {e['minidl_seconds_per_epoch'] * 1e3:.1f} ms, scikit-learn "
             f"{e['sklearn_seconds_per_epoch'] * 1e3:.1f} ms; minidl / scikit-learn = "
             f"{e['minidl_over_sklearn']:.2f}, the median of the {e['rounds']} rounds' own ratios "
             f"(target <= 0.6: {'met' if e['minidl_over_sklearn'] <= 0.6 else 'NOT met'})"]
    t = results["time_to_accuracy"]
    for who, name in (("minidl", "minidl"), ("sklearn", "scikit-learn")):
        s = t[who]
        when = (f"{s['median_seconds'] * 1e3:.0f} ms of training (median epoch {s['median_epoch']:g})"
                if s["median_seconds"] is not None else "never")
        lines.append(f"  time to {TARGET_ACCURACY:.0%} test accuracy ({results['test_examples']} held-out "
                     f"images), {name}: {when}; reached in {s['reached']} seeds")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few rounds and seeds (CI smoke run)")
    parser.add_argument("--json", type=Path, default=None, help="write the results there too")
    args = parser.parse_args(argv)
    if sklearn is None:
        print("scikit-learn is not installed; it is this benchmark's peer. Install it with:\n"
              "    pip install -e '.[bench]'      (or: pip install scikit-learn)", file=sys.stderr)
        return 2
    train, test = digits(subset="train"), digits(subset="test")
    results = {"machine": {"python": platform.python_version(), "numpy": np.__version__,
                           "scikit-learn": sklearn.__version__, "platform": platform.platform(),
                           "cores": os.cpu_count()},
               "train_examples": train.n_examples, "test_examples": test.n_examples}
    results["epoch"] = epoch_times(train, epochs=5 if args.quick else 20, rounds=3 if args.quick else 11)
    results["time_to_accuracy"] = time_to_accuracy(train, test, max_epochs=30,
                                                   seeds=range(2 if args.quick else 5))
    report(render(results), results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
