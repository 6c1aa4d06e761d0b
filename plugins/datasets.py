"""Built-in data sources. Each returns a :class:`framework.Dataset`, X (F, m), y (out, m).

Synthetic tasks (seeded, so an experiment is reproducible bit for bit):

* ``synthetic_linear``: y = w X + b + noise with known w (1, F) and b, the
  task of the notes' linear regression; ``info`` holds the truth.
* ``synthetic_nonlinear``: y = sin(2 x1) + 0.5 x2^2 - 0.5 x1 x2 (+ noise) on
  x in [-2, 2]^F (extra features are distractors), a smooth curve a
  one-hidden-layer sigmoid MLP fits well and a linear model cannot.
* ``moons``: two interleaving half circles, labels 0/1 in y (1, m), for
  binary classification with a sigmoid output and BCE.

Files (row-major on disk, one example per row; transposed here into the
(features, m) convention, so users never transpose by hand):

* ``csv``: choose target columns by name (with a header) or index; every
  other column is a feature unless ``feature_columns`` says otherwise.
* ``npz``: arrays ``x_key`` and ``y_key``, stored rows = examples by default
  (``layout = "columns"`` for arrays already (features, m)).
"""

from __future__ import annotations

import csv
import difflib
import math
import zipfile
from pathlib import Path
from typing import Literal

import numpy as np

from framework.data import Dataset
from framework.errors import DataError
from framework.hookspecs import hookimpl
from framework.types import NonNegativeFloat, PositiveInt


def synthetic_linear(n_samples: PositiveInt = 256, n_features: PositiveInt = 10,
                     noise: NonNegativeFloat = 0.1, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((1, n_features))
    b = rng.standard_normal((1, 1))
    X = rng.standard_normal((n_features, n_samples))
    y = w @ X + b + noise * rng.standard_normal((1, n_samples))
    return Dataset(X, y, name="synthetic_linear", info={"true_w": w.ravel().tolist(), "true_b": float(b[0, 0])})


def synthetic_nonlinear(n_samples: PositiveInt = 512, n_features: PositiveInt = 2,
                        noise: NonNegativeFloat = 0.05, seed: int = 0) -> Dataset:
    if n_features < 2:
        raise ValueError(f"synthetic_nonlinear: expected `n_features` >= 2. Received: n_features={n_features}")
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2.0, 2.0, (n_features, n_samples))
    x1, x2 = X[0], X[1]
    y = (np.sin(2 * x1) + 0.5 * x2 ** 2 - 0.5 * x1 * x2).reshape(1, -1)
    y = y + noise * rng.standard_normal((1, n_samples))
    return Dataset(X, y, name="synthetic_nonlinear")


def moons(n_samples: PositiveInt = 400, noise: NonNegativeFloat = 0.1, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    n_top = n_samples // 2
    n_bottom = n_samples - n_top
    t_top = rng.uniform(0, math.pi, n_top)
    t_bottom = rng.uniform(0, math.pi, n_bottom)
    top = np.vstack([np.cos(t_top), np.sin(t_top)])
    bottom = np.vstack([1 - np.cos(t_bottom), 0.5 - np.sin(t_bottom)])
    X = np.hstack([top, bottom]) + noise * rng.standard_normal((2, n_samples))
    y = np.hstack([np.zeros(n_top), np.ones(n_bottom)]).reshape(1, -1)
    perm = rng.permutation(n_samples)
    return Dataset(X[:, perm], y[:, perm], name="moons", feature_names=["x1", "x2"], target_names=["label"])


def _existing_file(path: str, kind: str) -> Path:
    p = Path(path).expanduser()
    if not p.is_file():
        where = "directory, not a file" if p.is_dir() else "file does not exist"
        raise DataError(f"{kind} data: {p}: {where} (paths in an experiment file are relative to that file)")
    return p


def _resolve_columns(requested: list, header: list[str] | None, path: Path, what: str) -> list[int]:
    n = len(header) if header else None
    indices = []
    for col in requested:
        if isinstance(col, int):
            if n is not None and not -n <= col < n:
                raise DataError(f"{path}: {what} column index {col} is out of range; the file has {n} columns")
            indices.append(col % n if n else col)
        elif header is None:
            raise DataError(f"{path}: {what} column {col!r} is a name, but header = false; use a column index")
        elif col not in header:
            close = difflib.get_close_matches(col, header, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise DataError(f"{path}: no column named {col!r}.{hint} Columns: {', '.join(header)}")
        else:
            indices.append(header.index(col))
    return indices


def csv_file(path: str, target_columns: list[str | int], feature_columns: list[str | int] | None = None,
             header: bool = True, delimiter: str = ",") -> Dataset:
    p = _existing_file(path, "csv")
    if not target_columns:
        raise DataError(f"{p}: target_columns is empty; name at least one column to predict")
    with p.open(newline="", encoding="utf-8") as fh:
        rows = [(i + 1, row) for i, row in enumerate(csv.reader(fh, delimiter=delimiter)) if row]
    names = None
    if header:
        if not rows:
            raise DataError(f"{p}: the file is empty")
        names = [c.strip() for c in rows[0][1]]
        rows = rows[1:]
    if not rows:
        raise DataError(f"{p}: no data rows")
    width = len(names) if names else len(rows[0][1])
    names = names or [str(i) for i in range(width)]
    targets = _resolve_columns(list(target_columns), names if header else None, p, "target")
    if feature_columns is None:
        features = [i for i in range(width) if i not in targets]
    else:
        features = _resolve_columns(list(feature_columns), names if header else None, p, "feature")
    if not features:
        raise DataError(f"{p}: no feature columns left after taking the targets {target_columns}")
    values = np.empty((len(rows), width))
    for r, (line, row) in enumerate(rows):
        if len(row) != width:
            raise DataError(f"{p}, line {line}: expected {width} fields, found {len(row)}")
        for c, cell in enumerate(row):
            try:
                v = float(cell)
            except ValueError:
                raise DataError(f"{p}, line {line}, column {names[c]!r}: cannot read {cell.strip()!r} "
                                f"as a number") from None
            if not math.isfinite(v):
                raise DataError(f"{p}, line {line}, column {names[c]!r}: {cell.strip()!r} is not a finite "
                                f"number (NaN and inf are rejected; fill or drop the row)")
            values[r, c] = v
    return Dataset(values[:, features].T.copy(), values[:, targets].T.copy(), name=str(p),
                   feature_names=[names[i] for i in features], target_names=[names[i] for i in targets])


def npz_file(path: str, x_key: str = "X", y_key: str = "y",
             layout: Literal["rows", "columns"] = "rows") -> Dataset:
    p = _existing_file(path, "npz")
    try:
        with open(p, "rb") as fh, np.load(fh, allow_pickle=False) as archive:
            keys = list(archive.keys())
            for key in (x_key, y_key):
                if key not in keys:
                    raise DataError(f"{p}: no array named {key!r}; arrays: {', '.join(keys) or '(none)'}")
            X, y = archive[x_key], archive[y_key]
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise DataError(f"{p}: not a readable .npz file ({exc})") from exc
    if layout == "rows":
        X = X.reshape(len(X), -1).T if X.ndim in (1, 2) else X
        y = y.reshape(len(y), -1).T if y.ndim in (1, 2) else y
    return Dataset(X, y, name=str(p))


@hookimpl
def minidl_datasets():
    return {"synthetic_linear": synthetic_linear, "synthetic_nonlinear": synthetic_nonlinear,
            "moons": moons, "csv": csv_file, "npz": npz_file}
