"""Numeric CSV rows read in bulk with numpy, bit for bit as Python's ``float()`` reads each cell.

:func:`parse_numbers` is the fast path of :class:`framework.data.CsvText`:
it reads the common file, every cell a plain decimal number, two to three
times as fast as ``numpy.loadtxt``, and answers ``None`` for anything else, so
that the caller's general path (``numpy.loadtxt``, then a row-by-row scan
that names the file, line and column of a bad cell) handles it as before.
It never guesses: a cell outside the grammar below makes the whole answer
``None``, never a number.

Grammar (bytes; ``D`` is the one-byte delimiter, not one of ``0-9 + - . e E``)::

    data   = row ("\\n" row)* ["\\n"]          "\\r\\n" is read as "\\n"; empty lines are skipped
    row    = cell (D cell)*                   exactly ``width`` cells in every row
    cell   = [+-]? (digits "."? digits? | "." digits) ([eE] [+-]? digits)?
    digits = [0-9]+

So ``" 1"``, ``"1 "``, ``""``, ``"nan"``, ``"inf"``, ``"1_000"``, ``"0x10"``,
``"1-2"``, ``"1..2"``, ``"1.2.3"``, ``"--1"``, ``"e5"``, ``"1e"``, quoted
cells and rows with a cell too many or too few all give ``None``.

Exactness (Clinger's fast path, W. D. Clinger, "How to read floating point
numbers accurately", PLDI 1990). A cell is ``M * 10**k``, with ``M`` the
integer of all its mantissa digits (the dot removed) and ``k`` its exponent
minus the number of digits after the dot. When ``M < 2**53`` and ``|k| <= 22``,
both ``M`` and ``10.0**|k|`` are exact float64 values, so the one IEEE
multiplication ``M * 10.0**k`` (or division ``M / 10.0**-k``) is the correctly
rounded value of the decimal, which is what ``float()`` returns (the sign is
applied last, exactly, so ``-0`` is ``-0.0``). ``M`` is assembled in
``uint64`` from at most 16 digits (below ``10**16 < 2**64``, so nothing
wraps), then compared with ``2**53``; a zero ``M`` is 0.0 whatever ``k``.
The few cells outside that range (mantissas of 17 or more digits, leading
zeros included, ``M >= 2**53``, ``|k| > 22``, exponents of more than 16
digits) are read by ``float()`` one by one; when they are more than a few
percent of the cells (``%.17g`` or ``%.18e`` output), the answer is ``None``
and ``numpy.loadtxt`` reads the file instead.

Speed. The bytes are cut into chunks of about :data:`CHUNK_BYTES` ending at
a newline, so the temporaries stay small (a few times the chunk, mostly in
cache) and memory beyond the result is O(chunk). In a chunk, numpy finds every byte that is not a digit (the
"tokens": delimiters, newlines, signs, dots, exponent marks); the grammar is
checked on the token sequence alone, with one table lookup per token (its
kind, the previous token's kind, and whether digits separate them), which
works because a cell's digits can only sit between its tokens. The tokens
also give each cell's sign, dot, exponent mark and end. A mantissa of up to
eight bytes (``-0.634718`` is ``0.634718`` and a sign) is then read as one
``uint64``, the eight bytes that end it, gathered at once for all cells;
the dot is squeezed out by a shift, the bytes before the mantissa masked
to zero, and three multiply-and-shift steps give the value of the eight
digits (SWAR, as in simdjson's ``parse_eight_digits_unrolled``). Longer
digit runs take two words. On the benchmark's file (``%.6g`` of normal
numbers) this is two to three times as fast as ``numpy.loadtxt``.
"""

from __future__ import annotations

import numpy as np

#: Bytes per chunk (a chunk ends at the first newline after this many bytes).
CHUNK_BYTES = 1 << 18
#: A chunk may leave this many cells to ``float()``, plus :data:`SLOW_FRACTION` of its cells;
#: beyond, the answer is ``None`` (``numpy.loadtxt`` reads such files faster). Cells with an
#: exponent are read by ``float()`` too when a chunk has no more than FEW of them: a few
#: calls of ``float()`` cost less than the dozen numpy calls that would read them.
FEW = 32
SLOW_FRACTION = 0.02

# Token kinds. A token is any byte that is not a digit; BAD is every byte outside the grammar.
BAD, SEP, NL, SIGN, DOT, EXP, ESIGN = range(7)
# Which token may follow which, within a cell or across a delimiter. ESIGN is a sign right
# after an exponent mark; any other sign is a mantissa sign and must open its cell.
_FOLLOWS = {SEP: {SEP, NL, SIGN, DOT, EXP}, NL: {SEP, NL, SIGN, DOT, EXP}, SIGN: {SEP, NL, DOT, EXP},
            DOT: {SEP, NL, EXP}, EXP: {SEP, NL, ESIGN}, ESIGN: {SEP, NL}}
