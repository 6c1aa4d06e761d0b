"""Datasets in the (features, m) convention, with checks, splits and standardisation."""

from __future__ import annotations

import csv
import io
import math
import os
import re
import sys
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from framework.errors import DataError, MemoryLimitError


def check_arrays(X: Any, y: Any, source: str = "data") -> tuple[np.ndarray, np.ndarray]:
    """Validate X (features, m) and y (outputs, m); return them as float arrays.

    Raises :class:`DataError` for anything that would fail later with a
    numpy traceback or a silent NaN: wrong rank, example counts that
    disagree, an empty dataset, non-numeric or non-finite values (the first
    offending position is named, in the (row, example) convention).
    """
    arrays = []
    for name, arr in (("X", X), ("y", y)):
        try:
            arr = np.asarray(arr)
        except Exception as exc:
            raise DataError(f"{source}: {name} cannot be read as an array: {exc}") from exc
        if arr.dtype.kind not in "fiub":
            raise DataError(f"{source}: {name} must be numeric. Received: dtype {arr.dtype}")
        if arr.ndim == 1 and name == "y":
            arr = arr.reshape(1, -1)
        if arr.ndim != 2:
            raise DataError(f"{source}: {name} must be 2-D, ({'features' if name == 'X' else 'outputs'}, m) "
                            f"with examples as columns. Received: shape {arr.shape}")
        if arr.dtype.kind != "f":
            arr = arr.astype(np.float64)
        arrays.append(arr)
    X, y = arrays
    if X.shape[1] != y.shape[1]:
        hint = ""
        if X.shape[0] == y.shape[1] or X.shape[1] == y.shape[0]:
            hint = " (examples are columns: transpose row-major data)"
        raise DataError(f"{source}: X and y disagree on the number of examples (columns): "
                        f"X has shape {X.shape}, y has shape {y.shape}{hint}")
    if X.shape[1] == 0 or X.shape[0] == 0:
        raise DataError(f"{source}: the dataset is empty (X has shape {X.shape})")
    for name, arr in (("X", X), ("y", y)):
        bad = ~np.isfinite(arr)
        if bad.any():
            row, col = (int(i) for i in np.argwhere(bad)[0])
            raise DataError(f"{source}: {name} has {int(bad.sum())} NaN or infinite value(s); the "
                            f"first is {name}[{row}, {col}] = {arr[row, col]} (row {row}, example {col})")
    return X, y


@dataclass
class Dataset:
    """Examples as columns: X (features, m), y (outputs, m).

    Attributes:
        X, y: the arrays (float).
        name: where the data came from, used in messages.
        feature_names, target_names: optional labels of X's and y's rows.
        classes: for classification, the name of each class: y is then one
            row of class indices 0..len(classes)-1 (as floats), and
            ``classes[int(y[0, j])]`` is example j's label.
        info: anything the source wants to report (e.g. the true weights of
            a synthetic task).
    """

    X: np.ndarray
    y: np.ndarray
    name: str = "data"
    feature_names: list[str] | None = None
    target_names: list[str] | None = None
    classes: list[str] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.X, self.y = check_arrays(self.X, self.y, self.name)
        if self.classes is not None:
            self.classes = [str(c) for c in self.classes]
            n = len(self.classes)
            if self.y.shape[0] != 1 or not np.all((self.y >= 0) & (self.y < n) & (self.y == np.round(self.y))):
                raise DataError(f"{self.name}: with {n} classes, y must be one row of class indices "
                                f"0..{n - 1}. Received: y of shape {self.y.shape} with values "
                                f"{np.unique(self.y)[:10].tolist()}")

    @property
    def n_features(self) -> int:
        return self.X.shape[0]

    @property
    def n_outputs(self) -> int:
        return self.y.shape[0]

    @property
    def n_examples(self) -> int:
        return self.X.shape[1]

    def astype(self, dtype) -> "Dataset":
        return replace(self, X=self.X.astype(dtype), y=self.y.astype(dtype))

    def split(self, validation_fraction: float, seed: int | None = 0) -> tuple["Dataset", "Dataset | None"]:
        """A seeded random split into (train, validation); fraction 0 gives (self, None)."""
        if not 0.0 <= validation_fraction < 1.0:
            raise DataError(f"{self.name}: validation_split must be in [0, 1). Received: {validation_fraction!r}")
        if validation_fraction == 0.0:
            return self, None
        m = self.n_examples
        n_val = int(round(m * validation_fraction))
        if n_val == 0 or n_val == m:
            raise DataError(f"{self.name}: validation_split={validation_fraction} of {m} examples leaves "
                            f"{m - n_val} for training and {n_val} for validation; both need at least one")
        perm = np.random.default_rng(seed).permutation(m)
        val, train = perm[:n_val], perm[n_val:]
        return (replace(self, X=self.X[:, train], y=self.y[:, train], name=f"{self.name} (train)"),
                replace(self, X=self.X[:, val], y=self.y[:, val], name=f"{self.name} (validation)"))


