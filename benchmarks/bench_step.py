"""Benchmark: one training step, three ways, measured side by side in one run.

    python benchmarks/bench_step.py                 # full run (a few minutes)
    python benchmarks/bench_step.py --quick         # tiny sizes, few repeats (CI)
    python benchmarks/bench_step.py --json out.json

For each model, size and dtype the same step (forward, MSE, backward, SGD
update) is timed as

  (a) minidl: Sequential + MSELoss + SGD, as the Trainer runs it;
  (b) numpy:  the step hand-written exactly as in the course notes (the
      baseline to beat; it computes dL/dX, as the notes do);
  (c) torch:  PyTorch CPU with autograd and torch.optim.SGD, when installed.

The three run interleaved (a, b, c, a, b, c, ...) so that machine noise hits
them alike; the table reports medians over the repeats, the ratios
minidl/numpy and minidl/torch, GFLOP/s (counting the GEMM work the step
needs: 4HFm + 6Hm for the MLP, without dL/dX) and its share of the GEMM peak
(an n^3 np.dot timed in the same interleaved rounds, beside a torch.mm;
also against the best of 7 at the start), page faults per step, and
minidl's peak memory against what the step needs (parameters, gradients,
optimizer state, one batch and its activations and their gradients). It
also times the Trainer's epoch loop against a bare loop of the same steps,
as the median ratio of back-to-back pairs. Nothing is asserted: the numbers
are facts of this machine, today.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

# Three contestants share one process, so none may keep the cores busy after
# its turn. By default OpenBLAS's idle worker threads spin for ~0.1 s after
# each product (2**28 cycles); during torch's turn they held a core that MKL
# needed, which made torch's products 2-3x slower and its small step up to
# 10x slower, and flattered minidl and numpy. With this set before numpy loads
# OpenBLAS, they sleep after ~2**14 cycles (a few microseconds). It does not
# change numpy's own speed measurably (tiny to large, checked side by side).
# A user's own setting wins.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "14")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from framework import Callback, Sequential, Trainer  # noqa: E402
from plugins.activations import Sigmoid  # noqa: E402
from plugins.layers import Linear  # noqa: E402
from plugins.losses import MSELoss  # noqa: E402
from plugins.optimizers import SGD  # noqa: E402

try:
    import torch
except ImportError:  # the optional peer
    torch = None

LR = 0.01
MLP_SIZES = {"tiny": (10, 32, 64), "small": (100, 256, 256), "medium": (784, 512, 1024), "large": (784, 1024, 4096)}
LINREG_SIZES = {"linreg-small": (10, 64), "linreg-large": (100, 4096)}


# ----------------------------------------------------------------------------
# The three implementations of one step
# ----------------------------------------------------------------------------
def data(F, m, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((F, m)).astype(dtype), rng.standard_normal((1, m)).astype(dtype)


def minidl_step(layers, X, y):
    """A minidl model, loss and optimizer: the step the Trainer runs."""
    model = Sequential(layers)
    loss_fn, opt = MSELoss(), SGD(model.parameters(), lr=LR)

    def step():
        loss_fn(model(X), y)
        model.backward(loss_fn.backward(), input_grad=False)
        opt.step()

    return step, model, opt


def numpy_mlp_step(params, X, y):
    """The notes' sigmoid MLP, forward and backward, in plain numpy (errata applied)."""
    W1, b1, w2, b2 = params
    m = X.shape[1]

    def step():
        nonlocal W1, b1, w2, b2
        Z = np.dot(W1, X) + b1
        A = 1 / (1 + np.exp(-Z))
        yhat = np.dot(w2, A) + b2
        np.mean(np.square(yhat - y))
        dyhat = 2 / m * (yhat - y)
        dw2 = np.dot(dyhat, A.T)
        db2 = np.sum(dyhat, axis=1, keepdims=True)
        dA = np.dot(w2.T, dyhat)
        dZ = dA * A * (1 - A)
        dW1 = np.dot(dZ, X.T)
        db1 = np.sum(dZ, axis=1, keepdims=True)
        np.dot(W1.T, dZ)  # dL/dX, as the notes compute it
        W1 -= LR * dW1
        b1 -= LR * db1
        w2 -= LR * dw2
        b2 -= LR * db2

    return step


