"""The CLI's global behaviour: --version, --traceback anywhere, help for every argument, closed pipes."""

import argparse
import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

from framework.cli import _parser, main

ROOT = Path(__file__).resolve().parents[1]


def test_version(capsys):
    # Measured: `minidl --version` did not exist.
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"minidl {importlib.metadata.version('minidl')}\n"


@pytest.mark.parametrize("argv", [["--traceback", "validate", "missing.toml"],
                                  ["validate", "missing.toml", "--traceback"],
                                  ["validate", "--traceback", "missing.toml"]])
def test_traceback_is_accepted_anywhere(argv, capsys, tmp_path, monkeypatch):
    # Measured: --traceback only worked before the subcommand.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MINIDL_TRACEBACK", raising=False)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "missing.toml:\n  file not found" in err


def test_without_traceback_one_message(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MINIDL_TRACEBACK", raising=False)
    assert main(["validate", "missing.toml"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_every_argument_of_every_subcommand_has_help():
    parser = _parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = [f"minidl {a.dest}" for a in parser._actions if not a.help and not isinstance(a, argparse._SubParsersAction)]
    described = {choice.dest for choice in commands._choices_actions if choice.help}
    missing += [f"minidl {name} (the command itself)" for name in commands.choices if name not in described]
    for name, sub in commands.choices.items():
        missing += [f"minidl {name} {'/'.join(a.option_strings) or a.dest}" for a in sub._actions if not a.help]
    assert not missing, f"arguments without help text: {missing}"


def test_a_closed_pipe_ends_quietly_with_status_0():
    # Measured: `minidl plugins | head -2` printed a Broken pipe error and exited 1.
    proc = subprocess.Popen([sys.executable, "-m", "framework", "plugins"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before minidl writes anything
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 0, err
    assert err == ""


def test_head_of_the_plugins_listing(tmp_path):
    done = subprocess.run(f"set -o pipefail; '{sys.executable}' -m framework plugins | head -1",
                          shell=True, executable="/bin/bash", capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("plugins: minidl-") and done.stderr == ""
