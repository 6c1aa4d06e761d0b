"""framework.numeric_csv: every cell bit for bit as float() reads it, or None outside the grammar.

The oracle is Python's float() applied to each cell of the same text; values
are compared as uint64 bit patterns, so a last-bit difference, or 0.0 for
-0.0, fails.
"""

import math
import re
import random

import numpy as np
import pytest

from framework import numeric_csv
from framework.numeric_csv import parse_numbers


def oracle(text: str, width: int, delimiter: str = ",") -> np.ndarray:
    lines = [line for line in text.replace("\r\n", "\n").split("\n") if line]
    rows = [[float(cell) for cell in line.split(delimiter)] for line in lines]
    assert all(len(row) == width for row in rows)
    return np.array(rows, dtype=np.float64).reshape(len(rows), width)


def assert_bitwise_equal(got: np.ndarray | None, want: np.ndarray, text: str = "") -> None:
    assert got is not None, "parse_numbers gave None for text in its grammar"
    assert got.dtype == np.float64 and got.shape == want.shape
    differ = np.flatnonzero(got.view(np.uint64).ravel() != want.view(np.uint64).ravel())
    if differ.size:
        cells = [c for line in text.replace("\r\n", "\n").split("\n") if line for c in line.split(",")]
        i = differ[0]
        cell = cells[i] if len(cells) == want.size else "?"
        pytest.fail(f"{differ.size} cell(s) differ; the first, {cell!r}: got {got.ravel()[i]!r}, "
                    f"float() gives {want.ravel()[i]!r}")


def parses_like_float(text: str, width: int, delimiter: str = ",", **kwargs) -> None:
    got = parse_numbers(text.encode(), width, delimiter, **kwargs)
    assert_bitwise_equal(got, oracle(text, width, delimiter), text)


@pytest.fixture
def no_float(monkeypatch):
    """Cells must be read by the vectorised path: float() in the module raises, rare cells are vectorised."""
    def refuse(cell):
        raise AssertionError(f"float() was asked for {cell!r}")

    monkeypatch.setattr(numeric_csv, "float", refuse, raising=False)
    monkeypatch.setattr(numeric_csv, "FEW", 0)


@pytest.fixture
def slow_allowed(monkeypatch):
    """Any number of cells may go to float() (the default gives up beyond a few percent)."""
    monkeypatch.setattr(numeric_csv, "SLOW_FRACTION", 1.0)


# ----------------------------------------------------------------------------
# Cells in many formats
# ----------------------------------------------------------------------------
def random_cell(rng: random.Random) -> str:
    x = rng.gauss(0, 1) * 10.0 ** rng.uniform(-8, 8)
    kind = rng.randrange(22)
    if kind == 0:
        return "%.6g" % x
    if kind == 1:
        return "%.17g" % x
    if kind == 2:
        return "%.18e" % x
    if kind == 3:
        return repr(x)
    if kind == 4:
        return "%.*g" % (rng.randint(1, 17), x)
    if kind == 5:
        return "%.*e" % (rng.randint(0, 20), x)
    if kind == 6:
        return "%.*f" % (rng.randint(0, 12), x)
    if kind == 7:  # integers, some beyond 2**53 and 2**64
        return str(rng.choice([1, -1]) * rng.randrange(10 ** rng.randint(1, 22)))
    if kind == 8:  # a leading '+'
        return "+" + ("%.6g" % abs(x))
    if kind == 9:  # '.5' and '-.5'
        return rng.choice(["", "-", "+"]) + ("%.*f" % (rng.randint(1, 9), rng.random()))[1:]
    if kind == 10:  # '5.' and '5.e3'
        return "%d.%s" % (rng.randrange(-999, 999), rng.choice(["", "e3", "E-2"]))
    if kind == 11:  # upper-case exponent, explicit '+'
        return ("%.*e" % (rng.randint(0, 8), x)).upper()
    if kind == 12:  # zeros of every sign and shape
        return rng.choice(["0", "-0", "+0", "0.0", "-0.0", "0e0", "-0e-5", "0e400", "-0E+999", ".0", "-0.", "00"])
    if kind == 13:  # exponents near the ends of the range, overflow to inf, underflow to 0
        return "%.*fe%d" % (rng.randint(0, 6), rng.uniform(0.5, 9.9), rng.choice([-1, 1]) * rng.randint(280, 330))
    if kind == 14:  # subnormals
        return repr(5e-324 * rng.randrange(1, 2**52)) if rng.random() < 0.5 else \
            "%.*e" % (rng.randint(0, 17), 5e-324 * rng.randrange(1, 2**52))
    if kind == 15:  # 20 to 40 digits, a dot anywhere
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(20, 40)))
        dot = rng.randint(0, len(digits))
        return rng.choice(["", "-"]) + digits[:dot] + "." + digits[dot:]
    if kind == 16:  # leading zeros, in the mantissa and in the exponent
        return "0" * rng.randint(1, 20) + ("%.*f" % (rng.randint(0, 12), abs(x))) + \
            rng.choice(["", "e+00%d" % rng.randint(0, 9), "E-0000000000000000000012"])
    if kind == 17:  # around Clinger's limits: M near 2**53, k near +-22
        m = 2**53 + rng.randint(-3, 3)
        return "%s%de%d" % (rng.choice(["", "-"]), m, rng.randint(-24, 24))
    if kind == 18:  # 15 or 16 significant digits with exponents (the fast path's edge)
        return "%de%d" % (rng.randrange(10**14, 10**16), rng.randint(-40, 40))
    if kind == 19:  # hard rounding cases: halfway and near-halfway values
        return rng.choice(["9007199254740993", "9007199254740995", "1.00000000000000011102230246251565404236316680908203125",
                           "2.2250738585072011e-308", "2.2250738585072012e-308", "4.9406564584124654e-324",
                           "2.4703282292062327e-324", "2.4703282292062328e-324", "1.7976931348623157e308",
                           "1.7976931348623158e308", "1.7976931348623159e308", "8.98846567431158e307",
                           "0.1", "0.2", "0.3", "123456789012345678901234567890e-30"])
    if kind == 20:  # short digit runs around the 8- and 16-digit word boundaries
        n = rng.choice([7, 8, 9, 15, 16, 17])
        digits = "".join(rng.choice("123456789") for _ in range(n))
        dot = rng.randint(0, n)
        return digits[:dot] + "." + digits[dot:] if dot < n else digits
    return "%.6g" % x  # the benchmark's format, the common case