@dataclass
class Standardizer:
    """Per-feature standardisation, x' = (x - mean) / std, fitted on training data.

    Shape: mean and std are (features, 1). A constant feature keeps std 1.
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> "Standardizer":
        mean = X.mean(axis=1, keepdims=True)
        std = X.std(axis=1, keepdims=True)
        std[std == 0] = 1.0
        return cls(mean, std)

    def transform(self, X: np.ndarray) -> np.ndarray:
        return (X - self.mean) / self.std

    def state_dict(self) -> dict[str, list[float]]:
        return {"mean": self.mean.ravel().tolist(), "std": self.std.ravel().tolist()}


# ----------------------------------------------------------------------------
# CSV files: numpy speed on the happy path, a precise scan on any problem
# ----------------------------------------------------------------------------
def excerpt(text: str, limit: int = 20) -> str:
    """A short quoted excerpt of a data file's content (errors never print more)."""
    text = text.strip()
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _after_lines(data: bytes, lines: int) -> int | None:
    """Where ``data`` goes on after its byte-order mark and ``lines`` lines (``None``: it has fewer)."""
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    for _ in range(lines):
        start = data.find(b"\n", start) + 1
        if start == 0:
            return None
    return start


_LONE_CR = re.compile(rb"\r(?!\n)")


def lone_cr_as_lf(data: bytes) -> bytes:
    """``data`` with each "\\r" not followed by "\\n" made a "\\n" (old Mac line ends), its length kept.

    A lone "\\r" ends a line for Python's universal newlines and for
    ``numpy.loadtxt`` (which opens the file in text mode); "\\r\\n" stays, as
    every reader here handles it. The length is kept so that offsets in the
    first MiB of a file and in the whole file agree (a "\\r" that ends the
    first MiB, its "\\n" next, ends the same line in both).
    """
    if b"\r" not in data or data.count(b"\r") == data.count(b"\r\n"):
        return data
    if b"\r\n" not in data:
        return data.replace(b"\r", b"\n")
    return _LONE_CR.sub(b"\n", data)  # both kinds in one file: rare, and slower


def no_nul(data: bytes, source: Any) -> bytes:
    """``data``, or a :class:`DataError` naming the line and column of its first NUL byte.

    A NUL is never text: it is what a UTF-16 file (every ASCII character
    followed by one) or a binary file holds. The csv module would read it
    as a character of a cell (Python 3.11+) or refuse the line with its own
    error (3.10).
    """
    at = data.find(b"\0")
    if at < 0:
        return data
    before = data[:at]  # lines end with "\n", "\r\n" or a lone "\r"
    line = before.count(b"\n") + before.count(b"\r") - before.count(b"\r\n") + 1
    prefix = data[max(before.rfind(b"\n"), before.rfind(b"\r")) + 1:at]
    if line == 1 and prefix.startswith(b"\xef\xbb\xbf"):
        prefix = prefix[3:]
    column = len(prefix.decode("utf-8", "replace")) + 1
    raise DataError(f"{source}, line {line}, character {column}: byte 0x00 (NUL) is not text (a UTF-16 or binary "
                    f"file?); save the file as UTF-8")


def csv_text(data: bytes, source: Any) -> str:
    """A CSV file's bytes as text: the BOM dropped, every line ending with "\\n" (from "\\r\\n" or a
    lone "\\r" too); undecodable bytes are a :class:`DataError` with their line and column."""
    from framework.config_files import undecodable_message

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{source}, {undecodable_message(data, exc, 'character')}") from None
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        text = text.replace("\r", "\n") if "\r" in text else text
    return text


