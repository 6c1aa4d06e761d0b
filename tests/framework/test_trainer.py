import os
import re
import signal

import numpy as np
import pytest

from framework import (Callback, DTypeError, Layer, Sequential, ShapeError, Trainer, TrainingError,
                       TrainingInterrupted, load_checkpoint)
from framework.checkpoint import latest_checkpoint
from plugins.activations import Sigmoid
from plugins.callbacks import EarlyStopping, LearningRateScheduler, MetricsLogger, ModelCheckpoint
from plugins.layers import Linear
from plugins.losses import MSELoss
from plugins.optimizers import SGD


def data(m=103, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((3, m))
    return X, np.sin(X[:1]) + 0.3 * X[1:2]


def make(epochs=4, batch_size=16, callbacks=(), seed=5, lr=0.2, **kw):
    model = Sequential([Linear(3, 8, seed=0), Sigmoid(), Linear(8, 1, seed=1)])
    opt = SGD(model.parameters(), lr=lr, momentum=0.9)
    return Trainer(model, MSELoss(), opt, epochs=epochs, batch_size=batch_size, seed=seed,
                   callbacks=list(callbacks), progress=False, **kw)


class Recorder(Callback):
    def __init__(self):
        self.batches = []

    def on_batch_end(self, trainer, batch, logs):
        self.batches.append((trainer.epoch, batch, logs["loss"], logs["batch_size"]))


class SeeInputs(Layer):
    """Records the columns each training batch contains."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward_pass(self, X, training):
        if training:
            self.seen.append(X[0].copy())
        return X, None

    def backward_pass(self, dY, cache):
        return dY


def test_batches_are_contiguous_slices_of_one_permutation_per_epoch():
    X = np.arange(10.0).reshape(1, 10)
    y = np.zeros((1, 10))
    spy = SeeInputs()
    model = Sequential([spy, Linear(1, 1, seed=0)])
    Trainer(model, MSELoss(), SGD(model.parameters(), lr=0.01), epochs=2, batch_size=4, seed=0,
            progress=False).fit(X, y)
    sizes = [len(b) for b in spy.seen]
    assert sizes == [4, 4, 2, 4, 4, 2]
    first, second = np.concatenate(spy.seen[:3]), np.concatenate(spy.seen[3:])
    assert sorted(first) == list(range(10)) and sorted(second) == list(range(10))
    expected = np.random.default_rng(0).permutation(10)
    np.testing.assert_array_equal(first, expected)
    assert not np.array_equal(first, second)


def test_epoch_loss_weights_the_partial_batch_by_its_size():
    rec = Recorder()
    X, y = data(m=35)
    history = make(epochs=1, batch_size=16, callbacks=[rec]).fit(X, y)
    sizes = [b[3] for b in rec.batches]
    assert sizes == [16, 16, 3]
    expected = sum(b[2] * b[3] for b in rec.batches) / 35
    assert history["loss"][0] == pytest.approx(expected, rel=1e-12)


def test_same_seed_same_result_bit_for_bit():
    X, y = data()
    a, b = make(), make()
    a.fit(X, y)
    b.fit(X, y)
    for pa, pb in zip(a.model.parameters(), b.model.parameters()):
        np.testing.assert_array_equal(pa.data, pb.data)
    c = make(seed=6)
    c.fit(X, y)
    assert not np.array_equal(a.model[0].W.data, c.model[0].W.data)


def test_history_validation_and_metrics():
    X, y = data()
    Xv, yv = data(m=40, seed=1)
    t = make(epochs=3, metrics=["r2", "mae"])
    history = t.fit(X, y, validation_data=(Xv, yv))
    assert len(history.epochs) == 3 and history.epochs.tolist() == [1, 2, 3]
    assert set(history) == {"loss", "lr", "r2", "mae", "val_loss", "val_r2", "val_mae"}
    assert history["val_loss"][-1] == pytest.approx(np.mean((t.predict(Xv) - yv) ** 2))
    assert history["mae"][-1] == pytest.approx(np.mean(np.abs(t.predict(X) - y)))
    ss_res, ss_tot = np.sum((yv - t.predict(Xv)) ** 2), np.sum((yv - yv.mean()) ** 2)
    assert history["val_r2"][-1] == pytest.approx(1 - ss_res / ss_tot)
    out = t.evaluate(Xv, yv)
    assert out["loss"] == pytest.approx(history["val_loss"][-1]) and "r2" in out
    np.testing.assert_allclose(t.predict(X, batch_size=7), t.model.predict(X))
    with pytest.raises(KeyError, match="history has no 'val_acc'"):
        history["val_acc"]


def test_non_finite_loss_stops_with_epoch_and_batch(tmp_path):
    X, y = data()
    y[:, 32:48] *= 1e200  # the third batch (no shuffling): its squared error overflows
    t = make(callbacks=[ModelCheckpoint(tmp_path, every_batches=1)], lr=0.1, shuffle=False)
    with pytest.raises(TrainingError, match=r"the loss became (inf|nan) at epoch 1, batch 3 of 7"):
        t.fit(X, y)
    # the two steps before were saved, and the step that overflowed was not applied
    files = sorted(tmp_path.glob("*.npz"))
    assert [p.name for p in files] == ["checkpoint-e00000-b000001.npz", "checkpoint-e00000-b000002.npz"]
    last = load_checkpoint(files[-1])
    for name, p in t.model.named_parameters():
        assert np.all(np.isfinite(last.params[name]))
        np.testing.assert_array_equal(p.data, last.params[name])


class NanWhenEvaluating(Layer):
    """The identity while training; NaN at evaluation from epoch ``from_epoch`` on (as a diverged
    batch norm's running statistics give while every training batch's loss stays finite)."""

    def __init__(self, from_call=1):
        super().__init__()
        self.calls, self.from_call = 0, from_call

    def forward_pass(self, X, training):
        if not training:
            self.calls += 1
            if self.calls >= self.from_call:
                return X * np.nan, None
        return X, None

    def backward_pass(self, dY, cache):
        return dY


def test_a_non_finite_validation_loss_stops_at_that_epoch(tmp_path):
    X, y = data()
    model = Sequential([Linear(3, 1, seed=0), NanWhenEvaluating(from_call=3)])
    recorder = Recorder()
    t = Trainer(model, MSELoss(), SGD(model.parameters(), lr=0.1), epochs=5, batch_size=16, progress=False,
                callbacks=[ModelCheckpoint(tmp_path), recorder])
    with pytest.raises(TrainingError, match=r"^the validation loss \(val_loss\) became nan at epoch 3 \(training "
                                            r"loss [0-9.e+-]+\); training stopped before the end of this epoch was "
                                            r"recorded or saved \(try a smaller learning rate, or standardised "
                                            r"inputs\)\. Parameters were not saved in this state\.$"):
        t.fit(X, y, validation_split=0.2)
    # epochs 1 and 2 were recorded and checkpointed; epoch 3 reached no callback and no checkpoint
    assert t.history.epochs.tolist() == [1, 2]
    assert sorted(p.name for p in tmp_path.glob("*.npz")) == ["checkpoint-e00001-b000000.npz",
                                                              "checkpoint-e00002-b000000.npz"]
    assert [epoch for epoch, *_ in recorder.batches][-1] == 2  # epoch 3 (index 2) was trained


def test_a_non_finite_epoch_loss_stops_too():
    """Each batch's loss finite (1e308), their epoch mean is not: the logged loss is checked as well."""
    from framework import Loss

    class Huge(Loss):
        def forward_pass(self, y_hat, y):
            return 1e308, y_hat.shape

        def backward_pass(self, shape):
            return np.zeros(shape)

    X, y = data()
    model = Sequential([Linear(3, 1, seed=0)])
    t = Trainer(model, Huge(), SGD(model.parameters(), lr=0.1), epochs=2, batch_size=16, progress=False)
    with pytest.raises(TrainingError, match=r"^the training loss \(loss\) became inf at epoch 1"):
        t.fit(X, y)


def test_early_stopping_restores_best_weights():
    class Spy(Callback):
        def __init__(self):
            self.snapshots = []

        def on_epoch_end(self, trainer, epoch, logs):
            self.snapshots.append([p.data.copy() for p in trainer.model.parameters()])

    X, y = data()
    Xv, yv = data(m=30, seed=3)
    spy = Spy()
    stopper = EarlyStopping(monitor="val_loss", patience=2, min_delta=10.0)  # nothing counts as improving
    t = make(epochs=20, callbacks=[stopper, spy])
    history = t.fit(X, y, validation_data=(Xv, yv))
    assert len(history.epochs) == 3 and stopper.stopped_epoch == 3 and stopper.best_epoch == 1
    for p, best in zip(t.model.parameters(), spy.snapshots[0]):
        np.testing.assert_array_equal(p.data, best)
    with pytest.raises(TrainingError, match=r"monitors 'val_los', which the epoch logs do not have; they have: loss, lr"):
        make(callbacks=[EarlyStopping(monitor="val_los")]).fit(X, y)


def test_learning_rate_schedule():
    X, y = data()
    t = make(epochs=5, callbacks=[LearningRateScheduler({"type": "step", "step_size": 2, "gamma": 0.5})])
    history = t.fit(X, y)
    assert history["lr"].tolist() == [0.2, 0.2, 0.1, 0.1, 0.05]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_metrics_logger(tmp_path, suffix):
    import csv
    import json

    X, y = data()
    path = tmp_path / f"m{suffix}"
    make(epochs=3, callbacks=[MetricsLogger(path)]).fit(X, y)
    if suffix == ".csv":
        rows = list(csv.DictReader(path.read_text().splitlines()))
        assert [r["epoch"] for r in rows] == ["1", "2", "3"] and float(rows[0]["loss"]) > 0
    else:
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        assert [r["epoch"] for r in rows] == [1, 2, 3]
    with pytest.raises(TrainingError, match="already exists; pass overwrite=True"):
        make(callbacks=[MetricsLogger(path)]).fit(X, y)
    assert path.read_text()  # the existing file was not touched


def run_to_end(X, y, **kw):
    t = make(epochs=5, **kw)
    t.fit(X, y)
    return t


@pytest.mark.parametrize("every_epochs,every_batches,pick", [(1, 0, 1), (0, 3, 2), (0, 4, -1)])
def test_resume_is_bit_identical(tmp_path, every_epochs, every_batches, pick):
    X, y = data()
    reference = run_to_end(X, y, callbacks=[EarlyStopping("loss", patience=50)])
    ckpt_dir = tmp_path / "ck"
    first = make(epochs=5, callbacks=[EarlyStopping("loss", patience=50),
                                      ModelCheckpoint(ckpt_dir, every_epochs=every_epochs,
                                                      every_batches=every_batches, keep_last=100)])
    first.fit(X, y)
    files = sorted(ckpt_dir.glob("*.npz"))
    chosen = files[pick]
    resumed = make(epochs=5, callbacks=[EarlyStopping("loss", patience=50)])
    resumed.fit(X, y, resume_from=chosen)
    for pa, pb in zip(reference.model.parameters(), resumed.model.parameters()):
        np.testing.assert_array_equal(pa.data, pb.data)
    assert resumed.history.state_dict() == reference.history.state_dict()


def test_ctrl_c_saves_a_checkpoint_and_resumes_exactly(tmp_path):
    class PressCtrlC(Callback):
        def on_batch_end(self, trainer, batch, logs):
            if trainer.epoch == 1 and batch == 2:
                os.kill(os.getpid(), signal.SIGINT)

    X, y = data()
    reference = run_to_end(X, y)
    t = make(epochs=5, callbacks=[PressCtrlC(), ModelCheckpoint(tmp_path)])
    with pytest.raises(TrainingInterrupted, match=r"interrupted at epoch 2, batch 3; checkpoint saved to .*resume_from") as info:
        t.fit(X, y)
    assert info.value.checkpoint == latest_checkpoint(tmp_path)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    resumed = make(epochs=5)
    resumed.fit(X, y, resume_from=info.value.checkpoint)
    for pa, pb in zip(reference.model.parameters(), resumed.model.parameters()):
        np.testing.assert_array_equal(pa.data, pb.data)


def test_ctrl_c_without_checkpointing_says_so():
    class PressCtrlC(Callback):
        def on_batch_end(self, trainer, batch, logs):
            os.kill(os.getpid(), signal.SIGINT)

    X, y = data()
    with pytest.raises(TrainingInterrupted, match="no checkpoint was saved"):
        make(callbacks=[PressCtrlC()]).fit(X, y)


def test_resume_with_a_different_batch_size_is_refused(tmp_path):
    X, y = data()
    make(epochs=1, callbacks=[ModelCheckpoint(tmp_path)]).fit(X, y)
    with pytest.raises(TrainingError, match="made with batch_size=16, this Trainer has batch_size=8"):
        make(batch_size=8).fit(X, y, resume_from=latest_checkpoint(tmp_path))


def test_bad_arguments_and_dtype_mismatch():
    X, y = data()
    with pytest.raises(ValueError, match="expected `batch_size` to be a positive integer. Received: batch_size=0"):
        make(batch_size=0)
    with pytest.raises(TypeError, match=r"callbacks\[0\] is not a Callback"):
        make(callbacks=["early_stopping"])
    with pytest.raises(DTypeError, match="the model has float64 parameters but the training data X is float32"):
        make().fit(X.astype(np.float32), y.astype(np.float32))
    with pytest.raises(DTypeError, match="the training data y is float32"):
        make().fit(X, y.astype(np.float32))


def test_a_feature_count_that_does_not_fit_the_model_shows_the_datas_shape():
    """Trial 12: 63 features for a 64-input model said "Received: shape (63, 32)", 32 the batch size."""
    X, y = data(m=103)
    with pytest.raises(ShapeError, match=re.escape(
            "Trainer.fit: the model takes 3 features (rows of X; its first layer is Linear(3 -> 8)), so the "
            "training data X must have shape (3, m). Received: shape (2, 103)")):
        make().fit(X[:2], y)
    with pytest.raises(ShapeError, match=re.escape(
            "the validation data X must have shape (3, m). Received: shape (4, 10)")):
        make().fit(X, y, validation_data=(np.ones((4, 10)), np.ones((1, 10))))
    with pytest.raises(ShapeError, match=re.escape("Received: shape (2, 3) (did you pass examples as rows? "
                                                   "transpose X to (features, m))")):
        make().fit(np.ones((2, 3)), np.ones((1, 3)))


def test_integer_X_is_refused_as_the_layers_refuse_it():
    """Trial 12: fit cast an integer X silently; layers refuse it, and minidl never casts silently."""
    X, y = data()
    with pytest.raises(DTypeError, match=re.escape(
            "Trainer.fit: the training data X is int64; the model takes float64 input and minidl does not cast "
            "silently. Convert it with X.astype('float64')")):
        make().fit(np.round(X * 10).astype(np.int64), y)
    with pytest.raises(DTypeError, match=r"the validation data X is bool; the model takes float64 input"):
        make().fit(X, y, validation_data=(X > 0, y))
    # integer targets (class indices, counts) stay accepted
    make(epochs=1).fit(X, np.round(y * 10).astype(np.int64))


def test_checkpoint_keeps_only_the_last_it_wrote(tmp_path):
    X, y = data()
    keep = tmp_path / "checkpoint-user-file.npz"
    keep.write_bytes(b"mine")
    make(epochs=5, callbacks=[ModelCheckpoint(tmp_path, keep_last=2)]).fit(X, y)
    names = sorted(p.name for p in tmp_path.glob("*.npz"))
    assert names == ["checkpoint-e00004-b000000.npz", "checkpoint-e00005-b000000.npz", "checkpoint-user-file.npz"]


def test_resuming_a_checkpoint_of_a_stopped_run_trains_nothing_and_returns_the_same_model(tmp_path):
    X, y = data()
    Xv, yv = data(m=30, seed=3)

    def trainer():
        return make(epochs=20, callbacks=[EarlyStopping(monitor="val_loss", patience=2, min_delta=10.0),
                                          ModelCheckpoint(str(tmp_path), keep_last=5)])

    first = trainer()
    first.fit(X, y, validation_data=(Xv, yv))
    assert first.stopped_epoch == 3 and first.restored_epoch == 1
    again = trainer()
    history = again.fit(X, y, validation_data=(Xv, yv), resume_from=latest_checkpoint(tmp_path))
    assert history.epochs.tolist() == [1, 2, 3] and again.epoch == 3
    assert again.restored_epoch == 1 and again.final_logs() == first.final_logs()
    for a, b in zip(again.model.parameters(), first.model.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
