"""Reading ``.npz`` files that may be hostile: data files, checkpoints, saved models.

``numpy.load`` trusts the archive: it allocates whatever an ``.npy`` header
declares, inflates a member in full, and answers random bytes with advice
to pass ``allow_pickle=True``. :class:`NpzReader` reads only what it is
asked for, and checks before it allocates:

* the file is a zip archive of ``.npy`` members (else "not an .npz file");
* a member's header is a plain ``.npy`` header (format 1.0 or 2.0) of a
  numeric, boolean or unicode dtype: never ``object`` (which needs pickle),
  never a structured dtype;
* header shape x itemsize equals the bytes the member really holds
  (a crafted header declaring 8 TiB is refused from the header alone);
* the sum of the arrays asked for fits in memory (:mod:`framework.memory`);
* a compressed member inflating beyond :data:`MAX_RATIO` times its
  compressed size (and beyond :data:`BOMB_FLOOR` bytes) is refused as a
  decompression bomb before it is inflated;
* the data is read straight into the final array, never more bytes than
  the header declares (zip's CRC check catches a member that lies).

Every refusal raises the caller's error class (``DataError`` for data,
``CheckpointError`` for checkpoints) naming the file and the member;
memory refusals raise :class:`~framework.errors.MemoryLimitError`.
"""

from __future__ import annotations

import math
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from framework.errors import DataError, MinidlError
from framework.memory import check_bytes, format_bytes

#: Compression ratio beyond which a large member is treated as a decompression bomb.
MAX_RATIO = 100
#: Members smaller than this (inflated) are never called bombs, whatever their ratio.
BOMB_FLOOR = 16 * 2**20
#: dtype kinds an array may have: bool, signed, unsigned, float, unicode text.
ALLOWED_KINDS = "biufU"
_MAX_HEADER = 10_000


