import numpy as np
import pytest

from framework import DataError, Dataset
from framework.data import Standardizer, check_arrays
from framework.numeric_csv import parse_numbers
from plugins.datasets import csv_file, moons, npz_file, synthetic_linear, synthetic_nonlinear


def test_check_arrays_errors():
    with pytest.raises(DataError, match=r"disagree on the number of examples.*X has shape \(3, 10\), y has shape \(1, 9\)"):
        check_arrays(np.ones((3, 10)), np.ones((1, 9)))
    with pytest.raises(DataError, match=r"transpose row-major data"):
        check_arrays(np.ones((10, 3)), np.ones((1, 10)))
    with pytest.raises(DataError, match="the dataset is empty"):
        check_arrays(np.ones((3, 0)), np.ones((1, 0)))
    X = np.ones((2, 4))
    X[1, 2] = np.nan
    with pytest.raises(DataError, match=r"X has 1 NaN or infinite value\(s\); the first is X\[1, 2\] = nan \(row 1, example 2\)"):
        check_arrays(X, np.ones((1, 4)))
    with pytest.raises(DataError, match="must be numeric"):
        check_arrays(np.array([["a", "b"]]), np.ones((1, 2)))
    X, y = check_arrays(np.ones((2, 3), dtype=int), np.ones(3))
    assert X.dtype == np.float64 and y.shape == (1, 3)


def test_synthetic_sources_are_seeded_and_shaped():
    a, b = synthetic_linear(n_samples=50, n_features=4, seed=3), synthetic_linear(n_samples=50, n_features=4, seed=3)
    np.testing.assert_array_equal(a.X, b.X)
    assert a.X.shape == (4, 50) and a.y.shape == (1, 50)
    w, bias = np.array(a.info["true_w"]).reshape(1, -1), a.info["true_b"]
    assert np.std(a.y - (w @ a.X + bias)) < 0.2
    assert synthetic_nonlinear(n_samples=30).X.shape == (2, 30)
    m = moons(n_samples=101)
    assert m.X.shape == (2, 101) and set(np.unique(m.y)) == {0.0, 1.0}


def test_split_is_seeded_and_disjoint():
    data = Dataset(np.arange(20.0).reshape(1, 20), np.arange(20.0).reshape(1, 20))
    train, val = data.split(0.25, seed=1)
    assert train.n_examples == 15 and val.n_examples == 5
    assert sorted(np.concatenate([train.X.ravel(), val.X.ravel()])) == list(range(20))
    again, _ = data.split(0.25, seed=1)
    np.testing.assert_array_equal(train.X, again.X)
    with pytest.raises(DataError, match="both need at least one"):
        Dataset(np.ones((1, 2)), np.ones((1, 2))).split(0.1)


def test_standardizer_uses_training_statistics():
    X = np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]])
    s = Standardizer.fit(X)
    Z = s.transform(X)
    np.testing.assert_allclose(Z[0], [-1.2247448714, 0, 1.2247448714], rtol=1e-9)
    np.testing.assert_array_equal(Z[1], [0, 0, 0])  # constant feature: std kept at 1


