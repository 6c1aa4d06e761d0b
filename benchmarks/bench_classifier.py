"""Benchmark: one step of a softmax classifier, three ways, measured side by side in one run.

    python benchmarks/bench_classifier.py                 # full run (a minute or two)
    python benchmarks/bench_classifier.py --quick         # few repeats (CI)
    python benchmarks/bench_classifier.py --json out.json

The cases (X (F, m), H hidden units, C = 10 classes, batch m):

  softmax  Linear(F, H), ReLU, Linear(H, C), cross-entropy on the logits
  bn-drop  Linear(F, H, no bias), BatchNorm(H), ReLU, Dropout(0.2), Linear(H, C), cross-entropy

at the digits size (64, 128, 10, batch 64) and the MNIST size (784, 256, 10,
batch 128), in float32 and float64. Each step (forward, loss, backward, SGD
update) is timed as

  (a) minidl: Sequential + CrossEntropyLoss + SGD, as the Trainer runs it;
  (b) numpy:  the step hand-written in plain numpy, the way the course
      writes it (softmax, then P - Y; it computes dL/dX, as the notes do);
  (c) torch:  PyTorch CPU, autograd, F.cross_entropy and torch.optim.SGD,
      in PyTorch's own (m, F) layout, when installed.

The three run interleaved (a, b, c, a, b, c, ...) so that machine noise hits
them alike; the table reports medians and the ratios minidl/numpy and
minidl/torch. The targets are those of benchmarks/bench_step.py's cases:
the digits size (like its tiny case) at most 1.3x hand-written numpy; the
MNIST size (like its small case) faster than numpy and than PyTorch.
Nothing is asserted here: the numbers are facts of this machine, today.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "14")  # see bench_step.py: keeps the race fair

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_step import fmt_us, interleaved, report  # noqa: E402
from framework import Sequential  # noqa: E402
from plugins.activations import ReLU  # noqa: E402
from plugins.layers import BatchNorm, Dropout, Linear  # noqa: E402
from plugins.losses import CrossEntropyLoss  # noqa: E402
from plugins.optimizers import SGD  # noqa: E402

try:
    import torch
except ImportError:  # the optional peer
    torch = None

LR = 0.05
P_DROP = 0.2
EPS = 1e-5
MOMENTUM = 0.1
SIZES = {"digits": (64, 128, 10, 64), "mnist": (784, 256, 10, 128)}
#: The target of each size, as bench_step.py states them for its tiny and small cases.
TARGETS = {"digits": "minidl <= 1.3x numpy", "mnist": "minidl faster than numpy and torch"}


def data(F, C, m, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((F, m)).astype(dtype), rng.integers(0, C, m)


# ----------------------------------------------------------------------------
def minidl_layers(kind, F, H, C, dtype):
    if kind == "softmax":
        return [Linear(F, H, seed=0, dtype=dtype), ReLU(), Linear(H, C, seed=1, dtype=dtype)]
    return [Linear(F, H, bias=False, seed=0, dtype=dtype), BatchNorm(H, dtype=dtype), ReLU(), Dropout(P_DROP),
            Linear(H, C, seed=1, dtype=dtype)]


def minidl_step(kind, dims, dtype, X, labels):
    F, H, C, m = dims
    model = Sequential(minidl_layers(kind, F, H, C, dtype)).seed(0)
    y = labels.reshape(1, -1).astype(dtype)
    loss_fn, opt = CrossEntropyLoss(), SGD(model.parameters(), lr=LR)

    def step():
        loss_fn(model(X), y)
        model.backward(loss_fn.backward(), input_grad=False)
        opt.step()

    return step, model


def numpy_softmax_step(params, X, labels):
    """Linear, ReLU, Linear, softmax and cross-entropy by hand, the course's way."""
    W1, b1, W2, b2 = params
    m = X.shape[1]
    cols = np.arange(m)

    def step():
        nonlocal W1, b1, W2, b2
        Z1 = np.dot(W1, X) + b1
        A1 = np.maximum(Z1, 0)
        Z2 = np.dot(W2, A1) + b2
        E = np.exp(Z2 - Z2.max(axis=0, keepdims=True))
        P = E / E.sum(axis=0, keepdims=True)
        -np.mean(np.log(P[labels, cols]))
        dZ2 = P
        dZ2[labels, cols] -= 1
        dZ2 /= m
        dW2 = np.dot(dZ2, A1.T)
        db2 = np.sum(dZ2, axis=1, keepdims=True)
        dZ1 = np.dot(W2.T, dZ2) * (Z1 > 0)
        dW1 = np.dot(dZ1, X.T)
        db1 = np.sum(dZ1, axis=1, keepdims=True)
        np.dot(W1.T, dZ1)  # dL/dX, as the notes compute it
        W1 -= LR * dW1
        b1 -= LR * db1
        W2 -= LR * dW2
        b2 -= LR * db2

    return step


