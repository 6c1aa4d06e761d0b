"""The kits of optimizers, metrics, schedules, callbacks, datasets and initializers (losses: test_loss_kit).

Each kit passes every built-in, and each of its checks fails on a component
broken in the way that check is about (the oracle is the defect we planted).
"""

import numpy as np
import pytest

from framework import Callback, Dataset, Optimizer, metric
from framework.kinds import KINDS
from framework.registry import registry
from framework.testing import (callback_checks, check_callback, check_dataset, check_initializer, check_metric,
                               check_optimizer, check_registered, check_schedule)


def statuses(report):
    return {r.name: r.status for r in report.results}


@pytest.mark.parametrize("kind,name", [(k.name, n) for k in KINDS if k.name != "layers"
                                       for n in registry.names(k.name)], ids=lambda v: str(v))
def test_every_builtin_passes_its_kit(kind, name):
    report = check_registered(kind, name)
    assert report.ok, report.render()


# -- optimizers -----------------------------------------------------------------------
class Damped(Optimizer):
    """SGD with a float hyperparameter of its own; correct."""

    hyperparameters = ("lr", "damping")
    elementwise = True

    def __init__(self, params, lr: float = 0.1, damping: float = 0.5):
        super().__init__(params, lr)
        self.damping = damping

    def update(self, param, state):
        param.data -= self.lr * self.damping * param.grad


class FloatsEverything(Damped):
    """What Optimizer.state_dict did in issue 11: every hyperparameter made a float (centered=True -> 1.0)."""

    hyperparameters = ("lr", "damping", "centered")

    def __init__(self, params, lr: float = 0.1, centered: bool = True):
        super().__init__(params, lr)
        self.centered = centered

    def state_dict(self):
        return {"hyperparameters": {n: float(getattr(self, n)) for n in self.hyperparameters},
                "steps": self.steps, "state": [{} for _ in self.params]}


class HiddenCounter(Damped):
    """Keeps a step counter of its own, outside state_dict: a resume restarts it."""

    def __init__(self, params, lr: float = 0.1):
        super().__init__(params, lr)
        self.t = 0

    def step(self):
        self.t += 1
        super().step()

    def update(self, param, state):
        param.data -= self.lr / self.t * param.grad


class CastsToFloat64(Damped):
    elementwise = False

    def update(self, param, state):
        param.data[...] = (param.data.astype(np.float64) - self.lr * param.grad).astype(param.data.dtype)

    def init_state(self, param):
        return {"memory": np.zeros(param.shape)}  # float64 whatever the parameter


def test_the_optimizer_kit_passes_a_correct_optimizer_and_catches_each_defect():
    assert check_optimizer(Damped).ok, check_optimizer(Damped).render()
    report = check_optimizer(FloatsEverything)
    assert statuses(report)["state_round_trip"] == "failed"
    detail = {r.name: r.detail for r in report.results}["state_round_trip"]
    assert "turns hyperparameter centered=True (bool) into 1.0 (float)" in detail
    assert statuses(check_optimizer(HiddenCounter))["resume_equals_uninterrupted"] == "failed"
    assert statuses(check_optimizer(CastsToFloat64))["float32"] == "failed"


# -- metrics --------------------------------------------------------------------------
def test_the_metric_kit_checks_direction_and_known_values():
    from plugins.metrics import accuracy, mae, mse, r2

    # hand-derived values: errors (0, 1, 2); R^2 = 1 - 1/2; 3 of 4 thresholded labels right
    cases = {mse: ([[1.0, 2.0, 3.0]], [[1.0, 1.0, 1.0]], 5 / 3), mae: ([[1.0, 2.0, 3.0]], [[1.0, 1.0, 1.0]], 1.0),
             r2: ([[1.0, 2.0, 2.0]], [[1.0, 2.0, 3.0]], 0.5),
             accuracy: ([[0.9, 0.2, 0.6, 0.4]], [[1.0, 0.0, 0.0, 0.0]], 0.75)}
    for fn, case in cases.items():
        report = check_metric(fn, known=[case])
        assert report.ok and statuses(report)["known_values"] == "passed", report.render()
    wrong = check_metric(mse, known=[([[1.0, 2.0, 3.0]], [[1.0, 1.0, 1.0]], 2.0)])
    assert statuses(wrong)["known_values"] == "failed"

    @metric(higher_is_better=True)  # declared the wrong way round
    def squared_error(y_hat, y):
        return float(((y_hat - y) ** 2).mean())

    report = check_metric(squared_error)
    assert statuses(report)["direction"] == "failed"
    assert "contradicts higher_is_better=True" in {r.name: r.detail for r in report.results}["direction"]

    def undeclared(y_hat, y):
        return 0.0

    assert statuses(check_metric(undeclared))["declares_direction"] == "failed"


