"""softmax and cross_entropy: closed forms, finite differences, validation of the pairing."""

import warnings

import numpy as np
import pytest

from framework import ConfigError, DataError, DTypeError, Experiment, ShapeError, Trainer, gradcheck
from framework.registry import registry
from framework.sequential import Sequential
from framework.testing import assert_layer_conforms
from plugins.activations import Sigmoid, Softmax
from plugins.layers import Linear
from plugins.losses import CrossEntropyLoss
from plugins.metrics import accuracy
from plugins.optimizers import SGD


def naive_softmax(Z):
    E = np.exp(Z)
    return E / E.sum(axis=0)


def test_softmax_is_the_closed_form_over_rows_of_each_column(rng):
    Z = rng.standard_normal((4, 9))
    A = Softmax()(Z)
    np.testing.assert_allclose(A, naive_softmax(Z), rtol=1e-14)
    np.testing.assert_allclose(A.sum(axis=0), np.ones(9), rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_is_stable_for_huge_logits(dtype):
    Z = np.array([[1000.0, -1000.0], [999.0, -1001.0], [0.0, 5.0]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        A = Softmax()(Z)
    assert A.dtype == dtype
    e = np.exp(-1.0)
    np.testing.assert_allclose(A[:, 0], [1 / (1 + e), e / (1 + e), 0.0], rtol=1e-6)
    assert A[2, 1] == pytest.approx(1.0) and A[0, 1] == 0.0


def test_softmax_backward_is_the_jacobian_product(rng):
    Z, dY = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    layer = Softmax()
    A = layer(Z)
    dX = layer.backward(dY)
    for j in range(4):
        a = A[:, j]
        J = np.diag(a) - np.outer(a, a)
        np.testing.assert_allclose(dX[:, j], J @ dY[:, j], rtol=1e-12, atol=1e-15)


def test_softmax_passes_the_conformance_kit():
    assert_layer_conforms(Softmax, in_features=4, registered_name="softmax")


def test_cross_entropy_with_indices_is_the_mean_negative_log_probability(rng):
    Z = rng.standard_normal((5, 8)) * 3
    y = rng.integers(0, 5, 8)
    expected = -np.mean(np.log(naive_softmax(Z)[y, np.arange(8)]))
    for target in (y.reshape(1, -1).astype(float), y, y.astype(np.int32)):
        loss = CrossEntropyLoss()
        assert loss(Z, target) == pytest.approx(expected, rel=1e-13)
        onehot = np.eye(5)[:, y]
        np.testing.assert_allclose(loss.backward(), (naive_softmax(Z) - onehot) / 8, rtol=1e-12, atol=1e-16)


def test_label_smoothing_is_a_mixed_target(rng):
    Z, y, e = rng.standard_normal((4, 6)), rng.integers(0, 4, 6), 0.2
    Q = (1 - e) * np.eye(4)[:, y] + e / 4
    by_index = CrossEntropyLoss(label_smoothing=e)
    by_prob = CrossEntropyLoss()
    assert by_index(Z, y.reshape(1, -1).astype(float)) == pytest.approx(by_prob(Z, Q), rel=1e-13)
    np.testing.assert_allclose(by_index.backward(), by_prob.backward(), rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(CrossEntropyLoss()(Z, Q), -np.sum(Q * np.log(naive_softmax(Z))) / 6, rtol=1e-13)


@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize("probabilities", [False, True])
def test_cross_entropy_gradcheck(rng, smoothing, probabilities):
    Z = rng.standard_normal((4, 5))
    if probabilities:
        y = rng.uniform(0.1, 1, (4, 5))
        y[:, 0] *= 3  # a column that does not sum to 1: the gradient keeps its sum
    else:
        y = rng.integers(0, 4, (1, 5)).astype(float)
    assert gradcheck(CrossEntropyLoss(smoothing), Z, y).worst < 1e-7


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cross_entropy_is_finite_and_exact_for_huge_logits(dtype):
    Z = np.array([[1000.0, -1000.0], [0.0, 0.0]], dtype=dtype)
    y = np.array([[1.0, 0.0]])
    loss = CrossEntropyLoss()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = loss(Z, y)
        grad = loss.backward()
    assert value == pytest.approx((1000.0 + 1000.0) / 2)  # -log softmax = 1000 for each wrong column
    assert grad.dtype == dtype
    np.testing.assert_allclose(grad, [[0.5, -0.5], [-0.5, 0.5]], atol=1e-7)


def test_cross_entropy_rejects_bad_targets():
    Z = np.zeros((3, 4))
    with pytest.raises(DataError, match=r"class indices must be integers in \[0, 2\] for 3 rows of logits. Received: 3"):
        CrossEntropyLoss()(Z, np.array([[0.0, 1.0, 2.0, 3.0]]))
    with pytest.raises(DataError, match=r"Received: 0.5"):
        CrossEntropyLoss()(Z, np.array([0.0, 0.5, 1.0, 2.0]))
    with pytest.raises(ShapeError, match=r"class indices of shape \(1, 4\) or \(4,\), or as class probabilities "
                                         r"of y_hat's shape \(3, 4\). Received: y \(2, 4\)"):
        CrossEntropyLoss()(Z, np.zeros((2, 4)))
    with pytest.raises(DTypeError, match="Received: y_hat float64, y float32"):
        CrossEntropyLoss()(Z, np.zeros((3, 4), dtype=np.float32))
    with pytest.raises(ConfigError, match=r"label_smoothing: Input should be less than or equal to 1"):
        registry.build("losses", "cross_entropy", {"label_smoothing": 1.5}, path="loss")
    with pytest.raises(ValueError, match=r"label_smoothing: Input should be greater than or equal to 0. "
                                         r"Received: -0.1"):
        CrossEntropyLoss(-0.1)


def spec(last="linear", loss="cross_entropy"):
    layers = [{"type": "linear", "in_features": 2, "out_features": 3}]
    if last != "linear":
        layers.append({"type": last})
    return {"model": {"layers": layers}, "loss": {"type": loss}, "optimizer": {"type": "sgd"}}


@pytest.mark.parametrize("last", ["softmax", "sigmoid"])
def test_a_model_ending_in_probabilities_is_rejected_before_cross_entropy(last):
    with pytest.raises(ConfigError, match=rf"model.layers\[1\]: the model's last layer \('{last}'\) outputs "
                                          rf"probabilities, but the loss \('cross_entropy'\) expects logits: "
                                          rf"remove the final softmax \(or sigmoid\) layer"):
        Experiment.from_dict(spec(last))
    Experiment.from_dict(spec("linear"))      # logits: fine
    Experiment.from_dict(spec(last, "mse"))   # mse expects nothing in particular


def test_the_trainer_rejects_the_same_pairing():
    model = Sequential([Linear(2, 3, seed=0), Softmax()])
    with pytest.raises(ConfigError, match=r"Trainer: the model's last layer \(Softmax\) outputs probabilities, "
                                          r"but the loss \(CrossEntropyLoss\) expects logits"):
        Trainer(model, CrossEntropyLoss(), SGD(model.parameters()))


def test_accuracy_takes_the_argmax_over_rows():
    y_hat = np.array([[2.0, 0.1, 0.3, 0.0], [1.0, 3.0, 0.2, 0.0], [0.0, 0.0, 0.9, 0.0]])
    assert accuracy(y_hat, np.array([[0.0, 1.0, 2.0, 1.0]])) == 0.75   # the tie in column 3 is row 0
    assert accuracy(y_hat, np.eye(3)[:, [0, 1, 1, 0]]) == 0.75          # one-hot targets
    assert accuracy(np.array([[0.2, 0.5, 0.9]]), np.array([[0.0, 1.0, 0.0]])) == pytest.approx(2 / 3)
    assert accuracy.higher_is_better is True


def blobs(m=300, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, m)
    centers = np.array([[0.0, 3.0, -3.0], [3.0, -2.0, -2.0]])
    X = centers[:, y] + rng.standard_normal((2, m)) * 0.7
    return X, y.reshape(1, -1).astype(float)


def test_an_experiment_trains_a_three_class_softmax_classifier():
    from framework import run_experiment

    experiment = Experiment.from_dict({
        "model": {"layers": [{"type": "linear", "out_features": 16}, {"type": "tanh"},
                             {"type": "linear", "out_features": 3}]},
        "loss": {"type": "cross_entropy"}, "optimizer": {"type": "adam", "lr": 0.02},
        "trainer": {"epochs": 30, "batch_size": 32, "metrics": ["accuracy"], "progress": False},
    })
    result = run_experiment(experiment, data=blobs())
    assert result.history["accuracy"][-1] > 0.97
    assert result.history["loss"][-1] < 0.15


def test_the_data_must_have_one_row_or_one_per_class():
    from framework import run_experiment

    X, y = blobs()
    experiment = Experiment.from_dict({
        "model": {"layers": [{"type": "linear", "out_features": 4}]},
        "loss": {"type": "cross_entropy"}, "optimizer": {"type": "sgd"},
        "trainer": {"epochs": 1, "progress": False},
    })
    with pytest.raises(ConfigError, match=r"model.layers\[0\].out_features: the model outputs 4 rows, so the loss "
                                          r"'cross_entropy' needs 1 or 4 target row\(s\), but the data has 2"):
        run_experiment(experiment, data=(X, np.vstack([y, y])))


def test_cross_entropy_of_column_major_logits_equals_row_major(rng):
    # The gradient is written through flat positions: a Fortran-ordered y_hat must not defeat that.
    Z = rng.standard_normal((5, 7))
    y = rng.integers(0, 5, (1, 7)).astype(float)
    c, f = CrossEntropyLoss(), CrossEntropyLoss()
    assert c(Z, y) == f(np.asfortranarray(Z), y)
    np.testing.assert_array_equal(f.backward(), c.backward())
    onehot = np.eye(5)[:, y[0].astype(int)]
    c(Z, y)
    np.testing.assert_allclose(c.backward(), (naive_softmax(Z) - onehot) / 7, rtol=1e-12, atol=1e-16)


def test_targets_checked_skips_only_the_value_check():
    Z = np.zeros((3, 4))
    loss = CrossEntropyLoss()
    loss(Z, np.array([[0.0, 1.0, 2.0, 2.0]]), targets_checked=True)  # in range: the same either way
    loss.backward()
    with pytest.raises(DataError, match=r"class indices must be integers in \[0, 2\]"):
        loss.check_targets(np.array([[0.0, 1.0, 2.0, 3.0]]), 3)
    with pytest.raises(ShapeError, match=r"Received: y \(2, 4\)"):  # shapes are checked on every call
        loss(Z, np.zeros((2, 4)), targets_checked=True)


def test_the_trainer_checks_every_target_once_before_the_first_step():
    # A bad class index in the last batch is reported before any parameter moves, with the loss's message.
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((2, 40)), rng.integers(0, 3, (1, 40)).astype(float)
    y[0, -1] = 3.0
    model = Sequential([Linear(2, 3, seed=0)])
    W0 = model[0].W.data.copy()
    trainer = Trainer(model, CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), epochs=1, batch_size=8,
                      shuffle=False, progress=False)
    with pytest.raises(DataError, match=r"class indices must be integers in \[0, 2\] for 3 rows of logits. "
                                        r"Received: 3"):
        trainer.fit(X, y)
    np.testing.assert_array_equal(model[0].W.data, W0)


def test_a_loss_overriding_forward_with_the_older_signature_still_trains():
    # Written before Loss.forward took targets_checked: the Trainer must not pass it one.
    class OldStyle(CrossEntropyLoss):
        calls = 0

        def forward(self, y_hat, y):
            OldStyle.calls += 1
            return super().forward(y_hat, y)

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((2, 16)), rng.integers(0, 3, (1, 16)).astype(float)
    model = Sequential([Linear(2, 3, seed=0)])
    Trainer(model, OldStyle(), SGD(model.parameters(), lr=0.1), epochs=2, batch_size=8, progress=False).fit(X, y)
    assert OldStyle.calls == 4


def test_one_row_of_logits_is_refused_not_trained_on_a_loss_of_zero():
    # Trial 12: softmax over one row is always 1, so the loss was -0.0 with a zero gradient.
    with pytest.raises(ShapeError, match=r"CrossEntropyLoss\(\) needs logits with one row per class, at least 2\. "
                                         r"Received: 1 row \(shape \(1, 6\)\)\. For two classes use "
                                         r"out_features = 2, or one row with 'bce_with_logits'"):
        CrossEntropyLoss()(np.zeros((1, 6)), np.array([[0, 1, 0, 1, 0, 1.0]]))
    with pytest.raises(ShapeError, match=r"at least 2\. Received: 1 row"):
        CrossEntropyLoss()(np.zeros((1, 3)), np.array([0.0, 0.0, 0.0]))
    assert CrossEntropyLoss()(np.zeros((2, 2)), np.array([0.0, 1.0])) == pytest.approx(np.log(2))


def test_an_experiment_with_one_output_row_before_cross_entropy_is_refused():
    layers = [{"type": "linear", "out_features": 8}, {"type": "relu"}, {"type": "linear", "out_features": 1}]
    with pytest.raises(ConfigError, match=r"model.layers\[2\].out_features: the model outputs 1 row, but the loss "
                                          r"\('cross_entropy'\) needs logits with one row per class, at least 2: "
                                          r"for two classes use out_features = 2, or one row with "
                                          r"'bce_with_logits'"):
        Experiment.from_dict({"model": {"layers": layers}, "loss": {"type": "cross_entropy"},
                              "optimizer": {"type": "sgd"}})
    # rows kept by a layer after the last linear (an activation) are still counted
    with pytest.raises(ConfigError, match=r"model.layers\[0\].out_features: the model outputs 1 row"):
        Experiment.from_dict({"model": {"layers": [{"type": "linear", "out_features": 1}, {"type": "dropout"}]},
                              "loss": {"type": "cross_entropy"}, "optimizer": {"type": "sgd"}})
    layers[-1]["out_features"] = 2
    Experiment.from_dict({"model": {"layers": layers}, "loss": {"type": "cross_entropy"},
                          "optimizer": {"type": "sgd"}})
    layers[-1]["out_features"] = 1
    Experiment.from_dict({"model": {"layers": layers}, "loss": {"type": "bce_with_logits"},
                          "optimizer": {"type": "sgd"}})


def test_out_of_range_indices_are_listed_once_sorted_with_a_count_and_a_fix():
    # Trial 12: labels 3, 7, 12 for 3 rows gave "Received: 7, 7, 3".
    Z = np.zeros((3, 8))
    y = np.array([[3.0, 7.0, 12.0, 7.0, 3.0, 7.0, 12.0, 3.0]])
    with pytest.raises(DataError) as info:
        CrossEntropyLoss()(Z, y)
    assert str(info.value) == (
        "CrossEntropyLoss(): class indices must be integers in [0, 2] for 3 rows of logits. Received: 3, 7, 12 "
        "(8 of 8 examples). The data has 3 distinct labels for 3 rows: if the integers name the classes rather "
        "than number them from 0, set classes = true in the csv or npz data source (in Python, map them to "
        "0..C-1); else indices up to 12 need the last layer's out_features at 13 or more")
    # many distinct values: the first few, how many more, and the examples
    y = np.arange(20.0)[None, :]
    with pytest.raises(DataError, match=r"Received: 3, 4, 5, 6, 7, \.\.\. \(17 distinct values, 17 of 20 "
                                        r"examples\)\. Indices up to 19 need at least 20 rows"):
        CrossEntropyLoss()(np.zeros((3, 20)), y)
    with pytest.raises(DataError, match=r"Received: -1 \(2 of 4 examples\)\. Class indices count from 0"):
        CrossEntropyLoss()(np.zeros((3, 4)), np.array([[-1.0, 1.0, -1.0, 1.0]]))
    with pytest.raises(DataError, match=r"Received: 0\.5, nan \(2 of 4 examples\)\. Class indices are whole "
                                        r"numbers"):
        CrossEntropyLoss()(np.zeros((3, 4)), np.array([[0.0, 0.5, np.nan, 1.0]]))


def test_fit_with_labels_one_too_high_names_the_distinct_labels():
    # Trial 12: Trainer.fit(X, y + 1) gave "Received: 10, 10, 10".
    X, y = blobs(m=30)
    model = Sequential([Linear(2, 3, seed=0)])
    trainer = Trainer(model, CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), epochs=1, progress=False)
    with pytest.raises(DataError, match=r"for 3 rows of logits\. Received: 3 \(\d+ of 30 examples\)\. The data "
                                        r"has 3 distinct labels for 3 rows: if the integers name the classes"):
        trainer.fit(X, y + 1)
