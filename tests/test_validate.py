"""`minidl validate` is as strict as `minidl run` up to the first step.

The property, over a corpus of experiment variants: whatever error `run`
raises before its first batch, `validate` raises too (same type, same
message, naming the file and the dotted path); and when `validate` passes,
`run` reaches its first batch.
"""

import re
from pathlib import Path

import pytest

from framework.cli import main
from framework.trainer import Trainer

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
LINEAR, MLP, MOONS, DIGITS, SPIRALS = (EXPERIMENTS / f"{n}.toml" for n in (
    "linear_regression", "sigmoid_mlp", "moons_classifier", "digits_mlp", "spirals"))

# (experiment, --set overrides, the dotted path the error must name; None: valid)
# Every shipped experiment (a sweep's file is run by `minidl sweep`, trial by trial, not by `minidl run`).
SHIPPED = [p for p in sorted(EXPERIMENTS.glob("*.toml")) if "\n[sweep]" not in p.read_text()]
CORPUS = [(path, [], None) for path in SHIPPED] + [
    (LINEAR, ["model.layers[0].out_features=3"], "model.layers[0].out_features"),                      # 3 rows, 1 target row
    (MLP, ["trainer.callbacks[0].schedule={type='cosine', total_epoch=100}"],
     "trainer.callbacks[0].schedule.total_epoch"),                                         # misspelled argument
    (MLP, ["trainer.callbacks[0].schedule={type='cosin', total_epochs=100}"], "trainer.callbacks[0].schedule.type"),
    (MOONS, ["trainer.callbacks[0].monitor='val_los'"], "trainer.callbacks[0].monitor"),
    (MOONS, ["targets.val_f1.min=0.5"], "targets.val_f1"),                                  # never logged
    (MOONS, ["data.validation_split=0.0"], "trainer.callbacks[0].monitor"),                 # no val_* logs
    (MLP, ["targets.val_mae.max=1.0", "trainer.metrics=['r2']"], "targets.val_mae"),
    (LINEAR, ["loss.type='bce'"], "loss"),                                                  # targets outside [0, 1]
    (LINEAR, ["optimizer.lr=-1"], "optimizer.lr"),
    (LINEAR, ["trainer.batch_size=0"], "trainer.batch_size"),
    (MLP, ["model.layers[1].type='sigmoidd'"], "model.layers[1].type"),
    (MOONS, ["trainer.callbacks[0].patience=0"], "trainer.callbacks[0].patience"),
    (MOONS, ["trainer.callbacks[0].mode='maximum'"], "trainer.callbacks[0].mode"),
    (MOONS, ["trainer.metrics=['acuracy']"], "trainer.metrics[0]"),
    (LINEAR, ["model.layers=[{type='linear', out_features=4}, {type='linear', in_features=5, out_features=1}]"],
     "model.layers[1]"),
    (MOONS, ["trainer.callbacks=[{type='checkpoint', every_epochs=-1}]"], "trainer.callbacks[0]"),
    (DIGITS, ["trainer.batch_size=1437"], "trainer.batch_size"),               # batch norm's last batch of 1
    (DIGITS, ["data.validation_split=0.216"], "trainer.batch_size"),           # 1409 = 22 * 64 + 1 left to train
    (DIGITS, ["model.layers[4].out_features=1"], "model.layers[4].out_features"),          # softmax of 1 row
    (SPIRALS, ["model.layers[4].out_features=5"], "model.layers[4].out_features"),         # 5 rows, 3 classes
    (DIGITS, ["model.layers[4].out_features=8"], "model.layers[4].out_features"),          # 8 rows, 10 classes
    (MOONS, ["model.layers[2].out_features=3"], "model.layers[2].out_features"),           # 3 rows, 2 classes
]


class ReachedFirstBatch(BaseException):
    """Raised instead of the first training step."""


def outcome(capsys, argv):
    try:
        code = main(argv)
    except ReachedFirstBatch:
        return "reached the first batch"
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize("path, overrides, where", CORPUS,
                         ids=[f"{p.stem}:{' '.join(o) or 'as shipped'}" for p, o, _ in CORPUS])