def csv_rows(text: str, source: Any, delimiter: str = ",", skip: int = 0):
    """``(line, row)`` for each row of ``text`` (see :func:`csv_text`) with a non-blank cell, after its
    first ``skip`` lines; ``line`` is where the row begins (a quoted cell may hold line breaks).

    The csv module reads strictly: an unclosed quote, text after a closing
    quote or a field longer than ``csv.field_size_limit()`` is a
    :class:`DataError` naming the line and column, not a silent misreading
    (a quote never closed would make the rest of the file one cell).
    """
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, strict=True)
    start = 1
    try:
        for row in reader:
            if start > skip and row and (row[0].strip() or any(c.strip() for c in row)):  # most rows: no generator
                yield start, row
            start = reader.line_num + 1
    except csv.Error as exc:
        offset = 0
        for _ in range(start - 1):
            offset = text.index("\n", offset) + 1
        raise csv_error(source, text, offset, start, delimiter, exc) from None


def csv_error(source: Any, text: str, pos: int, line: int, delimiter: str, exc: csv.Error,
              one_line: bool = False) -> DataError:
    """The :class:`DataError` for ``exc``, raised by a strict ``csv.reader`` in the row that begins at
    ``text[pos]``, on line ``line``: where it is (line, column) and what would be valid.
    ``one_line``: ``text`` is one line read alone (the header), not the whole file."""
    fault = _csv_fault(text, pos, line, delimiter)
    if fault is None:  # pragma: no cover - _csv_fault follows the csv module's rules
        return DataError(f"{source}, line {line}: not valid CSV ({exc})")
    line, column, kind, detail = fault
    quote_inside = 'write a quote inside a quoted field as ""'
    if kind == "unclosed" and one_line:
        what = (f"the quote opening this field is not closed on its line (the header, or a first row of data, "
                f"is one line); add the closing quote, or {quote_inside}")
    elif kind == "unclosed":
        what = (f"the quote opening this field is never closed (the rest of the file would be one field); "
                f"add the closing quote, or {quote_inside}")
    elif kind == "after":
        what = (f"{detail!r} after the closing quote of a field; a quoted field ends at the delimiter "
                f"{delimiter!r} or the end of the line ({quote_inside})")
    else:
        what = (f"a field longer than {csv.field_size_limit():,} characters; cells of a data file are numbers or "
                f"short labels" + (" (is its quote closed where it should be?)" if detail else ""))
    return DataError(f"{source}, line {line}, character {column}: {what}")


def _csv_fault(text: str, pos: int, line: int, delimiter: str) -> tuple[int, int, str, Any] | None:
    """Walk the row at ``text[pos:]`` by the strict csv module's rules; its first fault, or ``None``.

    Returns ``(line, column, kind, detail)``: ``"unclosed"`` (at the
    opening quote), ``"after"`` (at the character after a closing quote,
    ``detail``), or ``"long"`` (at a field longer than the csv module's
    limit; ``detail``: whether it is quoted).
    """
    limit = csv.field_size_limit()
    line_start = text.rfind("\n", 0, pos) + 1
    ends = re.compile(f"[{re.escape(delimiter)}\n]")
    while True:
        field_line, field_column = line, pos - line_start + 1
        if text.startswith('"', pos):
            pos, length = pos + 1, 0
            while True:
                close = text.find('"', pos)
                if close < 0:
                    return field_line, field_column, "unclosed", None
                length += close - pos
                if length > limit:
                    return field_line, field_column, "long", True
                newlines = text.count("\n", pos, close)
                if newlines:
                    line += newlines
                    line_start = text.rfind("\n", pos, close) + 1
                if not text.startswith('"', close + 1):
                    pos = close + 1
                    break
                pos, length = close + 2, length + 1  # "" is one quote
            if pos >= len(text) or text[pos] == "\n":
                return None
            if text[pos] != delimiter:
                return line, pos - line_start + 1, "after", text[pos]
            pos += 1
        else:
            end = ends.search(text, pos)
            end = len(text) if end is None else end.start()
            if end - pos > limit:
                return field_line, field_column, "long", False
            if end >= len(text) or text[end] == "\n":
                return None
            pos = end + 1


