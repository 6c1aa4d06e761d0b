"""Using a saved model on new data: reading a CSV or .npz against what the model was trained on,
predicting in batches, writing predictions, and evaluating (``minidl predict`` / ``minidl evaluate``).

New data is checked against the model before anything is computed: a CSV's
columns are matched by name to the features the model was trained on (in
any order; the target columns may be there too, and ``evaluate`` needs
them), a file without a header by position; a missing, unknown or
non-numeric column is an error naming the file, the line and the column,
and what the model expects. Class labels in a target column are the class
names, read as training reads them ("1.0" is the class "1"); when no class
name is a number (cat, dog), a class index 0..C-1 is accepted too.

A CSV file is read as the ``csv`` data source reads training data
(:class:`framework.data.CsvText`): priced before it is read (a file too
large is a :class:`~framework.errors.MemoryLimitError`, not an exhausted
machine), its header decided the same way, its numbers read in bulk, and
any problem reported in the same words.
"""

from __future__ import annotations

import csv
import difflib
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from framework.classification import is_multi_label, metric_inputs, metric_scores
from framework.data import CsvText, excerpt, is_number, label_names
from framework.errors import ConfigError, DataError, ModelFileError
from framework.layer import Layer
from framework.loss import Loss

#: Columns predicted at once: bounded memory whatever the file's length.
BATCH = 4096


@dataclass
class Table:
    """New data for a model: X (features, m) in the model's order, y (targets, m) or None."""

    X: np.ndarray
    y: np.ndarray | None
    source: str

    @property
    def n_examples(self) -> int:
        return self.X.shape[1]


def _expected(model: Layer) -> tuple[list[str] | None, list[str], int]:
    info = model.info
    n = model.in_features if model.in_features is not None else info.meta.in_features
    targets = list(info.target_names or [])
    return info.feature_names, targets, n


