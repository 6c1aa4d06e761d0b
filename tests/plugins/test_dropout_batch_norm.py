"""Dropout and batch normalisation: the kit, gradients, PyTorch parity, state and exact resume."""

import re

import numpy as np
import pytest

from framework import Sequential, Trainer, gradcheck, load_checkpoint
from framework.errors import CheckpointError, ShapeError
from framework.experiment import build_model
from framework.testing import assert_layer_conforms, check_registered_layer
from plugins.activations import ReLU
from plugins.callbacks import ModelCheckpoint
from plugins.layers import BatchNorm, Dropout, Linear
from plugins.losses import CrossEntropyLoss
from plugins.optimizers import Adam


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# ----------------------------------------------------------------------------
# The kit (float64 gradient checks included)
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["dropout", "batch_norm"])
def test_registered_layer_passes_the_kit(name):
    report = check_registered_layer(name, in_features=4)
    assert report.ok, report.render()


def test_kit_on_non_default_configurations():
    assert_layer_conforms(lambda: BatchNorm(3, momentum=None, affine=False), in_features=3)
    assert_layer_conforms(lambda: BatchNorm(3, eps=1e-3, dtype="float32"), in_features=3, tol=1e-5)
    assert_layer_conforms(lambda: Dropout(0.2).seed(3), in_features=3)


def test_dropout_gradients_with_a_frozen_generator(rng):
    model = Sequential([Linear(5, 6, seed=0), Dropout(0.5), ReLU(), Linear(6, 3, seed=1)]).seed(7)
    X, y = rng.standard_normal((5, 8)), rng.integers(0, 3, (1, 8)).astype(float)
    report = gradcheck(model, X, y, loss=CrossEntropyLoss())
    assert report.ok and report.worst < 1e-7, str(report)


def test_batch_norm_gradients_inside_a_classifier(rng):
    # No bias before a batch norm: it would cancel (its exact gradient is 0, checked below).
    model = Sequential([Linear(4, 6, bias=False, seed=0), BatchNorm(6), ReLU(), Linear(6, 3, bias=False, seed=1),
                        BatchNorm(3, affine=False)])
    model[1].gamma.data[:] = rng.uniform(0.5, 2.0, (6, 1))
    model[1].beta.data[:] = rng.standard_normal((6, 1))
    X, y = rng.standard_normal((4, 7)), rng.integers(0, 3, (1, 7)).astype(float)
    report = gradcheck(model, X, y, loss=CrossEntropyLoss())
    assert report.ok and report.worst < 1e-7, str(report)
    with_bias = Sequential([Linear(4, 6, seed=0), BatchNorm(6)])
    with_bias(X)
    with_bias.backward(rng.standard_normal((6, 7)))
    np.testing.assert_allclose(with_bias[0].b.grad, 0.0, atol=1e-14)