class CsvText:
    """A CSV file, its header decided, ready to give numeric and text columns.

    Args:
        path: the file (UTF-8; a leading BOM is dropped). Lines end with
            "\\n", "\\r\\n" or a lone "\\r" (old Mac), in any mix.
        header: ``True`` (the first row names the columns), ``False`` (it is
            data), or ``"auto"``: a first row of numbers only is data,
            anything else is a header. A row is never dropped silently.
        delimiter: the field separator.

    Numeric columns are parsed from the file's bytes by
    :func:`framework.numeric_csv.parse_numbers` (vectorised, bit for bit what
    ``float()`` reads) when every cell is a plain decimal number, else by
    ``numpy.loadtxt``; on any problem a row-by-row scan finds the first bad
    cell and reports the file, line and column, quoting at most a short
    excerpt. The scan reads the file as a strict ``csv.reader`` does (see
    :func:`csv_rows`), and a NUL byte anywhere is refused (:func:`no_nul`).
    """

    def __init__(self, path: str | os.PathLike, *, header: bool | str = "auto", delimiter: str = ","):
        from framework.memory import check_bytes

        self.path = Path(path)
        self.delimiter = delimiter
        if len(delimiter) != 1 or delimiter in "\"\r\n":
            raise DataError(f"{self.path}: delimiter must be one character (not a quote or newline). "
                            f"Received: {delimiter!r}")
        size = self.path.stat().st_size
        check_bytes(2 * size, f"{self.path}: reading a {size:,}-byte CSV file")
        with open(self.path, "rb") as fh:  # the header needs only the start of the file
            head = fh.read(1 << 20)
        self._whole = len(head) == size
        # Old Mac line ends: each lone "\r" is made "\n" in the bytes read. The first MiB decides for the
        # rest, so that a big file of "\n" or "\r\n" lines is not searched again; a lone "\r" only further
        # on (both kinds in one file) sends the fast path to numpy.loadtxt and the row scan, which take it
        # for a line end as well.
        self._lone_cr = b"\n" not in head or head.count(b"\r") != head.count(b"\r\n")
        self._head = no_nul(lone_cr_as_lf(head), self.path)
        self._raw_bytes: bytes | None = self._head if self._whole else None
        self._text: str | None = None
        self._agree: bool | None = None  # every row as wide as the first: known after a pass over them
        first, first_line = self._row_after(0)
        if first is None:
            raise DataError(f"{self.path}: the file is empty")
        self.width = len(first)
        if header == "auto":
            header = not all(is_number(c) for c in first)
        self.has_header = bool(header)
        if self.has_header:
            self.names = [c.strip() for c in first]
            unnamed = [i for i, n in enumerate(self.names) if not n]
            if unnamed:
                i = unnamed[0]
                why = (" (a delimiter at the end of the header line?)" if i == self.width - 1 else
                       " (pandas writes its row index this way: save with index=False, or name the column)"
                       if i == 0 else "")
                raise DataError(f"{self.path}: column {i + 1} of {self.width} has no name in the header{why}; "
                                f"name every column, or set header = false and choose columns by index")
            dupes = sorted({n for n in self.names if self.names.count(n) > 1})
            if dupes:
                raise DataError(f"{self.path}: the header names column(s) "
                                f"{', '.join(excerpt(d) for d in dupes[:5])} more than once; names must be unique")
            self.skiprows = first_line  # every line up to the header
            self.first_data, _ = self._row_after(first_line, strict=False)
            if self.first_data is None:
                raise DataError(f"{self.path}: no data rows (only a header)")
        else:
            self.names = [str(i) for i in range(self.width)]
            self.skiprows = first_line - 1
            self.first_data = first
        # An upper bound for pricing memory, without reading the file: a row of `width`
        # numbers takes at least 2 * width bytes (a digit and a separator each).
        self.rows = size // (2 * self.width) + 1

    def _row_after(self, skip: int, strict: bool = True) -> tuple[list[str] | None, int]:
        """The first non-blank row after ``skip`` lines, and its line number (decoding only that line).

        ``strict``: the row must be whole on its line (the header, or the
        first row of a file without one); ``False`` only peeks at a row of
        data, which the csv module reads again with the rest of the file.
        """
        from framework.config_files import undecodable_message

        raw, pos, line = self._head, 0, 0
        if raw.startswith(b"\xef\xbb\xbf"):
            pos = 3
        while pos < len(raw):
            end = raw.find(b"\n", pos)
            if end < 0 and raw is not self._raw:  # a line longer than the head: read it all
                raw = self._raw
                end = raw.find(b"\n", pos)
            end = len(raw) if end < 0 else end
            line += 1
            if line > skip and raw[pos:end].strip():
                try:
                    text = raw[pos:end].decode("utf-8").rstrip("\r")
                except UnicodeDecodeError:
                    try:
                        raw.decode("utf-8-sig")
                    except UnicodeDecodeError as exc:
                        raise DataError(f"{self.path}, {undecodable_message(raw, exc, 'character')}") from None
                    raise  # pragma: no cover - a line that fails alone fails in the whole
                try:
                    return next(csv.reader([text], delimiter=self.delimiter, strict=strict)), line
                except csv.Error as exc:
                    raise csv_error(self.path, text, 0, line, self.delimiter, exc, one_line=True) from None
            pos = end + 1
        return None, line

    @property
    def _raw(self) -> bytes:
        """The whole file's bytes (read on first use: the fast path never needs them)."""
        if self._raw_bytes is None:
            data = self.path.read_bytes()
            self._raw_bytes = no_nul(lone_cr_as_lf(data) if self._lone_cr else data, self.path)
        return self._raw_bytes

    @property
    def text(self) -> str:
        """The whole file as text (decoded on first use; undecodable bytes: file, line, column)."""
        if self._text is None:
            self._text = csv_text(self._raw, self.path)
        return self._text

    # ------------------------------------------------------------------
    def numbers(self, columns: list[int], hint: dict[int, str] | None = None) -> np.ndarray:
        """The columns ``columns`` as floats, (m, len(columns)); finite, or a precise :class:`DataError`.

        ``hint``: a sentence per column added to a "cannot read ... as a number" error.
        """
        from framework.memory import check_array

        what = f"{self.path}: {len(columns)} numeric column(s)"
        try:
            check_array((self.rows, len(columns)), np.float64, what)
        except MemoryLimitError:  # the quick bound is loose: count the rows, and price them exactly
            self.rows = self._count_rows()
            check_array((self.rows, len(columns)), np.float64, what)
        every = list(columns) == list(range(self.width))
        values = self._parsed(columns, every)
        if values is not None:
            if values.shape[0] == 0 or not np.isfinite(values).all():
                return self._scan(columns, hint)
            return values
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "empty input" and friends: checked below
                values = np.loadtxt(self.path, delimiter=self.delimiter, dtype=np.float64, ndmin=2,
                                    comments=None, quotechar='"', usecols=None if every else columns,
                                    skiprows=self.skiprows, encoding="utf-8-sig")
        except (ValueError, UnicodeDecodeError):
            return self._scan(columns, hint)  # raises with file, line and column
        if values.shape[0] == 0 or values.shape[1] != len(columns) or (not every and not self._widths_agree()) \
                or not np.isfinite(values).all():  # rows narrower than the header: loadtxt reads them all the same
            return self._scan(columns, hint)
        if self._quotes_unbalanced():
            # loadtxt reads a quote left open in the file's last cell to the end of the file; the
            # strict reader names the line and column where it opens.
            return self._scan(columns, hint)
        return values

    def _parsed(self, columns: list[int], every: bool) -> np.ndarray | None:
        """The fast path: the columns from the file's bytes, or ``None`` when it does not apply."""
        from framework.memory import check_array
        from framework.numeric_csv import CHUNK_BYTES, parse_numbers

        if not all(-self.width <= c < self.width for c in columns):
            return None  # the general path says what it always said
        head = self._head
        start = _after_lines(head, self.skiprows)
        if not self._whole:  # a chunk of rows from the head already read decides before the rest is read
            last = head.rfind(b"\n", start, start + CHUNK_BYTES) if start is not None else -1
            if last >= 0 and parse_numbers(head[:last + 1], self.width, self.delimiter, start=start) is None:
                return None
            start = _after_lines(self._raw, self.skiprows)  # the whole file: priced when opened
        if start is None:
            return None
        raw = self._raw
        rows = min(raw.count(b"\n", start) + 1, self.rows)  # lines, or the bound from the size
        try:  # every column is parsed, then the ones asked for are copied out
            check_array((rows, self.width + (0 if every else len(columns))), np.float64,
                        f"{self.path}: {self.width} column(s) parsed")
        except MemoryLimitError:
            return None  # numpy.loadtxt reads only the columns asked for
        values = parse_numbers(raw, self.width, self.delimiter, start=start, rows=rows)
        if values is None or every:
            return values
        return values[:, columns]

    def _chunks(self) -> Iterator[bytes]:
        """The file's bytes: whole when already read, else 16 MiB at a time (nothing kept)."""
        if self._raw_bytes is not None:
            yield self._raw_bytes
            return
        with open(self.path, "rb") as fh:
            while chunk := fh.read(1 << 24):
                yield chunk

    def _quotes_unbalanced(self) -> bool:
        """An odd number of quote characters in the file."""
        return sum(chunk.count(b'"') for chunk in self._chunks()) % 2 == 1

    def _count_rows(self) -> int:
        # "\n", "\r\n" and a lone "\r" end a line
        lines = sum(c.count(b"\n") + c.count(b"\r") - c.count(b"\r\n") for c in self._chunks())
        return lines + 1 - (self.skiprows if self.has_header else 0)

    def strings(self, column: int) -> np.ndarray:
        """Column ``column`` as stripped text, (m,); priced before it is made.

        Two prices: a Python string per row (the quick bound on the rows,
        then their count), and numpy's array, where every label takes as
        many characters as the longest (one label of 100,000 characters
        among 2,000 would make 800 MB of a 130 kB file).
        """
        from framework.memory import check_bytes

        what = f"{self.path}: column {self.names[column]!r} as text"
        per_row = sys.getsizeof("") + 8  # a str and its place in a list, before its characters
        try:
            check_bytes(self.rows * per_row, f"{what} ({self.rows:,} rows at most)")
        except MemoryLimitError:
            self.rows = self._count_rows()
            check_bytes(self.rows * per_row, f"{what} ({self.rows:,} rows)")
        cells = []
        for _, row in self._rows():  # one pass: the widths checked as the cells are taken
            if len(row) != self.width:
                self._scan([])  # raises, naming this row's line
            cells.append(row[column].strip())
        self._agree = True
        longest = max(1, max(map(len, cells), default=1))
        check_bytes(np.dtype(f"U{longest}").itemsize * len(cells),
                    f"{what} ({len(cells):,} labels of up to {longest:,} characters)")
        return np.array(cells, dtype=f"U{longest}")

    def line_of_row(self, index: int) -> int:
        """The line number (1-based) of data row ``index``."""
        for i, (line, _) in enumerate(self._rows()):
            if i == index:
                return line
        return -1

    # ------------------------------------------------------------------
    def _widths_agree(self) -> bool:
        if self._agree is None:
            self._agree = all(len(row) == self.width for _, row in self._rows())
        return self._agree

    def _rows(self):
        return csv_rows(self.text, self.path, self.delimiter, self.skiprows)

    def _scan(self, columns: list[int], hint: dict[int, str] | None = None) -> np.ndarray:
        """Row by row, as Python reads numbers: the first problem raises with its line and column."""
        out = []
        for line, row in self._rows():
            if len(row) != self.width:
                raise DataError(f"{self.path}, line {line}: expected {self.width} fields, found {len(row)}")
            values = []
            for c in columns:
                cell = row[c]
                try:
                    v = float(cell)
                except ValueError:
                    if is_missing(cell):
                        raise DataError(f"{self.path}, line {line}, column {self.names[c]!r}: a missing value "
                                        f"({excerpt(cell)}); fill or drop the row") from None
                    extra = f" ({hint[c]})" if hint and c in hint else ""
                    raise DataError(f"{self.path}, line {line}, column {self.names[c]!r}: cannot read "
                                    f"{excerpt(cell)} as a number{extra}") from None
                if not math.isfinite(v):
                    raise DataError(f"{self.path}, line {line}, column {self.names[c]!r}: {excerpt(cell)} is not "
                                    f"a finite number (NaN and inf are rejected; fill or drop the row)")
                values.append(v)
            out.append(values)
        if not out:
            raise DataError(f"{self.path}: no data rows")
        return np.array(out, dtype=np.float64).reshape(len(out), len(columns))


