"""Saving and loading a trained model: one .npz, no pickle, raw data in, plugins named."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from framework import (Experiment, ModelFileError, Sequential, build_model, load_experiment, load_model,
                       run_experiment)
from framework.data import Standardizer
from framework.experiment import prepare_data
from framework.saving import ModelInfo, class_probabilities, predicted_labels, read_model_meta
from plugins.activations import Sigmoid, Tanh
from plugins.layers import Linear

ROOT = Path(__file__).resolve().parents[2]


def rewrite_meta(src: Path, dst: Path, change) -> Path:
    """A copy of a model file whose metadata went through ``change`` (a crafted or future file)."""
    with np.load(src, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = change(json.loads(arrays["meta"].tobytes().decode()))
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(dst, **arrays)
    return dst


STATEFUL = Experiment.from_dict({
    "seed": 3, "dtype": "float32",
    "model": {"layers": [{"type": "linear", "out_features": 8}, {"type": "batch_norm"}, {"type": "tanh"},
                         {"type": "dropout", "p": 0.2}, {"type": "linear", "out_features": 1}]},
    "loss": {"type": "mse"}, "optimizer": {"type": "adam", "lr": 0.01},
    "data": {"source": {"type": "synthetic_nonlinear", "n_samples": 300}, "standardize": True,
             "validation_split": 0.2},
    "trainer": {"epochs": 3, "metrics": ["r2"], "progress": False}})


def test_a_saved_model_loads_without_pickle_and_predicts_the_same(tmp_path):
    result = run_experiment(STATEFUL)
    path = result.model.save(tmp_path / "model.npz")
    with np.load(path, allow_pickle=False) as f:  # nothing in it needs pickle
        assert f["state/0.mean"].shape == (2, 1) and f["state/2.running_var"].shape == (8, 1)
        assert "state/4.rng" in f.files
    loaded = load_model(path)
    assert repr(loaded) == repr(result.model) and loaded.dtype == np.float32
    X = np.random.default_rng(7).uniform(-2, 2, (2, 50)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(X), result.model.predict(X))
    mine, theirs = loaded.state_dict(), result.model.state_dict()
    assert mine.keys() == theirs.keys()
    for key in mine:
        np.testing.assert_array_equal(mine[key], theirs[key])


def test_the_standardization_of_a_run_is_part_of_the_model(tmp_path):
    # Measured: loading weights from a run took 12 hand-written lines, re-doing the
    # standardization from summary.json. Oracle: that standardization, done by hand.
    experiment = load_experiment(ROOT / "experiments" / "sigmoid_mlp.toml")
    experiment.trainer.epochs = 3
    result = run_experiment(experiment, run_dir=tmp_path / "run", progress=False)
    model = load_model(tmp_path / "run")
    train, _, _ = prepare_data(experiment)
    scaler = Standardizer.fit(train.X)  # the training split's statistics
    X_raw = np.random.default_rng(0).uniform(-2, 2, (2, 9))
    by_hand = X_raw
    by_hand = (by_hand - scaler.mean) / scaler.std
    for layer in result.model.layers[1:]:
        by_hand = layer.predict(by_hand)
    np.testing.assert_allclose(model.predict(X_raw), by_hand, rtol=1e-12)
    assert type(model[0]).__name__ == "Standardize"
    np.testing.assert_array_equal(model[0].mean, scaler.mean)


@pytest.mark.slow
def test_a_run_directory_ends_with_the_model_it_returns_and_a_new_process_predicts_the_same(tmp_path):
    experiment = load_experiment(ROOT / "experiments" / "moons_classifier.toml")
    result = run_experiment(experiment, run_dir=tmp_path / "run", progress=False)
    X = np.random.default_rng(5).uniform(-1.5, 2.5, (2, 20))
    expected = result.model.predict(X)
    np.save(tmp_path / "X.npy", X)
    script = (f"import numpy as np, framework\n"
              f"m = framework.load_model({str(tmp_path / 'run')!r})\n"
              f"np.save({str(tmp_path / 'y.npy')!r}, m.predict(np.load({str(tmp_path / 'X.npy')!r})))\n"
              f"print(m.info.classes, m.info.feature_names)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['0', '1'] ['x1', 'x2']"
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), expected)
    meta = read_model_meta(tmp_path / "run" / "model.npz")
    assert meta.loss == {"type": "bce"} and meta.metrics == ["accuracy"] and meta.plugins == {"minidl": "0.1.0"}
    assert meta.info["experiment"] == "moons_classifier"


@pytest.mark.slow
def test_the_model_file_holds_the_restored_best_weights(tmp_path):
    experiment = load_experiment(ROOT / "experiments" / "moons_classifier.toml",
                                 ["trainer.epochs=200", "trainer.callbacks[0].patience=3"])
    result = run_experiment(experiment, run_dir=tmp_path / "run", progress=False)
    stopper = result.trainer.callbacks[0]
    assert stopper.stopped_epoch is not None and stopper.best_epoch < result.trainer.epoch
    saved = load_model(tmp_path / "run").state_dict()
    for key, value in result.model.state_dict().items():
        np.testing.assert_array_equal(saved[key], value)  # the restored model, not the last epoch's
    _, val, _ = prepare_data(experiment)
    loss = result.trainer.loss(load_model(tmp_path / "run").predict(val.X), val.y)
    assert loss == pytest.approx(stopper.best, rel=1e-12)


def test_a_model_built_in_python_saves_too(tmp_path):
    model = Sequential([Linear(3, 4, seed=0), Tanh(), Linear(4, 1, bias=False, seed=1), Sigmoid()])
    model.save(tmp_path / "m.npz", classes=["no", "yes"], feature_names=["a", "b", "c"])
    loaded = load_model(tmp_path / "m.npz")
    X = np.random.default_rng(0).standard_normal((3, 6))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded[2].b is None and isinstance(loaded.info, ModelInfo) and loaded.info.classes == ["no", "yes"]
    p = model.predict(X)
    labels = predicted_labels(loaded, p, loaded.info.classes)
    assert labels == ["yes" if v >= 0.5 else "no" for v in p[0]]
    np.testing.assert_allclose(class_probabilities(loaded, p), np.vstack([1 - p, p]))
    # saving a loaded model keeps what it knew
    loaded.save(tmp_path / "again.npz")
    assert load_model(tmp_path / "again.npz").info.feature_names == ["a", "b", "c"]


def test_what_a_model_file_cannot_hold_is_refused_clearly(tmp_path):
    from framework import Layer

    custom = Sequential([Linear(2, 2, init=lambda shape, rng, dtype: np.zeros(shape, dtype))])
    with pytest.raises(ModelFileError, match=r"model\[0\] \(linear\) argument init is <function .*which a "
                                             r"model file cannot hold"):
        custom.save(tmp_path / "m.npz")

    class Mine(Layer):
        def forward_pass(self, X, training):
            return X, None

        def backward_pass(self, dY, cache):
            return dY

    with pytest.raises(ModelFileError, match=r"model\[1\]: .*Mine is not a registered layer, so a model file "
                                             r"cannot name it; register it through a plugin"):
        Sequential([Linear(2, 2), Mine()]).save(tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists() and not list(tmp_path.iterdir())  # nothing half-written


def test_a_file_needing_a_plugin_that_is_not_installed_is_refused_naming_it(tmp_path):
    model = build_model([{"type": "linear", "out_features": 3}, {"type": "relu"}], in_features=2, seed=0)
    path = model.save(tmp_path / "m.npz")

    def plugin_layer(meta):
        node = meta["architecture"]["layers"][1]
        node.update(type="swishy", distribution="minidl-extras", version="0.3.1")
        return meta

    crafted = rewrite_meta(path, tmp_path / "needs-plugin.npz", plugin_layer)
    with pytest.raises(ModelFileError, match=r"needs-plugin.npz needs the layer 'swishy' \(at model\[1\]\) from the "
                                             r"distribution 'minidl-extras' 0.3.1, which is not installed: "
                                             r"pip install 'minidl-extras==0.3.1'"):
        load_model(crafted)


def test_a_newer_format_version_is_refused_with_the_version(tmp_path):
    path = build_model([{"type": "linear", "out_features": 1}], in_features=2, seed=0).save(tmp_path / "m.npz")
    future = rewrite_meta(path, tmp_path / "future.npz", lambda m: m | {"format_version": 2, "minidl_version": "9.0"})
    with pytest.raises(ModelFileError, match=r"future.npz has model format version 2, newer than this minidl reads "
                                             r"\(1\); it was written by minidl 9.0: upgrade minidl"):
        load_model(future)


def test_not_a_model_file(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"\x00" * 100)
    with pytest.raises(ModelFileError, match="not an .npz file"):
        load_model(tmp_path / "junk.npz")
    with pytest.raises(ModelFileError, match="no such model file or run directory"):
        load_model(tmp_path / "nothing")
    (tmp_path / "run").mkdir()
    with pytest.raises(ModelFileError, match="is a directory without a model.npz"):
        load_model(tmp_path / "run")
    path = build_model([{"type": "linear", "out_features": 1}], in_features=2, seed=0).save(tmp_path / "m.npz")
    bad = rewrite_meta(path, tmp_path / "bad.npz", lambda m: m | {"dtype": "float16"})
    with pytest.raises(ModelFileError, match="malformed model metadata: field dtype"):
        load_model(bad)