def numpy_linreg_step(params, X, y):
    """The notes' multi-variable linear regression in plain numpy (errata applied)."""
    w, b = params
    m = X.shape[1]

    def step():
        nonlocal w, b
        yhat = np.dot(w, X) + b
        np.mean(np.square(yhat - y))
        dyhat = 2 / m * (yhat - y)
        dw = np.dot(dyhat, X.T)
        db = np.sum(dyhat, axis=1, keepdims=True)
        np.dot(w.T, dyhat)  # dL/dX, as the notes compute it
        w -= LR * dw
        b -= LR * db

    return step


def torch_step(params, X, y, mlp: bool):
    """The same step in PyTorch: autograd and torch.optim.SGD."""
    tensors = [torch.tensor(p, requires_grad=True) for p in params]
    tX, ty = torch.from_numpy(X), torch.from_numpy(y)
    opt = torch.optim.SGD(tensors, lr=LR)

    def step():
        if mlp:
            W1, b1, w2, b2 = tensors
            yhat = w2 @ torch.sigmoid(W1 @ tX + b1) + b2
        else:
            w, b = tensors
            yhat = w @ tX + b
        loss = torch.mean((yhat - ty) ** 2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


# ----------------------------------------------------------------------------
# Measurement
# ----------------------------------------------------------------------------
def gemm_step(dtype, n):
    """One n x n x n product: the machine's GEMM peak, when timed."""
    a = np.random.default_rng(0).standard_normal((n, n)).astype(dtype)
    b = a.T.copy()
    c = np.empty_like(a)

    def step():
        np.dot(a, b, out=c)

    return step


def torch_gemm_step(dtype, n):
    """The same n x n x n product in PyTorch (its own BLAS: MKL in the CPU wheels)."""
    a = torch.from_numpy(np.random.default_rng(0).standard_normal((n, n)).astype(dtype))
    b = a.t().contiguous()
    c = torch.empty_like(a)

    def step():
        torch.mm(a, b, out=c)

    return step


def gemm_peak(dtype, n=1024, repeats=7) -> float:
    """Best of ``repeats`` n^3 products, GFLOP/s: the peak before any case runs."""
    step = gemm_step(dtype, n)
    step()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return 2 * n ** 3 / min(times) / 1e9


def calls_per_block(step, budget=0.05) -> int:
    step()
    t = time.perf_counter()
    step()
    one = max(time.perf_counter() - t, 1e-7)
    return max(1, int(budget / one))


def interleaved(steps: dict, repeats: int, budget: float) -> dict:
    """Median seconds per step and page faults per step, for each named step."""
    counts = {name: calls_per_block(fn, budget) for name, fn in steps.items()}
    times = {name: [] for name in steps}
    faults = {name: [] for name in steps}
    gc.disable()
    try:
        for _ in range(repeats):
            for name, fn in steps.items():
                n = counts[name]
                f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                t = time.perf_counter()
                for _ in range(n):
                    fn()
                times[name].append((time.perf_counter() - t) / n)
                faults[name].append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / n)
    finally:
        gc.enable()
    return {name: {"seconds": statistics.median(times[name]), "faults": statistics.median(faults[name]),
                   "calls": counts[name], "rounds": times[name]} for name in steps}


