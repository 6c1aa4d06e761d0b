"""Row-split elementwise work across the machine's cores (an opt-in helper).

numpy runs each elementwise operation on one core, while BLAS uses them all
for the matrix products between them. For large activations the
elementwise passes (a sigmoid, its derivative, a bias add) are then a real
share of a training step. :func:`rowwise` runs a function on horizontal
slices of its arrays, one slice per core (numpy releases the GIL inside its
loops), and waits for all of them. Each element is computed by exactly the
same operations as without splitting, so results are bit-identical.

Small arrays (fewer than ``MIN_ELEMENTS``) are processed directly: there the
cost of handing work to a thread exceeds the gain. ``MINIDL_NUM_THREADS``
sets the number of slices (1 turns splitting off); the default is the number
of cores this process may use.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

MIN_ELEMENTS = 1 << 17

_pool: ThreadPoolExecutor | None = None
_threads: int | None = None


def num_threads() -> int:
    global _threads
    if _threads is None:
        env = os.environ.get("MINIDL_NUM_THREADS", "").strip()
        try:
            _threads = max(1, int(env)) if env else len(os.sched_getaffinity(0))
        except (ValueError, AttributeError):
            _threads = os.cpu_count() or 1
    return _threads


def _get_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=num_threads() - 1, thread_name_prefix="minidl-rowwise")
    return _pool


def rowwise(fn: Callable[..., None], *arrays: np.ndarray) -> None:
    """Call ``fn(*arrays)``, splitting every array with as many rows as the first into slices.

    Arrays with another number of rows (a (1, m) row that broadcasts) and
    non-arrays are passed whole to every slice. ``fn`` must write its
    results into its arguments (``out=``) and return nothing.
    """
    first = arrays[0]
    rows = first.shape[0] if first.ndim else 0
    k = min(num_threads(), rows)
    if k < 2 or first.size < MIN_ELEMENTS:
        fn(*arrays)
        return
    bounds = [rows * i // k for i in range(k + 1)]

    def part(i):
        lo, hi = bounds[i], bounds[i + 1]
        return [a[lo:hi] if isinstance(a, np.ndarray) and a.ndim and a.shape[0] == rows else a for a in arrays]

    pool = _get_pool()
    futures = [pool.submit(fn, *part(i)) for i in range(1, k)]
    fn(*part(0))
    for future in futures:
        future.result()
