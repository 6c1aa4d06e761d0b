"""Datasets in the (features, m) convention, with checks, splits and standardisation."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from framework.errors import DataError


def check_arrays(X: Any, y: Any, source: str = "data") -> tuple[np.ndarray, np.ndarray]:
    """Validate X (features, m) and y (outputs, m); return them as float arrays.

    Raises :class:`DataError` for anything that would fail later with a
    numpy traceback or a silent NaN: wrong rank, example counts that
    disagree, an empty dataset, non-numeric or non-finite values (the first
    offending position is named, in the (row, example) convention).
    """
    arrays = []
    for name, arr in (("X", X), ("y", y)):
        try:
            arr = np.asarray(arr)
        except Exception as exc:
            raise DataError(f"{source}: {name} cannot be read as an array: {exc}") from exc
        if arr.dtype.kind not in "fiub":
            raise DataError(f"{source}: {name} must be numeric. Received: dtype {arr.dtype}")
        if arr.ndim == 1 and name == "y":
            arr = arr.reshape(1, -1)
        if arr.ndim != 2:
            raise DataError(f"{source}: {name} must be 2-D, ({'features' if name == 'X' else 'outputs'}, m) "
                            f"with examples as columns. Received: shape {arr.shape}")
        if arr.dtype.kind != "f":
            arr = arr.astype(np.float64)
        arrays.append(arr)
    X, y = arrays
    if X.shape[1] != y.shape[1]:
        hint = ""
        if X.shape[0] == y.shape[1] or X.shape[1] == y.shape[0]:
            hint = " (examples are columns: transpose row-major data)"
        raise DataError(f"{source}: X and y disagree on the number of examples (columns): "
                        f"X has shape {X.shape}, y has shape {y.shape}{hint}")
    if X.shape[1] == 0 or X.shape[0] == 0:
        raise DataError(f"{source}: the dataset is empty (X has shape {X.shape})")
    for name, arr in (("X", X), ("y", y)):
        bad = ~np.isfinite(arr)
        if bad.any():
            row, col = (int(i) for i in np.argwhere(bad)[0])
            raise DataError(f"{source}: {name} has {int(bad.sum())} NaN or infinite value(s); the "
                            f"first is {name}[{row}, {col}] = {arr[row, col]} (row {row}, example {col})")
    return X, y


@dataclass
class Dataset:
    """Examples as columns: X (features, m), y (outputs, m).

    Attributes:
        X, y: the arrays (float).
        name: where the data came from, used in messages.
        feature_names, target_names: optional labels of X's and y's rows.
        classes: for classification, the name of each class: y is then one
            row of class indices 0..len(classes)-1 (as floats), and
            ``classes[int(y[0, j])]`` is example j's label.
        info: anything the source wants to report (e.g. the true weights of
            a synthetic task).
    """

    X: np.ndarray
    y: np.ndarray
    name: str = "data"
    feature_names: list[str] | None = None
    target_names: list[str] | None = None
    classes: list[str] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.X, self.y = check_arrays(self.X, self.y, self.name)
        if self.classes is not None:
            self.classes = [str(c) for c in self.classes]
            n = len(self.classes)
            if self.y.shape[0] != 1 or not np.all((self.y >= 0) & (self.y < n) & (self.y == np.round(self.y))):
                raise DataError(f"{self.name}: with {n} classes, y must be one row of class indices "
                                f"0..{n - 1}. Received: y of shape {self.y.shape} with values "
                                f"{np.unique(self.y)[:10].tolist()}")

    @property
    def n_features(self) -> int:
        return self.X.shape[0]

    @property
    def n_outputs(self) -> int:
        return self.y.shape[0]

    @property
    def n_examples(self) -> int:
        return self.X.shape[1]

    def astype(self, dtype) -> "Dataset":
        return replace(self, X=self.X.astype(dtype), y=self.y.astype(dtype))

    def split(self, validation_fraction: float, seed: int | None = 0) -> tuple["Dataset", "Dataset | None"]:
        """A seeded random split into (train, validation); fraction 0 gives (self, None)."""
        if not 0.0 <= validation_fraction < 1.0:
            raise DataError(f"{self.name}: validation_split must be in [0, 1). Received: {validation_fraction!r}")
        if validation_fraction == 0.0:
            return self, None
        m = self.n_examples
        n_val = int(round(m * validation_fraction))
        if n_val == 0 or n_val == m:
            raise DataError(f"{self.name}: validation_split={validation_fraction} of {m} examples leaves "
                            f"{m - n_val} for training and {n_val} for validation; both need at least one")
        perm = np.random.default_rng(seed).permutation(m)
        val, train = perm[:n_val], perm[n_val:]
        return (replace(self, X=self.X[:, train], y=self.y[:, train], name=f"{self.name} (train)"),
                replace(self, X=self.X[:, val], y=self.y[:, val], name=f"{self.name} (validation)"))


@dataclass
class Standardizer:
    """Per-feature standardisation, x' = (x - mean) / std, fitted on training data.

    Shape: mean and std are (features, 1). A constant feature keeps std 1.
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> "Standardizer":
        mean = X.mean(axis=1, keepdims=True)
        std = X.std(axis=1, keepdims=True)
        std[std == 0] = 1.0
        return cls(mean, std)

    def transform(self, X: np.ndarray) -> np.ndarray:
        return (X - self.mean) / self.std

    def state_dict(self) -> dict[str, list[float]]:
        return {"mean": self.mean.ravel().tolist(), "std": self.std.ravel().tolist()}
