"""Classification metrics and the confusion matrix of a run, against hand-counted examples."""

import json

import numpy as np
import pytest

from framework import Dataset, Experiment, run_experiment
from framework.classification import confusion_matrix
from framework.registry import registry
from plugins.metrics import accuracy, f1, precision, recall, top_k, top_k_accuracy

# Six examples, three classes. Predicted (arg-max): 0 1 2 1 0 2; true: 0 1 1 1 2 2.
Y_HAT = np.array([[0.9, 0.1, 0.2, 0.1, 0.8, 0.1],
                  [0.05, 0.8, 0.3, 0.7, 0.1, 0.2],
                  [0.05, 0.1, 0.5, 0.2, 0.1, 0.7]])
Y = np.array([[0.0, 1.0, 1.0, 1.0, 2.0, 2.0]])


def test_confusion_matrix_counts_true_rows_against_predicted_columns():
    np.testing.assert_array_equal(confusion_matrix(Y_HAT, Y), [[1, 0, 0], [0, 2, 1], [1, 0, 1]])
    onehot = np.eye(3)[:, Y[0].astype(int)]
    np.testing.assert_array_equal(confusion_matrix(Y_HAT, onehot), confusion_matrix(Y_HAT, Y))
    binary = confusion_matrix(np.array([[0.2, 0.7, 0.6, 0.4]]), np.array([[0.0, 1.0, 0.0, 1.0]]))
    np.testing.assert_array_equal(binary, [[1, 1], [1, 1]])


def test_macro_precision_recall_f1_by_hand():
    # per class: TP 1 2 1, predicted 2 2 2, actual 1 3 2
    assert precision(Y_HAT, Y) == pytest.approx((1 / 2 + 2 / 2 + 1 / 2) / 3)
    assert recall(Y_HAT, Y) == pytest.approx((1 / 1 + 2 / 3 + 1 / 2) / 3)
    assert f1(Y_HAT, Y) == pytest.approx((2 / 3 + 4 / 5 + 2 / 4) / 3)
    assert accuracy(Y_HAT, Y) == pytest.approx(4 / 6)


def test_classes_absent_from_targets_and_predictions_are_not_averaged():
    four = np.vstack([Y_HAT, np.zeros((1, 6))])  # a fourth class, never true, never predicted
    for fn in (precision, recall, f1):
        assert fn(four, Y) == pytest.approx(fn(Y_HAT, Y))
    # A class that is true but never predicted counts with precision 0 (scikit-learn's zero_division=0).
    assert precision(np.array([[1.0, 1.0], [0.0, 0.0]]), np.array([[0.0, 1.0]])) == pytest.approx(0.25)


def test_top_k_accuracy():
    assert top_k_accuracy(Y_HAT, Y, k=1) == accuracy(Y_HAT, Y)
    # the true class's rank: 1 1 2 1 2 1 -> top-2 gets all of them
    assert top_k_accuracy(Y_HAT, Y, k=2) == 1.0
    scores = np.array([[0.1, 0.5], [0.2, 0.4], [0.3, 0.3], [0.4, 0.2]])
    assert top_k_accuracy(scores, np.array([[0.0, 0.0]]), k=3) == 0.5   # ranks 4 and 1
    assert top_k_accuracy(scores, np.array([[0.0, 0.0]]), k=4) == 1.0
    three = top_k(3)
    assert three.__name__ == "top_3_accuracy" and three.higher_is_better is True
    assert three(scores, np.array([[0.0, 0.0]])) == 0.5
    with pytest.raises(ValueError, match=r"top_k: expected `k` to be a positive integer. Received: k=0"):
        top_k(0)


def test_every_classification_metric_declares_that_higher_is_better():
    for name in ("accuracy", "top_k_accuracy", "precision", "recall", "f1"):
        assert registry.get("metrics", name).higher_is_better is True


def blobs(m=240, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, m)
    centers = np.array([[0.0, 3.0, -3.0], [3.0, -2.0, -2.0]])
    return centers[:, y] + rng.standard_normal((2, m)) * 0.8, y.reshape(1, -1).astype(float)


def experiment(epochs=15):
    return Experiment.from_dict({
        "name": "blobs",
        "model": {"layers": [{"type": "linear", "out_features": 16}, {"type": "gelu"},
                             {"type": "linear", "out_features": 3}]},
        "loss": {"type": "cross_entropy"}, "optimizer": {"type": "adamw", "lr": 0.02},
        "data": {"source": {"type": "synthetic_linear"}, "validation_split": 0.25},
        "trainer": {"epochs": epochs, "batch_size": 32, "progress": False,
                    "metrics": ["accuracy", "precision", "recall", "f1"]},
    })


def test_top_k_accuracy_with_k_classes_or_fewer_is_refused_at_validation():
    """It would always be 1.0 (the trial's spirals and moons runs logged a top_k_accuracy of 1 from epoch 1)."""
    from framework.errors import ConfigError

    spec = experiment().to_dict()
    spec["trainer"]["metrics"] = ["accuracy", "top_k_accuracy"]
    with pytest.raises(ConfigError) as err:
        Experiment.from_dict(spec)
    assert str(err.value).endswith(
        "trainer.metrics[1]: 'top_k_accuracy' counts an example as right when its true class is among the 5 "
        "highest-scoring of the model's 3 classes, so it would always be 1.0: use accuracy, or this metric with "
        "more than 5 classes (in Python, plugins.metrics.top_k(k) makes it for another k) "
        "(model.layers[2].out_features = 3)")
    spec["model"]["layers"][-1]["out_features"] = 6  # six classes: the top 5 can miss
    assert Experiment.from_dict(spec).trainer.metrics == ["accuracy", "top_k_accuracy"]
    # the same rule for any k, and one output row is two classes
    assert top_k(2).output_rows_problem(3) is None
    assert "among the 3 highest-scoring of the model's 2 classes" in top_k(3).output_rows_problem(1)
    assert top_k_accuracy.output_rows_problem(5).startswith("counts an example as right")


