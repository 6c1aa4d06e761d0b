"""Schedules: callables, inverse-time decay, warm-up, and cosine past its end (a measured failure)."""

import math

import numpy as np
import pytest

from framework import Callback, Experiment, Sequential, Trainer, TrainingError, run_experiment
from plugins import schedules
from plugins.callbacks import LearningRateScheduler
from plugins.layers import Linear
from plugins.losses import MSELoss
from plugins.optimizers import SGD


def fit(callback, epochs=6, lr=0.1):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 40))
    y = X[:1] - 0.5 * X[1:]
    model = Sequential([Linear(2, 1, seed=0)])
    snapshots = []

    class Snap(Callback):  # records the weights after each epoch
        def on_epoch_end(self, trainer, epoch, logs):
            snapshots.append(model[0].W.data.copy())

    trainer = Trainer(model, MSELoss(), SGD(model.parameters(), lr=lr), epochs=epochs, batch_size=8,
                      callbacks=[callback, Snap()], progress=False)
    history = trainer.fit(X, y)
    return history, snapshots


def test_cosine_runs_past_total_epochs_with_lr_zero():
    # The measured failure: "lr=0.0 ... must be finite and > 0" stopped training at epoch total_epochs + 1.
    history, snapshots = fit(LearningRateScheduler({"type": "cosine", "total_epochs": 3}), epochs=6)
    expected = [0.1 * (1 + math.cos(math.pi * e / 3)) / 2 for e in range(3)] + [0.0, 0.0, 0.0]
    assert history["lr"] == pytest.approx(expected, abs=1e-17)
    np.testing.assert_array_equal(snapshots[3], snapshots[2])  # lr = 0: the weights stay
    np.testing.assert_array_equal(snapshots[5], snapshots[2])


def test_a_python_callable_is_a_schedule():
    history, _ = fit(LearningRateScheduler(lambda epoch, base_lr: base_lr / (epoch + 1)), epochs=4)
    assert history["lr"] == pytest.approx([0.1, 0.05, 0.1 / 3, 0.025])


def test_a_schedule_giving_a_negative_or_nan_lr_stops_with_its_epoch():
    # The epoch is the one the schedule was called with (trial 12: "for epoch 7" for the call with epoch=6).
    with pytest.raises(TrainingError, match=r"schedule <lambda> gave lr=-0.1 for epoch 0 \(schedules count epochs "
                                            r"from 0\); it must be finite and >= 0"):
        fit(LearningRateScheduler(lambda epoch, base_lr: -base_lr))
    with pytest.raises(TrainingError, match=r"gave lr=nan for epoch 2 \(schedules count epochs from 0\)"):
        fit(LearningRateScheduler(lambda epoch, base_lr: float("nan") if epoch == 2 else base_lr))
    with pytest.raises(TrainingError, match=r"schedule <lambda> gave lr=-1.0 for epoch 6 \(schedules count epochs "
                                            r"from 0\); it must be finite and >= 0"):
        fit(LearningRateScheduler(lambda epoch, base_lr: -1.0 if epoch == 6 else base_lr), epochs=8)


def test_a_schedule_after_warm_up_names_the_epoch_it_was_given_and_the_training_epoch():
    with pytest.raises(TrainingError, match=r"gave lr=-1.0 for epoch 1 \(schedules count epochs from 0; training "
                                            r"epoch 3 after 2 warm-up epochs\)"):
        fit(LearningRateScheduler(lambda epoch, base_lr: -1.0 if epoch == 1 else base_lr, warmup_epochs=2))


def test_a_callable_that_cannot_take_epoch_and_base_lr_is_refused_when_the_scheduler_is_made():
    with pytest.raises(TypeError, match=r"LearningRateScheduler: the schedule <lambda> must take two arguments, "
                                        r"f\(epoch, base_lr\) -> lr; its signature is \(e\)"):
        LearningRateScheduler(lambda e: 0.1)

    def three(epoch, base_lr, total):
        return base_lr

    with pytest.raises(TypeError, match=r"the schedule three must take two arguments.*\(epoch, base_lr, total\)"):
        LearningRateScheduler(three)
    # what can take them is accepted: *args, defaults, a class with __call__
    for ok in (lambda *args: args[1], lambda epoch, base_lr, extra=1: base_lr, schedules.inverse_time(1.0)):
        LearningRateScheduler(ok)
    history, _ = fit(LearningRateScheduler(lambda *args: args[1] / 2), epochs=2)
    assert history["lr"] == pytest.approx([0.05, 0.05])