_NOT_DELIMITERS = b"0123456789+-.eE\r\n\""


def _pair_table() -> np.ndarray:
    """VALID[code]: may token ``cur`` follow token ``prev``?

    ``code = prev * 8 + cur + 64 * touching + 128 * prev_touching``, where
    ``touching`` says no digit stands between prev and cur, ``prev_touching``
    none between prev and its own predecessor. With the pairs of
    :data:`_FOLLOWS` that is the whole grammar: a sign touches what precedes it
    (the start of its cell, or its exponent mark); an exponent mark or the end
    of a cell needs a digit before it, unless it follows a dot that has a digit
    before it ("5." and "5.e3" but not "." or ".e3"). Every cell therefore has a
    mantissa digit, every exponent a digit, and a cell has at most one dot and
    one exponent, in that order.
    """
    table = np.zeros(256, bool)
    for prev, nexts in _FOLLOWS.items():
        for cur in nexts:
            for touching in (0, 1):
                for prev_touching in (0, 1):
                    if cur in (SIGN, ESIGN):
                        ok = touching
                    elif cur == DOT:
                        ok = True  # a digit on one side or the other: checked at the next token
                    elif prev == DOT:
                        ok = not (touching and prev_touching)
                    else:
                        ok = not touching
                    table[prev * 8 + cur + 64 * touching + 128 * prev_touching] = ok
    return table


_VALID = _pair_table()


def _top_bytes(n: int) -> int:
    """A uint64 mask of its n most significant bytes (the last n bytes in memory, little-endian)."""
    return ((1 << 64) - 1) ^ ((1 << (8 * (8 - n))) - 1)


_U64 = np.dtype("<u8")
# KEEP[n]: keeps the low nibble of the last n of eight bytes, so "0".."9" become 0..9 and
# whatever precedes a run of n digits becomes 0 (leading zeros).
_KEEP = np.array([_top_bytes(n) & 0x0F0F0F0F0F0F0F0F for n in range(9)], np.uint64)
# Squeezing the dot out of a word whose last bytes are the f digits after it (index f + 1;
# index 0: no dot, the word stays): the bytes after the dot stay, those before move up.
_AFTER_DOT = np.array([(1 << 64) - 1] + [_top_bytes(f) for f in range(8)], np.uint64)
_BEFORE_DOT = np.array([0] + [(1 << (8 * (7 - f))) - 1 for f in range(8)], np.uint64)
_POW10_INT = np.array([10**i for i in range(17)], np.uint64)
# Exact float64 powers of ten (10**22 is the largest one): scale by MUL[k + 22] / DIV[k + 22].
_MUL = np.array([1.0] * 22 + [float(10**i) for i in range(23)])
_DIV = np.array([float(10**i) for i in range(22, 0, -1)] + [1.0] * 23)
_EXACT = np.uint64(1 << 53)
_SIGN_BIT = np.uint64(1 << 63)


def _swar8(x: np.ndarray) -> np.ndarray:
    """Eight digit values, one per byte, first digit in the lowest byte -> their decimal value.

    Each step merges neighbouring lanes (10 * high-order + low-order digit, then
    pairs of pairs, then fours); the lanes never carry into each other and the
    wrapping of the uint64 products only touches bits that are shifted out.
    """
    x = (x * np.uint64(10 << 8 | 1)) >> np.uint64(8)
    x = ((x & np.uint64(0x00FF00FF00FF00FF)) * np.uint64(100 << 16 | 1)) >> np.uint64(16)
    return ((x & np.uint64(0x0000FFFF0000FFFF)) * np.uint64(10000 << 32 | 1)) >> np.uint64(32)


def _digits(words: np.ndarray, end: np.ndarray, length: np.ndarray) -> np.ndarray:
    """The values (uint64) of the digit runs of ``length`` (0 to 16) bytes ending before byte ``end``.

    ``words[i]`` is the uint64 of bytes i to i + 7 (the chunk has 16 bytes of
    padding in front, so ``end - 16`` is never negative). Longer runs give
    garbage: the caller sends them to ``float()``.
    """
    value = _swar8(words[end - 8] & _KEEP.take(length, mode="clip"))
    long = np.flatnonzero(length > 8)
    if long.size:
        high = _swar8(words[end[long] - 16] & _KEEP.take(length[long] - 8, mode="clip"))
        value[long] += high * np.uint64(10**8)
    return value