def memory_profile(make_step, needed_bytes: int, steps: int = 10) -> dict:
    """minidl's memory over training steps, traced from before the model exists.

    ``array_peak_bytes`` is the peak of numpy array data during steady-state
    steps (everything traced, minus the Python objects, which tracemalloc
    keeps in another domain and which do not change from step to step): the
    quantity the "1.5x what the step needs" target is about. ``peak_bytes``
    is everything, Python objects included. Growth is measured between two
    points after the buffers exist (after 3 steps, then after ``steps``
    more), so a one-off allocation is not taken for a leak.
    """
    gc.collect()
    tracemalloc.start()
    try:
        step = make_step()
        for _ in range(3):  # the first steps create the reused buffers
            step()
        tracemalloc.reset_peak()
        settled = tracemalloc.get_traced_memory()[0]
        for _ in range(steps):
            step()
        current, peak = tracemalloc.get_traced_memory()
        snapshot = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    python_bytes = sum(t.size for t in snapshot.traces if t.domain != np.lib.tracemalloc_domain)
    array_peak = peak - python_bytes
    return {"array_peak_bytes": array_peak, "peak_bytes": peak, "python_object_bytes": python_bytes,
            "needed_bytes": needed_bytes, "array_peak_over_needed": array_peak / needed_bytes,
            "peak_over_needed": peak / needed_bytes, "growth_bytes_per_step": (current - settled) / steps}


def mlp_needed_bytes(F, H, m, itemsize) -> int:
    params = H * F + H + H + 1
    batch = F * m + m                      # X and y
    activations = H * m + H * m + m        # Z, A, y_hat
    gradients = m + H * m + H * m          # dL/dy_hat, dL/dA, dL/dZ
    return itemsize * (2 * params + batch + activations + gradients)  # params and their grads; plain SGD has no state


def linreg_needed_bytes(F, m, itemsize) -> int:
    return itemsize * (2 * (F + 1) + F * m + m + m + m)


# ----------------------------------------------------------------------------
def bench_case(kind, size_name, dims, dtype, repeats, budget, peaks, gemm_n) -> dict:
    dt = np.dtype(dtype)
    if kind == "mlp":
        F, H, m = dims
        X, y = data(F, m, dt)
        layers = lambda: [Linear(F, H, seed=0, dtype=dt.name), Sigmoid(), Linear(H, 1, seed=1, dtype=dt.name)]
        flops = 4 * H * F * m + 6 * H * m
        needed = mlp_needed_bytes(F, H, m, dt.itemsize)
    else:
        F, m = dims
        H = None
        X, y = data(F, m, dt)
        layers = lambda: [Linear(F, 1, seed=0, dtype=dt.name)]
        flops = 4 * F * m
        needed = linreg_needed_bytes(F, m, dt.itemsize)
    step, model, _ = minidl_step(layers(), X, y)
    params = [p.data.copy() for p in model.parameters()]
    steps = {"minidl": step,
             "numpy": (numpy_mlp_step if kind == "mlp" else numpy_linreg_step)([p.copy() for p in params], X, y)}
    if torch is not None:
        steps["torch"] = torch_step([p.copy() for p in params], X, y, kind == "mlp")
    # The GEMM peak is timed in the same interleaved rounds, so that it sees
    # the same machine as the steps it is compared with.
    steps["gemm"] = gemm_step(dt, gemm_n)
    if torch is not None:  # how fast the peer's BLAS is, beside numpy's
        steps["torch_gemm"] = torch_gemm_step(dt, gemm_n)
    timing = interleaved(steps, repeats, budget)
    gemm_rate = 2 * gemm_n ** 3 / timing.pop("gemm")["seconds"] / 1e9
    torch_gemm_rate = 2 * gemm_n ** 3 / timing.pop("torch_gemm")["seconds"] / 1e9 if torch is not None else None
    memory = memory_profile(lambda: minidl_step(layers(), X.copy(), y.copy())[0], needed)
    mi = timing["minidl"]["seconds"]
    row = {"model": kind, "size": size_name, "dims": list(dims), "dtype": dt.name, "flops": flops,
           "timing": timing, "memory": memory,
           "minidl_over_numpy": mi / timing["numpy"]["seconds"],
           "minidl_over_torch": mi / timing["torch"]["seconds"] if "torch" in timing else None,
           "gflops": flops / mi / 1e9, "gemm_gflops_alongside": gemm_rate,
           "torch_gemm_gflops_alongside": torch_gemm_rate,
           "percent_of_gemm_peak": 100 * flops / mi / 1e9 / gemm_rate,
           "percent_of_best_gemm_at_start": 100 * flops / mi / 1e9 / peaks[dt.name]}
    return row