#: How files commonly write a missing value (compared upper-cased, stripped).
_MISSING = frozenset({"", "NA", "N/A", "NULL", "NONE", "-", "?", "#N/A", "MISSING"})


def is_missing(cell: str) -> bool:
    """Whether a cell is how files commonly write a missing value ("", "NA", "null", "?" ...)."""
    return cell.strip().upper() in _MISSING


def label_names(labels: np.ndarray, named: bool, source: str, line_of=None) -> np.ndarray:
    """Class labels (strings or integers) -> their class names (m,), as training reads them.

    Integers are written plainly ("1.0", "1e0" and " 1" are the class "1")
    when every label is a number; a number that is not an integer (0.5, nan)
    is an error, unless the class names are ``named`` (given as a list):
    then the labels are names, as written.
    """
    labels = np.asarray(labels)
    if labels.dtype.kind == "f" and not np.isfinite(labels).all():
        raise DataError(f"{source}: class labels must be names or integers; found "
                        f"{labels.ravel()[~np.isfinite(labels.ravel())][0]}")
    if labels.dtype.kind in "iub" or (labels.dtype.kind == "f" and np.all(labels == np.round(labels))):
        return np.array([str(int(v)) for v in labels.ravel()]) if labels.size else labels.astype(str)
    if labels.dtype.kind == "f":
        raise DataError(f"{source}: class labels must be names or integers; found {labels[labels != np.round(labels)][0]}")
    labels = np.char.strip(labels.astype(str).ravel())
    if labels.size and not named and (empty := np.flatnonzero(labels == "")).size:
        row = int(empty[0])
        where = f"line {line_of(row)}" if line_of else f"example {row}"
        raise DataError(f"{source}, {where}: a class label is missing (an empty cell); fill or drop the row")
    uniq = np.unique(labels)
    if uniq.size and all(is_number(v) for v in uniq):  # numbers only: integers name the classes
        odd = next((v for v in uniq if not float(v).is_integer()), None)  # 0.5, nan, inf, 1e400
        if odd is None:
            labels = np.array([str(int(float(v))) for v in labels])
        elif not named:  # a list names them: they are names, as written
            row = int(np.flatnonzero(labels == odd)[0])
            where = f"line {line_of(row)}" if line_of else f"example {row}"
            raise DataError(f"{source}, {where}: class labels must be names or integers; found "
                            f"{excerpt(str(odd))} (for numbers to regress, set classes = false)")
    return labels


