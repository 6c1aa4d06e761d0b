"""Trainer.fit as a Keras user expects: validation_split, repeated fit, History as a mapping, metric names."""

import functools
from collections.abc import Mapping

import numpy as np
import pytest

from framework import ConfigError, DataError, Sequential, Trainer
from plugins.activations import Sigmoid
from plugins.layers import Linear
from plugins.losses import MSELoss
from plugins.optimizers import SGD


def data(m=103, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((3, m))
    return X, np.sin(X[:1]) + 0.3 * X[1:2]


def make(epochs=3, seed=5, **kw):
    model = Sequential([Linear(3, 8, seed=0), Sigmoid(), Linear(8, 1, seed=1)])
    return Trainer(model, MSELoss(), SGD(model.parameters(), lr=0.2, momentum=0.9), epochs=epochs,
                   batch_size=16, seed=seed, progress=False, **kw)


def test_validation_split_holds_out_a_seeded_set_of_columns():
    # Measured: fit(validation_split=0.2) was a TypeError.
    X, y = data()
    t = make(seed=5)
    history = t.fit(X, y, validation_split=0.2)
    # The oracle: the same permutation drawn independently, the first 21 columns held out.
    perm = np.random.default_rng(5).permutation(103)
    val, train = perm[:21], perm[21:]
    assert history["val_loss"][-1] == pytest.approx(np.mean((t.predict(X[:, val]) - y[:, val]) ** 2), rel=1e-12)
    # and training saw only the other columns: the same as fitting them with validation_data
    ref = make(seed=5)
    ref.fit(X[:, train], y[:, train], validation_data=(X[:, val], y[:, val]))
    np.testing.assert_array_equal(ref.history["loss"], history["loss"])
    np.testing.assert_array_equal(ref.model[0].W.data, t.model[0].W.data)


def test_validation_split_and_validation_data_are_exclusive():
    X, y = data()
    with pytest.raises(DataError, match="pass validation_data or validation_split, not both"):
        make().fit(X, y, validation_data=(X, y), validation_split=0.2)
    with pytest.raises(DataError, match=r"validation_split must be in \[0, 1\). Received: 1.5"):
        make().fit(X, y, validation_split=1.5)


def test_a_second_fit_trains_epochs_more_and_appends_to_the_history():
    # Measured: a second fit() trained 0 epochs.
    X, y = data()
    t = make(epochs=3)
    first = t.fit(X, y)
    second = t.fit(X, y)
    assert second is first and t.epoch == 6 and second.epochs.tolist() == [1, 2, 3, 4, 5, 6]
    # Two fits of 3 epochs are one fit of 6, bit for bit (same shuffles, same optimizer state).
    once = make(epochs=6)
    once.fit(X, y)
    np.testing.assert_array_equal(once.history["loss"], second["loss"])
    np.testing.assert_array_equal(once.model[2].W.data, t.model[2].W.data)


def test_history_is_a_read_only_mapping_of_numpy_arrays():
    X, y = data()
    history = make(metrics=["r2"]).fit(X, y, validation_split=0.25)
    assert isinstance(history, Mapping)
    assert list(history) == ["loss", "lr", "r2", "val_loss", "val_r2"] and len(history) == 5
    assert dict(history).keys() == set(history.keys())
    loss = history["loss"]
    assert isinstance(loss, np.ndarray) and loss.dtype == np.float64 and loss.shape == (3,)
    with pytest.raises(ValueError, match="read-only"):
        loss[0] = 0.0
    with pytest.raises(TypeError):
        history["loss"] = np.zeros(3)
    with pytest.raises(KeyError, match="history has no 'val_acc'; it has: loss, lr, r2"):
        history["val_acc"]
    assert history.get("nothing") is None and "val_r2" in history


def test_a_callable_metric_is_logged_under_its_name():
    # Measured: a lambda metric was logged as "<lambda>".
    X, y = data()

    def max_error(y_hat, y):
        return float(np.max(np.abs(y_hat - y)))

    named = functools.partial(lambda y_hat, y, p: float(np.mean(np.abs(y_hat - y) ** p)), p=3)
    named.name = "l3"
    t = make(epochs=1, metrics=[max_error, named, "mae"])
    history = t.fit(X, y, validation_data=data(m=20, seed=1))
    assert {"max_error", "val_max_error", "l3", "val_l3", "mae", "val_mae"} <= set(history)
    assert history["max_error"][0] == pytest.approx(np.max(np.abs(t.predict(X) - y)))
    t = make(epochs=1, metrics={"mean_bias": lambda y_hat, y: float(np.mean(y_hat - y))})
    assert "mean_bias" in t.fit(X, y)


def test_a_lambda_without_a_name_is_refused_with_the_ways_to_name_it():
    with pytest.raises(ConfigError, match=r"metrics\[1\]: a lambda has no name to log it under; define it "
                                          r"with `def`, set a `name` attribute"):
        make(metrics=["mae", lambda y_hat, y: 0.0])
    with pytest.raises(ConfigError, match="metrics\\[1\\]: two values would be logged as 'mae'"):
        make(metrics=["mae", "mae"])