def _chunk_values(chunk: bytes, width: int, kinds: np.ndarray):
    """Parse one chunk: 16 padding newlines, then whole rows, each ending with a newline.

    Returns ``(values, slow, start, end)``: the cells' values in row-major order
    (cells, ), the indices of the cells left for ``float()``, and every cell's
    first byte and end (its delimiter or newline) in ``chunk``. ``None`` when a
    byte, a cell or a row is outside the grammar.
    """
    a = np.frombuffer(chunk, np.uint8)
    pos = np.flatnonzero((a - np.uint8(48)) > np.uint8(9))[15:]  # token 0: a padding newline
    char = a.take(pos)
    kind = kinds.take(char)
    if not kind.all():
        return None
    prev, cur = kind[:-1], kind[1:]  # views: refining cur refines prev too
    any_exp = bool((kind == EXP).any())
    if any_exp:
        cur[(cur == SIGN) & (prev == EXP)] = ESIGN
    touching = (np.diff(pos) == 1).view(np.uint8)
    code = prev * np.uint8(8)
    code += cur
    code |= touching << np.uint8(6)
    code[1:] |= touching[:-1] << np.uint8(7)
    if not _VALID.take(code).all():
        return None

    # Cells: the tokens that end them, their kinds checked against the row width.
    ends = np.flatnonzero(kind <= NL)  # ends[0] is token 0, the end of the "cell" before the first
    last, first = ends[1:], ends[:-1] + 1  # each cell's ending token and its first token
    if last.size % width:
        return None
    grid = kind.take(last).reshape(-1, width)
    if not (grid[:, -1] == NL).all() or not (grid[:, :-1] == SEP).all():
        return None
    cell_end = pos.take(ends)
    start, end = cell_end[:-1] + 1, cell_end[1:]
    signed = kind.take(first) == SIGN
    negative = char.take(first) == ord("-")
    mantissa_start = start + signed

    # Where each mantissa's dot and end are (the end, or the exponent mark).
    before_end = kind.take(last - 1)
    has_dot = before_end == DOT
    mantissa_end = end
    dot = np.where(has_dot, pos.take(last - 1), end)
    words = _words(chunk)
    slow = []
    exp_cells = np.flatnonzero(before_end >= EXP) if any_exp else np.empty(0, np.intp)
    if 0 < exp_cells.size <= FEW:  # float() reads a few faster than numpy would
        slow.append(exp_cells)
        exp_cells = exp_cells[:0]
    if exp_cells.size:  # the exponent mark is the token before the end, or before its sign
        exp_signed = before_end[exp_cells] == ESIGN
        mark = last[exp_cells] - 1 - exp_signed
        mark_pos = pos.take(mark)
        mantissa_end = end.copy()
        mantissa_end[exp_cells] = mark_pos
        dotted = kind.take(mark - 1) == DOT
        has_dot[exp_cells] = dotted
        dot[exp_cells] = np.where(dotted, pos.take(mark - 1), mark_pos)
        exp_len = end[exp_cells] - mark_pos - 1 - exp_signed
        exponent = _digits(words, end[exp_cells], exp_len).astype(np.int64)
        exponent[exp_signed & (char.take(last[exp_cells] - 1) == ord("-"))] *= -1

    # The mantissa's digits as one integer. Most mantissas (sign aside) fit in one 8-byte
    # word; the dot is squeezed out of it by moving the bytes before it one byte up.
    length = mantissa_end - mantissa_start
    after_dot = mantissa_end - dot  # 0 without a dot, else 1 + the digits after it
    frac_len = after_dot - has_dot
    word = words[mantissa_end - 8]
    word = (word & _AFTER_DOT.take(after_dot, mode="clip")) | \
        ((word & _BEFORE_DOT.take(after_dot, mode="clip")) << np.uint64(8))
    significand = _swar8(word & _KEEP.take(length - has_dot, mode="clip"))
    long = np.flatnonzero(length > 8)
    if long.size:  # two runs of up to 16 digits each: int * 10**frac_len + frac
        n = long.size
        both = _digits(words, np.concatenate([dot[long], mantissa_end[long]]),
                       np.concatenate([dot[long] - mantissa_start[long], frac_len[long]]))
        significand[long] = both[:n] * _POW10_INT.take(frac_len[long], mode="clip") + both[n:]
        slow.append(long[(length[long] - has_dot[long] > 16) | (significand[long] >= _EXACT)])

    # Clinger: M * 10**k, k = exponent - frac_len, exact for M < 2**53 and |k| <= 22. Without
    # an exponent, -16 <= k <= 0 for every cell not already left to float().
    scale = -frac_len
    if exp_cells.size:
        scale[exp_cells] += exponent
        scale[exp_cells[exp_len > 16]] = 99
        scale[exp_cells[significand[exp_cells] == 0]] = 0  # 0e400 is 0.0
        slow.append(exp_cells[(scale[exp_cells] < -22) | (scale[exp_cells] > 22)])
    scale += 22
    values = significand.astype(np.float64)
    values *= _MUL.take(scale, mode="clip")
    values /= _DIV.take(scale, mode="clip")
    values.view(np.uint64)[...] |= negative.astype(np.uint64) * _SIGN_BIT
    slow = [cells for cells in slow if cells.size]
    slow = slow[0] if len(slow) == 1 else np.unique(np.concatenate(slow or [np.empty(0, np.intp)]))
    return values, slow, start, end