def test_validate_raises_whatever_run_raises_before_the_first_batch(path, overrides, where, tmp_path, capsys,
                                                                  monkeypatch):
    def first_batch(self, *args, **kwargs):
        raise ReachedFirstBatch

    monkeypatch.setattr(Trainer, "_run_batches", first_batch)
    sets = [a for o in overrides for a in ("--set", o)]
    ran = outcome(capsys, ["run", str(path), "--runs-dir", str(tmp_path / "runs"), "--quiet", *sets])
    validated = outcome(capsys, ["validate", str(path), *sets])
    if where is None:
        assert ran == "reached the first batch"
        assert validated[0] == 0
        return
    code, err = ran
    assert code == 2, err
    assert validated == (code, err)  # the same error, word for word
    assert f" in {path}:\n" in err and f"\n  {where}: " in err
    assert not (tmp_path / "runs").exists()  # run wrote nothing


def test_the_measured_cases_are_refused_by_validate_with_suggestions(capsys):
    assert main(["validate", str(MOONS), "--set", "trainer.callbacks[0].monitor='val_los'",
                 "--set", "targets.val_f1.min=0.5"]) == 2
    err = capsys.readouterr().err
    assert (f"minidl: error: 2 problems in {MOONS}:\n"
            f"  trainer.callbacks[0].monitor: the run will not log 'val_los'; did you mean 'val_loss'? It will "
            f"log: loss, lr, accuracy, val_loss, val_accuracy\n"
            f"  targets.val_f1: the run will not log 'val_f1'. It will log: loss, lr, accuracy, val_loss, "
            f"val_accuracy (add 'f1' to trainer.metrics to log it)\n") == err
    blocks = re.findall(r"```text\n(.*?)```", (EXPERIMENTS.parent / "docs" / "trainer.md").read_text(), re.S)
    assert err.replace(str(MOONS), "experiments/moons_classifier.toml") in blocks  # the docs show it
    assert main(["validate", str(MLP), "--set", "data.validation_split=0.0"]) == 2
    err = capsys.readouterr().err
    assert "  targets.val_r2: the run will not log 'val_r2'; did you mean 'r2'?" in err
    assert "(val_* keys need data.validation_split > 0)" in err
    assert main(["validate", str(MOONS), "--set", "targets.val_mse.max=1.0"]) == 2
    assert "(add 'mse' to trainer.metrics to log it)" in capsys.readouterr().err


def test_a_batch_size_leaving_batch_norm_a_batch_of_one_is_refused_with_the_sizes_that_work(capsys):
    # digits: 1797 images, 20% held out, 1438 left to train on; batch_size 1437 leaves a last batch of 1
    assert main(["validate", str(DIGITS), "--set", "trainer.batch_size=1437"]) == 2
    err = capsys.readouterr().err
    blocks = re.findall(r"```text\n(.*?)```", (EXPERIMENTS.parent / "docs" / "trainer.md").read_text(), re.S)
    assert err.replace(str(DIGITS), "experiments/digits_mlp.toml") in blocks  # the docs show it
    assert err == (
        f"minidl: error: 1 problem in {DIGITS}:\n"
        f"  trainer.batch_size: 1437 leaves a last batch of 1 example (1438 training examples make 1 batch of 1437 "
        f"and a last one of 1), but model.layers[1] (batch_norm) needs at least 2 examples in every training "
        f"batch; choose a batch size that leaves no batch of fewer than 2 examples, e.g. 1436 or 1438 (data.validation_split = 0.2 "
        f"leaves 1438 of the 1797 examples for training)\n")
    # with data.standardize the model's layer 2 is the spec's model.layers[1]
    assert main(["validate", str(DIGITS), "--set", "data.validation_split=0.216", "--set", "data.standardize=true"]) == 2
    assert ("  trainer.batch_size: 64 leaves a last batch of 1 example (1409 training examples make 22 batches of 64 "
            "and a last one of 1), but model.layers[1] (batch_norm) needs at least 2 examples in every training "
            "batch; choose a batch size that leaves no batch of fewer than 2 examples, e.g. 63 or 65 (data.validation_split = 0.216 "
            "leaves 1409 of the 1797 examples for training)\n") in capsys.readouterr().err
    for fine in ("1436", "1438"):
        assert main(["validate", str(DIGITS), "--set", f"trainer.batch_size={fine}"]) == 0
    # batch size 1: every batch is too small (re-trial: the message spoke of "a last batch of 0")
    assert main(["validate", str(DIGITS), "--set", "trainer.batch_size=1"]) == 2
    assert ("  trainer.batch_size: 1 makes batches of 1 example, but model.layers[1] (batch_norm) needs at least 2 "
            "examples in every training batch; choose a batch size that leaves no batch of fewer than 2 examples, "
            "e.g. 2 (data.validation_split = 0.2 leaves 1438 of the 1797 examples for training)\n"
            ) in capsys.readouterr().err