def class_indices(labels: np.ndarray, classes: list[str] | bool | str, source: str,
                  line_of=None) -> tuple[np.ndarray, list[str]]:
    """Class labels (strings or integers) -> (y (1, m) float class indices, class names).

    ``classes``: a list fixes the names and their order (a label not in it
    is an error, naming its line when ``line_of(row)`` is given); otherwise
    the names are the distinct labels, in numeric order when all are
    integers ("2" before "10"), else in text order.
    """
    labels = label_names(labels, isinstance(classes, list), source, line_of)
    if isinstance(classes, list):
        names = [str(c) for c in classes]
        if len(set(names)) != len(names):
            raise DataError(f"{source}: `classes` lists a name twice: {names}")
        lookup = {n: i for i, n in enumerate(names)}
        unknown = [i for i, v in enumerate(labels) if v not in lookup]
        if unknown:
            row = unknown[0]
            where = f"line {line_of(row)}" if line_of else f"example {row}"
            raise DataError(f"{source}, {where}: the label {excerpt(str(labels[row]))} is not one of the "
                            f"classes {names[:10]}{' ...' if len(names) > 10 else ''}")
        y = np.array([lookup[v] for v in labels], dtype=np.float64)
        return y.reshape(1, -1), names
    uniq, inverse = np.unique(labels, return_inverse=True)
    if uniq.size and all(is_number(u) for u in uniq):
        order = np.argsort([int(u) for u in uniq], kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        return rank[inverse].astype(np.float64).reshape(1, -1), [str(u) for u in uniq[order]]
    return inverse.astype(np.float64).reshape(1, -1), [str(u) for u in uniq]
