"""Memory bounds: refuse an allocation before it happens, not after the machine swaps.

Whatever minidl allocates from untrusted sizes (a layer's width, a dataset's
``n_samples``, the arrays of a file) is first priced with :func:`check_bytes`:
the bytes asked are compared with what the machine has available now
(``MemAvailable`` of ``/proc/meminfo``, else ``os.sysconf``), and with an
optional cap, the environment variable ``MINIDL_MAX_MEMORY`` ("512MB",
"2GiB", "1e9" bytes). Beyond either, :class:`MemoryLimitError` names what
asked, the size asked and the size available.
"""

from __future__ import annotations

import math
import os
import re

import numpy as np

from framework.errors import InvalidValueError, MemoryLimitError

ENV_CAP = "MINIDL_MAX_MEMORY"
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_size(text: str) -> int:
    """``"512MB"`` -> 512000000; ``"2GiB"`` -> 2147483648; a bare number is bytes."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?(?:e[0-9]+)?)\s*([a-z]*)\s*", str(text).lower())
    if not match or match.group(2) not in _UNITS:
        raise InvalidValueError(f"{ENV_CAP}: cannot read {text!r} as a size; use e.g. 512MB, 2GiB or a number of bytes")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def format_bytes(n: int | float) -> str:
    """A short human size: 8.0 TiB, 256.0 MiB, 912 B."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{int(n)} B" if unit == "B" else (f"{n:.1f} {unit}" if n < 1e6 else f"{n:.3g} {unit}")
        n /= 1024
    return f"{n:.3g} PiB"  # pragma: no cover


def available_bytes() -> int:
    """Bytes the machine can give now without swapping (a best estimate)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):  # pragma: no cover - exotic platforms
        return 1 << 62


def limit_bytes() -> tuple[int, str]:
    """(bytes allowed now, where the limit comes from)."""
    available = available_bytes()
    cap = os.environ.get(ENV_CAP, "").strip()
    if cap:
        try:
            capped = parse_size(cap)
        except ValueError as exc:
            raise MemoryLimitError(str(exc)) from None
        if capped < available:
            return capped, f"{ENV_CAP}={cap}"
    return available, "available memory"


def nbytes_of(shape, dtype) -> int:
    """Bytes of an array of ``shape`` and ``dtype``, in exact integers (no overflow)."""
    return math.prod(int(d) for d in shape) * np.dtype(dtype).itemsize


def check_bytes(nbytes: int, what: str) -> None:
    """Refuse (:class:`MemoryLimitError`) when ``nbytes`` exceed what may be allocated.

    ``what`` says who asks, e.g. ``"model.layers[0]: Linear W (1000000000000, 2) float64"``.
    """
    allowed, source = limit_bytes()
    if nbytes > allowed:
        raise MemoryLimitError(f"{what} needs {format_bytes(nbytes)} ({nbytes:,} bytes), more than the "
                               f"{format_bytes(allowed)} allowed ({source}); refused before allocating")


def check_array(shape, dtype, what: str) -> None:
    """:func:`check_bytes` for an array about to be allocated."""
    check_bytes(nbytes_of(shape, dtype), f"{what} {tuple(int(d) for d in shape)} {np.dtype(dtype).name}")
