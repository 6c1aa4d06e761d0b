"""Built-in data sources. Each returns a :class:`framework.Dataset`, X (F, m), y (out, m).

Synthetic tasks (seeded, so an experiment is reproducible bit for bit):

* ``synthetic_linear``: y = w X + b + noise with known w (1, F) and b, the
  task of the notes' linear regression; ``info`` holds the truth.
* ``synthetic_nonlinear``: y = sin(2 x1) + 0.5 x2^2 - 0.5 x1 x2 (+ noise) on
  x in [-2, 2]^F (extra features are distractors), a smooth curve a
  one-hidden-layer sigmoid MLP fits well and a linear model cannot.
* ``moons``: two interleaving half circles, labels 0/1 in y (1, m), for
  binary classification with a sigmoid output and BCE.
* ``spirals``: ``n_classes`` interleaved spiral arms in the plane, class
  indices in y (1, m), for multi-class classification (softmax and
  cross-entropy); no linear model separates them.

Real data shipped with the package (works offline, no extra dependency):

* ``digits``: the UCI optical-recognition 8x8 handwritten digits, 1,797
  images of 10 classes (E. Alpaydin and C. Kaynak, 1998; CC BY 4.0), X (64, m)
  scaled to [0, 1], y (1, m) class indices named by ``classes``.

Files (row-major on disk, one example per row; transposed here into the
(features, m) convention, so users never transpose by hand):

* ``csv``: choose target columns by name (with a header) or index (from 0,
  or from the last when negative: -1, header or not); every other column
  is a feature unless ``feature_columns`` says otherwise.
* ``npz``: arrays ``x_key`` and ``y_key``, stored rows = examples by default
  (``layout = "columns"`` for arrays already (features, m)).
"""

from __future__ import annotations

import difflib
import math
import numbers
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np

from framework.data import CsvText, Dataset, class_indices, excerpt, is_missing, is_number
from framework.errors import DataError, InvalidValueError
from framework.memory import check_bytes
from framework.npz import read_npz
from framework.hookspecs import hookimpl
from framework.types import Column, NonNegativeFloat, PositiveInt, StrictBool, UnitInterval


def _price(source: str, rows: int, n_samples: int) -> None:
    """Refuse, before drawing anything, data that would not fit in memory: ``rows`` float64 rows
    of ``n_samples`` (the arrays and their working copies)."""
    check_bytes(rows * n_samples * 8, f"{source}: {n_samples:,} examples x {rows} float64 rows "
                                       f"(the data and its working copies)")


def synthetic_linear(n_samples: PositiveInt = 256, n_features: PositiveInt = 10,
                     noise: NonNegativeFloat = 0.1, seed: int = 0) -> Dataset:
    _price("synthetic_linear", 2 * (n_features + 4), n_samples)
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((1, n_features))
    b = rng.standard_normal((1, 1))
    X = rng.standard_normal((n_features, n_samples))
    y = w @ X + b + noise * rng.standard_normal((1, n_samples))
    return Dataset(X, y, name="synthetic_linear", info={"true_w": w.ravel().tolist(), "true_b": float(b[0, 0])})


def synthetic_nonlinear(n_samples: PositiveInt = 512, n_features: PositiveInt = 2,
                        noise: NonNegativeFloat = 0.05, seed: int = 0) -> Dataset:
    if n_features < 2:
        raise InvalidValueError(f"synthetic_nonlinear: expected `n_features` >= 2. Received: n_features={n_features}")
    _price("synthetic_nonlinear", 2 * (n_features + 6), n_samples)
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2.0, 2.0, (n_features, n_samples))
    x1, x2 = X[0], X[1]
    y = (np.sin(2 * x1) + 0.5 * x2 ** 2 - 0.5 * x1 * x2).reshape(1, -1)
    y = y + noise * rng.standard_normal((1, n_samples))
    return Dataset(X, y, name="synthetic_nonlinear")


def moons(n_samples: PositiveInt = 400, noise: NonNegativeFloat = 0.1, seed: int = 0) -> Dataset:
    _price("moons", 24, n_samples)
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
    return Dataset(X[:, perm], y[:, perm], name="moons", feature_names=["x1", "x2"], target_names=["label"],
                   classes=["0", "1"])