def random_text(rng: random.Random, rows: int, width: int, cell=random_cell, delimiter=",", end="\n") -> str:
    return "".join(delimiter.join(cell(rng) for _ in range(width)) + end for _ in range(rows))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("chunk_bytes", [numeric_csv.CHUNK_BYTES, 200, 1])
def test_cells_in_many_formats_read_as_float_does(seed, chunk_bytes, slow_allowed):
    rng = random.Random(seed)
    text = random_text(rng, 400, rng.randint(1, 9))
    parses_like_float(text, text.split("\n")[0].count(",") + 1, chunk_bytes=chunk_bytes)


@pytest.mark.parametrize("seed", range(4))
def test_every_format_vectorised(seed, no_float, slow_allowed, monkeypatch):
    """With float() unavailable, what it would have read takes the vectorised path, exactly."""
    def cell(rng):
        while True:  # the cells within Clinger's range: at most 16 digits and |k| <= 22
            text = random_cell(rng)
            mantissa, _, exponent = text.lower().partition("e")
            digits = mantissa.lstrip("+-").replace(".", "")
            frac = len(mantissa.partition(".")[2])
            k = (int(exponent) if exponent else 0) - frac
            m = int(digits)
            if len(digits) <= 16 and m < 2**53 and (m == 0 or -22 <= k <= 22) and len(exponent.lstrip("+-")) <= 16:
                return text

    rng = random.Random(100 + seed)
    text = random_text(rng, 300, 7, cell)
    parses_like_float(text, 7)


def test_the_benchmark_format_needs_no_float(no_float):
    rng = np.random.default_rng(0)
    values = rng.standard_normal((3000, 5)) * 10.0 ** rng.integers(-7, 7, (3000, 5))
    text = "".join(",".join("%.6g" % v for v in row) + "\n" for row in values)
    parses_like_float(text, 5)
    parses_like_float(text, 5, chunk_bytes=1000)


def test_cells_beyond_the_fast_path_are_read_by_float(monkeypatch):
    """17 or more digits, |k| > 22, long exponents: float() reads them, and only them."""
    asked = []

    def spy(cell):
        asked.append(cell)
        return float(cell)

    monkeypatch.setattr(numeric_csv, "float", spy, raising=False)
    rare = ["0.12345678901234567", "12345678901234567", "1e23", "1e-23", "5e-324", "1e999", "-1e999",
            "1e+00000000000000000005", "9007199254740993"]
    text = "".join(f"{i},{rare[i % len(rare)]},2.5\n" if i % 20 == 0 else f"{i},-1.25,3e2\n" for i in range(2000))
    parses_like_float(text, 3)
    assert sorted(asked) == sorted(cell.encode() for cell in
                                   (rare[i % len(rare)] for i in range(0, 2000, 20)))