def numpy_bn_step(params, X, labels):
    """Linear, batch norm (with running statistics), ReLU, inverted dropout, Linear, softmax CE by hand."""
    W1, gamma, beta, W2, b2 = params
    m = X.shape[1]
    cols = np.arange(m)
    dtype = X.dtype
    rng = np.random.default_rng(0)
    running_mean = np.zeros_like(gamma)
    running_var = np.ones_like(gamma)

    def step():
        nonlocal running_mean, running_var, W1, gamma, beta, W2, b2
        Z1 = np.dot(W1, X)
        mu = Z1.mean(axis=1, keepdims=True)
        xc = Z1 - mu
        var = np.mean(xc ** 2, axis=1, keepdims=True)
        inv = 1 / np.sqrt(var + EPS)
        xhat = xc * inv
        Hn = gamma * xhat + beta
        running_mean = (1 - MOMENTUM) * running_mean + MOMENTUM * mu
        running_var = (1 - MOMENTUM) * running_var + MOMENTUM * var * m / (m - 1)
        A = np.maximum(Hn, 0)
        mask = (rng.random(A.shape, dtype=dtype) >= P_DROP) / (1 - P_DROP)
        D = A * mask
        Z2 = np.dot(W2, D) + b2
        E = np.exp(Z2 - Z2.max(axis=0, keepdims=True))
        P = E / E.sum(axis=0, keepdims=True)
        -np.mean(np.log(P[labels, cols]))
        dZ2 = P
        dZ2[labels, cols] -= 1
        dZ2 /= m
        dW2 = np.dot(dZ2, D.T)
        db2 = np.sum(dZ2, axis=1, keepdims=True)
        dHn = np.dot(W2.T, dZ2) * mask * (Hn > 0)
        dgamma = np.sum(dHn * xhat, axis=1, keepdims=True)
        dbeta = np.sum(dHn, axis=1, keepdims=True)
        dxhat = dHn * gamma
        dZ1 = inv / m * (m * dxhat - dxhat.sum(axis=1, keepdims=True)
                         - xhat * np.sum(dxhat * xhat, axis=1, keepdims=True))
        dW1 = np.dot(dZ1, X.T)
        np.dot(W1.T, dZ1)  # dL/dX, as the notes compute it
        W1 -= LR * dW1
        gamma -= LR * dgamma
        beta -= LR * dbeta
        W2 -= LR * dW2
        b2 -= LR * db2

    return step


def torch_step(kind, params, X, labels):
    """The same step in PyTorch, in its own layout: X as (m, F), F.linear, F.cross_entropy, optim.SGD."""
    tensors = [torch.tensor(p.reshape(p.shape[0]) if p.shape[1:] == (1,) else p, requires_grad=True)
               for p in params]
    tX = torch.from_numpy(np.ascontiguousarray(X.T))
    ty = torch.from_numpy(labels)
    opt = torch.optim.SGD(tensors, lr=LR)
    F_ = torch.nn.functional
    if kind == "softmax":
        W1, b1, W2, b2 = tensors

        def forward():
            return F_.linear(torch.relu(F_.linear(tX, W1, b1)), W2, b2)
    else:
        W1, gamma, beta, W2, b2 = tensors
        running_mean = torch.zeros(gamma.shape, dtype=gamma.dtype)
        running_var = torch.ones(gamma.shape, dtype=gamma.dtype)
        torch.manual_seed(0)

        def forward():
            h = F_.batch_norm(F_.linear(tX, W1), running_mean, running_var, gamma, beta, training=True,
                              momentum=MOMENTUM, eps=EPS)
            return F_.linear(F_.dropout(torch.relu(h), P_DROP, training=True), W2, b2)

    def step():
        loss = F_.cross_entropy(forward(), ty)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