def test_output_rows_that_do_not_fit_the_classes_are_refused_before_training(capsys):
    # Trial 12: 5 rows for the 3 spiral classes validated and trained; `minidl predict` refused the model.
    assert main(["validate", str(SPIRALS), "--set", "model.layers[4].out_features=5"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"minidl: error: 1 problem in {SPIRALS}:\n"
        f"  model.layers[4].out_features: the model outputs 5 rows, but the data has 3 classes (0, 1, 2): set "
        f"model.layers[4].out_features = 3, one row per class\n")
    blocks = re.findall(r"```text\n(.*?)```", (EXPERIMENTS.parent / "docs" / "experiments.md").read_text(), re.S)
    shown = "$ minidl validate experiments/spirals.toml --set 'model.layers[4].out_features=5'\n"
    assert shown + err.replace(str(SPIRALS), "experiments/spirals.toml") in blocks  # the docs show it
    assert main(["validate", str(DIGITS), "--set", "model.layers[4].out_features=1"]) == 2
    assert capsys.readouterr().err == (
        f"minidl: error: 1 problem in {DIGITS}:\n"
        f"  model.layers[4].out_features: the model outputs 1 row, but the loss ('cross_entropy') needs logits "
        f"with one row per class, at least 2: for two classes use out_features = 2, or one row with "
        f"'bce_with_logits'\n")
    assert main(["validate", str(DIGITS), "--set", "model.layers[4].out_features=8"]) == 2
    assert "model.layers[4].out_features: the model outputs 8 rows, but the data has 10 classes (0, 1, 2, 3, " \
           "4, 5, 6, 7, 8, 9): set model.layers[4].out_features = 10, one row per class\n" in capsys.readouterr().err
    # two classes: 2 rows, or 1 for a binary model
    assert main(["validate", str(MOONS), "--set", "model.layers[2].out_features=3"]) == 2
    assert ("  model.layers[2].out_features: the model outputs 3 rows, but the data has 2 classes (0, 1): set "
            "model.layers[2].out_features = 1 (the probability of class '1'), or 2 (one row per class) with "
            "'cross_entropy'\n") in capsys.readouterr().err


def test_rows_that_do_not_fit_the_targets_say_what_would(capsys):
    """Re-trial: these named the field but not what would be valid."""
    assert main(["validate", str(MOONS), "--set", "model.layers[2].out_features=2"]) == 2
    assert capsys.readouterr().err.endswith(
        "  model.layers[2].out_features: the model outputs 2 rows, so the loss 'bce' needs 2 target row(s), but the "
        "data has 1; set model.layers[2].out_features = 1, one output row per target row\n")
    assert main(["validate", str(SPIRALS), "--set", "loss.type=bce_with_logits"]) == 2
    assert capsys.readouterr().err.endswith(
        "  model.layers[4].out_features: the model outputs 3 rows, so the loss 'bce_with_logits' needs 3 target "
        "row(s), but the data has 1; the data's targets are labels of 3 classes, one row: for one class among them "
        "use the loss 'cross_entropy', with 3 output rows\n")
