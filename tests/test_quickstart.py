"""docs/quickstart.md's shell session runs as written and prints what it shows.

Each ```bash block marked ``<!-- run: shell -->`` runs, in order, in one
bash process in a fresh directory (so ``$RUN`` set by one block is seen by
the next), with ``.venv/bin/minidl`` and ``.venv/bin/python`` standing for
this environment's. The ```text block after it must equal what it prints;
``...`` matches any text (timings, the run directory's time stamp, digits a
reader need not check).
"""

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARK = "@@@ minidl quickstart block end @@@"


def shell_blocks(text):
    return re.findall(r"<!-- run: shell -->\n```bash\n(.*?)```\n\n```text\n(.*?)```", text, re.S)


def matches(expected: str, actual: str) -> bool:
    pattern = ".*?".join(re.escape(part) for part in expected.strip().split("..."))
    return re.fullmatch(pattern, actual.strip(), re.S) is not None


@pytest.mark.slow
def test_the_quickstart_session_runs_and_prints_what_it_shows(tmp_path):
    pytest.importorskip("matplotlib")
    blocks = shell_blocks((ROOT / "docs" / "quickstart.md").read_text())
    assert len(blocks) >= 5, "the quickstart's tested shell session is missing"
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "minidl").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m framework "$@"\n')
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    for tool in bin_dir.iterdir():
        tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    (tmp_path / "experiments").symlink_to(ROOT / "experiments")
    script = "set -e\n" + "".join(f"{code}echo '{MARK}'\n" for code, _ in blocks)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    outputs = done.stdout.split(MARK + "\n")
    for (code, expected), actual in zip(blocks, outputs):
        assert matches(expected, actual), f"\n$ {code}\nshows:\n{expected}\nprints:\n{actual}"
    # the training display went to the log, one line per epoch
    log = (tmp_path / "train.log").read_text().splitlines()
    assert [line.split()[1] for line in log] == [f"{e}/60" for e in range(1, 61)]
    assert (tmp_path / "moons.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
