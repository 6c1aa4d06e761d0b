"""Benchmark: reading a 200,000 x 21 CSV file, the previous loader against the current one.

    python benchmarks/bench_csv.py              # 200k rows x 21 columns (issue 13's case)
    python benchmarks/bench_csv.py --rows 20000 # smaller, quicker
    python benchmarks/bench_csv.py --fmt %.17g  # numbers the fast path leaves to numpy.loadtxt

The previous loader (kept below, verbatim in behaviour: ``csv.reader`` and a
Python ``float()`` per cell) is the baseline, timed in the same run,
interleaved with the current ``csv`` data source and with a bare
``numpy.loadtxt`` of the same file, so that machine noise hits all three
alike. It prints the median of each and the ratio previous / current; the
target is at least 4. The current source reads a plain numeric file with
``framework.numeric_csv`` (the line "fast path" says whether it did) and
falls back to ``numpy.loadtxt``; ``--fmt`` writes the numbers another way
(``%.17g`` and ``%.18e`` have too many digits for the fast path). Nothing is
asserted: the numbers are facts of this machine, today.
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from framework.numeric_csv import parse_numbers
from plugins.datasets import csv_file


def previous_loader(path: Path, target: str) -> tuple[np.ndarray, np.ndarray]:
    """The loader as it was (plugins/datasets.py before issue 13): a Python float() and a numpy item
    assignment per cell."""
    with path.open(newline="", encoding="utf-8") as fh:
        rows = [(i + 1, row) for i, row in enumerate(csv.reader(fh)) if row]
    names = [c.strip() for c in rows[0][1]]
    rows = rows[1:]
    width = len(names)
    targets = [names.index(target)]
    features = [i for i in range(width) if i not in targets]
    values = np.empty((len(rows), width))
    for r, (line, row) in enumerate(rows):
        if len(row) != width:
            raise ValueError(f"line {line}: expected {width} fields")
        for c, cell in enumerate(row):
            try:
                v = float(cell)
            except ValueError:
                raise ValueError(f"{path}, line {line}, column {names[c]!r}: cannot read {cell.strip()!r} "
                                 f"as a number") from None
            if not math.isfinite(v):
                raise ValueError(f"{path}, line {line}, column {names[c]!r}: {cell.strip()!r} is not a finite "
                                 f"number (NaN and inf are rejected; fill or drop the row)")
            values[r, c] = v
    return values[:, features].T.copy(), values[:, targets].T.copy()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--columns", type=int, default=21)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fmt", default="%.6g", help="how the numbers are written (default %%.6g)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    data = rng.standard_normal((args.rows, args.columns))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.csv"
        header = ",".join([f"x{i}" for i in range(args.columns - 1)] + ["y"])
        np.savetxt(path, data, delimiter=",", header=header, comments="", fmt=args.fmt)
        size = path.stat().st_size
        raw = path.read_bytes()
        fast = parse_numbers(raw, args.columns, start=raw.index(b"\n") + 1) is not None
        times: dict[str, list[float]] = {"previous": [], "current": [], "loadtxt": []}
        for _ in range(args.repeats):
            t = time.perf_counter()
            X0, y0 = previous_loader(path, "y")
            times["previous"].append(time.perf_counter() - t)
            t = time.perf_counter()
            ds = csv_file(str(path), target_columns=["y"])
            times["current"].append(time.perf_counter() - t)
            t = time.perf_counter()
            np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
            times["loadtxt"].append(time.perf_counter() - t)
        assert np.array_equal(X0, ds.X) and np.array_equal(y0, ds.y), "the loaders disagree"
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"CSV file: {args.rows:,} rows x {args.columns} columns, {size / 1e6:.1f} MB of {args.fmt}; "
          f"median of {args.repeats}, interleaved")
    print(f"  fast path (framework.numeric_csv): {'used' if fast else 'declined, numpy.loadtxt read it'}")
    for k in ("previous", "current", "loadtxt"):
        print(f"  {k:9s} {med[k]:7.3f} s   (runs: {', '.join(f'{x:.3f}' for x in times[k])})")
    print(f"speed-up previous / current: {med['previous'] / med['current']:.2f}x (target >= 4)")
    print(f"current / numpy.loadtxt:     {med['current'] / med['loadtxt']:.2f}")


if __name__ == "__main__":
    main()
