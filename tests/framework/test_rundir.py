"""Run directories: unique atomic creation, the lock, file modes, atomic writes that say what is intact."""

import errno
import json
import os
import socket
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from framework.errors import MinidlError, RunLockedError
from framework.fileio import WriteError, atomic_write_bytes, file_mode
from framework.rundir import LOCK_NAME, RunLock, create_run_dir, create_unique_dir


def test_many_runs_in_one_second_get_distinct_directories(tmp_path):
    when = datetime(2026, 1, 2, 3, 4, 5)
    made: list[Path] = []
    errors = []

    def make():
        try:
            made.append(create_run_dir(tmp_path, "exp", when=when))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=make) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(made)) == 16 and all(p.is_dir() for p in made)
    assert sorted(p.name for p in made) == sorted(["exp-20260102-030405"] + [f"exp-20260102-030405-{n}"
                                                                            for n in range(2, 17)])


def test_unique_dir_never_reuses_an_existing_one(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "keep.txt").write_text("mine")
    assert create_unique_dir(tmp_path, "a") == tmp_path / "a-2"
    assert (tmp_path / "a" / "keep.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="plain directory name"):
        create_unique_dir(tmp_path, "../x")
    assert create_run_dir(tmp_path, "my exp/../x", when=datetime(2026, 1, 1)).name == "my-exp-..-x-20260101-000000"


def test_lock_names_the_holder_and_is_released(tmp_path):
    lock = RunLock(tmp_path).acquire()
    holder = json.loads((tmp_path / LOCK_NAME).read_text())
    assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
    with pytest.raises(RunLockedError, match=rf"in use by a live run \(pid {os.getpid()} on host ") as info:
        RunLock(tmp_path).acquire()
    assert isinstance(info.value, MinidlError) and isinstance(info.value, RuntimeError)
    lock.release()
    assert not (tmp_path / LOCK_NAME).exists()
    with RunLock(tmp_path) as again:
        assert again.held and again.stale is None


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    code = ("import os, sys; from framework.rundir import RunLock; RunLock(sys.argv[1]).acquire(); "
            "os.kill(os.getpid(), 9)")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == -9
    left = json.loads((tmp_path / LOCK_NAME).read_text())
    assert left["pid"] != os.getpid()
    with RunLock(tmp_path) as lock:
        assert lock.stale["pid"] == left["pid"]  # detected as stale, and taken over
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()


def test_a_lock_held_by_another_live_process_is_refused_with_its_pid(tmp_path):
    code = ("import sys, time; from framework.rundir import RunLock; RunLock(sys.argv[1]).acquire(); "
            "print('locked', flush=True); time.sleep(30)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=rf"pid {proc.pid} on host {socket.gethostname()}"):
            RunLock(tmp_path).acquire()
    finally:
        proc.kill()
        proc.communicate()


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_follow_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        assert file_mode() == mode
        path = atomic_write_bytes(tmp_path / "f.bin", b"x")
    finally:
        os.umask(old)
    assert (path.stat().st_mode & 0o777) == mode


def test_a_failed_write_names_file_operation_and_what_is_intact(tmp_path, monkeypatch):
    target = tmp_path / "summary.json"
    target.write_text("old")

    def full(fh):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(WriteError) as info:
        from framework.fileio import atomic_write
        atomic_write(target, full, what="summary")
    message = str(info.value)
    assert message == (f"cannot write {target} (writing): [Errno 28] No space left on device. "
                       f"summary.json is unchanged (the previous summary is intact)")
    assert isinstance(info.value, OSError) and info.value.errno == errno.ENOSPC
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["summary.json"]  # no temporary left
    with pytest.raises(WriteError, match="new.npz was not created; nothing else was changed"):
        atomic_write(tmp_path / "new.npz", lambda fh: np.savez(fh, a=np.zeros(2)) or full(fh))


def test_a_lock_file_with_garbage_is_stale_and_says_nothing_strange(tmp_path):
    (tmp_path / LOCK_NAME).write_text('{"pid": "1; rm -rf /", "host": ' + json.dumps("h" * 500) + ', "x": [1]}')
    with RunLock(tmp_path) as lock:
        assert lock.stale == {"host": "h" * 100}


def test_without_flock_a_live_pid_on_this_host_still_holds_the_lock(tmp_path, monkeypatch):
    import framework.rundir as rundir

    def no_flock(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(rundir.fcntl, "flock", no_flock)
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname()}))
    with pytest.raises(RunLockedError, match=rf"pid {os.getppid()} on host"):
        RunLock(tmp_path).acquire()
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": 2**22 + 12345, "host": socket.gethostname()}))
    with RunLock(tmp_path) as lock:  # a pid that is not running: stale
        assert lock.stale["pid"] == 2**22 + 12345
