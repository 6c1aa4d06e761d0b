"""Run directories: created atomically with a unique name, locked while a run uses them.

A run directory (see docs/checkpoints.md) holds one run::

    experiment.toml   the spec the run was created with (never rewritten); experiment.json
                      instead when the spec holds a None, which TOML cannot hold
    checkpoints/      where the checkpoint callback writes (for --resume)
    metrics.csv       one row per epoch
    summary.json      final record: the returned model's metrics, targets, early stopping
    model.npz         the weights of the model the run returns
    .lock             while a process uses the directory: its pid and host

:func:`create_unique_dir` (and :func:`create_run_dir` over it) make a new
directory with an exclusive ``mkdir``: two processes asking for a directory
in the same second get two different names, never one shared. Sweeps make
their sweep and trial directories with the same functions.

:class:`RunLock` is the lock: an exclusive ``flock`` on ``RUN/.lock``, whose
content names the holder (``pid``, ``host``, start time). A second process
is refused with the holder's pid; the OS releases the lock of a process
that dies (even by SIGKILL), so a lock file left behind is detected as
stale and taken over.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from datetime import datetime
from pathlib import Path

from framework.errors import InvalidValueError, RunLockedError
from framework.fileio import WriteError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: fall back on pid liveness
    fcntl = None

LOCK_NAME = ".lock"
MAX_SUFFIX = 100_000
#: The run's stored spec: TOML, or JSON when the spec holds a None (null), which TOML cannot hold.
SPEC_NAMES = ("experiment.toml", "experiment.json")


def spec_path(run_dir: str | os.PathLike) -> Path | None:
    """The stored spec of the run in ``run_dir`` (see :data:`SPEC_NAMES`), or None when it has none."""
    for name in SPEC_NAMES:
        path = Path(run_dir) / name
        if path.is_file():
            return path
    return None


def safe_name(name: str) -> str:
    """``name`` reduced to characters safe in a file name (``experiment`` when nothing is left)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "experiment"


def create_unique_dir(parent: str | os.PathLike, stem: str) -> Path:
    """Create and return ``parent/stem``, or ``parent/stem-2``, ``-3``, ... : the first name
    that did not exist, made with an exclusive ``mkdir`` so no other process can get it too.

    ``parent`` is created when missing. ``stem`` must be a plain name (no
    separators); use :func:`safe_name` on user text.
    """
    if not stem or stem != Path(stem).name or stem in (".", ".."):
        raise InvalidValueError(f"create_unique_dir: `stem` must be a plain directory name. Received: {stem!r}")
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, MAX_SUFFIX):
        path = parent / (stem if n == 1 else f"{stem}-{n}")
        try:
            os.mkdir(path)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"{parent}: {MAX_SUFFIX} directories named {stem}-N exist already")


def create_run_dir(runs_dir: str | os.PathLike, name: str, *, when: datetime | None = None) -> Path:
    """A new, empty run directory ``runs_dir/<name>-<YYYYmmdd-HHMMSS>[-N]`` (see :func:`create_unique_dir`)."""
    stamp = (when or datetime.now()).strftime("%Y%m%d-%H%M%S")
    return create_unique_dir(runs_dir, f"{safe_name(name)}-{stamp}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """An exclusive lock on a run directory, held by this process until :meth:`release`.

    Use as a context manager, or call :meth:`acquire` and :meth:`release`.
    ``acquire`` raises :class:`RunLockedError` naming the pid and host of a
    live holder; when the previous holder died without releasing, its lock
    is taken over and :attr:`stale` holds what its lock file said
    (``{"pid": ..., "host": ..., "started": ...}``).
    """

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self.stale: dict | None = None
        self._fd: int | None = None

    @staticmethod
    def _describe(holder: dict) -> str:
        return (f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}"
                + (f", since {holder['started']}" if holder.get("started") else ""))

    @staticmethod
    def read(path: str | os.PathLike) -> dict:
        """What a lock file says about its holder ({} when empty or unreadable)."""
        try:
            with open(path, "rb") as fh:
                data = json.loads(fh.read(4096).decode("utf-8") or "{}")
        except (OSError, ValueError, RecursionError):
            return {}
        if not isinstance(data, dict):
            return {}
        # A shared run directory is untrusted: keep only what a lock file holds, short.
        out = {}
        if isinstance(data.get("pid"), int) and not isinstance(data.get("pid"), bool) and data["pid"] > 0:
            out["pid"] = data["pid"]
        for key in ("host", "started"):
            if isinstance(data.get(key), str):
                out[key] = data[key][:100]
        return out

    def acquire(self) -> "RunLock":
        if self._fd is not None:
            return self
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                use_flock = fcntl is not None
                if use_flock:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        holder = self.read(self.path)
                        raise RunLockedError(
                            f"{self.run_dir} is in use by a live run ({self._describe(holder)}); "
                            f"wait for it to finish, or stop that process first") from None
                    except OSError:  # a file system without flock (some network mounts): pid liveness
                        use_flock = False
                if use_flock:
                    # The holder we waited on may have removed the file after we opened it:
                    # then our lock is on a deleted file, and we start over.
                    try:
                        same = os.path.samestat(os.fstat(fd), os.stat(self.path))
                    except FileNotFoundError:
                        same = False
                    if not same:
                        os.close(fd)
                        continue
                previous = self.read(self.path)
                if not use_flock and previous.get("pid") and previous.get("host") == socket.gethostname() \
                        and previous["pid"] != os.getpid() and _pid_alive(int(previous["pid"])):
                    raise RunLockedError(f"{self.run_dir} is in use by a live run ({self._describe(previous)}); "
                                         f"wait for it to finish, or stop that process first")
                self.stale = previous or None
                me = {"pid": os.getpid(), "host": socket.gethostname(),
                      "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
                try:
                    os.ftruncate(fd, 0)
                    os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
                    os.fsync(fd)
                except OSError as exc:
                    raise WriteError(self.path, "writing the lock file", exc,
                                     "nothing else in the run directory was changed") from exc
            except BaseException:
                os.close(fd)
                raise
            self._fd = fd
            return self

    def release(self) -> None:
        """Remove the lock file and let go of the lock (idempotent)."""
        if self._fd is None:
            return
        try:
            os.unlink(self.path)  # while still locked, so nobody can take a lock on a file about to vanish
        except FileNotFoundError:
            pass
        finally:
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"RunLock({str(self.run_dir)!r}, held={self.held})"
