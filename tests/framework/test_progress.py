"""The training display: terminal layout (in a real pseudo-terminal), log lines, Jupyter."""

import csv
import fcntl
import io
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import textwrap
from pathlib import Path

import numpy as np
import pytest

from framework import progress
from framework.progress import MIN_BAR, ProgressDisplay, choose_mode, format_duration, layout

ROOT = Path(__file__).resolve().parents[2]
MOONS = ROOT / "experiments" / "moons_classifier.toml"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_in_terminal(args, columns, cwd, timeout=120):
    """Run a command with stderr and stdout on a pseudo-terminal of ``columns`` columns; return its output."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], timeout)
        if not ready:
            proc.kill()
            raise AssertionError("the command produced nothing for too long")
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the terminal's other side closed
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=timeout)
    os.close(master)
    return proc.returncode, b"".join(chunks).decode("utf-8", "replace")


def rendered_lines(output):
    """Every state of the display the terminal showed (carriage returns and newlines start a new one).

    The results printed after training (stdout) are not part of the display.
    """
    parts = [ANSI.sub("", part) for part in re.split(r"[\r\n]+", output)]
    return [part for part in parts if part.lstrip().startswith("epoch ")]


def last_metrics_row(run_dir):
    with (run_dir / "metrics.csv").open() as fh:
        return list(csv.DictReader(fh))[-1]


@pytest.mark.slow
def test_the_bar_fits_80_columns_with_the_monitored_and_target_metrics_whole(tmp_path):
    # Measured: at 80 columns the progress line was cut at "accur".
    code, out = run_in_terminal([sys.executable, "-m", "framework", "run", str(MOONS), "--runs-dir",
                                 str(tmp_path / "runs"), "--set", "trainer.epochs=8"], 80, tmp_path)
    assert code in (0, 1) and "run directory:" in out, out  # 8 epochs may not meet the target
    lines = rendered_lines(out)
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    final = lines[-1]
    row = last_metrics_row(next((tmp_path / "runs").iterdir()))
    # loss, val_loss (monitored by early stopping) and val_accuracy (the target), each number whole
    for key in ("loss", "val_loss", "val_accuracy"):
        assert f"{key} {float(row[key]):.4g}" in final, (key, final)
    assert " accuracy " not in final + " " and " lr " not in final  # neither monitored nor a target
    assert final.startswith("epoch 8/8 ") and re.search(r"\[\d\d:\d\d<\d\d:\d\d\]", final)


@pytest.mark.slow
def test_at_120_columns_the_bar_is_wide_and_the_target_metric_is_shown(tmp_path):
    # Measured: at 120 columns val_r2 (the target) was cut off and the bar was one character wide.
    exp = ROOT / "experiments" / "sigmoid_mlp.toml"
    code, out = run_in_terminal([sys.executable, "-m", "framework", "run", str(exp), "--runs-dir",
                                 str(tmp_path / "runs"), "--set", "trainer.epochs=5"], 120, tmp_path)
    assert code in (0, 1) and "run directory:" in out, out
    lines = rendered_lines(out)
    assert all(len(line) <= 120 for line in lines)
    final = lines[-1]
    row = last_metrics_row(next((tmp_path / "runs").iterdir()))
    assert f"val_r2 {float(row['val_r2']):.4g}" in final, final
    bar = re.search(r"\|(.*)\|", final).group(1)
    assert len(bar) >= 40  # the bar takes the room the numbers leave


def test_layout_drops_whole_items_never_part_of_a_number():
    items = ["loss 0.1234", "val_loss 0.2345", "val_accuracy 0.9876", "val_f1 0.9512"]
    # 10 columns of fixed text + 62 of items = 72
    kept, bar = layout(10, items, 90)
    assert kept == items and bar == 90 - 72 - 3 >= MIN_BAR
    kept, bar = layout(10, items, 75)   # no room for a bar: the bar goes first
    assert kept == items and bar == 0
    kept, bar = layout(10, items, 60)   # then the last items, whole
    assert kept == items[:3] and bar == 0
    kept, bar = layout(10, items, 50)
    assert kept == items[:2] and bar == 0
    assert layout(10, items, 5) == ([], 0)


def test_lines_are_rate_limited_for_very_fast_runs_and_always_include_the_last():
    out = io.StringIO()
    display = ProgressDisplay("lines", total=1000, stream=out)
    for epoch in range(1, 1001):
        display.epoch_end(epoch, {"loss": 1.0 / epoch, "lr": 0.1})
    lines = out.getvalue().splitlines()
    assert progress.LINE_BURST <= len(lines) <= progress.LINE_BURST + 5
    assert lines[0].startswith("epoch    1/1000  loss 1  ") and lines[-1].startswith("epoch 1000/1000  loss 0.001  ")
    assert all("lr" not in line for line in lines)


def test_a_run_stopped_early_logs_its_last_epoch_even_when_rate_limited():
    out = io.StringIO()
    display = ProgressDisplay("lines", total=10_000, stream=out)
    display._tokens = 0.0  # the burst is spent
    display.epoch_end(57, {"loss": 0.5})
    display.epoch_end(58, {"loss": 0.4}, last=True)
    assert out.getvalue().splitlines()[-1].startswith("epoch    58/10000  loss 0.4")


@pytest.mark.slow
def test_a_log_file_gets_one_line_per_epoch_as_it_goes(tmp_path):
    # Measured: piped to a file, nothing appeared until the end of the run.
    exp = ROOT / "experiments" / "linear_regression.toml"
    with open(tmp_path / "log.txt", "w") as log:
        done = subprocess.run([sys.executable, "-m", "framework", "run", str(exp), "--runs-dir",
                               str(tmp_path / "runs"), "--set", "trainer.epochs=5"],
                              stdout=subprocess.PIPE, stderr=log, text=True, cwd=tmp_path)
    assert done.returncode == 0
    lines = (tmp_path / "log.txt").read_text().splitlines()
    assert [line.split()[1] for line in lines] == ["1/5", "2/5", "3/5", "4/5", "5/5"]
    assert all(re.match(r"epoch \d/5  loss \S+  r2 \S+  \[\d\d:\d\d<\d\d:\d\d\]$", line) for line in lines), lines
    assert re.search(r"linear_regression: 5 epochs in \d+\.\d\d s, ", done.stdout)  # the duration


def test_quiet_silences_the_display(tmp_path):
    from framework.cli import main

    exp = ROOT / "experiments" / "linear_regression.toml"
    err = io.StringIO()
    old, sys.stderr = sys.stderr, err
    try:
        assert main(["run", str(exp), "--runs-dir", str(tmp_path), "--set", "trainer.epochs=2", "--quiet"]) == 0
    finally:
        sys.stderr = old
    assert err.getvalue() == ""


FAKE_JUPYTER = {
    "ipykernel/__init__.py": "",
    "ipykernel/zmqshell.py": "class ZMQInteractiveShell:\n    config = {'IPKernelApp': {}}\n",
    "IPython/__init__.py": ("import ipykernel.zmqshell\n_shell = ipykernel.zmqshell.ZMQInteractiveShell()\n"
                            "def get_ipython():\n    return _shell\n"),
}


def test_in_jupyter_without_widgets_text_lines_and_no_warning_on_import(tmp_path):
    # Measured: in Jupyter nothing appeared, and importing the Trainer printed
    # "TqdmWarning: IProgress not found".
    for name, text in FAKE_JUPYTER.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    script = textwrap.dedent("""
        import IPython  # the kernel imported it before the user's code
        import numpy as np
        from framework import Sequential, Trainer
        from plugins.layers import Linear
        from plugins.losses import MSELoss
        from plugins.optimizers import SGD
        X = np.random.default_rng(0).standard_normal((2, 64)); y = X[:1] + X[1:]
        model = Sequential([Linear(2, 1, seed=0)])
        Trainer(model, MSELoss(), SGD(model.parameters(), lr=0.1), epochs=3).fit(X, y)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    done = subprocess.run([sys.executable, "-W", "always", "-c", script], capture_output=True, text=True,
                          env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr and done.stderr == ""
    assert [line.split()[1] for line in done.stdout.splitlines()] == ["1/3", "2/3", "3/3"]


def test_the_form_of_the_display(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert choose_mode(False) == "off" and choose_mode("lines") == "lines"
    assert choose_mode(True, Terminal()) == "bar" and choose_mode(True, io.StringIO()) == "lines"
    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    monkeypatch.setattr(progress, "has_widgets", lambda: True)
    assert choose_mode(True, Terminal()) == "notebook"
    monkeypatch.setattr(progress, "has_widgets", lambda: False)
    assert choose_mode(True, Terminal()) == "lines"
    with pytest.raises(ValueError, match="progress must be True, False or one of auto, bar"):
        choose_mode("fancy")


def test_durations_read_naturally():
    assert [format_duration(s) for s in (0.4213, 12.34, 185, 3725)] == ["0.42 s", "12.3 s", "3 min 05 s",
                                                                        "1 h 02 min"]


def test_with_ipywidgets_the_notebook_bar_ends_on_the_last_epoch_and_its_metrics():
    pytest.importorskip("ipywidgets")
    display = ProgressDisplay("notebook", total=5)
    bar = display._bar
    for epoch in range(1, 6):
        display.epoch_end(epoch, {"loss": 0.5 / epoch, "val_loss": 0.6 / epoch, "lr": 0.1}, last=epoch == 5)
    display.close()
    text = bar.container.children[2].value.replace("\u2007", " ")
    assert text.startswith("epoch 5/5 [") and text.endswith("loss 0.1 val_loss 0.12")
    assert bar.container.children[1].bar_style == "success"
