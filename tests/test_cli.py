import json
import subprocess
import sys
from pathlib import Path


from framework.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENT = ROOT / "experiments" / "linear_regression.toml"


def test_run_writes_a_run_directory(tmp_path, capsys):
    code = main(["run", str(EXPERIMENT), "--runs-dir", str(tmp_path), "--set", "trainer.epochs=3", "--quiet"])
    out = capsys.readouterr().out
    run_dir = next(tmp_path.iterdir())
    assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoints", "experiment.toml", "metrics.csv", "model.npz", "summary.json"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["epochs"] == 3 and summary["targets"]["r2"]["met"] and code == 0
    assert "linear_regression: 3 epochs" in out and f"run directory: {run_dir}" in out
    assert "epochs = 3" in (run_dir / "experiment.toml").read_text()
    assert len((run_dir / "metrics.csv").read_text().splitlines()) == 4


def test_resume_continues_the_run(tmp_path, capsys):
    main(["run", str(EXPERIMENT), "--runs-dir", str(tmp_path), "--set", "trainer.epochs=2", "--quiet"])
    run_dir = next(tmp_path.iterdir())
    code = main(["run", "--resume", str(run_dir), "--set", "trainer.epochs=4", "--quiet"])
    assert code == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["epochs"] == 4 and "checkpoint-e00002" in summary["resumed_from"]
    assert len((run_dir / "metrics.csv").read_text().splitlines()) == 5  # header + 4 epochs, appended


def test_validate_reports_problems_without_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(EXPERIMENT.read_text().replace('type = "sgd"', 'type = "sgdd"').replace("epochs = 30", "epochs = 0"))
    code = main(["validate", str(bad)])
    err = capsys.readouterr().err
    assert code == 2
    assert "minidl: error: 2 problems in" in err and "optimizer.type: can't find 'sgdd'" in err
    assert "trainer.epochs: Input should be greater than 0" in err and "Traceback" not in err
    assert main(["validate", str(EXPERIMENT)]) == 0
    assert "valid (1 layer, 11 parameters, 1,000 training examples of 10 features)" in capsys.readouterr().out


def test_runtime_errors_exit_nonzero_with_one_message(tmp_path, capsys):
    exp = tmp_path / "e.toml"
    exp.write_text(EXPERIMENT.read_text().replace('type = "synthetic_linear"', 'type = "csv"\npath = "nope.csv"\ntarget_columns = ["y"]')
                   .replace("n_samples = 1000\nn_features = 10\nnoise = 0.1\n", ""))
    assert main(["run", str(exp), "--runs-dir", str(tmp_path / "runs")]) == 1
    err = capsys.readouterr().err
    assert "nope.csv: file does not exist" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()  # nothing written before the data was valid


def test_schema_and_summary(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "Experiment" and "trainer" in schema["properties"]
    assert main(["summary", str(ROOT / "experiments" / "sigmoid_mlp.toml")]) == 0
    out = capsys.readouterr().out
    assert "Linear(2 -> 32)" in out and "dW (32, 2), db (32, 1)" in out


def test_python_m_framework_and_console_script():
    done = subprocess.run([sys.executable, "-m", "framework", "validate", str(EXPERIMENT)],
                          capture_output=True, text=True)
    assert done.returncode == 0 and "valid" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "framework", "run", "missing.toml"], capture_output=True, text=True)
    assert bad.returncode == 2 and "missing.toml:\n  file not found" in bad.stderr and "Traceback" not in bad.stderr


def test_ctrl_c_during_run_saves_and_says_how_to_resume(tmp_path):
    import os
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", "framework", "run", str(ROOT / "experiments" / "sigmoid_mlp.toml"),
                             "--runs-dir", str(tmp_path), "--set", "trainer.epochs=100000", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not any(tmp_path.glob("*/checkpoints/*.npz")) and time.time() < deadline:
        time.sleep(0.1)  # wait until training is under way (the first epoch's checkpoint)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    run_dir = next(tmp_path.iterdir())
    assert f"minidl: resume with: minidl run --resume {run_dir}\n" in err
    assert "checkpoint saved to" in err and "Traceback" not in err
    saved = err.split("checkpoint saved to ")[1].split("\n")[0]
    assert os.path.exists(saved)


def test_the_end_of_run_line_names_the_classes_a_classifier_gets_wrong():
    from framework.cli import class_errors_line

    summary = {"confusion_matrix": {"split": "validation", "labels": ["cat", "dog", "eel"],
                                    "matrix": [[5, 0, 0], [2, 6, 0], [1, 1, 2]]}}
    assert class_errors_line(summary) == "validation errors by true class: eel 2/4 wrong, dog 2/8 wrong"
    assert class_errors_line(summary, most=1) == ("validation errors by true class: eel 2/4 wrong "
                                                  "(+1 more classes)")
    summary["confusion_matrix"]["matrix"] = [[5, 0, 0], [0, 6, 0], [0, 0, 4]]
    assert class_errors_line(summary) == "validation by class: all 15 correct"
    assert class_errors_line({"confusion_matrix": None}) is None and class_errors_line({}) is None


def test_a_loss_of_zero_is_printed_as_0_never_minus_0(tmp_path, capsys, monkeypatch):
    # Trial 12: "loss 0, ..., val_loss -0": a loss negating a zero sum is -0.0.
    import math

    import numpy as np

    from framework.progress import format_number, format_value
    from framework.trainer import Trainer
    from plugins.losses import BCELoss

    value = BCELoss()(np.ones((1, 3)), np.ones((1, 3)))  # a perfect prediction: -(0 + 0) / 3
    assert value == 0.0 and math.copysign(1.0, value) == 1.0
    assert format_number(-0.0) == "0" and format_value(-0.0) == "0" and format_number(-1e-7) == "-1e-07"
    final_logs = Trainer.final_logs
    monkeypatch.setattr(Trainer, "final_logs",
                        lambda self: {k: -0.0 if k.endswith("loss") else v for k, v in final_logs(self).items()})
    main(["run", str(EXPERIMENT), "--runs-dir", str(tmp_path), "--set", "trainer.epochs=1", "--quiet",
          "--set", "data.validation_split=0.2"])
    out = capsys.readouterr().out
    # Not the run directory's line: its name holds the time of day, -000340 after midnight.
    printed = "\n".join(line for line in out.splitlines() if not line.startswith("run directory:"))
    assert "1 epochs" in printed and ", loss 0, " in printed and ", val_loss 0" in printed and "-0" not in printed