def read_table(path: str | os.PathLike, model: Layer, *, need_targets: bool = False) -> Table:
    """Read new data for ``model`` (a CSV or an .npz), checked against what it was trained on."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {'directory, not a file' if path.is_dir() else 'file does not exist'}")
    if path.suffix.lower() == ".npz":
        table = _read_npz(path, model, need_targets)
    else:
        table = _read_csv(path, model, need_targets)
    dtype = model.dtype or np.float64
    return Table(table.X.astype(dtype, copy=False),
                 None if table.y is None else table.y.astype(dtype, copy=False), table.source)


def _read_csv(path: Path, model: Layer, need_targets: bool) -> Table:
    features, targets, n = _expected(model)
    classes = model.info.classes
    table = CsvText(path)  # priced before it is read; the header decided as the csv data source decides it
    if table.has_header:
        columns = _columns_by_name(path, table.names, features, targets, n, need_targets)
    else:
        columns = _columns_by_position(path, table.width, features, targets, n, need_targets)
    # One target column of a classifier holds labels; several (one per class) hold numbers, as in training.
    labels = columns["targets"] if classes and len(columns["targets"]) == 1 else []
    text = [table.strings(c) for c in labels]  # first: their pass over the rows checks the widths for numbers()
    # In the file's order: when they are all its columns, numbers() reads them without copying them out.
    numeric = sorted(set(columns["features"] + columns["targets"]) - set(labels))
    values = table.numbers(numeric)
    at = {c: i for i, c in enumerate(numeric)}
    X = _rows(values, [at[c] for c in columns["features"]])
    y = None
    if labels:
        y = np.stack([_class_indices(t, classes, lambda row, c=c: f"{table.path}, line {table.line_of_row(row)}, "
                                                                  f"column {table.names[c]!r}",
                                     probabilities=_binary_probabilities(model))
                      for c, t in zip(labels, text)])
    elif columns["targets"]:
        y = _rows(values, [at[c] for c in columns["targets"]])
    return Table(X, y, str(path))


def _rows(values: np.ndarray, index: list[int]) -> np.ndarray:
    """values[:, index] as rows, (len(index), m), C-ordered (the examples as columns)."""
    return np.ascontiguousarray(values.T[index])


def _binary_probabilities(model: Layer) -> bool:
    """Whether a label column may hold probabilities: a model of one output row and the classes "0", "1"."""
    return model.info.classes == ["0", "1"] and model.info.meta.out_features == 1


def _class_indices(labels: np.ndarray, classes: list[str], where, probabilities: bool = False) -> np.ndarray:
    """``labels``, the text of a target column, as class indices (m,); ``where(row)`` names a row.

    A label is a class's name; when no class name is a number (cat, dog), a
    class index 0..C-1 written as a number is accepted too. When one is (the
    classes "1", "2", "3" of integer labels), a number is only ever a name,
    read as training reads it ("1.0" is the class "1"), so that the label 0
    is not silently the index of the class "1".
    ``probabilities`` (a binary model of the classes "0" and "1",
    :func:`_binary_probabilities`): a number in [0, 1] that names no class
    is the probability of the class "1", the target bce takes (0.25).
    Each distinct label is looked up once; the first row with a label that is
    none of these is an error naming its row.
    """
    distinct, inverse = np.unique(labels, return_inverse=True)
    names: dict[str, float] = {}
    for i, name in enumerate(classes):
        names.setdefault(name, float(i))
    by_name = any(is_number(name) for name in classes)
    if by_name:
        normal = label_names(distinct, True, "").tolist()  # given the names, it raises nothing
        index = np.array([names.get(label, math.nan) for label in normal], dtype=np.float64)
        if probabilities:
            for i in np.flatnonzero(np.isnan(index)):
                value = float(normal[i]) if is_number(normal[i]) else math.nan
                index[i] = value if 0.0 <= value <= 1.0 else math.nan
    else:
        index = np.array([_class_index(label, names, len(classes)) for label in distinct.tolist()],
                         dtype=np.float64)
    y = index[inverse.ravel()]
    bad = np.isnan(y)
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(f"{where(row)}: {excerpt(str(labels[row]))} is not one of the model's classes "
                        f"({', '.join(classes)})" + ("" if by_name else f" nor a class index 0..{len(classes) - 1}"))
    return y


def _class_index(label: str, names: dict[str, float], n: int) -> float:
    """The class index of one label, or NaN: a class's name first, then an integer 0..n-1 as a number."""
    if label in names:
        return names[label]
    try:
        value = float(label)
    except ValueError:
        return math.nan
    return value if value.is_integer() and 0 <= value < n else math.nan


def _columns_by_name(path: Path, header: list[str], features, targets, n, need_targets) -> dict[str, list[int]]:
    """The file's column of each feature and target, by name (``header``'s names are unique: CsvText checks)."""
    if features is None:
        # The model does not know its features' names: the first n columns, then the targets.
        return _columns_by_position(path, len(header), None, targets, n, need_targets)
    missing = [f for f in features if f not in header]
    if missing:
        raise DataError(f"{path}: no column{'s' if len(missing) > 1 else ''} {', '.join(repr(m) for m in missing)}: "
                        f"the model was trained on the "
                        f"features {', '.join(features)}. The file's columns: {', '.join(header)}"
                        f"{_near_names(missing, [h for h in header if h not in features and h not in targets])}")
    unknown = [h for h in header if h not in features and h not in targets]
    if unknown:
        raise DataError(f"{path}: column {', '.join(repr(u) for u in unknown)} is not a feature of the model "
                        f"({', '.join(features)}) nor its target ({', '.join(targets) or 'unnamed'}); remove it")
    present = [t for t in targets if t in header]
    if need_targets and len(present) != len(targets) or need_targets and not targets:
        absent = [t for t in targets if t not in header] or ["(the target)"]
        raise DataError(f"{path}: evaluating needs the target column {', '.join(absent)} beside the features "
                        f"{', '.join(features)}. The file's columns: {', '.join(header)}")
    return {"features": [header.index(f) for f in features],
            "targets": [header.index(t) for t in targets] if need_targets else []}