def test_batch_norm_backward_matches_the_hand_derived_formula(rng):
    # dX = gamma / (m sigma) * (m dY - sum dY - x_hat * sum(dY x_hat)), written out independently.
    C, m = 3, 5
    X, dY = rng.standard_normal((C, m)), rng.standard_normal((C, m))
    bn = BatchNorm(C)
    bn.gamma.data[:] = [[0.5], [2.0], [-1.0]]
    bn(X)
    dX = bn.backward(dY.copy())
    mu = X.mean(1, keepdims=True)
    sigma = np.sqrt(((X - mu) ** 2).mean(1, keepdims=True) + 1e-5)
    x_hat = (X - mu) / sigma
    expected = bn.gamma.data / (m * sigma) * (m * dY - dY.sum(1, keepdims=True)
                                               - x_hat * (dY * x_hat).sum(1, keepdims=True))
    np.testing.assert_allclose(dX, expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(bn.gamma.grad, (dY * x_hat).sum(1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(bn.beta.grad, dY.sum(1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(dX.sum(axis=1), 0.0, atol=1e-13)  # shifting a row of X changes nothing


# ----------------------------------------------------------------------------
# Dropout's behaviour
# ----------------------------------------------------------------------------
def test_dropout_is_inverted_and_the_identity_outside_training(rng):
    X = rng.uniform(1.0, 2.0, (50, 400))
    layer = Dropout(0.3).seed(12)  # not the fixture's seed 0: that stream made X
    Y = layer(X)
    kept = Y != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(Y[kept], X[kept] / 0.7, rtol=1e-15)
    assert abs(Y.mean() / X.mean() - 1) < 0.01  # E[Y] = X
    dX = layer.backward(np.ones_like(X))
    np.testing.assert_array_equal(dX, kept / 0.7)  # the forward's mask, scaled alike
    assert layer.predict(X) is X or np.array_equal(layer.predict(X), X)
    np.testing.assert_array_equal(Dropout(0.0)(X), X)
    np.testing.assert_array_equal(Dropout(1.0).seed(0)(X), np.zeros_like(X))


def test_dropout_masks_are_reproducible_and_independent_per_layer(rng):
    X = np.ones((20, 30))
    a, b = Dropout(0.5).seed(1), Dropout(0.5).seed(1)
    np.testing.assert_array_equal(a(X), b(X))
    assert not np.array_equal(a(X), Dropout(0.5).seed(1)(X))  # the stream moves on
    model = build_model([{"type": "dropout", "p": 0.5}, {"type": "dropout", "p": 0.5}], in_features=20, seed=0)
    again = build_model([{"type": "dropout", "p": 0.5}, {"type": "dropout", "p": 0.5}], in_features=20, seed=0)
    masks = [layer(X) != 0 for layer in model]
    assert not np.array_equal(masks[0], masks[1])
    np.testing.assert_array_equal(masks, [layer(X) != 0 for layer in again])


def test_dropout_float32_stays_float32():
    Y = Dropout(0.5).seed(0)(np.ones((4, 6), np.float32))
    assert Y.dtype == np.float32 and set(np.unique(Y)) <= {0.0, 2.0}


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"in Dropout\(p=1.5\):\n  p: Input should be less than or equal to 1. Received: 1.5"):
        Dropout(1.5)
    with pytest.raises(ValueError, match=r"in BatchNorm\(.*\):\n  momentum: Input should be less than or equal to 1. Received: 2"):
        BatchNorm(3, momentum=2)
    with pytest.raises(ValueError, match=r"in BatchNorm\(.*\):\n  eps: Input should be greater than 0. Received: 0"):
        BatchNorm(3, eps=0)
    with pytest.raises(ShapeError, match=r"BatchNorm\(3, .*training needs at least 2 examples .*shape \(3, 1\)"):
        BatchNorm(3)(np.ones((3, 1)))
    BatchNorm(3).predict(np.ones((3, 1)))  # one example is fine at inference


# ----------------------------------------------------------------------------
# Batch norm: running statistics and PyTorch parity
# ----------------------------------------------------------------------------
def test_running_statistics_by_hand(rng):
    bn = BatchNorm(2, momentum=0.25)
    X = rng.standard_normal((2, 4))
    bn(X)
    np.testing.assert_allclose(bn.running_mean, 0.25 * X.mean(1, keepdims=True), rtol=1e-14)
    np.testing.assert_allclose(bn.running_var, 0.75 + 0.25 * X.var(1, ddof=1, keepdims=True), rtol=1e-14)
    assert int(bn.num_batches_tracked) == 1
    # inference uses them, not the batch's statistics
    np.testing.assert_allclose(bn.predict(X), (X - bn.running_mean) / np.sqrt(bn.running_var + 1e-5), rtol=1e-12)
    cumulative = BatchNorm(2, momentum=None)
    batches = [rng.standard_normal((2, 6)) for _ in range(3)]
    for Xb in batches:
        cumulative(Xb)
    np.testing.assert_allclose(cumulative.running_mean, np.mean([b.mean(1, keepdims=True) for b in batches], 0),
                               rtol=1e-12)


def _torch_bn(torch, bn):
    t = torch.nn.BatchNorm1d(bn.in_features, eps=bn.eps, momentum=bn.momentum, affine=bn.affine,
                             dtype=torch.float64 if bn.running_mean.dtype == np.float64 else torch.float32)
    if bn.affine:
        with torch.no_grad():
            t.weight.copy_(torch.from_numpy(bn.gamma.data[:, 0]))
            t.bias.copy_(torch.from_numpy(bn.beta.data[:, 0]))
    return t


@pytest.mark.parametrize("momentum,affine,dtype", [(0.1, True, "float64"), (None, True, "float64"),
                                                   (0.3, False, "float64"), (0.1, True, "float32")])
def test_batch_norm_equals_torch_batchnorm1d(momentum, affine, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    C = 4
    bn = BatchNorm(C, momentum=momentum, affine=affine, dtype=dtype)
    if affine:
        bn.gamma.data[:] = rng.uniform(0.5, 2, (C, 1))
        bn.beta.data[:] = rng.standard_normal((C, 1))
    t = _torch_bn(torch, bn)
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == "float64" else dict(rtol=2e-5, atol=2e-5)
    for m in (8, 5, 2):  # batches of different sizes; the unbiased variance uses each one's m
        X = (3 * rng.standard_normal((C, m)) + 1).astype(dtype)
        dY = rng.standard_normal((C, m)).astype(dtype)
        tX = torch.from_numpy(X.T.copy()).requires_grad_(True)
        t.train()
        tY = t(tX)
        tY.backward(torch.from_numpy(dY.T.copy()))
        Y = bn(X)
        dX = bn.backward(dY)
        np.testing.assert_allclose(Y, tY.detach().numpy().T, **tol)
        np.testing.assert_allclose(dX, tX.grad.numpy().T, **tol)
        if affine:
            np.testing.assert_allclose(bn.gamma.grad[:, 0], t.weight.grad.numpy(), **tol)
            np.testing.assert_allclose(bn.beta.grad[:, 0], t.bias.grad.numpy(), **tol)
            t.weight.grad = t.bias.grad = None
        np.testing.assert_allclose(bn.running_mean[:, 0], t.running_mean.numpy(), **tol)
        np.testing.assert_allclose(bn.running_var[:, 0], t.running_var.numpy(), **tol)
        assert int(bn.num_batches_tracked) == int(t.num_batches_tracked)
    t.eval()
    X = rng.standard_normal((C, 3)).astype(dtype)
    np.testing.assert_allclose(bn.predict(X), t(torch.from_numpy(X.T.copy())).detach().numpy().T, **tol)


def test_dropout_scaling_equals_torch():
    torch = pytest.importorskip("torch")
    X = np.random.default_rng(0).uniform(1, 2, (100, 400))
    ours = Dropout(0.25).seed(12)(X)
    with torch.random.fork_rng():  # seeded, so the draw is the same on every run, and the global stream is untouched
        torch.manual_seed(0)
        theirs = torch.nn.functional.dropout(torch.from_numpy(X), p=0.25, training=True).numpy()
    # Different generators, same rule: survivors are X / (1 - p), the rest 0, and the identity in eval.
    # 40,000 draws: the kept fraction's standard deviation is 0.0022, so 0.015 is a 7-sigma band.
    for Y in (ours, theirs):
        kept = Y != 0
        np.testing.assert_allclose(Y[kept], X[kept] / 0.75, rtol=1e-15)
        assert abs(kept.mean() - 0.75) < 0.015
    np.testing.assert_array_equal(torch.nn.functional.dropout(torch.from_numpy(X), 0.25, training=False).numpy(),
                                  Dropout(0.25).predict(X))


# ----------------------------------------------------------------------------
# State: checkpointed, and a resumed run equals an uninterrupted one bit for bit
# ----------------------------------------------------------------------------
def _trainer(epochs, model_seed=4, callbacks=()):
    model = Sequential([Linear(4, 16, seed=0), BatchNorm(16), ReLU(), Dropout(0.3),
                        Linear(16, 3, seed=1)]).seed(model_seed)
    return Trainer(model, CrossEntropyLoss(), Adam(model.parameters(), lr=0.01), epochs=epochs, batch_size=16,
                   seed=5, callbacks=list(callbacks), progress=False, metrics=["accuracy"])


def _data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4, 90))
    return X, (X[:1] + X[1:2] > 0).astype(float) + (X[2:3] > 1)


@pytest.mark.parametrize("every_epochs,every_batches", [(1, 0), (0, 4)])
def test_interrupted_and_resumed_training_equals_uninterrupted_bit_for_bit(tmp_path, every_epochs, every_batches):
    X, y = _data()
    straight = _trainer(6)
    straight.fit(X, y)
    first = _trainer(6, callbacks=[ModelCheckpoint(tmp_path, every_epochs=every_epochs,
                                                   every_batches=every_batches, keep_last=100)])
    first.fit(X, y)
    files = sorted(tmp_path.glob("*.npz"))
    middle = files[len(files) // 2]
    state = load_checkpoint(middle).state
    assert {"1.running_mean", "1.running_var", "1.num_batches_tracked", "3.rng"} <= set(state)
    # A model seeded differently: everything random must come from the checkpoint.
    resumed = _trainer(6, model_seed=99)
    resumed.fit(X, y, resume_from=middle)
    assert resumed.history.logs == straight.history.logs
    final = straight.model.state_dict()
    assert set(resumed.model.state_dict()) == set(final)
    for key, value in resumed.model.state_dict().items():
        np.testing.assert_array_equal(value, final[key], err_msg=key)


def test_without_the_saved_generator_a_resume_would_differ(tmp_path):
    # The control for the test above: the dropout stream the checkpoint restores is what makes it exact.
    from framework.layer import encode_generator

    X, y = _data()
    straight = _trainer(4)
    straight.fit(X, y)
    _trainer(4, callbacks=[ModelCheckpoint(tmp_path, keep_last=100)]).fit(X, y)
    ckpt = load_checkpoint(sorted(tmp_path.glob("*.npz"))[1])
    ckpt.state["3.rng"] = encode_generator(np.random.default_rng(99))
    other = _trainer(4)
    other.fit(X, y, resume_from=ckpt)
    assert not np.array_equal(other.model[0].W.data, straight.model[0].W.data)
    ckpt.state.pop("3.rng")
    with pytest.raises(CheckpointError, match="missing generator state 3.rng"):
        _trainer(4).fit(X, y, resume_from=ckpt)


# ----------------------------------------------------------------------------
# A batch size leaving a last batch of 1 is refused before anything trains
# ----------------------------------------------------------------------------
def test_a_batch_size_leaving_a_last_batch_of_one_is_refused_before_training(rng):
    X = rng.standard_normal((3, 5))
    y = (X[:1] > 0).astype(np.int64)
    model = Sequential([Linear(3, 4, seed=0), BatchNorm(4), ReLU(), Linear(4, 2, seed=1)])
    before = model.state_dict()
    trainer = Trainer(model, CrossEntropyLoss(), Adam(model.parameters(), lr=0.1), epochs=2, batch_size=4,
                      progress=False)
    with pytest.raises(ShapeError, match=re.escape(
            "Trainer: batch_size=4 leaves a last batch of 1 example (5 training examples make 1 batch of 4 and a "
            "last one of 1), but model[1] (BatchNorm(4, momentum=0.1, eps=1e-05)) needs at least 2 examples in "
            "every training batch; choose a batch size that leaves no batch of fewer than 2 examples, e.g. 3 or 5")):
        trainer.fit(X, y)
    for key, value in model.state_dict().items():  # nothing trained, not even the batches before the last
        np.testing.assert_array_equal(value, before[key], err_msg=key)
    assert len(trainer.history.epochs) == 0
    trainer.batch_size = 3  # a suggested one trains
    trainer.fit(X, y)
    with pytest.raises(ShapeError, match=r"^Trainer: the training data has 1 example, but model\[1\] \(BatchNorm"):
        trainer.fit(X[:, :1], y[:, :1])


@pytest.mark.parametrize("seed", range(5))
def test_the_suggested_batch_sizes_are_the_nearest_that_leave_no_batch_of_one(seed):
    from framework.trainer import batch_size_problem

    model = Sequential([Linear(3, 4, seed=0), BatchNorm(4)])
    draw = np.random.default_rng(seed)
    for _ in range(200):
        n, bs = (int(v) for v in draw.integers(2, 300, size=2))
        batches = [min(bs, n - lo) for lo in range(0, n, bs)]  # as the Trainer slices them
        problem = batch_size_problem(model, n, bs)
        assert (problem is None) == (min(batches) >= 2), (n, bs)
        if problem is None:
            continue
        assert problem.layer == "1" and problem.needs == 2 and problem.smallest == min(batches) == 1
        fine = [b for b in range(2, n + 1) if min(min(b, n - lo) for lo in range(0, n, b)) >= 2]
        below, above = [b for b in fine if b < bs], [b for b in fine if b > bs]
        assert problem.choices == tuple(([below[-1]] if below else []) + [above[0]]), (n, bs)