@pytest.mark.parametrize("value,shown", [("0.1", r"'0.1' \(str\)"), (None, r"None \(NoneType\)"),
                                         (True, r"True \(bool\)"), ([0.1], r"\[0.1\] \(list\)")])
def test_a_schedule_returning_a_non_number_is_refused(value, shown):
    with pytest.raises(TypeError, match=rf"LearningRateScheduler: schedule <lambda> returned {shown} for epoch 0; "
                                        rf"a schedule returns the learning rate, a number"):
        fit(LearningRateScheduler(lambda epoch, base_lr: value))


def test_a_schedule_may_return_numpy_numbers():
    history, _ = fit(LearningRateScheduler(lambda epoch, base_lr: np.float32(0.5) * base_lr), epochs=2)
    assert history["lr"] == pytest.approx([0.05, 0.05])
    history, _ = fit(LearningRateScheduler(lambda epoch, base_lr: 1), epochs=1)
    assert history["lr"] == pytest.approx([1.0])


def test_inverse_time_is_the_course_decay():
    s = schedules.inverse_time(decay_rate=1.0)
    assert [s(e, 0.2) for e in range(4)] == pytest.approx([0.2, 0.1, 0.2 / 3, 0.05])
    stepped = schedules.inverse_time(decay_rate=0.5, time_interval=2)
    assert [stepped(e, 1.0) for e in range(5)] == pytest.approx([1, 1, 1 / 1.5, 1 / 1.5, 0.5])
    with pytest.raises(ValueError, match=r"in inverse_time\(decay_rate=-1\):\n  decay_rate: Input should be greater "
                                         r"than or equal to 0. Received: -1"):
        schedules.inverse_time(decay_rate=-1)


def test_warmup_ramps_linearly_then_starts_the_schedule_from_its_epoch_zero():
    cb = LearningRateScheduler({"type": "step", "step_size": 2, "gamma": 0.5}, warmup_epochs=3)
    history, _ = fit(cb, epochs=7)
    assert history["lr"] == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1, 0.05, 0.05])
    cb = LearningRateScheduler(lambda e, lr: lr, base_lr=1.0, warmup_epochs=1)
    assert [cb.lr_at(e) for e in range(3)] == [0.5, 1.0, 1.0]
    with pytest.raises(ValueError, match=r"expected `warmup_epochs` to be an integer >= 0. Received: warmup_epochs=-2"):
        LearningRateScheduler("constant", warmup_epochs=-2)


def test_warmup_and_inverse_time_from_an_experiment():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 32))
    experiment = Experiment.from_dict({
        "model": {"layers": [{"type": "linear", "out_features": 1}]}, "loss": {"type": "mse"},
        "optimizer": {"type": "sgd", "lr": 0.1},
        "trainer": {"epochs": 4, "batch_size": 8, "progress": False, "callbacks": [
            {"type": "lr_scheduler", "warmup_epochs": 1,
             "schedule": {"type": "inverse_time", "decay_rate": 1.0}}]},
    })
    result = run_experiment(experiment, data=(X, X[:1] + X[1:]))
    assert result.history["lr"] == pytest.approx([0.05, 0.1, 0.05, 0.1 / 3])


def test_a_schedule_that_is_neither_a_name_a_dict_nor_a_callable_is_refused_by_type():
    # Re-trial: LearningRateScheduler(3) gave a bare "TypeError: 'int' object is not iterable".
    from framework.errors import InvalidTypeError
    from plugins.callbacks import LearningRateScheduler

    with pytest.raises(InvalidTypeError, match=r"LearningRateScheduler: `schedule` is a registered schedule's name, "
                                               r"a dict \{'type': name, \.\.\.\} \(one of .*cosine.*\) or, in "
                                               r"Python, a callable f\(epoch, base_lr\) -> lr\. Received: int 3"):
        LearningRateScheduler(3)
