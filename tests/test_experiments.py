"""Every shipped experiment validates, runs on built-in data and meets its stated quality."""

import subprocess
import sys
from pathlib import Path

import pytest

from framework import load_experiment, run_experiment

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
SLOW = {"digits_mlp"}  # several seconds each: deselected by -m "not slow", run by CI


def experiments(pattern):
    return [pytest.param(p, marks=pytest.mark.slow) if p.stem in SLOW else p for p in sorted(EXPERIMENTS.glob(pattern))]


@pytest.mark.parametrize("path", experiments("*.toml"), ids=lambda p: p.stem)
def test_toml_experiment_meets_its_targets(path):
    experiment = load_experiment(path)
    assert experiment.targets, f"{path.name} states no quality target"
    result = run_experiment(experiment, progress=False)
    assert result.targets_met, result.summary["targets"]


@pytest.mark.parametrize("script", experiments("*.py"), ids=lambda p: p.stem)
def test_python_experiment_script(script):
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "NOT met" not in done.stdout
    if script.stem == "digits_mlp":  # trial 12: it said "trained 3 epochs", len(history) (the keys)
        assert done.stdout.startswith("trained 20 epochs on 1438 images (final training loss "), done.stdout


def test_moons_experiment_uses_bce_and_a_sigmoid_output():
    experiment = load_experiment(EXPERIMENTS / "moons_classifier.toml")
    assert experiment.loss.type == "bce" and experiment.model.layers[-1].type == "sigmoid"


def test_digits_experiment_is_a_softmax_classifier_judged_on_held_out_images():
    from plugins.datasets import digits

    experiment = load_experiment(EXPERIMENTS / "digits_mlp.toml")
    types = [block.type for block in experiment.model.layers]
    assert experiment.loss.type == "cross_entropy" and types[-1] == "linear"   # logits into the fused loss
    assert {"dropout", "batch_norm"} & set(types) and experiment.optimizer.type in ("adam", "adamw")
    assert experiment.data.source.type == "digits" and experiment.targets["val_accuracy"].min >= 0.97
    # the validation split is the documented test subset, and nothing selects a model on it
    assert (experiment.data.validation_split, experiment.data.split_seed) == (0.2, 0)
    assert not experiment.trainer.callbacks
    test = digits(subset="test")
    assert test.n_examples == round(0.2 * 1797)


@pytest.mark.slow
def test_minidl_run_digits_meets_its_target_offline_without_extras(tmp_path):
    """`minidl run experiments/digits_mlp.toml`, with sockets and scikit-learn made unavailable."""
    code = (
        "import socket, sys\n"
        "def refuse(*a, **k):\n"
        "    raise OSError('network access attempted')\n"
        "socket.socket.connect = refuse; socket.socket.connect_ex = refuse; socket.getaddrinfo = refuse\n"
        "sys.modules['sklearn'] = None; sys.modules['torch'] = None\n"
        "from framework.cli import main\n"
        f"sys.exit(main(['run', {str(EXPERIMENTS / 'digits_mlp.toml')!r}, '--runs-dir', 'runs', '--quiet']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "target val_accuracy >= 0.97" in done.stdout and "(met)" in done.stdout
    assert "validation errors by true class: 8 " in done.stdout  # mistakes named by their labels
    import json

    (summary,) = tmp_path.glob("runs/*/summary.json")
    data = json.loads(summary.read_text())
    assert data["classes"] == [str(k) for k in range(10)] and data["final"]["val_accuracy"] >= 0.97
    assert data["validation_examples"] == 359 and data["train_examples"] == 1438


def test_the_run_directory_keeps_no_classes_for_regression():
    experiment = load_experiment(EXPERIMENTS / "linear_regression.toml")
    experiment.trainer.epochs = 1
    assert run_experiment(experiment, progress=False).summary["classes"] is None