class CountBatches(Callback):
    """A callback with a per-batch event, so the loop pays for dispatching it."""

    def __init__(self):
        self.batches = 0

    def on_batch_end(self, trainer, batch, logs):
        self.batches += 1


def bench_trainer_loop(dims, dtype, m_total, batch, epochs, repeats) -> dict:
    """The Trainer's fit() against a bare loop doing the same shuffles and steps."""
    F, H, _ = dims
    dt = np.dtype(dtype)
    X, y = data(F, m_total, dt)

    def fresh():
        model = Sequential([Linear(F, H, seed=0, dtype=dt.name), Sigmoid(), Linear(H, 1, seed=1, dtype=dt.name)])
        return model, MSELoss(), SGD(model.parameters(), lr=LR)

    def trainer_run():
        model, loss_fn, opt = fresh()
        Trainer(model, loss_fn, opt, epochs=epochs, batch_size=batch, seed=0, callbacks=[CountBatches()],
                progress=False).fit(X, y)

    def bare_run():
        model, loss_fn, opt = fresh()
        rng = np.random.default_rng(0)
        Xs, ys = np.empty(X.shape, X.dtype, order="F"), np.empty(y.shape, y.dtype, order="F")
        for _ in range(epochs):
            perm = rng.permutation(m_total)
            np.take(X.T, perm, axis=0, out=Xs.T)  # the Trainer's gather, so only the loop differs
            np.take(y.T, perm, axis=0, out=ys.T)
            for lo in range(0, m_total, batch):
                loss_fn(model(Xs[:, lo:lo + batch]), ys[:, lo:lo + batch])
                model.backward(loss_fn.backward(), input_grad=False)
                opt.step()

    timing = interleaved({"trainer": trainer_run, "bare": bare_run}, repeats, budget=0.0)
    # Each round runs the two back to back, so their ratio within a round
    # cancels the machine's slow drifts; the median over rounds drops bursts.
    paired = [t / b for t, b in zip(timing["trainer"]["rounds"], timing["bare"]["rounds"])]
    # Memory over epochs: what the Trainer holds after 1 epoch and after 4.
    model, loss_fn, opt = fresh()
    t = Trainer(model, loss_fn, opt, epochs=1, batch_size=batch, seed=0, progress=False)
    t.fit(X, y)
    gc.collect()
    tracemalloc.start()
    t.epochs = 2
    t.fit(X, y)
    after_one = tracemalloc.get_traced_memory()[0]
    t.epochs = 5
    t.fit(X, y)
    after_more = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return {"dims": [F, H, m_total], "batch_size": batch, "epochs": epochs, "dtype": dt.name,
            "trainer_seconds": timing["trainer"]["seconds"], "bare_seconds": timing["bare"]["seconds"],
            "trainer_over_bare": statistics.median(paired), "rounds": len(paired),
            "ratio_of_medians": timing["trainer"]["seconds"] / timing["bare"]["seconds"],
            "growth_bytes_over_3_epochs": after_more - after_one}


# ----------------------------------------------------------------------------
def report(text: str, results: dict, json_path: Path | None) -> None:
    """Print a benchmark's table, and write its results to ``json_path`` when given (``--json``)."""
    print(text)
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {json_path}")


def fmt_us(seconds):
    return f"{seconds * 1e6:,.0f}" if seconds * 1e6 >= 100 else f"{seconds * 1e6:.1f}"


