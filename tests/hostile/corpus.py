"""Builders of hostile files: each writes one file that minidl must refuse.

The files are built, not stored, so that each one's construction is readable
here (and an 8 TiB header costs 200 bytes). Every builder takes the target
path and returns it.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def npy_header(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    buf = io.BytesIO()
    npy_format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def zip_members(path: Path, members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def random_bytes(path: Path) -> Path:
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return path


def header_declares_8_tib(path: Path, name: str = "X") -> Path:
    """An .npy member whose header declares (2**40,) float64 = 8 TiB, holding 16 bytes."""
    return zip_members(path, {f"{name}.npy": npy_header((2**40,)) + b"\0" * 16,
                              "y.npy": npy_bytes(np.zeros((4, 1)))})


def inflating_member(path: Path, inflated_mib: int = 256, name: str = "X") -> Path:
    """A deflated member of zeros: ``inflated_mib`` MiB once inflated, about 1/1000 of it on disk.

    Its header is consistent with its size, so only the compression ratio gives it away.
    """
    n = inflated_mib * 2**20 // 8
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open(f"{name}.npy", "w", force_zip64=True) as fh:
            fh.write(npy_header((n,)))
            chunk = bytes(2**20)
            for _ in range(inflated_mib):
                fh.write(chunk)
        zf.writestr("y.npy", npy_bytes(np.zeros(n)[:4]))
    return path


def object_array(path: Path) -> Path:
    """An array of Python objects: loading it needs pickle."""
    buf = io.BytesIO()
    np.save(buf, np.array([1, None], dtype=object), allow_pickle=True)
    return zip_members(path, {"X.npy": buf.getvalue(), "y.npy": npy_bytes(np.zeros(2))})


def checkpoint_with_meta(path: Path, source: Path, edit) -> Path:
    """A copy of checkpoint ``source`` whose metadata JSON is replaced by ``edit(meta)`` (a dict or raw str)."""
    with zipfile.ZipFile(source) as zf:
        members = {info.filename: zf.read(info) for info in zf.infolist()}
    meta = json.loads(np.load(io.BytesIO(members["meta.npy"])).tobytes().decode())
    new = edit(meta)
    text = new if isinstance(new, str) else json.dumps(new)
    members["meta.npy"] = npy_bytes(np.frombuffer(text.encode(), dtype=np.uint8))
    return zip_members(path, members)


def checksums(root: Path, skip: Path | None = None) -> dict[str, str]:
    """sha256 of every file under ``root`` (except under ``skip``), by relative path."""
    out = {}
    for p in sorted(root.rglob("*")):
        if skip is not None and (p == skip or skip in p.parents):
            continue
        if p.is_file() and not p.is_symlink():
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out
