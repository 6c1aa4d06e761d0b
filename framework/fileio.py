"""Writing files so that a crash or a full disk never leaves half a file.

:func:`atomic_write` writes to a temporary file in the target's directory
(named ``.<target name>.<random>.tmp``), flushes and fsyncs it, and renames
it over the target, so a reader sees the old file or the new one, never a
mix. Files get the permissions the umask allows (0644 under umask 022),
as ``open()`` would give them; the temporary file is never left behind by
an error this process sees (a SIGKILL can leave one: the code that owns a
directory removes its own stale temporaries, see
:func:`framework.checkpoint.remove_stale_temps`).

Any ``OSError`` becomes a :class:`WriteError` naming the file, the
operation and what on disk is still intact.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from pathlib import Path
from typing import IO, Callable

from framework.errors import MinidlError

_umask_lock = threading.Lock()


class WriteError(MinidlError, OSError):
    """Writing a file failed; the message names the file, the operation and what is intact.

    Attributes: ``path`` (the file), ``operation`` (what was being done),
    ``intact`` (a sentence on what on disk is unharmed), plus ``errno`` and
    ``strerror`` of the original error.
    """

    def __init__(self, path, operation: str, cause: OSError, intact: str):
        super().__init__(cause.errno, cause.strerror or str(cause))
        self.path, self.operation, self.intact, self.cause = Path(path), operation, intact, cause
        self.filename = str(path)

    def __str__(self) -> str:
        reason = self.strerror or str(self.cause)
        code = f"[Errno {self.errno}] " if self.errno is not None else ""
        return f"cannot write {self.path} ({self.operation}): {code}{reason}. {self.intact}"


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _umask_lock:  # elsewhere: set and restore at once
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode ``open(path, "w")`` would give a new file: 0o666 without the umask's bits."""
    return 0o666 & ~current_umask()


def temp_name_pattern(target_name: str) -> re.Pattern:
    """The names :func:`atomic_write` gives the temporary files of ``target_name`` (a regex
    over file names; ``target_name`` itself may be a regex fragment)."""
    return re.compile(rf"\.{target_name}\.[A-Za-z0-9_]{{8}}\.tmp")


def _fsync_dir(directory: Path) -> None:
    try:  # make the rename itself durable
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None], *, what: str = "file") -> Path:
    """Write ``path`` atomically: ``write(fh)`` fills a binary temporary file, which then replaces it.

    Raises :class:`WriteError` on any ``OSError`` (a full disk, a missing
    permission), after removing the temporary file; ``path`` is then as it
    was before the call.
    """
    path = Path(path)
    existed = path.exists()
    intact = (f"{path.name} is unchanged (the previous {what} is intact)" if existed
              else f"{path.name} was not created; nothing else was changed")
    operation = "creating the directory"
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        operation = "creating a temporary file"
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), file_mode())  # mkstemp makes 0600; follow the umask like open() does
            operation = "writing"
            write(fh)
            operation = "flushing to disk"
            fh.flush()
            os.fsync(fh.fileno())
        operation = "renaming the temporary file over it"
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        if isinstance(exc, WriteError):
            raise
        raise WriteError(path, operation, exc, intact) from exc
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    _fsync_dir(path.parent)
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, what: str = "file") -> Path:
    return atomic_write(path, lambda fh: fh.write(data), what=what)