def test_a_classification_run_writes_its_confusion_matrix(tmp_path):
    X, y = blobs()
    data = Dataset(X, y, name="blobs", classes=["north", "east", "west"])
    result = run_experiment(experiment(), data=data, run_dir=tmp_path / "run")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    cm = summary["confusion_matrix"]
    assert cm["split"] == "validation" and cm["labels"] == ["north", "east", "west"]
    matrix = np.array(cm["matrix"])
    assert matrix.shape == (3, 3) and matrix.sum() == summary["validation_examples"] == 60
    assert np.trace(matrix) / matrix.sum() == pytest.approx(summary["final"]["val_accuracy"])
    assert 0.9 < summary["final"]["val_f1"] <= 1.0
    assert result.summary["confusion_matrix"] == cm


def test_a_regression_run_has_no_confusion_matrix():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 40))
    spec = Experiment.from_dict({"model": {"layers": [{"type": "linear", "out_features": 1}]}, "loss": {"type": "mse"},
                                 "optimizer": {"type": "sgd"}, "trainer": {"epochs": 1, "progress": False}})
    assert "confusion_matrix" not in run_experiment(spec, data=(X, X[:1])).summary


def test_a_binary_run_on_logits_decides_at_logit_zero_in_its_metrics_and_confusion_matrix(tmp_path):
    # One input feature x, a linear model fixed at z = x (never trained), bce_with_logits.
    # Logits 0.2, -0.2, 0.7, -1.0, 0.3 with labels 1 0 0 0 1: at z >= 0 (p >= 0.5) the predictions are
    # 1 0 1 0 1, so accuracy 4/5 and the matrix [[2, 1], [0, 2]] (by hand). Thresholding the logit
    # itself at 0.5 would predict 0 0 1 0 0: accuracy 2/5, and `minidl predict` would disagree.
    X = np.array([[0.2, -0.2, 0.7, -1.0, 0.3]])
    y = np.array([[1.0, 0.0, 0.0, 0.0, 1.0]])
    spec = Experiment.from_dict({
        "model": {"layers": [{"type": "linear", "out_features": 1, "init": "zeros"}]},
        "loss": {"type": "bce_with_logits"}, "optimizer": {"type": "sgd", "lr": 0.1},
        "trainer": {"epochs": 1, "batch_size": 5, "metrics": ["accuracy"], "progress": False}})
    from framework.runner import prepare_run

    prepared = prepare_run(spec, (X, y))
    prepared.trainer.model.layers[0].W.data[...] = 1.0
    assert prepared.trainer.evaluate(X, y, metrics_only=True) == {"accuracy": pytest.approx(4 / 5)}
    from framework.runner import confusion_summary

    assert confusion_summary(prepared)["matrix"] == [[2, 1], [0, 2]]


@pytest.mark.parametrize("metric", [accuracy, top_k_accuracy, f1, confusion_matrix])
def test_class_indices_outside_the_rows_are_refused_by_every_classification_metric(metric):
    # Labels 1, 2, 3 for three rows of scores (a CSV numbered from 1): index 3 has no row. Without
    # the check top_k_accuracy raised an IndexError, f1 a reshape error, and accuracy counted quietly.
    from framework.errors import DataError

    with pytest.raises(DataError, match=r"class indices must be integers in \[0, 2\] for 3 rows of scores "
                                        r"\(one per class\)\. Received: 3 \(2 of 6 examples\)\. The data has 3 "
                                        r"distinct labels for 3 rows: if the integers name the classes"):
        metric(Y_HAT, Y + 1)
    with pytest.raises(DataError, match=r"Received: 0\.5, nan \(2 of 6 examples\)\. Class indices are whole"):
        metric(Y_HAT, np.array([[0.0, 0.5, 1.0, 1.0, np.nan, 2.0]]))


def test_a_run_whose_labels_do_not_index_the_outputs_is_refused_before_training():
    from framework.errors import ConfigError

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((2, 12)), np.tile([1.0, 2.0, 3.0], 4)[None, :]
    spec = Experiment.from_dict({
        "model": {"layers": [{"type": "linear", "out_features": 3}]}, "loss": {"type": "cross_entropy"},
        "optimizer": {"type": "sgd", "lr": 0.1},
        "trainer": {"epochs": 1, "metrics": ["accuracy", "f1"], "progress": False}})
    with pytest.raises(ConfigError) as info:
        run_experiment(spec, data=(X, y))
    # said once, by the loss: the metrics refuse the same values for the same reason (trial 12 found
    # three copies of one message)
    assert info.value.problems == [("loss", "cross_entropy does not fit the training data: CrossEntropyLoss(): "
                                            "class indices must be integers in [0, 2] for 3 rows of logits. "
                                            "Received: 3 (4 of 12 examples). The data has 3 distinct labels for 3 "
                                            "rows: if the integers name the classes rather than number them from "
                                            "0, set classes = true in the csv or npz data source (in Python, map "
                                            "them to 0..C-1); else indices up to 3 need the last layer's "
                                            "out_features at 4 or more")]
