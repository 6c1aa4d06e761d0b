"""Metric direction (declared, never guessed from a name), and callback values in every record."""

import json
import math

import numpy as np
import pytest

from framework import Callback, ConfigError, Experiment, metric, run_experiment
from framework.metric import direction_of
from framework.registry import registry
from plugins.callbacks import EarlyStopping
from tests.framework.test_plugins import plugin
from tests.framework.test_trainer import data, make


def rising(name):
    """A metric whose value grows every time it is computed: 1, 2, 3, ..."""
    calls = []

    def value(y_hat, y):
        calls.append(1)
        return float(len(calls))

    value.__name__ = name
    return value


def test_a_higher_is_better_plugin_metric_is_maximised_by_early_stopping():
    # Measured in issue 11: mode "auto" guessed from the name ("rate" -> min) and stopped at epoch 2.
    hit_rate = metric(higher_is_better=True)(rising("hit_rate"))
    registry.register(plugin(minidl_metrics=lambda: {"hit_rate": hit_rate}), "hit_rate_plugin")
    try:
        stopper = EarlyStopping(monitor="hit_rate", patience=1)
        t = make(epochs=6, callbacks=[stopper], metrics=["hit_rate"])
        t.fit(*data())
    finally:
        registry.unregister("hit_rate_plugin")
    assert len(t.history.epochs) == 6 and stopper.stopped_epoch is None
    assert stopper.best == 6.0 and stopper.best_epoch == 6


def test_a_lower_is_better_metric_is_minimised_whatever_its_name():
    miss_accuracy = metric(higher_is_better=False)(rising("miss_accuracy"))  # the old rule read "accuracy" as "max"
    stopper = EarlyStopping(monitor="miss_accuracy", patience=2)
    t = make(epochs=6, callbacks=[stopper], metrics=[miss_accuracy])
    t.fit(*data())
    assert stopper.best == 1.0 and stopper.best_epoch == 1 and stopper.stopped_epoch == 3


def test_auto_mode_needs_a_declared_direction():
    def undeclared(y_hat, y):
        return 0.0

    with pytest.raises(ConfigError, match=r"metric 'undeclared' does not declare higher_is_better.*"
                                          r"@framework.metric\(higher_is_better=...\) or set mode='min' or 'max'"):
        make(callbacks=[EarlyStopping(monitor="undeclared")], metrics=[undeclared]).fit(*data())
    # an explicit mode needs no declaration
    make(epochs=2, callbacks=[EarlyStopping(monitor="undeclared", mode="max")], metrics=[undeclared]).fit(*data())


def test_directions_of_log_keys():
    from plugins.metrics import accuracy, mse, r2

    metrics = {"r2": r2, "mse": mse, "accuracy": accuracy}
    assert [direction_of(k, metrics) for k in ("loss", "val_loss", "r2", "val_r2", "mse", "val_accuracy")] == [
        False, False, True, True, False, True]
    with pytest.raises(ConfigError, match=r"cannot tell whether a higher 'lr' is better"):
        direction_of("lr", metrics)
    with pytest.raises(TypeError, match=r"expected `higher_is_better` to be True or False. Received: higher_is_better=1"):
        metric(higher_is_better=1)


def test_every_registered_metric_declares_a_direction():
    for entry in registry.entries("metrics"):
        assert isinstance(entry.component.higher_is_better, bool), entry.name


class DoubleLoss(Callback):
    """Adds a value of its own to the epoch logs, from epoch 2 on."""

    def log_keys(self):
        return ["double_loss"]  # declared, so that a target on it passes validation

    def on_epoch_end(self, trainer, epoch, logs):
        if epoch >= 1:
            logs["double_loss"] = 2 * logs["loss"]


def test_values_a_callback_adds_reach_history_summary_and_targets(tmp_path):
    # Measured in issue 11: they reached metrics.csv only.
    registry.register(plugin(minidl_callbacks=lambda: {"double_loss": DoubleLoss}), "double_loss_plugin")
    try:
        experiment = Experiment.from_dict({
            "name": "double", "model": {"layers": [{"type": "linear", "out_features": 1}]},
            "loss": {"type": "mse"}, "optimizer": {"type": "sgd", "lr": 0.1},
            "data": {"source": {"type": "synthetic_linear", "n_samples": 64, "n_features": 2}},
            "trainer": {"epochs": 3, "progress": False, "callbacks": [{"type": "double_loss"}]},
            "targets": {"double_loss": {"max": 1e6}}})
        result = run_experiment(experiment, run_dir=tmp_path / "run")
    finally:
        registry.unregister("double_loss_plugin")
    history = result.history
    assert math.isnan(history["double_loss"][0])
    assert history["double_loss"][1:].tolist() == [2 * v for v in history["loss"][1:]]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["final"]["double_loss"] == 2 * summary["final"]["loss"]
    assert summary["targets"]["double_loss"]["met"] is True
    assert summary["targets"]["double_loss"]["value"] == summary["final"]["double_loss"]
    # the checkpoint (written after every other callback) holds the value too
    from framework import load_checkpoint
    from framework.checkpoint import latest_checkpoint

    ckpt = load_checkpoint(latest_checkpoint(tmp_path / "run" / "checkpoints"))
    assert ckpt.trainer["history"]["logs"]["double_loss"][-1] == summary["final"]["double_loss"]
    assert np.isnan(ckpt.trainer["history"]["logs"]["double_loss"][0])