def render(results) -> str:
    head = ("case", "dtype", "minidl us", "numpy us", "torch us", "mi/np", "mi/torch", "GFLOP/s",
            "GEMM GFLOP/s np/torch", "%peak", "%best", "faults/step mi/np/torch", "array peak / needed", "+ Python objects", "growth B/step")
    rows = [head]
    for r in results["steps"]:
        t = r["timing"]
        torch_t = t.get("torch")
        faults = " / ".join(f"{t[k]['faults']:.0f}" for k in ("minidl", "numpy", "torch") if k in t)
        mem = r["memory"]
        rows.append((f"{r['model']} {r['size']} {tuple(r['dims'])}", r["dtype"], fmt_us(t["minidl"]["seconds"]),
                     fmt_us(t["numpy"]["seconds"]), fmt_us(torch_t["seconds"]) if torch_t else "-",
                     f"{r['minidl_over_numpy']:.2f}", f"{r['minidl_over_torch']:.2f}" if torch_t else "-",
                     f"{r['gflops']:.1f}",
                     f"{r['gemm_gflops_alongside']:.0f} / {r['torch_gemm_gflops_alongside']:.0f}"
                     if r.get("torch_gemm_gflops_alongside") else f"{r['gemm_gflops_alongside']:.0f}",
                     f"{r['percent_of_gemm_peak']:.0f}%",
                     f"{r['percent_of_best_gemm_at_start']:.0f}%", faults,
                     f"{mem['array_peak_over_needed']:.2f}x", f"{mem['python_object_bytes'] / 1024:,.0f} KiB", f"{mem['growth_bytes_per_step']:.0f}"))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(head))]
    lines = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    loop = results["trainer_loop"]
    lines.append("")
    lines.append(f"Trainer epoch loop {tuple(loop['dims'])}, batch {loop['batch_size']}, {loop['epochs']} epochs, "
                 f"{loop['dtype']}: trainer {loop['trainer_seconds'] * 1e3:.1f} ms, bare loop "
                 f"{loop['bare_seconds'] * 1e3:.1f} ms, ratio {loop['trainer_over_bare']:.3f} (median over "
                 f"{loop['rounds']} back-to-back pairs; ratio of the medians {loop['ratio_of_medians']:.3f}); memory growth "
                 f"over 3 more epochs: {loop['growth_bytes_over_3_epochs']} B")
    peaks = results["gemm_peak_gflops"]
    lines.append(f"GEMM GFLOP/s: a {results['gemm_n']}^3 np.dot (and torch.mm) timed in the same interleaved rounds "
                 f"as the case (median); %peak: minidl's GFLOP/s as a share of that np.dot rate; %best: of the best "
                 f"of 7 np.dot at the start, float32 {peaks['float32']:.0f} GFLOP/s, float64 {peaks['float64']:.0f} GFLOP/s")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, few repeats (CI smoke run)")
    parser.add_argument("--repeats", type=int, default=None, help="timed blocks per implementation")
    parser.add_argument("--json", type=Path, default=None, help="write the results there too")
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 15)
    budget = 0.01 if args.quick else 0.1
    cases = [("mlp", "tiny", MLP_SIZES["tiny"]), ("linreg", "linreg-small", LINREG_SIZES["linreg-small"])]
    if not args.quick:
        cases = ([("mlp", name, dims) for name, dims in MLP_SIZES.items()]
                 + [("linreg", name, dims) for name, dims in LINREG_SIZES.items()])
    if torch is not None:
        torch.set_num_threads(2)
    gemm_n = 256 if args.quick else 1024
    peaks = {name: gemm_peak(np.dtype(name), n=gemm_n) for name in ("float32", "float64")}
    results = {"machine": {"python": platform.python_version(), "numpy": np.__version__,
                           "torch": getattr(torch, "__version__", None), "platform": platform.platform(),
                           "processor": platform.processor(), "cores": os.cpu_count(),
                           "OPENBLAS_THREAD_TIMEOUT": os.environ.get("OPENBLAS_THREAD_TIMEOUT")},
               "quick": args.quick, "repeats": repeats, "gemm_n": gemm_n, "gemm_peak_gflops": peaks, "steps": []}
    for kind, name, dims in cases:
        for dtype in ("float32", "float64"):
            results["steps"].append(bench_case(kind, name, dims, dtype, repeats, budget, peaks, gemm_n))
            print(f"  done {kind} {name} {dtype}", file=sys.stderr)
    loop_m = 64 * 20 if args.quick else 64 * 100
    results["trainer_loop"] = bench_trainer_loop(MLP_SIZES["tiny"], "float32", loop_m, 64,
                                                 2 if args.quick else 5, 2 * repeats + 1)
    if torch is None:
        print("note: torch is not installed; the torch column is skipped (pip install 'minidl[torch]')")
    report(render(results), results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