def _near_names(missing: list[str], spare: list[str]) -> str:
    """". Did you mean 'X1' for 'x1'?" for the missing names a spare column nearly matches, else ""."""
    pairs, case_only = [], False
    for name in missing:
        same_letters = [c for c in spare if c.casefold() == name.casefold()]
        near = same_letters or difflib.get_close_matches(name, spare, n=1, cutoff=0.6)
        if near:
            pairs.append(f"{near[0]!r} for {name!r}")
            spare = [c for c in spare if c != near[0]]
            case_only = case_only or bool(same_letters)
    if not pairs:
        return ""
    return f". Did you mean {', '.join(pairs)}?" + (" Names are matched exactly, case included" if case_only else "")


def _columns_by_position(path: Path, width: int, features, targets, n, need_targets) -> dict[str, list[int]]:
    n_targets = len(targets) or 1
    allowed = [n + n_targets] if need_targets else [n, n + n_targets]
    if width not in allowed:
        what = f"{n} feature column(s)" + (f" then {n_targets} target column(s)" if need_targets else
                                           f" (optionally followed by {n_targets} target column(s))")
        names = f" ({', '.join(features)})" if features else ""
        raise DataError(f"{path}: {width} columns, but the model takes {what}{names}")
    return {"features": list(range(n)), "targets": list(range(n, width)) if need_targets else []}


def _read_npz(path: Path, model: Layer, need_targets: bool) -> Table:
    from framework.npz import NpzReader

    features, targets, n = _expected(model)
    with NpzReader(path, error=DataError, what=str(path)) as npz:
        if "X" not in npz:
            raise DataError(f"{path}: no array named 'X' (examples as rows, {n} feature columns); "
                            f"arrays: {', '.join(npz.names) or '(none)'}")
        names = ["X"] + (["y"] if need_targets else [])
        if need_targets and "y" not in npz:
            raise DataError(f"{path}: evaluating needs an array 'y' (the targets) beside 'X'")
        arrays = npz.read(names)
    X = arrays["X"]
    if X.dtype.kind not in "biuf":
        raise DataError(f"{path}: X must be numeric. Received: dtype {X.dtype}")
    if X.ndim == 1 and n == 1:
        X = X.reshape(-1, 1)
    if X.ndim != 2 or X.shape[1] != n:
        hint = (f"; it looks stored as (features, m), examples as columns: save X.T"
                if X.ndim == 2 and X.shape[0] == n else "")
        raise DataError(f"{path}: X must have one example per row and {n} columns (the model's features"
                        f"{': ' + ', '.join(features) if features else ''}). Received: shape {X.shape}{hint}")
    y = None
    if need_targets:
        y = np.asarray(arrays["y"])
        y = y.reshape(len(y), -1).T if y.ndim in (1, 2) else y
        if y.shape[1] != X.shape[0]:
            raise DataError(f"{path}: X has {X.shape[0]} examples (rows) but y has {y.shape[1]}")
        if model.info.classes and y.shape[0] == 1:  # labels, read as a CSV's
            y = _class_indices(_npz_labels(y[0], path), model.info.classes, lambda row: f"{path}, y[{row}]",
                               probabilities=_binary_probabilities(model))[None]
        else:
            y = y.astype(np.float64)
    bad = ~np.isfinite(X)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise DataError(f"{path}: X has NaN or infinite values; the first is X[{row}, {col}] (example {row})")
    return Table(X.T.astype(np.float64), y, str(path))


def _npz_labels(y: np.ndarray, path: Path) -> np.ndarray:
    """An npz's class labels (m,) as text: an integer written plainly (1.0 is "1"), text stripped."""
    if y.dtype.kind in "US":
        return np.char.strip(y.astype(str))
    if y.dtype.kind not in "biuf":
        raise DataError(f"{path}: y must hold numbers or class names. Received: dtype {y.dtype}")
    distinct, inverse = np.unique(y, return_inverse=True)
    text = [str(int(v)) if math.isfinite(v) and v.is_integer() else repr(v) for v in distinct.astype(float).tolist()]
    return np.array(text, dtype=str)[inverse.ravel()] if text else np.array([], dtype=str)


