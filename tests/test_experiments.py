"""Every shipped experiment validates, runs on built-in data and meets its stated quality."""

import subprocess
import sys
from pathlib import Path

import pytest

from framework import load_experiment, run_experiment

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


@pytest.mark.parametrize("path", sorted(EXPERIMENTS.glob("*.toml")), ids=lambda p: p.stem)
def test_toml_experiment_meets_its_targets(path):
    experiment = load_experiment(path)
    assert experiment.targets, f"{path.name} states no quality target"
    result = run_experiment(experiment, progress=False)
    assert result.targets_met, result.summary["targets"]


@pytest.mark.parametrize("script", sorted(EXPERIMENTS.glob("*.py")), ids=lambda p: p.stem)
def test_python_experiment_script(script):
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "NOT met" not in done.stdout


def test_moons_experiment_uses_bce_and_a_sigmoid_output():
    experiment = load_experiment(EXPERIMENTS / "moons_classifier.toml")
    assert experiment.loss.type == "bce" and experiment.model.layers[-1].type == "sigmoid"