def test_too_many_slow_cells_give_none():
    """%.18e output (19 significant digits) is loadtxt's to read: the fast path gives up."""
    values = np.random.default_rng(1).standard_normal((500, 4))
    text = "".join(",".join("%.18e" % v for v in row) + "\n" for row in values)
    assert parse_numbers(text.encode(), 4) is None


@pytest.mark.parametrize("n_exponents", [5, 400])
@pytest.mark.parametrize("few", [0, 32])
def test_cells_with_exponents_few_or_many(n_exponents, few, monkeypatch):
    monkeypatch.setattr(numeric_csv, "FEW", few)  # 5 with FEW = 32: float() reads them
    rng = random.Random(7)
    cells = ["%.4fe%+d" % (rng.uniform(-9, 9), rng.randint(-15, 15)) for _ in range(n_exponents)]
    cells += ["%.6g" % rng.uniform(-3, 3) for _ in range(400)]
    rng.shuffle(cells)
    text = "".join(",".join(cells[i:i + 5]) + "\n" for i in range(0, len(cells), 5))
    parses_like_float(text, 5)


def test_negative_zero_keeps_its_sign(no_float):
    got = parse_numbers(b"-0,0,-0.0,+0,-0e5,-.0\n", 6)
    assert [math.copysign(1.0, v) for v in got[0]] == [-1, 1, -1, 1, -1, -1]


# ----------------------------------------------------------------------------
# Outside the grammar: None, never a number
# ----------------------------------------------------------------------------
MALFORMED = ["1-2", "1..2", "e5", "1e", "--1", "1.2.3", "", " 1", "1 ", "nan", "inf", "-inf", "NaN", "1_000",
             "0x10", '"1"', '"1.5"', "+", "-", ".", "-.", "+.e1", ".e1", "e", "1e+", "1e-", "1e5.5", "1e5e5",
             "1e+-5", "1+", "+-1", "1.e", "1,5e", "１", "½", "1\t", "\x00", "1d5", "1f"]


@pytest.mark.parametrize("cell", MALFORMED)
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_malformed_cells_give_none(cell, where, monkeypatch):
    monkeypatch.setattr(numeric_csv, "FEW", 0)  # also with every path vectorised
    rows = [["1.5", "2", "-3e1"] for _ in range(50)]
    row = {"first": 0, "middle": 25, "last": 49}[where]
    rows[row][1] = cell
    text = "".join(",".join(r) + "\n" for r in rows)
    assert parse_numbers(text.encode("utf-8"), 3) is None
    monkeypatch.setattr(numeric_csv, "FEW", 32)
    assert parse_numbers(text.encode("utf-8"), 3) is None


@pytest.mark.parametrize("text", ["1,2\n3\n", "1,2\n3,4,5\n", "1,2\n3,4,\n", "1,2\n,3,4\n", "1,2\n3,,4\n",
                                  "1,2,3\n4,5\n6\n", "1\n", "1,2\r3,4\n", "1,2\n\r\r\n3,4\n",
                                  "1,2\n  \n3,4\n", "1,2\n,\n3,4\n", "1;2\n3;4\n"])
def test_rows_with_missing_or_extra_fields_give_none(text):
    assert parse_numbers(text.encode(), 2) is None


def test_malformed_cells_give_none_across_chunk_sizes():
    text = "1,2\n" * 40 + "3,4x\n" + "5,6\n" * 40
    for chunk_bytes in (1, 3, 7, 50, 1 << 20):
        assert parse_numbers(text.encode(), 2, chunk_bytes=chunk_bytes) is None


# ----------------------------------------------------------------------------
# Lines, chunks and delimiters
# ----------------------------------------------------------------------------
def test_crlf_and_final_newline(no_float):
    for text in ["1.5,2\n3,4e1\n", "1.5,2\n3,4e1", "1.5,2\r\n3,4e1\r\n", "1.5,2\r\n3,4e1", "1.5,2\r\n3,4e1\n"]:
        parses_like_float(text, 2)


def test_empty_lines_are_skipped_as_the_general_path_skips_them(no_float):
    for text in ["\n1,2\n\n\n3,4\n\n", "1,2\r\n\r\n3,4\r\n", "\n\n\n1,2", "1,2\n3,4\n\n\n\n\n"]:
        for chunk_bytes in (1, 2, 5, 1 << 20):
            parses_like_float(text, 2, chunk_bytes=chunk_bytes)
    for text in ["", "\n", "\n\n\r\n"]:
        got = parse_numbers(text.encode(), 3)
        assert got is not None and got.shape == (0, 3)


