"""Benchmark: what `minidl predict` and `minidl evaluate` spend reading a 200,000 x 21 CSV file, before and now.

    python benchmarks/bench_predict_csv.py              # 200k rows: 20 features and a target
    python benchmarks/bench_predict_csv.py --rows 20000 # smaller, quicker

The previous reader (kept below, verbatim in behaviour: the whole file as a
list of ``csv`` rows, and a Python ``float()`` per cell) is the baseline,
timed in the same run, interleaved with the current one
(``framework.inference.read_table``, on :class:`framework.data.CsvText`), on
three tasks: predict (the target column is there, unread), evaluate a
regression model, and evaluate a classifier whose labels are class names.
It prints the median of each and the ratio previous / current. Nothing is
asserted but that both read the same numbers: the times are facts of this
machine, today.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from framework import build_model, load_model
from framework.data import csv_rows, csv_text, lone_cr_as_lf, no_nul
from framework.errors import DataError
from framework.inference import _columns_by_name, _columns_by_position, _expected, read_table


def previous_reader(path: Path, model, need_targets: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """framework/inference.py's _read_csv as it was: a list of every row, a float() per cell."""
    features, targets, n = _expected(model)
    classes = model.info.classes
    rows = list(csv_rows(csv_text(no_nul(lone_cr_as_lf(path.read_bytes()), path), path), path))
    first = [c.strip() for c in rows[0][1]]
    header = None if all(_is_number(c) for c in first) else first
    if header is not None:
        rows = rows[1:]
        columns = _columns_by_name(path, header, features, targets, n, need_targets)
    else:
        columns = _columns_by_position(path, len(first), features, targets, n, need_targets)
    width = len(header) if header is not None else len(first)
    names = header or [str(i) for i in range(width)]
    X = np.empty((len(columns["features"]), len(rows)))
    y = np.empty((len(columns["targets"]), len(rows))) if columns["targets"] else None
    for j, (line, row) in enumerate(rows):
        if len(row) != width:
            raise DataError(f"{path}, line {line}: expected {width} fields, found {len(row)}")
        for i, c in enumerate(columns["features"]):
            X[i, j] = _number(path, line, names[c], row[c])
        for i, c in enumerate(columns["targets"]):
            y[i, j] = _label(path, line, names[c], row[c], classes) if classes else _number(path, line, names[c],
                                                                                             row[c])
    return X, y


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _number(path: Path, line: int, column: str, cell: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise DataError(f"{path}, line {line}, column {column!r}: cannot read {cell.strip()[:40]!r} "
                        f"as a number") from None
    if not math.isfinite(value):
        raise DataError(f"{path}, line {line}, column {column!r}: {cell.strip()!r} is not a finite number")
    return value


def _label(path: Path, line: int, column: str, cell: str, classes: list[str]) -> float:
    cell = cell.strip()
    if cell in classes:
        return float(classes.index(cell))
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
    if value.is_integer() and 0 <= value < len(classes):
        return value
    raise DataError(f"{path}, line {line}, column {column!r}: {cell[:40]!r} is not one of the model's classes "
                    f"({', '.join(classes)}) nor a class index 0..{len(classes) - 1}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    data = rng.standard_normal((args.rows, args.features + 1))
    names = [f"x{i}" for i in range(args.features)]
    classes = ["setosa", "versicolor", "virginica"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        numbers, labelled = tmp / "numbers.csv", tmp / "labelled.csv"
        np.savetxt(numbers, data, delimiter=",", header=",".join(names + ["y"]), comments="", fmt="%.6g")
        with open(numbers) as src, open(labelled, "w") as dst:  # the same numbers, the target a class name
            dst.write(src.readline())
            for line, k in zip(src, rng.integers(0, 3, args.rows)):
                dst.write(line[:line.rindex(",") + 1] + classes[k] + "\n")
        layers = {"layers": [{"type": "linear", "out_features": 3}]}
        build_model({"layers": [{"type": "linear", "out_features": 1}]}, in_features=args.features, seed=0).save(
            tmp / "regression.npz", feature_names=names, target_names=["y"], loss={"type": "mse"})
        build_model(layers, in_features=args.features, seed=0).save(
            tmp / "classifier.npz", feature_names=names, target_names=["y"], classes=classes,
            loss={"type": "cross_entropy"})
        regression, classifier = load_model(tmp / "regression.npz"), load_model(tmp / "classifier.npz")
        tasks = {"predict": (numbers, regression, False), "evaluate": (numbers, regression, True),
                 "evaluate, class names": (labelled, classifier, True)}
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.repeats):
            for task, (path, model, need_targets) in tasks.items():
                t = time.perf_counter()
                X0, y0 = previous_reader(path, model, need_targets)
                times.setdefault((task, "previous"), []).append(time.perf_counter() - t)
                t = time.perf_counter()
                table = read_table(path, model, need_targets=need_targets)
                times.setdefault((task, "current"), []).append(time.perf_counter() - t)
                same_y = y0 is None and table.y is None or np.array_equal(y0, table.y)
                assert np.array_equal(X0, table.X) and same_y, f"the readers disagree ({task})"
        size = numbers.stat().st_size
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"CSV file: {args.rows:,} rows x {args.features + 1} columns, {size / 1e6:.1f} MB; median of "
          f"{args.repeats}, interleaved")
    for task in tasks:
        before, now = med[(task, "previous")], med[(task, "current")]
        print(f"  {task:22s} previous {before:7.3f} s   current {now:7.3f} s   speed-up {before / now:5.2f}x")


if __name__ == "__main__":
    main()