def write(tmp_path, text, name="d.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_csv_is_transposed_into_features_by_examples(tmp_path):
    path = write(tmp_path, "a,b,target\n1,2,3\n4,5,6\n7,8,9\n")
    data = csv_file(path, target_columns=["target"])
    np.testing.assert_array_equal(data.X, [[1, 4, 7], [2, 5, 8]])
    np.testing.assert_array_equal(data.y, [[3, 6, 9]])
    assert data.feature_names == ["a", "b"] and data.target_names == ["target"]
    nohead = csv_file(write(tmp_path, "1,2,3\n4,5,6\n", "n.csv"), target_columns=[0], header=False)
    np.testing.assert_array_equal(nohead.y, [[1, 4]])


def test_csv_errors_name_file_line_and_column(tmp_path):
    path = write(tmp_path, "a,b,target\n1,2,3\n4,x,6\n")
    with pytest.raises(DataError, match=r"d.csv, line 3, column 'b': cannot read 'x' as a number"):
        csv_file(path, target_columns=["target"])
    path = write(tmp_path, "a,b,target\n1,2,3\n4,nan,6\n", "nan.csv")
    with pytest.raises(DataError, match=r"nan.csv, line 3, column 'b': 'nan' is not a finite number"):
        csv_file(path, target_columns=["target"])
    path = write(tmp_path, "a,b,target\n1,2,3\n", "ok.csv")
    with pytest.raises(DataError, match=r"no column named 'targt'. Did you mean 'target'\? Columns: a, b, target"):
        csv_file(path, target_columns=["targt"])
    with pytest.raises(DataError, match=r"missing.csv: file does not exist"):
        csv_file(str(tmp_path / "missing.csv"), target_columns=["y"])
    with pytest.raises(DataError, match=r"line 3: expected 3 fields, found 2"):
        csv_file(write(tmp_path, "a,b,c\n1,2,3\n1,2\n", "short.csv"), target_columns=["c"])
    with pytest.raises(DataError, match="no data rows"):
        csv_file(write(tmp_path, "a,b\n", "empty.csv"), target_columns=["b"])


def test_class_labels_and_the_numbers_beside_them_take_one_pass_over_the_rows(tmp_path, monkeypatch):
    """The labels' pass checks every row's width, so numbers() need not make its own (it made two more:
    one for the widths, one for the labels, on top of numpy.loadtxt's read of the numbers)."""
    import framework.data
    from framework.data import CsvText

    passes = []
    real = framework.data.csv_rows
    monkeypatch.setattr(framework.data, "csv_rows", lambda *a, **k: passes.append(1) or real(*a, **k))
    path = write(tmp_path, "a,b,label\n" + "1.5,2,cat\n2.5,3,dog\n" * 50, "l.csv")
    table = CsvText(path)
    assert table.strings(2)[:3].tolist() == ["cat", "dog", "cat"] and table.numbers([0, 1]).shape == (100, 2)
    assert len(passes) == 1
    table = CsvText(write(tmp_path, "a,b,label\n1.5,2,cat\n2.5,3\n", "short.csv"))
    with pytest.raises(DataError, match=r"short.csv, line 3: expected 3 fields, found 2"):
        table.strings(2)


def test_npz_rows_are_transposed(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.arange(6.0).reshape(3, 2), y=np.arange(3.0))
    data = npz_file(str(path))
    assert data.X.shape == (2, 3) and data.y.shape == (1, 3)
    np.testing.assert_array_equal(data.X[:, 1], [2.0, 3.0])
    with pytest.raises(DataError, match=r"no array named 'features'; arrays: X, y"):
        npz_file(str(path), x_key="features")
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"broken.npz: not an .npz file \(it is not a zip archive\)"):
        npz_file(str(broken))


# ----------------------------------------------------------------------------
# The CSV fast path (framework.numeric_csv) against the general path
# ----------------------------------------------------------------------------
def fast_path(monkeypatch, enabled: bool) -> list:
    """Enable or disable the fast path; the list returned records what each call of it answered."""
    import framework.numeric_csv as numeric_csv

    answers = []

    def spy(*args, **kwargs):
        answers.append(parse_numbers(*args, **kwargs) if enabled else None)
        return answers[-1]

    monkeypatch.setattr(numeric_csv, "parse_numbers", spy)
    return answers


def read_both_ways(monkeypatch, path, **kwargs):
    """csv_file(path, **kwargs) without, then with, the fast path: (result or error text) each, and its answers."""
    results = []
    for enabled in (False, True):
        answers = fast_path(monkeypatch, enabled)
        try:
            results.append(csv_file(path, **kwargs))
        except DataError as exc:
            results.append(f"{type(exc).__name__}: {exc}")
    return results[0], results[1], answers