# -- schedules ------------------------------------------------------------------------
def test_the_schedule_kit_catches_hidden_state_and_bad_values():
    from plugins.schedules import step

    assert check_schedule(lambda: step(step_size=3)).ok

    def counting():
        calls = []

        def schedule(epoch, base_lr):
            calls.append(epoch)
            return base_lr / len(calls)  # depends on how often it was asked, not on the epoch

        return schedule

    assert statuses(check_schedule(counting))["resumable"] == "failed"
    assert statuses(check_schedule(lambda: (lambda epoch, base_lr: base_lr - 0.01 * epoch)))["finite"] == "failed"


# -- callbacks ------------------------------------------------------------------------
class CountEpochs(Callback):
    def __init__(self):
        self.epochs = 0

    def on_epoch_end(self, trainer, epoch, logs):
        self.epochs += 1

    def state_dict(self):
        return {"epochs": self.epochs}

    def load_state_dict(self, state):
        self.epochs = state["epochs"]


class ForgetsItsState(CountEpochs):
    def load_state_dict(self, state):
        pass


class StateNotStorable(CountEpochs):
    def state_dict(self):
        return {"seen": {self.epochs}}


def test_the_callback_kit_checks_the_state_round_trip():
    assert check_callback(CountEpochs).ok
    assert statuses(check_callback(ForgetsItsState))["state_round_trip"] == "failed"
    report = check_callback(StateNotStorable)
    assert "state['seen'] is a set" in {r.name: r.detail for r in report.results}["state_round_trip"]
    assert [str(c) for c in callback_checks(CountEpochs)] == ["is_callback", "trains", "state_round_trip"]


# -- datasets -------------------------------------------------------------------------
def test_the_dataset_kit_checks_shapes_dtype_and_seeding(tmp_path):
    from plugins.datasets import csv_file, npz_file

    def seeded(n: int = 10, seed: int = 0):
        rng = np.random.default_rng(seed)
        return Dataset(rng.standard_normal((2, n)), rng.standard_normal((1, n)))

    def unseeded(n: int = 10):
        return Dataset(np.random.default_rng().standard_normal((2, n)), np.zeros((1, n)))

    def ignores_seed(n: int = 10, seed: int = 0):
        return Dataset(np.ones((2, n)), np.zeros((1, n)))

    assert check_dataset(seeded).ok
    assert statuses(check_dataset(unseeded))["same_seed_same_data"] == "failed"
    assert statuses(check_dataset(ignores_seed))["same_seed_same_data"] == "failed"

    class Rows:  # examples as rows: not a Dataset at all
        X = np.ones((10, 2))

    assert statuses(check_dataset(lambda: Rows()))["returns_dataset"] == "failed"
    # the file sources, skipped by `minidl check-plugins`, on real files
    (tmp_path / "d.csv").write_text("a,b,t\n1,2,0\n3,4,1\n5,6,0\n")
    # (through a wrapper: the functions themselves carry the kit_skip tags that check-plugins honours)
    report = check_dataset(lambda **kw: csv_file(**kw), config={"path": str(tmp_path / "d.csv"),
                                                                 "target_columns": ["t"]})
    assert report.ok and statuses(report)["shapes"] == "passed", report.render()
    np.savez(tmp_path / "d.npz", X=np.ones((4, 3)), y=np.zeros((4, 1)))
    assert statuses(check_dataset(lambda **kw: npz_file(**kw), config={"path": str(tmp_path / "d.npz")})) == {
        "returns_dataset": "passed", "shapes": "passed", "dtype": "passed", "same_seed_same_data": "passed"}


def test_the_initializer_kit_checks_shape_dtype_and_seeding():
    assert check_initializer(lambda shape, rng, dtype: rng.standard_normal(shape).astype(dtype)).ok
    report = check_initializer(lambda shape, rng, dtype: rng.standard_normal(shape))
    assert statuses(report)["shape_and_dtype"] == "failed"
    fresh = check_initializer(lambda shape, rng, dtype: np.random.default_rng().standard_normal(shape).astype(dtype))
    assert statuses(fresh)["same_seed_same_values"] == "failed"


def test_check_plugins_runs_the_kit_of_every_kind(capsys):
    from framework.cli import main

    assert main(["check-plugins"]) == 0
    out = capsys.readouterr().out
    for target in ("Linear (linear)", "MSELoss (mse)", "SGD (sgd)", "mse (metric)", "step (schedule)",
                   "moons (dataset)", "he_normal (initializer)", "EarlyStopping (early_stopping)"):
        assert f"{target}: ok" in out, target
    assert "skip returns_dataset: reads the file given by `path`" in out