@dataclass(frozen=True)
class MemberInfo:
    """What a member's ``.npy`` header declares, checked against the member's size."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    nbytes: int


class NpzReader:
    """A checked, read-only view of an ``.npz`` file. Use as a context manager.

    Example::

        with NpzReader("data.npz") as npz:
            arrays = npz.read(["X", "y"])
    """

    def __init__(self, path: str | os.PathLike, *, error: type[MinidlError] = DataError, what: str = ""):
        self.path = Path(path)
        self.error = error
        self.what = what or str(self.path)
        self._fh = None
        self._zip: zipfile.ZipFile | None = None
        try:
            fh = open(self.path, "rb")
        except FileNotFoundError:
            raise error(f"{self.what}: file does not exist") from None
        except IsADirectoryError:
            raise error(f"{self.what}: is a directory, not an .npz file") from None
        except OSError as exc:
            raise error(f"{self.what}: cannot open the file: {exc.strerror or exc}") from None
        self._fh = fh
        try:
            start = fh.read(6)
            if start == b"\x93NUMPY":
                raise self._fail("is an .npy file (one array), not an .npz file (an archive of named arrays)")
            if not start.startswith(b"PK"):
                raise self._fail("not an .npz file (it is not a zip archive)")
            fh.seek(0)
            try:
                self._zip = zipfile.ZipFile(fh)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError):
                raise self._fail("not an .npz file (a damaged or truncated zip archive)") from None
        except BaseException:
            fh.close()
            raise
        self._members = {info.filename[:-4]: info for info in self._zip.infolist()
                         if info.filename.endswith(".npy") and not info.is_dir()}

    def _fail(self, message: str) -> MinidlError:
        return self.error(f"{self.what}: {message}")

    # -- context manager ------------------------------------------------------
    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
        if self._fh is not None:
            self._fh.close()

    def __enter__(self) -> "NpzReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- queries --------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """Names of the arrays in the file (``.npy`` members without the suffix)."""
        return list(self._members)

    def __contains__(self, name: str) -> bool:
        return name in self._members

    def _zinfo(self, name: str) -> zipfile.ZipInfo:
        if name not in self._members:
            listed = ", ".join(list(self._members)[:20]) or "(none)"
            more = f" and {len(self._members) - 20} more" if len(self._members) > 20 else ""
            raise self._fail(f"no array named {name!r}; arrays: {listed}{more}")
        return self._members[name]

    def _read_header(self, fh, name: str) -> tuple[tuple[int, ...], np.dtype, bool]:
        try:
            version = npy_format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = npy_format.read_array_header_1_0(fh, max_header_size=_MAX_HEADER)
            elif version == (2, 0):
                shape, fortran, dtype = npy_format.read_array_header_2_0(fh, max_header_size=_MAX_HEADER)
            else:
                raise self._fail(f"array {name!r} has .npy format version {version[0]}.{version[1]}; "
                                 f"minidl reads 1.0 and 2.0")
        except MinidlError:
            raise
        except (ValueError, SyntaxError, TypeError, EOFError, OSError, zipfile.BadZipFile) as exc:
            raise self._fail(f"array {name!r} is not a valid .npy member (bad header: "
                             f"{str(exc)[:120]})") from None
        return tuple(int(d) for d in shape), np.dtype(dtype), bool(fortran)

    def info(self, name: str) -> MemberInfo:
        """The member's declared shape and dtype, checked against its real size (nothing allocated)."""
        zinfo = self._zinfo(name)
        with self._zip.open(zinfo) as fh:
            shape, dtype, fortran = self._read_header(fh, name)
            offset = fh.tell()
        if dtype.hasobject:
            raise self._fail(f"array {name!r} holds Python objects (dtype {dtype}); reading them would "
                             f"need pickle, which minidl never uses")
        if dtype.fields is not None or dtype.kind not in ALLOWED_KINDS or dtype.subdtype is not None:
            raise self._fail(f"array {name!r} has dtype {dtype}; minidl reads numbers, booleans and text")
        nbytes = math.prod(shape) * dtype.itemsize
        held = zinfo.file_size - offset
        if held != nbytes:
            raise self._fail(f"array {name!r}: its header declares shape {shape} {dtype.name} = "
                             f"{format_bytes(nbytes)} ({nbytes:,} bytes), but the member holds {held:,} "
                             f"bytes (truncated or crafted)")
        if zinfo.compress_type != zipfile.ZIP_STORED and zinfo.file_size > BOMB_FLOOR \
                and zinfo.file_size > MAX_RATIO * max(zinfo.compress_size, 1):
            raise self._fail(f"array {name!r} would inflate {format_bytes(zinfo.compress_size)} to "
                             f"{format_bytes(zinfo.file_size)} (more than {MAX_RATIO}:1); refused as a "
                             f"possible decompression bomb")
        return MemberInfo(name, shape, dtype, fortran, nbytes)

    def read(self, names: list[str] | tuple[str, ...]) -> dict[str, np.ndarray]:
        """Read exactly the arrays ``names`` (all checked, and priced together, before any is read)."""
        infos = [self.info(n) for n in names]
        total = sum(i.nbytes for i in infos)
        check_bytes(total, f"{self.what}: reading {len(infos)} array(s)")
        return {i.name: self._read_one(i) for i in infos}

    def _read_one(self, info: MemberInfo) -> np.ndarray:
        zinfo = self._members[info.name]
        shape = info.shape[::-1] if info.fortran_order else info.shape
        base = np.empty(shape, dtype=info.dtype)
        view = memoryview(base.reshape(-1).view(np.uint8)) if info.nbytes else memoryview(b"")
        try:
            with self._zip.open(zinfo) as fh:
                self._read_header(fh, info.name)
                got = 0
                while got < info.nbytes:
                    n = fh.readinto(view[got:])
                    if not n:
                        break
                    got += n
                extra = fh.read(1)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise self._fail(f"array {info.name!r} is damaged ({str(exc)[:120]})") from None
        if got != info.nbytes or extra:
            raise self._fail(f"array {info.name!r} does not hold the {info.nbytes:,} bytes its header declares")
        arr = base.T if info.fortran_order else base
        if not arr.dtype.isnative:
            arr = arr.astype(arr.dtype.newbyteorder("="))
        return arr


def read_npz(path: str | os.PathLike, names: list[str] | tuple[str, ...], *,
             error: type[MinidlError] = DataError, what: str = "") -> dict[str, np.ndarray]:
    """Read the arrays ``names`` of an ``.npz`` file, checked (see :class:`NpzReader`)."""
    with NpzReader(path, error=error, what=what) as npz:
        return npz.read(names)