def _words(chunk: bytes) -> np.ndarray:
    """uint64 view of every 8-byte window of ``chunk`` (unaligned, stride 1, no copy)."""
    return np.ndarray((len(chunk) - 7,), _U64, buffer=chunk, strides=(1,))


def parse_numbers(data: bytes, width: int, delimiter: str = ",", *, start: int = 0,
                  rows: int | None = None, chunk_bytes: int = CHUNK_BYTES) -> np.ndarray | None:
    """The numbers of ``data[start:]``, (rows, width) float64, or ``None`` outside the grammar.

    Args:
        data: the file's bytes; ``start``: where the data rows begin (after
            any header line and byte-order mark).
        width: the number of cells in every row.
        delimiter: the one-character cell separator (a digit, sign, dot,
            ``e``, quote or newline, or a character of more than one UTF-8
            byte, gives ``None``).
        rows: an upper bound of the rows, the size of the array allocated
            (default: the number of lines, or of bytes / (2 * width) when
            fewer); a caller pricing the allocation beforehand passes what
            it priced.
        chunk_bytes: the chunk size (tests make it tiny).

    Returns:
        Every cell as ``float(cell)`` would give it, bit for bit, in an array
        (rows, width) (empty lines skipped); or ``None`` when anything is
        outside the grammar of the module docstring, or when a chunk has more
        than :data:`FEW` + :data:`SLOW_FRACTION` of its cells beyond the fast
        path's exact range. ``inf`` is possible (``1e999``), NaN is not.
    """
    if len(delimiter) != 1 or not delimiter.isascii() or delimiter.encode() in _NOT_DELIMITERS:
        return None
    sep = delimiter.encode()
    kinds = np.zeros(256, np.uint8)
    kinds[list(b"+-")] = SIGN
    kinds[ord(".")] = DOT
    kinds[list(b"eE")] = EXP
    kinds[sep[0]] = SEP
    kinds[ord("\n")] = NL
    if rows is None:  # a row takes at least 2 * width bytes: a digit and a delimiter or newline per cell
        rows = min(data.count(b"\n", start) + 1, (len(data) - start) // (2 * width) + 1)
    out = np.empty((rows, width))
    flat = out.reshape(-1)
    pad = b"\n" * 16
    filled = 0
    size = len(data)
    while start < size:
        stop = data.find(b"\n", start + chunk_bytes)
        stop = size if stop < 0 else stop + 1
        chunk = pad + data[start:stop]
        start = stop
        if chunk[-1] != ord("\n"):
            chunk += b"\n"
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n")  # a lone "\r" left is a BAD token
        parsed = _chunk_values(chunk, width, kinds)
        if parsed is None:  # perhaps empty lines, which the general path skips too
            body = chunk[16:]
            if b"\n\n" not in body and not body.startswith(b"\n"):
                return None
            while b"\n\n" in body:
                body = body.replace(b"\n\n", b"\n")
            body = body.lstrip(b"\n")
            if not body:
                continue
            chunk = pad + body
            parsed = _chunk_values(chunk, width, kinds)
            if parsed is None:
                return None
        values, slow, cell_start, cell_end = parsed
        if len(slow):
            if len(slow) > FEW + SLOW_FRACTION * len(values):
                return None
            for i in slow.tolist():
                values[i] = float(chunk[cell_start[i]:cell_end[i]])
        if filled + len(values) > flat.size:
            return None  # more rows than the caller priced: let the general path decide
        flat[filled:filled + len(values)] = values
        filled += len(values)
    return out[:filled // width]