def same_dataset(a, b):
    assert type(a) is type(b)
    if isinstance(a, str):
        assert a == b
        return
    for name in ("X", "y"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.shape == y.shape and x.dtype == y.dtype and x.flags.c_contiguous and y.flags.c_contiguous
        assert np.array_equal(x.view(np.uint64), y.view(np.uint64))  # bit for bit, -0.0 included
    assert (a.name, a.feature_names, a.target_names, a.classes) == (b.name, b.feature_names, b.target_names, b.classes)


def numeric_rows(rng, rows, width, fmt="%.6g"):
    values = rng.standard_normal((rows, width)) * 10.0 ** rng.integers(-6, 6, (rows, width))
    return "".join(",".join(fmt % v for v in row) + "\n" for row in values)


FAST_FILES = {  # name: (file text, csv_file arguments)
    "header": (lambda r: "a,b,c,y\n" + numeric_rows(r, 300, 4), dict(target_columns=["y"])),
    "headerless": (lambda r: numeric_rows(r, 300, 3), dict(target_columns=[0])),
    "bom and crlf": (lambda r: "\ufeffx1,x2,y\r\n" + numeric_rows(r, 300, 3).replace("\n", "\r\n"),
                     dict(target_columns=["y"], feature_columns=["x2"])),
    "blank lines": (lambda r: "\n\na,b,y\n\n" + numeric_rows(r, 50, 3) + "\n\n" + numeric_rows(r, 50, 3) + "\n\n",
                    dict(target_columns=["y", "a"])),
    "columns out of order": (lambda r: "a,b,c,y\n" + numeric_rows(r, 300, 4),
                             dict(target_columns=["y"], feature_columns=["c", "a"])),
    "no final newline": (lambda r: "a,b,y\n" + numeric_rows(r, 30, 3).rstrip("\n"), dict(target_columns=["b"])),
    "semicolons": (lambda r: "a;b;y\n" + numeric_rows(r, 300, 3).replace(",", ";"),
                   dict(target_columns=["y"], delimiter=";")),
    "integer classes": (lambda r: "a,b,k\n" + "".join(f"{i % 7 - 3}.5,{i * 0.25},{i % 3}\n" for i in range(90)),
                        dict(target_columns=["k"], classes=True)),
    "negative zeros": (lambda r: "a,y\n-0,0\n-0.0,-0e3\n0,-.0\n", dict(target_columns=["y"])),
    "old Mac line ends": (lambda r: "a,b,y\r" + numeric_rows(r, 300, 3).replace("\n", "\r"),
                          dict(target_columns=["y"])),
    "mixed line ends": (lambda r: "a,b,y\r\n" + "".join(line + ("\r", "\n", "\r\n")[i % 3] for i, line in
                                                       enumerate(numeric_rows(r, 300, 3).splitlines())),
                        dict(target_columns=[-1], feature_columns=[1])),
    "a few 17-digit cells": (lambda r: "a,y\n" + "".join(f"{float(v)!r},{i}\n" if i % 40 == 0 else f"{i * 0.5},{i}\n"
                                                          for i, v in enumerate(r.standard_normal(400))),
                             dict(target_columns=["y"])),
}
GENERAL_FILES = {  # the fast path declines these: the general path reads them as it always did
    "quoted": (lambda r: 'a,b,y\n"1.5",2,3\n4," 5",6\n', dict(target_columns=["y"])),
    "spaces": (lambda r: "a,b,y\n1, 2,3\n 4,5 ,6\n", dict(target_columns=["y"])),
    "whitespace line": (lambda r: "a,b,y\n1,2,3\n   \n4,5,6\n", dict(target_columns=["y"])),
    "%.18e": (lambda r: "a,b,y\n" + numeric_rows(r, 300, 3, "%.18e"), dict(target_columns=["y"])),
    "string classes": (lambda r: "w,h,species\n1,2,setosa\n3,4,virginica\n", dict(target_columns=["species"])),
    "unicode delimiter": (lambda r: "a§y\n1§2\n3§4\n", dict(target_columns=["y"], delimiter="§")),
    "quoted, old Mac line ends": (lambda r: 'a,b,y\r"1.5",2,3\r4," 5",6\r', dict(target_columns=["y"])),
}


@pytest.mark.parametrize("name,fast", [(n, True) for n in FAST_FILES] + [(n, False) for n in GENERAL_FILES])
def test_csv_fast_path_reads_what_the_general_path_reads_and_declines_the_rest(name, fast, tmp_path, monkeypatch):
    text, kwargs = (FAST_FILES if fast else GENERAL_FILES)[name]
    path = tmp_path / "d.csv"
    path.write_text(text(np.random.default_rng(0)), encoding="utf-8", newline="")
    general, fast_read, answers = read_both_ways(monkeypatch, str(path), **kwargs)
    if fast:
        assert answers and all(a is not None for a in answers), "the fast path declined"
    else:
        assert all(a is None for a in answers)
    same_dataset(general, fast_read)


@pytest.mark.parametrize("text", [
    "a,b,y\n1,2,3\n4,x,6\n", "a,b,y\n1,2,3\n4,5,6,7\n", "a,b,y\n1,2,3\n4,5\n", "a,b,y\ninf,2,3\n",
    "a,b,y\n1,nan,3\n", "a,b,y\n1,1e999,3\n", "a,b,y\n1,-1e400,3\n", "a,b,y\n1,2,3\n1,2,3,\n", "a,b,y\n\n\n",
    "a,b,y\n1,,3\n", "a,b,y\n1,2,3\n,,\n4,5,6\n", "a,b,y\n1,2,3\n4,5,1-2\n", "a,b,y\n1,2,3\n4,5,6\r",
    "a,b,y\n" + "1,2,3\n" * 5000 + "1,2,x\n", "a,b,y,\n1,2,3\n4,5,6\n", "a,b,y,\n1.5,2,3\n",
])
def test_csv_errors_and_oddities_are_the_same_with_or_without_the_fast_path(text, tmp_path, monkeypatch):
    path = tmp_path / "e.csv"
    path.write_bytes(text.encode())
    general, fast, _ = read_both_ways(monkeypatch, str(path), target_columns=["y"])
    same_dataset(general, fast)


def test_csv_fast_path_is_priced_and_steps_aside_when_memory_is_short(tmp_path, monkeypatch):
    """It parses every column: when that does not fit but the columns asked for do, loadtxt reads them."""
    path = tmp_path / "d.csv"
    path.write_text("a,b,c,d,k\n" + "1.5,2,3,4,1\n" * 20000)
    # All 5 columns of 20,001 lines: 800 kB + 4 copied out; the 4 asked for: 640 kB; the labels, a
    # Python string each: 1.1 MB.
    monkeypatch.setenv("MINIDL_MAX_MEMORY", "1.3MB")
    answers = fast_path(monkeypatch, True)
    data = csv_file(str(path), target_columns=["k"], classes=True)
    assert answers == [] and data.X.shape == (4, 20000) and data.classes == ["1"]
    monkeypatch.setenv("MINIDL_MAX_MEMORY", "10MB")
    assert csv_file(str(path), target_columns=["k"], classes=True).X.shape == (4, 20000)
    assert len(answers) == 1 and answers[0] is not None


def test_csv_fast_path_tries_the_head_before_reading_a_big_file(tmp_path, monkeypatch):
    """Beyond the first MiB (the head CsvText reads anyway), the first rows decide whether the rest is read."""
    from framework.data import CsvText

    rows = "".join(f"{i * 0.25},{-i},{i % 7}.5\n" for i in range(80000))  # ~1.5 MB
    good = tmp_path / "good.csv"
    good.write_text("a,b,y\n" + rows)
    answers = fast_path(monkeypatch, True)
    data = csv_file(str(good), target_columns=["y"])
    assert len(answers) == 2 and all(a is not None for a in answers)  # the probe, then the file
    assert answers[0].shape[0] < 80000 and answers[1].shape == (80000, 3)
    assert data.X[:, -1].tolist() == [79999 * 0.25, -79999.0]

    quoted = tmp_path / "quoted.csv"
    quoted.write_text('a,b,y\n"1",2,3\n' + rows)
    answers = fast_path(monkeypatch, True)
    table = CsvText(quoted)
    assert table.numbers([0, 1, 2])[0].tolist() == [1.0, 2.0, 3.0]
    assert answers == [None] and table._raw_bytes is None  # declined from the head: the file was not read whole

    late = tmp_path / "late.csv"
    late.write_text("a,b,y\n" + rows + "1,2,x\n")
    general, fast, answers = read_both_ways(monkeypatch, str(late), target_columns=["y"])
    assert len(answers) == 2 and answers[0] is not None and answers[1] is None
    assert general == fast and "late.csv, line 80002, column 'y': cannot read 'x' as a number" in fast


CR_FILES = {  # name: (file text with "\n" line ends, csv_file arguments)
    "header": ("a,b,y\n1,2,3\n4,5,6\n", dict(target_columns=["y"])),
    "headerless, the last column the target": ("1,2,3\n4,5,6\n", dict(target_columns=[-1])),
    "class labels": ("w,h,species\n1,2,setosa\n3,4,virginica\n", dict(target_columns=["species"])),
    "quoted": ('a,b,y\n"1.5",2,3\n4,5,6\n', dict(target_columns=["y"])),
    "blank lines": ("\na,b,y\n\n1,2,3\n\n4,5,6\n\n", dict(target_columns=["y"], feature_columns=["a"])),
    "no final line end": ("a,b,y\n1,2,3\n4,5,6", dict(target_columns=["b"])),
    "a bad cell": ("a,b,y\n1,2,3\n\n4,x,6\n", dict(target_columns=["y"])),
    "a short row": ("a,b,y\n1,2,3\n\n4,5\n", dict(target_columns=["y"])),
    "a label not in classes": ("a,y\n1,cat\n\n2,dog\n3,emu\n", dict(target_columns=["y"], classes=["cat", "dog"])),
}


@pytest.mark.parametrize("ends", ["\r", "mixed"])
@pytest.mark.parametrize("name", CR_FILES)
def test_csv_old_mac_line_ends_read_as_line_ends(name, ends, tmp_path, monkeypatch):
    """Issue: a file with "\r" line ends (old Mac OS; Excel for Mac's "CSV (Macintosh)") raised a _csv.Error
    traceback while its header was read. A lone "\r" ends a line, as for Python's universal newlines and
    numpy.loadtxt: the same data, or the same error with the same line numbers, as with "\n", on both paths."""
    text, kwargs = CR_FILES[name]
    lines = text.split("\n")
    if ends == "\r":
        cr_text = "\r".join(lines)
    else:
        cr_text = "".join(line + ("\r", "\r\n", "\n")[i % 3] for i, line in enumerate(lines[:-1])) + lines[-1]
    results = []
    for folder, content in (("lf", text), ("cr", cr_text)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "d.csv").write_bytes(content.encode())
        monkeypatch.chdir(tmp_path / folder)  # the same name, "d.csv", in data and messages
        results.append(read_both_ways(monkeypatch, "d.csv", **kwargs)[:2])
    for lf, cr in zip(*results):
        same_dataset(lf, cr)


def test_csv_old_mac_line_ends_beyond_the_first_mib(tmp_path, monkeypatch):
    """The head CsvText reads first and the whole file agree on where lines end, on both paths."""
    rows = "".join(f"{i * 0.25},{-i},{i % 7}.5\r" for i in range(80000))  # ~1.5 MB
    good = tmp_path / "good.csv"
    good.write_bytes(("a,b,y\r" + rows).encode())
    answers = fast_path(monkeypatch, True)
    data = csv_file(str(good), target_columns=["y"])
    assert len(answers) == 2 and all(a is not None for a in answers)  # the probe, then the file
    assert data.n_examples == 80000 and data.X[:, -1].tolist() == [79999 * 0.25, -79999.0]

    quoted = tmp_path / "quoted.csv"  # declined: numpy.loadtxt reads it
    quoted.write_bytes(('a,b,y\r"1",2,3\r' + rows).encode())
    answers = fast_path(monkeypatch, True)
    data = csv_file(str(quoted), target_columns=["y"])
    assert answers == [None] and data.n_examples == 80001 and data.X[:, -1].tolist() == [79999 * 0.25, -79999.0]

    # Both kinds, a "\r\n" split by the end of the first MiB: that line ends in the same place in both.
    mixed = "".join(row + ("\r", "\r\n")[i % 2] for i, row in enumerate(rows.split("\r")[:-1])).encode()
    split = max(i for i in range(len(mixed)) if mixed.startswith(b"\r\n", i) and i < (1 << 20) - 7)
    header = ("a" * ((1 << 20) - 7 - split) + ",b,y\r\n").encode()  # puts that "\r" last in the first MiB
    (tmp_path / "mixed.csv").write_bytes(header + mixed)
    assert (header + mixed)[(1 << 20) - 1:(1 << 20) + 1] == b"\r\n"
    data = csv_file(str(tmp_path / "mixed.csv"), target_columns=["y"])
    assert data.n_examples == 80000 and data.X[:, -1].tolist() == [79999 * 0.25, -79999.0]

    # "\n" lines for the first MiB, then "\r" ones: the fast path declines, numpy.loadtxt and the scan read them.
    lf_rows = rows.replace("\r", "\n")
    (tmp_path / "later.csv").write_bytes(("a,b,y\n" + lf_rows + rows + "1,2,x\r\n1,2,3").encode())
    (tmp_path / "later_lf.csv").write_bytes(("a,b,y\n" + lf_rows + lf_rows + "1,2,x\n1,2,3").encode())
    for name in ("later.csv", "later_lf.csv"):
        general, fast, answers = read_both_ways(monkeypatch, str(tmp_path / name), target_columns=["y"])
        assert general == fast and f"{name}, line 160002, column 'y': cannot read 'x' as a number" in fast
    (tmp_path / "later.csv").write_bytes(("a,b,y\n" + lf_rows + rows + "1,\0,3\r").encode())
    with pytest.raises(DataError, match=r"later.csv, line 160002, character 3: byte 0x00 \(NUL\) is not text"):
        csv_file(str(tmp_path / "later.csv"), target_columns=["y"])
    (tmp_path / "later.csv").write_bytes(("a,b,y\n" + lf_rows + rows + "1,2,3").encode())
    answers = fast_path(monkeypatch, True)
    data = csv_file(str(tmp_path / "later.csv"), target_columns=["y"])
    assert answers[-1] is None and data.n_examples == 160001 and data.X[:, 80000].tolist() == [0.0, 0.0]

    late = tmp_path / "late.csv"
    late.write_bytes(("a,b,y\r" + rows + "1,2,x\r").encode())
    general, fast, answers = read_both_ways(monkeypatch, str(late), target_columns=["y"])
    assert general == fast and "late.csv, line 80002, column 'y': cannot read 'x' as a number" in fast
