"""CSV and npz data sources: encodings, header detection, short excerpts, class labels."""

import numpy as np
import pytest

from framework import DataError
from framework.cli import main
from plugins.datasets import csv_file, npz_file
from tests.hostile import corpus
from tests.test_cli import EXPERIMENT


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(path)


def test_a_headerless_numeric_csv_keeps_its_first_row(tmp_path):
    """Issue 10: with header = true by default, the first of these rows was silently dropped."""
    path = write(tmp_path, "n.csv", "1,2,3\n4,5,6\n7,8,9\n")
    data = csv_file(path, target_columns=[2])
    assert data.n_examples == 3
    np.testing.assert_array_equal(data.X, [[1, 4, 7], [2, 5, 8]])
    np.testing.assert_array_equal(data.y, [[3, 6, 9]])
    with pytest.raises(DataError, match=r"n.csv: target column 'y' is a name, but the file has no header row "
                                        r"\(its first row is numbers, read as data\); use a column index, "
                                        r"or header = true"):
        csv_file(path, target_columns=["y"])
    assert csv_file(path, target_columns=[2], header=True).n_examples == 2  # said explicitly: a header
    assert csv_file(write(tmp_path, "h.csv", "a,b,y\n1,2,3\n"), target_columns=["y"]).n_examples == 1


def test_a_utf8_bom_is_not_part_of_the_first_column_name(tmp_path):
    path = write(tmp_path, "bom.csv", b"\xef\xbb\xbfx1,x2,y\r\n1,2,3\r\n\r\n4,5,6\r\n")
    data = csv_file(path, target_columns=["y"], feature_columns=["x1", "x2"])
    assert data.feature_names == ["x1", "x2"] and data.n_examples == 2


def test_undecodable_bytes_name_file_line_and_column(tmp_path):
    path = write(tmp_path, "latin1.csv", "a,b,y\n1,2,3\n4,caf\xe9,6\n".encode("latin-1"))
    with pytest.raises(DataError) as info:
        csv_file(path, target_columns=["y"])
    assert str(info.value) == f"{path}, line 3, character 6: byte 0xe9 is not UTF-8 text; save the file as UTF-8"