def spirals(n_classes: PositiveInt = 3, n_samples: PositiveInt = 300, noise: NonNegativeFloat = 0.1,
            seed: int = 0) -> Dataset:
    """``n_classes`` spiral arms around the origin, one class per arm.

    Arm k holds ``n_samples // n_classes`` points (the first ``n_samples %
    n_classes`` arms one more), evenly spaced in radius r from 0.1 to 1 at
    angle 2 pi k / n_classes + 4 r (each arm turns 3.6 radians), plus
    Gaussian ``noise`` (its standard deviation) on both coordinates. The
    columns are shuffled by the same seeded generator.

    Shape: X (2, n_samples), y (1, n_samples) of class indices 0..n_classes-1.
    """
    if n_classes < 2:
        raise DataError(f"spirals: expected `n_classes` >= 2. Received: n_classes={n_classes}")
    if n_samples < n_classes:
        raise DataError(f"spirals: `n_samples` must be at least `n_classes` (one point per arm). "
                        f"Received: n_samples={n_samples}, n_classes={n_classes}")
    _price("spirals", 24, n_samples)
    rng = np.random.default_rng(seed)
    counts = [n_samples // n_classes + (k < n_samples % n_classes) for k in range(n_classes)]
    labels = np.repeat(np.arange(n_classes, dtype=np.float64), counts)
    r = np.concatenate([np.linspace(0.1, 1.0, c) for c in counts])
    angle = 2 * math.pi * labels / n_classes + 4.0 * r
    X = np.vstack([r * np.cos(angle), r * np.sin(angle)]) + noise * rng.standard_normal((2, n_samples))
    perm = rng.permutation(n_samples)
    return Dataset(X[:, perm], labels.reshape(1, -1)[:, perm], name="spirals", feature_names=["x1", "x2"],
                   target_names=["class"], classes=[str(k) for k in range(n_classes)])


DIGITS_FILE = "data/digits.npz"
#: Examples per class in the UCI description of this set (optdigits.tes).
DIGITS_CLASS_COUNTS = (178, 182, 177, 183, 181, 182, 181, 179, 174, 180)


def _read_digits() -> tuple[np.ndarray, np.ndarray]:
    """(pixels (1797, 64) uint8 in 0..16, labels (1797,) uint8) from the package's own file."""
    where = resources.files("plugins").joinpath(DIGITS_FILE)
    try:
        with resources.as_file(where) as path:
            arrays = read_npz(path, ["pixels", "labels"], error=DataError)  # the one checked reader
        pixels, labels = arrays["pixels"], arrays["labels"]
    except (OSError, DataError) as exc:
        raise DataError(f"digits: cannot read the packaged data file {where} ({exc}); the installation "
                        f"is incomplete: reinstall minidl") from exc
    if (pixels.shape != (1797, 64) or labels.shape != (1797,) or pixels.dtype != np.uint8
            or labels.dtype != np.uint8 or pixels.max() > 16
            or tuple(np.bincount(labels, minlength=10)) != DIGITS_CLASS_COUNTS):
        raise DataError(f"digits: the packaged data file {where} is not the 1,797 UCI digits "
                        f"(pixels {pixels.shape} {pixels.dtype}, labels {labels.shape} {labels.dtype}); "
                        f"reinstall minidl")
    return pixels, labels


def digits(subset: Literal["all", "train", "test"] = "all", test_fraction: UnitInterval = 0.2,
           split_seed: int = 0) -> Dataset:
    """The UCI optical-recognition handwritten digits: 1,797 8x8 images, 10 classes.

    Each feature counts the "on" pixels of a 4x4 block of a 32x32 bitmap
    (0..16); here it is divided by 16, so X is in [0, 1]. The data ships
    inside the package (``plugins/data/digits.npz``, 45 KB): no download.

    Source: E. Alpaydin and C. Kaynak, "Optical Recognition of Handwritten
    Digits", UCI Machine Learning Repository (1998),
    https://doi.org/10.24432/C50P49, licensed CC BY 4.0. These 1,797 images
    are the repository's test set (optdigits.tes; 13 writers), the copy
    scikit-learn ships as ``load_digits``.

    Args:
        subset: "all" (default), or "train" / "test": the two parts of one
            seeded random split. "test" holds exactly the examples that
            ``validation_split = test_fraction`` with ``split_seed`` holds out
            of the full set (the same :meth:`Dataset.split`), and "train" the
            rest, so a model trained on "train" never saw "test".
        test_fraction: the fraction of examples in "test" (ignored for "all").
        split_seed: the seed of that split.

    Shape:
        X (64, m): pixel (i, j) of the image is row 8 i + j. y (1, m): the
        digit as a class index; ``classes`` is ["0", ..., "9"].
    """
    if subset not in ("all", "train", "test"):
        raise DataError(f"digits: `subset` must be 'all', 'train' or 'test'. Received: subset={subset!r}")
    pixels, labels = _read_digits()
    data = Dataset(pixels.T / 16.0, labels.reshape(1, -1).astype(np.float64), name="digits",
                   feature_names=[f"pixel_{i}_{j}" for i in range(8) for j in range(8)],
                   target_names=["digit"], classes=[str(k) for k in range(10)])
    if subset == "all":
        return data
    if test_fraction == 0:
        raise DataError(f"digits: subset={subset!r} needs `test_fraction` > 0. Received: test_fraction=0")
    train, test = data.split(test_fraction, seed=split_seed)
    part = train if subset == "train" else test
    part.name = f"digits ({subset}, test_fraction={test_fraction}, split_seed={split_seed})"
    return part


def _existing_file(path: str, kind: str) -> Path:
    p = Path(path).expanduser()
    if not p.is_file():
        where = "directory, not a file" if p.is_dir() else "file does not exist"
        raise DataError(f"{kind} data: {p}: {where} (paths in an experiment file are relative to that file)")
    return p


def _resolve_columns(requested: list, header: list[str] | None, width: int, path: Path, what: str,
                     header_set: bool = False) -> list[int]:
    """Column names and indices -> indices 0..width-1; ``header`` is None when the file has none.

    An index counts from 0, or from the last column when negative (-1 is the
    last), against the file's real ``width``, header or not.
    """
    indices = []
    for col in requested:
        if isinstance(col, (bool, np.bool_)) or not isinstance(col, (str, numbers.Integral)):
            raise DataError(f"{path}: a {what} column is a name (text) or an index (an integer); "
                            f"received {col!r} of type {type(col).__name__}")
        if isinstance(col, numbers.Integral):
            col = int(col)
            if not -width <= col < width:
                raise DataError(f"{path}: {what} column index {col} is out of range; the file has {width} columns "
                                f"(valid indices: 0 to {width - 1}, or -1 to -{width} from the last)")
            indices.append(col % width)
        elif header is None:
            why = ("header = false was set, so its first row is read as data" if header_set else
                   "its first row is numbers, read as data")
            raise DataError(f"{path}: {what} column {col!r} is a name, but the file has no header row ({why}); "
                            f"use a column index, or header = true")
        elif col not in header:
            close = difflib.get_close_matches(col, header, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            shown = ", ".join(h if len(h) <= 20 else h[:20] + "..." for h in header[:30])
            shown += ", ..." if len(header) > 30 else ""
            raise DataError(f"{path}: no column named {col!r}.{hint} Columns: {shown}")
        else:
            indices.append(header.index(col))
    twice = sorted({i for i in indices if indices.count(i) > 1})
    if twice:
        names = ", ".join(repr(header[i]) if header else str(i) for i in twice)
        raise DataError(f"{path}: the {what} columns {list(requested)} name column {names} more than once "
                        f"(an index and a name, or a negative and a positive index, can be the same column)")
    return indices


def _rows_of(values: np.ndarray, index: list[int], block: int = 2048) -> np.ndarray:
    """values[:, index].T as a fresh C-ordered array (len(index), m), copied ``block`` rows at a time.

    A transpose copied in one pass walks the whole of ``values`` once per
    output row, fetching a cache line for every value it reads; a block of
    2048 rows (344 kB for 21 float64 columns) stays in cache while all its
    columns are written (200,000 x 21: 11 ms instead of 30 to 40 ms).
    """
    m = values.shape[0]
    out = np.empty((len(index), m), values.dtype)
    run = index == list(range(index[0], index[0] + len(index)))
    columns = slice(index[0], index[0] + len(index)) if run else index
    for r in range(0, m, block):
        out[:, r:r + block] = values[r:r + block, columns].T
    return out


def csv_file(path: str, target_columns: list[Column], feature_columns: list[Column] | None = None,
             header: StrictBool | Literal["auto"] = "auto", delimiter: str = ",",
             classes: StrictBool | list[str] | Literal["auto"] = "auto") -> Dataset:
    p = _existing_file(path, "csv")
    if not target_columns:
        raise DataError(f"{p}: target_columns is empty; name at least one column to predict")
    table = CsvText(p, header=header, delimiter=delimiter)
    names = table.names
    header_names = names if table.has_header else None
    header_set = header is False  # the user said so; "auto" decided from the first row
    targets = _resolve_columns(list(target_columns), header_names, table.width, p, "target", header_set)
    if feature_columns is None:
        features = [i for i in range(table.width) if i not in targets]
    else:
        features = _resolve_columns(list(feature_columns), header_names, table.width, p, "feature", header_set)
        both = [i for i in features if i in targets]
        if both:
            shown = ", ".join(repr(names[i]) if table.has_header else str(i) for i in both)
            raise DataError(f"{p}: column {shown} is both a feature and a target: the model would be given "
                            f"the answer as an input. Leave it out of feature_columns (or omit feature_columns: "
                            f"every column that is not a target is a feature)")
    if not features:
        raise DataError(f"{p}: no feature columns left after taking the targets {target_columns}")
    if classes == "auto":
        # Class labels when the single target's first value is not a number ("setosa").
        first = table.first_data
        classes = len(targets) == 1 and first is not None and len(first) > targets[0] \
            and not is_number(first[targets[0]]) and not is_missing(first[targets[0]])
    if classes is False:
        columns = features + [t for t in targets if t not in features]
        hint = {t: "for class labels in this column, set classes = true" for t in targets}
        values = table.numbers(sorted(columns) if len(set(columns)) == table.width else columns, hint)
        order = sorted(columns) if len(set(columns)) == table.width else columns
        pos = {c: i for i, c in enumerate(order)}
        X = _rows_of(values, [pos[c] for c in features])
        y = _rows_of(values, [pos[c] for c in targets])
        class_names = None
    else:
        if len(targets) != 1:
            raise DataError(f"{p}: class labels need exactly one target column; target_columns = {target_columns}")
        X = _rows_of(table.numbers(features), list(range(len(features))))
        y, class_names = class_indices(table.strings(targets[0]), classes, str(p), line_of=table.line_of_row)
    return Dataset(X, y, name=str(p), feature_names=[names[i] for i in features],
                   target_names=[names[i] for i in targets], classes=class_names)


def npz_file(path: str, x_key: str = "X", y_key: str = "y",
             layout: Literal["rows", "columns"] = "rows",
             classes: StrictBool | list[str] | Literal["auto"] = "auto") -> Dataset:
    p = _existing_file(path, "npz")
    arrays = read_npz(p, [x_key, y_key], error=DataError)
    X, y = arrays[x_key], arrays[y_key]
    if classes == "auto":
        classes = y.dtype.kind == "U"  # names as text: class labels; numbers: values
    _check_npz_example_counts(p, x_key, X, y_key, y, layout, labels=classes is not False)
    if layout == "rows":
        X = X.reshape(len(X), -1).T if X.ndim in (1, 2) else X
    class_names = None
    if classes is not False:
        if y.ndim == 2 and 1 not in y.shape:
            raise DataError(f"{p}: class labels must be one label per example; {y_key!r} has shape {y.shape}")
        y, class_names = class_indices(y.ravel(), classes, f"{p}: {y_key}")
    elif layout == "rows":
        y = y.reshape(len(y), -1).T if y.ndim in (1, 2) else y
    return Dataset(X, y, name=str(p), classes=class_names)


_LAYOUTS = {"rows": "one example per row", "columns": "examples as columns, (features, m)"}


def _npz_examples(arr: np.ndarray, layout: str, labels: bool) -> int | None:
    """How many examples ``arr`` holds as stored in the file, read with ``layout``; None: not a 1-D/2-D array."""
    if labels:
        return arr.size  # one class label per example, whatever the layout
    if arr.ndim == 1:
        return len(arr)
    if arr.ndim == 2:
        return arr.shape[0] if layout == "rows" else arr.shape[1]
    return None


def _check_npz_example_counts(p, x_key: str, X: np.ndarray, y_key: str, y: np.ndarray, layout: str,
                              labels: bool) -> None:
    """X and y must agree on the number of examples; said with the shapes stored in the file.

    (check_arrays would see them after the layout's transpose, and its advice
    to transpose row-major data is backwards for a file already (features, m).)
    """
    counts = {lay: (_npz_examples(X, lay, False), _npz_examples(y, lay, labels)) for lay in _LAYOUTS}
    mx, my = counts[layout]
    if mx is None or my is None or mx == my:
        return
    message = (f"{p}: {x_key} and {y_key} disagree on the number of examples with layout = \"{layout}\" "
               f"({_LAYOUTS[layout]}): the file's {x_key} has shape {X.shape}, {mx} example{'s' * (mx != 1)}; its "
               f"{y_key} has shape {y.shape}, {my} example{'s' * (my != 1)}.")
    other = "columns" if layout == "rows" else "rows"
    ox, oy = counts[other]
    if ox is not None and ox == oy:
        message += (f" {x_key} looks stored as (features, m), examples as columns: set layout = \"columns\""
                    if other == "columns" else
                    f" The file holds one example per row: set layout = \"rows\" (the default)")
    raise DataError(message)


# The file sources need a file: the kit is run on them by tests/plugins/test_datasets.py instead.
_NEEDS_A_FILE = "reads the file given by `path`; the test suite checks it on real files (tests/framework/test_kits.py)"
csv_file.kit_skip = {check: _NEEDS_A_FILE for check in ("returns_dataset", "shapes", "dtype", "same_seed_same_data")}
npz_file.kit_skip = dict(csv_file.kit_skip)


@hookimpl
def minidl_datasets():
    return {"synthetic_linear": synthetic_linear, "synthetic_nonlinear": synthetic_nonlinear,
            "moons": moons, "spirals": spirals, "digits": digits, "csv": csv_file, "npz": npz_file}