# ----------------------------------------------------------------------------
def bench_case(kind, size_name, dims, dtype, repeats, budget) -> dict:
    F, H, C, m = dims
    dt = np.dtype(dtype)
    X, labels = data(F, C, m, dt)
    step, model = minidl_step(kind, dims, dt.name, X, labels)
    params = [p.data.copy() for p in model.parameters()]
    steps = {"minidl": step,
             "numpy": (numpy_softmax_step if kind == "softmax" else numpy_bn_step)(
                 [p.copy() for p in params], X, labels)}
    if torch is not None:
        steps["torch"] = torch_step(kind, [p.copy() for p in params], X, labels)
    timing = interleaved(steps, repeats, budget)
    mi = timing["minidl"]["seconds"]
    return {"model": kind, "size": size_name, "dims": list(dims), "dtype": dt.name, "timing": timing,
            "minidl_over_numpy": mi / timing["numpy"]["seconds"],
            "minidl_over_torch": mi / timing["torch"]["seconds"] if "torch" in timing else None,
            "target": TARGETS[size_name]}


def met(row) -> str:
    if row["size"] == "digits":
        return "yes" if row["minidl_over_numpy"] <= 1.3 else "NO"
    torch_ok = row["minidl_over_torch"] is None or row["minidl_over_torch"] < 1
    return "yes" if row["minidl_over_numpy"] < 1 and torch_ok else "NO"


def render(results) -> str:
    head = ("case", "dtype", "minidl us", "numpy us", "torch us", "mi/np", "mi/torch", "faults/step mi/np/torch",
            "target", "met")
    rows = [head]
    for r in results["steps"]:
        t = r["timing"]
        torch_t = t.get("torch")
        faults = " / ".join(f"{t[k]['faults']:.0f}" for k in ("minidl", "numpy", "torch") if k in t)
        rows.append((f"{r['model']} {r['size']} {tuple(r['dims'])}", r["dtype"], fmt_us(t["minidl"]["seconds"]),
                     fmt_us(t["numpy"]["seconds"]), fmt_us(torch_t["seconds"]) if torch_t else "-",
                     f"{r['minidl_over_numpy']:.2f}", f"{r['minidl_over_torch']:.2f}" if torch_t else "-",
                     faults, r["target"], met(r)))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(head))]
    lines = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines.append(f"dims: (F, H, C, batch m); medians over {results['repeats']} interleaved rounds")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repeats, short blocks (CI smoke run)")
    parser.add_argument("--repeats", type=int, default=None, help="timed blocks per implementation")
    parser.add_argument("--json", type=Path, default=None, help="write the results there too")
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 15)
    budget = 0.01 if args.quick else 0.1
    if torch is not None:
        torch.set_num_threads(2)
    results = {"machine": {"python": platform.python_version(), "numpy": np.__version__,
                           "torch": getattr(torch, "__version__", None), "platform": platform.platform(),
                           "cores": os.cpu_count()},
               "quick": args.quick, "repeats": repeats, "steps": []}
    for kind in ("softmax", "bn-drop"):
        for name, dims in SIZES.items():
            for dtype in ("float32", "float64"):
                results["steps"].append(bench_case(kind, name, dims, dtype, repeats, budget))
                print(f"  done {kind} {name} {dtype}", file=sys.stderr)
    if torch is None:
        print("note: torch is not installed; the torch column is skipped (pip install 'minidl[torch]')")
    report(render(results), results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