def test_errors_quote_only_a_short_excerpt_of_the_data(tmp_path, capsys):
    secret = "s3cr3t-" * 200
    path = write(tmp_path, "private.csv", f"a,b,y\n1,{secret},3\n")
    with pytest.raises(DataError) as info:
        csv_file(path, target_columns=["y"])
    assert str(info.value) == f"{path}, line 2, column 'b': cannot read 's3cr3t-s3cr3t-s3cr3t'... as a number"
    # An experiment pointing at a private file: its content is not printed.
    key = tmp_path / "id_private"
    key.write_text("-----BEGIN PRIVATE KEY----- " + "A" * 3000 + "\n" + "B" * 3000 + "\n")
    exp = tmp_path / "e.toml"
    exp.write_text(EXPERIMENT.read_text().replace(
        'type = "synthetic_linear"\nn_samples = 1000\nn_features = 10\nnoise = 0.1',
        f'type = "csv"\npath = "{key}"\ntarget_columns = ["y"]'))
    before = corpus.checksums(tmp_path)
    assert main(["run", str(exp), "--runs-dir", str(tmp_path / "runs"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "AAAAAAAAAAAAAAAAAAAAAAAAA" not in err and "BBBB" not in err and "Traceback" not in err
    assert "no column named 'y'" in err and len(err) < 400
    assert corpus.checksums(tmp_path) == before


def test_csv_errors_keep_file_line_and_column_on_the_fast_path(tmp_path):
    big = "\n".join(",".join(str(i * 3 + j) for j in range(3)) for i in range(5000))
    path = write(tmp_path, "big.csv", "a,b,y\n" + big + "\n1,2,x\n")
    with pytest.raises(DataError, match=r"big.csv, line 5002, column 'y': cannot read 'x' as a number "
                                        r"\(for class labels in this column, set classes = true\)"):
        csv_file(path, target_columns=["y"])
    with pytest.raises(DataError, match=r"ragged.csv, line 3: expected 3 fields, found 4"):
        csv_file(write(tmp_path, "ragged.csv", "a,b,y\n1,2,3\n4,5,6,7\n"), target_columns=["y"])
    with pytest.raises(DataError, match=r"inf.csv, line 2, column 'a': 'inf' is not a finite number"):
        csv_file(write(tmp_path, "inf.csv", "a,b,y\ninf,2,3\n"), target_columns=["y"])
    data = csv_file(write(tmp_path, "q.csv", 'a,b,y\n"1.5",2,3\n'), target_columns=["y"])
    np.testing.assert_array_equal(data.X, [[1.5], [2.0]])


def test_string_class_labels_become_class_indices(tmp_path):
    path = write(tmp_path, "iris.csv", "w,h,species\n1,2,setosa\n3,4,virginica\n5,6, setosa\n7,8,versicolor\n")
    data = csv_file(path, target_columns=["species"])
    assert data.classes == ["setosa", "versicolor", "virginica"]
    np.testing.assert_array_equal(data.y, [[0, 2, 0, 1]])
    assert data.X.shape == (2, 4)
    fixed = csv_file(path, target_columns=["species"], classes=["virginica", "setosa", "versicolor"])
    np.testing.assert_array_equal(fixed.y, [[1, 0, 1, 2]])
    with pytest.raises(DataError, match=r"iris.csv, line 5: the label 'versicolor' is not one of the classes "
                                        r"\['virginica', 'setosa'\]"):
        csv_file(path, target_columns=["species"], classes=["virginica", "setosa"])


def test_integer_class_labels_sort_as_numbers(tmp_path):
    path = write(tmp_path, "k.csv", "a,k\n1,10\n2,2\n3,2\n4,0\n")
    data = csv_file(path, target_columns=["k"], classes=True)
    assert data.classes == ["0", "2", "10"]
    np.testing.assert_array_equal(data.y, [[2, 1, 1, 0]])
    assert csv_file(path, target_columns=["k"]).classes is None  # numbers are values unless asked


@pytest.mark.parametrize("label", ["0.5", "nan", "inf", "1e400"])
def test_class_labels_that_are_numbers_must_be_integers(tmp_path, label):
    """Issue: classes = true on a column of numbers, one of them not an integer, raised a ValueError
    (or an OverflowError) from int()."""
    path = write(tmp_path, "k.csv", f"a,k\n1,1\n2,{label}\n3,-2\n")
    with pytest.raises(DataError) as info:
        csv_file(path, target_columns=["k"], classes=True)
    assert str(info.value) == (f"{path}, line 3: class labels must be names or integers; found {label!r} "
                               f"(for numbers to regress, set classes = false)")
    assert csv_file(path, target_columns=["k"], classes=["1", label, "-2"]).classes == ["1", label, "-2"]
    mixed = write(tmp_path, "m.csv", f"a,k\n1,cat\n2,{label}\n")  # names and numbers: names in text order
    assert csv_file(mixed, target_columns=["k"]).classes == sorted(["cat", label])


def test_npz_class_labels(tmp_path):
    np.savez(tmp_path / "s.npz", X=np.arange(6.0).reshape(3, 2), y=np.array(["dog", "cat", "dog"]))
    data = npz_file(str(tmp_path / "s.npz"))
    assert data.classes == ["cat", "dog"]
    np.testing.assert_array_equal(data.y, [[1, 0, 1]])
    np.savez(tmp_path / "i.npz", X=np.arange(6.0).reshape(3, 2), y=np.array([7, 3, 7]))
    data = npz_file(str(tmp_path / "i.npz"), classes=True)
    assert data.classes == ["3", "7"] and data.y.tolist() == [[1.0, 0.0, 1.0]]
    assert npz_file(str(tmp_path / "i.npz")).classes is None


# Malformed files: each is one DataError naming the file, line and column, never a traceback from
# the csv module and never a silent misreading (an unclosed quote used to swallow the rows after it
# into one class label, and a NUL made "c\x00" a label).
NUL = "is not text (a UTF-16 or binary file?); save the file as UTF-8"
UNCLOSED = ("the quote opening this field is never closed (the rest of the file would be one field); "
            'add the closing quote, or write a quote inside a quoted field as ""')
ON_ITS_LINE = ("the quote opening this field is not closed on its line (the header, or a first row of data, "
               'is one line); add the closing quote, or write a quote inside a quoted field as ""')
AFTER = ("after the closing quote of a field; a quoted field ends at the delimiter ',' or the end of the "
         'line (write a quote inside a quoted field as "")')
LONG = "a field longer than 131,072 characters; cells of a data file are numbers or short labels"
MALFORMED = {  # name: (file content, target_columns, the error after the file's path)
    "NUL in the header": (b"a,b\x00,y\n1,2,3\n", ["y"], f", line 1, character 4: byte 0x00 (NUL) {NUL}"),
    "NUL in a number": (b"a,b,y\n1,2\x00,3\n", ["y"], f", line 2, character 4: byte 0x00 (NUL) {NUL}"),
    "NUL in a label": (b"a,b,y\n1,2,c\x00\n3,4,d\n", ["y"], f", line 2, character 6: byte 0x00 (NUL) {NUL}"),
    "NUL past the first MiB": (b"a,b,y\n" + b"1,2,3\n" * 200_000 + b"1,\x00,3\n", ["y"],
                               f", line 200002, character 3: byte 0x00 (NUL) {NUL}"),
    "UTF-16 without a BOM": ("a,b,y\n1,2,3\n".encode("utf-16-le"), ["y"], f", line 1, character 2: byte 0x00 (NUL) {NUL}"),
    "an unclosed quote in a row": (b'a,b,y\n1,"2,3\n4,5,6\n', ["y"], f", line 2, character 3: {UNCLOSED}"),
    "an unclosed quote in a label": (b'a,b,y\n1,2,"x\n4,5,z\n', ["y"], f", line 2, character 5: {UNCLOSED}"),
    "an unclosed quote on the last line": (b'a,b,y\n1,2,x\n4,5,"z', ["y"], f", line 3, character 5: {UNCLOSED}"),
    "an unclosed quote in the header": (b'a,"b,y\n1,2,3\n', ["y"], f", line 1, character 3: {ON_ITS_LINE}"),
    "an unclosed quote in a headerless first row": (b'1,"2,3\n4,5,6\n', [0], f", line 1, character 3: {ON_ITS_LINE}"),
    "text after a closing quote": (b'a,b,y\n1,2,3\n4,"5"x,6\n', ["y"], f", line 3, character 6: 'x' {AFTER}"),
    "a label after a closing quote": (b'w,h,s\n1,2,"setosa" x\n3,4,virginica\n', ["s"],
                                      f", line 2, character 13: ' ' {AFTER}"),
    "a field too long": (b"a,b,y\n1,2," + b"x" * 200_000 + b"\n", ["y"], f", line 2, character 5: {LONG}"),
    "a quoted field too long": (b'a,b,y\n1,2,3\n"' + b"x" * 200_000 + b'",5,6\n', ["y"],
                                f", line 3, character 1: {LONG} (is its quote closed where it should be?)"),
    "a header one field wider than the rows": (b"a,b,y,\n1,2,3\n4,5,6\n", ["y"],
                                               ": column 4 of 4 has no name in the header (a delimiter at the end "
                                               "of the header line?); name every column, or set header = false "
                                               "and choose columns by index"),
    "a header wider than the rows": (b"a,b,y,z\n1,2,3\n4,5,6\n", ["y"], ", line 2: expected 4 fields, found 3"),
    "a header field too long": (b"a,b," + b"y" * 200_000 + b"\n1,2,3\n", [0], f", line 1, character 5: {LONG}"),
}


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_csv_files_give_one_error_with_file_line_and_column(tmp_path, name):
    content, targets, message = MALFORMED[name]
    path = write(tmp_path, "m.csv", content)
    with pytest.raises(DataError) as info:
        csv_file(path, target_columns=targets)
    assert str(info.value) == path + message


def test_malformed_csv_files_stop_minidl_run_without_a_traceback(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    for name, (content, targets, message) in MALFORMED.items():
        path = write(tmp_path / "data", "m.csv", content)
        exp = tmp_path / "e.toml"
        exp.write_text(EXPERIMENT.read_text().replace(
            'type = "synthetic_linear"\nn_samples = 1000\nn_features = 10\nnoise = 0.1',
            f'type = "csv"\npath = "{path}"\ntarget_columns = {targets!r}'.replace("'", '"')))
        before = corpus.checksums(tmp_path)
        assert main(["run", str(exp), "--runs-dir", str(tmp_path / "runs"), "--quiet"]) == 1, name
        assert capsys.readouterr().err == f"minidl: error: {path}{message}\n", name
        assert corpus.checksums(tmp_path) == before, name