# ----------------------------------------------------------------------------
def predict(model: Layer, X: np.ndarray) -> np.ndarray:
    """The model's outputs for X (features, m), computed in batches."""
    m = X.shape[1]
    if m <= BATCH:
        return model.predict(X)
    return np.concatenate([model.predict(X[:, i:i + BATCH]) for i in range(0, m, BATCH)], axis=1)


def prediction_columns(model: Layer, y_hat: np.ndarray) -> dict[str, list]:
    """Named output columns: the class label and each class's probability, or the predicted values."""
    from framework.saving import class_probabilities, predicted_labels

    info = model.info
    if info.classes:
        probs = class_probabilities(model, y_hat)
        columns: dict[str, list] = {"label": predicted_labels(model, y_hat, info.classes)}
        for k, name in enumerate(info.classes):
            columns[f"p_{name}"] = probs[k].tolist()
        return columns
    names = info.target_names if info.target_names and len(info.target_names) == y_hat.shape[0] else (
        ["prediction"] if y_hat.shape[0] == 1 else [f"prediction_{k}" for k in range(y_hat.shape[0])])
    loss = _saved_loss(info) if info.loss else None
    if loss is not None and is_multi_label(loss, y_hat.shape[0]):
        # C yes/no questions (bce or bce_with_logits on C target columns): each one's probability, as the
        # run's metrics saw it (the sigmoid of a logit).
        p = metric_scores(y_hat.reshape(1, -1), loss).reshape(y_hat.shape)
        return {f"p_{name}": p[k].tolist() for k, name in enumerate(names)}
    return {name: y_hat[k].tolist() for k, name in enumerate(names)}


def _saved_loss(info) -> Loss:
    """The loss a model file names (``info.loss``), built from its registered name and arguments."""
    from framework.registry import registry

    spec = dict(info.loss)
    name = spec.pop("type")
    if ("losses", name) not in registry:
        raise ModelFileError(f"{info.path}: the loss {name!r} is not registered by any installed plugin")
    return registry.build("losses", name, spec, path="loss")


OUTPUT_SUFFIXES = (".csv", ".npz")


def check_output(out: str | os.PathLike) -> str:
    """The format predictions go to ``out`` in, ".csv" or ".npz", by its extension; any other is a ConfigError."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        received = f"{out.suffix!r}" if out.suffix else "no extension"
        raise ConfigError([("-o", f"predictions are written as .csv or .npz. Received: {out.name} ({received})")])
    return suffix


def write_predictions(columns: dict[str, list], out: str | os.PathLike | None, stream=None) -> None:
    """CSV to ``out`` (or ``stream``), or an .npz when ``out`` ends in .npz; written atomically.

    ``out`` must end in .csv or .npz (:func:`check_output`).
    """
    if out is not None and check_output(out) == ".npz":
        arrays = {name: np.asarray(values) for name, values in columns.items()}
        from framework.saving import _atomic_savez

        _atomic_savez(Path(out), arrays)
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    names = list(columns)
    writer.writerow(names)
    for row in zip(*(columns[n] for n in names)):
        writer.writerow([repr(v) if isinstance(v, float) else v for v in row])
    if out is None:
        stream.write(buffer.getvalue())
    else:
        from framework.config_files import atomic_write_text

        atomic_write_text(Path(out), buffer.getvalue())


def evaluate(model: Layer, table: Table) -> dict[str, float]:
    """The loss and the metrics of the run the model came from, on ``table``."""
    from framework.registry import registry

    info = model.info
    if not info.loss:
        raise ModelFileError(f"{info.path}: the model file names no loss (it was saved without one: pass "
                             f"loss= and metrics= to model.save); nothing to evaluate")
    loss = _saved_loss(info)
    y_hat = predict(model, table.X)
    out = {"loss": float(loss(y_hat, table.y))}
    loss.release()
    y_hat, y = metric_inputs(y_hat, table.y, loss)
    for metric in info.metrics:
        if ("metrics", metric) not in registry:
            raise ModelFileError(f"{info.path}: the metric {metric!r} is not registered by any installed plugin")
        out[metric] = float(registry.get("metrics", metric)(y_hat, y))
    return out