def test_every_chunk_boundary(no_float):
    rng = random.Random(3)
    text = random_text(rng, 60, 4, lambda r: r.choice(["%.6g", "%.3e", "%.9f", "%d", "%.0f."]) % r.gauss(0, 1e4))
    for chunk_bytes in range(1, 120):
        parses_like_float(text, 4, chunk_bytes=chunk_bytes)


def test_start_skips_the_header():
    data = b"\xef\xbb\xbfa,b\n1,2\n3,4\n"
    got = parse_numbers(data, 2, start=data.index(b"\n") + 1)
    assert got.tolist() == [[1.0, 2.0], [3.0, 4.0]]


@pytest.mark.parametrize("delimiter", [";", "\t", " ", "|", ":", "x"])
def test_other_delimiters(delimiter, no_float):
    rng = random.Random(5)
    text = random_text(rng, 50, 3, lambda r: "%.6g" % r.gauss(0, 10), delimiter=delimiter)
    parses_like_float(text, 3, delimiter=delimiter)
    assert parse_numbers(text.replace(delimiter, ",").encode(), 3, delimiter) is None


@pytest.mark.parametrize("delimiter", ["1", ".", "e", "E", "-", "+", '"', "\n", "\r", ",,", "", "§", "\u00a0"])
def test_delimiters_in_the_grammar_or_beyond_ascii_give_none(delimiter):
    assert parse_numbers(b"1,2\n", 2, delimiter) is None


def test_rows_beyond_the_priced_bound_give_none():
    assert parse_numbers(b"1\n2\n3\n", 1, rows=3).shape == (3, 1)
    assert parse_numbers(b"1\n2\n3\n4\n", 1, rows=3) is None


def test_memory_stays_per_chunk():
    """The result is the only allocation of the file's size (the chunks are small)."""
    import tracemalloc

    text = ("1.5,-2.25,3e-3\n" * 20000).encode()
    tracemalloc.start()
    try:
        got = parse_numbers(text, 3, chunk_bytes=1 << 14)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got.shape == (20000, 3)
    assert peak < got.nbytes + 2_000_000


def test_the_result_is_sized_by_rows_not_by_empty_lines():
    """Empty lines are not rows: a row of 50 cells takes 100 bytes at least, and that bounds the allocation."""
    import tracemalloc

    text = b"\n" * 100_000 + b",".join([b"1"] * 50) + b"\n"
    tracemalloc.start()
    try:
        got = parse_numbers(text, 50)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got.tolist() == [[1.0] * 50]
    assert peak < 10_000_000  # not 100,001 lines x 50 float64 (40 MB)


CELL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def grammar_cell(rng: random.Random) -> str:
    def digits():
        return "".join(rng.choices("0123456789", k=rng.choice([1, 1, 2, 3, 8, 9, 17])))

    sign = rng.choice(["", "", "+", "-"])
    shape = rng.randrange(4)
    mantissa = digits() if shape == 0 else digits() + "." if shape == 1 else \
        digits() + "." + digits() if shape == 2 else "." + digits()
    shape = rng.randrange(4)
    exponent = "" if shape < 2 else rng.choice("eE") + rng.choice(["", "+", "-"]) + digits()[:rng.choice([1, 3, 17])]
    return sign + mantissa + exponent


def mutated(rng: random.Random, cell: str) -> str:
    i = rng.randrange(len(cell) + 1)
    c = rng.choice("0123456789+-.eE")
    return rng.choice([cell[:i] + c + cell[i:], cell[:i] + c + cell[i + 1:], cell[:i] + cell[i + 1:]])


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("few", [0, 32])
def test_cells_near_the_grammar(seed, few, slow_allowed, monkeypatch):
    """Grammar cells, some with one character inserted, replaced or deleted: the grammar's regular
    expression decides between None and float()'s values."""
    monkeypatch.setattr(numeric_csv, "FEW", few)
    rng = random.Random(seed)
    outcomes = set()
    for _ in range(250):
        n = rng.randint(1, 30)
        q = 1 - 0.5 ** (1 / (3 * n))  # half of the texts keep every cell as generated
        rows = [[mutated(rng, c) if rng.random() < q else c for c in (grammar_cell(rng) for _ in range(3))]
                for _ in range(n)]
        text = "".join(",".join(row) + "\n" for row in rows)
        got = parse_numbers(text.encode(), 3, chunk_bytes=rng.choice([1, 16, 1 << 18]))
        valid = all(CELL.fullmatch(cell) for row in rows for cell in row)
        outcomes.add(valid)
        if valid:
            assert_bitwise_equal(got, oracle(text, 3), text)
        else:
            assert got is None, text
    assert outcomes == {True, False}
