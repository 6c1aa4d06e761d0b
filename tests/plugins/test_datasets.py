"""The multi-class data sources: digits (shipped with the package) and spirals; csv column indices."""

import fnmatch
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from framework import DataError, Dataset
from framework.registry import registry
from plugins.datasets import DIGITS_FILE, csv_file, digits, spirals

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


def test_digits_matches_the_published_description():
    data = digits()
    # UCI optdigits.tes: 1,797 instances, 64 attributes in 0..16, and these class counts.
    assert data.X.shape == (64, 1797) and data.y.shape == (1, 1797)
    assert data.classes == [str(k) for k in range(10)]
    counts = np.bincount(data.y[0].astype(int))
    assert counts.tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    pixels = data.X * 16
    np.testing.assert_array_equal(pixels, np.round(pixels))
    assert pixels.min() == 0 and pixels.max() == 16
    assert data.feature_names[9] == "pixel_1_1" and data.target_names == ["digit"]


def test_digits_first_image_is_the_known_zero():
    # The first row of the UCI file (and of scikit-learn's copy), written out by hand.
    first = [0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0, 0, 4, 12, 0, 0, 8,
             8, 0, 0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0, 0, 2, 14, 5, 10, 12, 0, 0, 0, 0, 6, 13, 10,
             0, 0, 0]
    data = digits()
    np.testing.assert_array_equal(data.X[:, 0] * 16, first)
    assert data.y[0, 0] == 0 and data.y[0, 1] == 1


def test_digits_equals_scikit_learns_copy():
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = datasets.load_digits(return_X_y=True)
    data = digits()
    np.testing.assert_array_equal(data.X.T * 16, X)
    np.testing.assert_array_equal(data.y[0], y)


def test_digits_train_and_test_partition_the_set_as_the_validation_split_does():
    full = digits()
    train, test = digits(subset="train"), digits(subset="test", test_fraction=0.2, split_seed=0)
    assert train.n_examples + test.n_examples == 1797 and test.n_examples == 359
    same_train, same_val = full.split(0.2, seed=0)
    np.testing.assert_array_equal(test.X, same_val.X)
    np.testing.assert_array_equal(train.y, same_train.y)
    # Disjoint: no test image occurs among the training images (the set has no duplicates).
    assert len({c.tobytes() for c in full.X.T}) == 1797
    seen = {c.tobytes() for c in train.X.T}
    assert not any(c.tobytes() in seen for c in test.X.T)
    assert test.classes == full.classes and "test" in test.name
    other = digits(subset="test", split_seed=1)
    assert not np.array_equal(other.X, test.X)
    # every class is represented in the default test part
    assert np.bincount(test.y[0].astype(int), minlength=10).min() >= 20


def test_digits_rejects_bad_arguments_with_the_path():
    with pytest.raises(DataError, match=r"subset='test' needs `test_fraction` > 0"):
        digits(subset="test", test_fraction=0.0)
    with pytest.raises(DataError, match=r"`subset` must be 'all', 'train' or 'test'. Received: subset='val'"):
        digits(subset="val")
    problems = registry.check_args("datasets", "digits", {"subset": "val", "test_fraction": 1.5})
    assert {p for p, _ in problems} == {"subset", "test_fraction"}


def test_digits_ships_as_package_data():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["plugins"]
    assert any(fnmatch.fnmatch(DIGITS_FILE, pattern) for pattern in patterns)
    path = ROOT / "plugins" / DIGITS_FILE
    assert path.stat().st_size < 60_000
    with np.load(path, allow_pickle=False) as archive:
        assert sorted(archive.keys()) == ["labels", "pixels"]
        assert archive["pixels"].dtype == np.uint8


def test_a_damaged_digits_file_is_reported(monkeypatch, tmp_path):
    import plugins.datasets as module

    bad = tmp_path / "digits.npz"
    np.savez(bad, pixels=np.zeros((10, 64), np.uint8), labels=np.zeros(10, np.uint8))
    monkeypatch.setattr(module, "DIGITS_FILE", str(bad))
    with pytest.raises(DataError, match="is not the 1,797 UCI digits.*reinstall minidl"):
        digits()
    bad.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="cannot read the packaged data file.*reinstall minidl"):
        digits()


def test_spirals_is_seeded_balanced_and_shaped():
    a, b = spirals(n_classes=4, n_samples=202, noise=0.05, seed=3), spirals(4, 202, 0.05, seed=3)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert a.X.shape == (2, 202) and a.y.shape == (1, 202) and a.classes == ["0", "1", "2", "3"]
    assert np.bincount(a.y[0].astype(int)).tolist() == [51, 51, 50, 50]
    assert not np.array_equal(spirals(seed=4).X, spirals(seed=3).X)
    # Without noise every point lies on its arm: radius r in [0.1, 1], angle 2 pi k / C + 4 r.
    clean = spirals(n_classes=3, n_samples=90, noise=0.0)
    r = np.hypot(*clean.X)
    angle = 2 * np.pi * clean.y[0] / 3 + 4 * r
    np.testing.assert_allclose(clean.X, np.vstack([r * np.cos(angle), r * np.sin(angle)]), atol=1e-12)
    assert r.min() == pytest.approx(0.1) and r.max() == pytest.approx(1.0)


def test_spirals_defeat_a_linear_classifier():
    # Nearest class mean (a linear rule) is near chance: the arms wind around each other.
    data = spirals(n_classes=3, n_samples=600, noise=0.0)
    means = np.stack([data.X[:, data.y[0] == k].mean(axis=1) for k in range(3)])
    predicted = np.argmin(((data.X.T[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert np.mean(predicted == data.y[0]) < 0.6


def test_spirals_rejects_bad_arguments():
    with pytest.raises(DataError, match=r"expected `n_classes` >= 2. Received: n_classes=1"):
        spirals(n_classes=1)
    with pytest.raises(DataError, match=r"at least `n_classes`.*n_samples=2, n_classes=3"):
        spirals(n_classes=3, n_samples=2)


def test_dataset_classes_must_index_y():
    with pytest.raises(DataError, match=r"with 2 classes, y must be one row of class indices 0..1"):
        Dataset(np.ones((2, 3)), np.array([[0.0, 1.0, 2.0]]), classes=["a", "b"])
    with pytest.raises(DataError, match=r"one row of class indices"):
        Dataset(np.ones((2, 3)), np.array([[0.0, 0.5, 1.0]]), classes=["a", "b"])
    ok = Dataset(np.ones((2, 3)), np.array([0, 1, 1]), classes=["a", "b"])
    train, val = ok.split(1 / 3, seed=0)
    assert train.classes == val.classes == ["a", "b"]


def test_prepared_experiment_data_keeps_the_classes():
    from framework.experiment import Experiment, prepare_data

    experiment = Experiment.from_dict({
        "model": {"layers": [{"type": "linear", "out_features": 10}]}, "loss": {"type": "mse"},
        "optimizer": {"type": "sgd"}, "dtype": "float32",
        "data": {"source": {"type": "digits"}, "standardize": True, "validation_split": 0.2}})
    train, val, scaler = prepare_data(experiment)
    assert train.classes == val.classes == [str(k) for k in range(10)]
    assert train.X.dtype == np.float32 and scaler is not None


@pytest.mark.parametrize("index", [[0], [2], [1, 2, 3], [0, 1, 2, 3, 4], [4, 0], [3, 1, 1]])
@pytest.mark.parametrize("block", [1, 3, 7, 2048])
def test_rows_of_is_a_blocked_transposed_copy(index, block):
    from plugins.datasets import _rows_of

    values = np.random.default_rng(0).standard_normal((23, 5))
    out = _rows_of(values, index, block=block)
    assert out.flags.c_contiguous and out.flags.owndata
    np.testing.assert_array_equal(out, values[:, index].T)


# ----------------------------------------------------------------------------
# csv: column indices mean the same with or without a header
# ----------------------------------------------------------------------------
ROWS = "1,2,3\n4,5,6\n7,8,9\n"


@pytest.mark.parametrize("header", ["with", "auto", "false"])
@pytest.mark.parametrize("target, features, x_rows, y_rows", [
    ([-1], None, [[1, 4, 7], [2, 5, 8]], [[3, 6, 9]]),     # -1 is the last column, and not a feature
    ([2], None, [[1, 4, 7], [2, 5, 8]], [[3, 6, 9]]),
    ([-3], None, [[2, 5, 8], [3, 6, 9]], [[1, 4, 7]]),
    ([0, -1], None, [[2, 5, 8]], [[1, 4, 7], [3, 6, 9]]),
    ([-1], [-2, 0], [[2, 5, 8], [1, 4, 7]], [[3, 6, 9]]),
])
def test_csv_negative_column_indices_count_from_the_last_column(tmp_path, header, target, features, x_rows,
                                                                 y_rows):
    """Issue: without a header, -1 was not resolved before the features were chosen, so the target
    stayed a feature too (X had 3 rows)."""
    path = tmp_path / "n.csv"
    path.write_text(("a,b,c\n" if header == "with" else "") + ROWS)
    kwargs = {"header": False} if header == "false" else {}
    data = csv_file(str(path), target_columns=target, feature_columns=features, **kwargs)
    np.testing.assert_array_equal(data.X, x_rows)
    np.testing.assert_array_equal(data.y, y_rows)
    names = ["a", "b", "c"] if header == "with" else ["0", "1", "2"]
    assert data.target_names == [names[t] for t in target]
    assert data.feature_names == [names[f] for f in (features or [i for i in range(3) if i % 3 not in
                                                                   [t % 3 for t in target]])]


@pytest.mark.parametrize("header", ["with", "auto", "false"])
@pytest.mark.parametrize("kwargs, message", [
    (dict(target_columns=[7]), "target column index 7 is out of range; the file has 3 columns"),
    (dict(target_columns=[-4]), "target column index -4 is out of range; the file has 3 columns"),
    (dict(target_columns=[0], feature_columns=[1, 3]), "feature column index 3 is out of range; the file has "
                                                       "3 columns"),
    (dict(target_columns=[5], classes=True), "target column index 5 is out of range; the file has 3 columns"),
])
def test_csv_column_index_out_of_range_is_the_same_error_with_or_without_a_header(tmp_path, header, kwargs,
                                                                                   message):
    """Issue: without a header, an index past the last column ended in an IndexError traceback."""
    path = tmp_path / "n.csv"
    path.write_text(("a,b,c\n" if header == "with" else "") + ROWS)
    if header == "false":
        kwargs = dict(kwargs, header=False)
    with pytest.raises(DataError) as info:
        csv_file(str(path), **kwargs)
    assert str(info.value) == f"{path}: {message} (valid indices: 0 to 2, or -1 to -3 from the last)"


def test_csv_columns_are_names_or_integer_indices_each_named_once(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b,y\n1,2,3\n4,5,6\n")
    # numpy integers are indices like Python ints (they come from arrays of column numbers)
    np.testing.assert_array_equal(csv_file(str(path), target_columns=[np.int64(2)]).y, [[3.0, 6.0]])
    for bad in (True, 1.5, None):
        with pytest.raises(DataError, match=rf"a target column is a name \(text\) or an index \(an integer\); "
                                            rf"received {bad!r} of type {type(bad).__name__}"):
            csv_file(str(path), target_columns=[bad])
    with pytest.raises(DataError, match=r"the target columns \['y', -1\] name column 'y' more than once"):
        csv_file(str(path), target_columns=["y", -1])
    with pytest.raises(DataError, match=r"the feature columns \['a', 0\] name column 'a' more than once"):
        csv_file(str(path), target_columns=["y"], feature_columns=["a", 0])


def test_an_experiment_file_cannot_name_a_csv_column_with_true(tmp_path):
    # pydantic's lax mode read `true` as the integer 1, silently choosing column 1.
    from framework import ConfigError

    (tmp_path / "d.csv").write_text("a,b,y\n1,2,3\n4,5,6\n")
    with pytest.raises(ConfigError, match=r"data.target_columns\[0\].int: Input should be a valid integer. "
                                          r"Received: True"):
        registry.build("datasets", "csv", {"path": str(tmp_path / "d.csv"), "target_columns": [True]}, path="data")


@pytest.mark.parametrize("last", ['1,2,3,"4\n', '1,2,3,"4', '1,"2,3,4\n'])
def test_a_quote_left_open_in_the_last_row_is_an_error_not_a_shorter_file(tmp_path, last):
    # numpy.loadtxt read such a file as one row shorter, silently.
    path = tmp_path / "d.csv"
    path.write_text("a,b,c,price\n1,2,3,4\n" + last)
    with pytest.raises(DataError, match=r"line 3, character \d+: the quote opening this field is never closed"):
        csv_file(str(path), target_columns=["price"])


def test_a_column_cannot_be_both_a_feature_and_the_target(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b,price\n1,2,3\n4,5,6\n")
    with pytest.raises(DataError, match=r"column 'price' is both a feature and a target: the model would be given "
                                        r"the answer as an input"):
        csv_file(str(path), target_columns=["price"], feature_columns=["a", "price"])
    with pytest.raises(DataError, match=r"column 2 is both a feature and a target"):
        csv_file(str(path), target_columns=[-1], feature_columns=[0, 2], header=False)


def test_a_name_in_a_file_read_with_header_false_says_header_false_was_set(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b,price\n1,2,3\n")
    with pytest.raises(DataError, match=r"column 'price' is a name, but the file has no header row \(header = "
                                        r"false was set, so its first row is read as data\)"):
        csv_file(str(path), target_columns=["price"], header=False)
    path.write_text("1,2,3\n4,5,6\n")
    with pytest.raises(DataError, match=r"no header row \(its first row is numbers, read as data\)"):
        csv_file(str(path), target_columns=["price"])


@pytest.mark.parametrize("value", ["yes", 1])
def test_header_is_true_false_or_auto_nothing_else(tmp_path, value):
    from framework import ConfigError

    (tmp_path / "d.csv").write_text("a,b,y\n1,2,3\n")
    with pytest.raises(ConfigError, match=rf"data.header.bool: Input should be a valid boolean. Received: {value!r}"):
        registry.build("datasets", "csv", {"path": str(tmp_path / "d.csv"), "target_columns": ["y"],
                                           "header": value}, path="data")


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_npz_class_labels_that_are_not_finite_are_a_data_error(tmp_path, bad):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.zeros((3, 2)), y=np.array([0.0, bad, 1.0]))
    with pytest.raises(DataError, match=rf"class labels must be names or integers; found {bad}"):
        registry.build("datasets", "npz", {"path": str(path), "classes": True}, path="data")


@pytest.mark.parametrize("header,message", [
    ("a,b,,price", r"column 3 of 4 has no name in the header; name every column"),
    ("a,b,c,price,", r"column 5 of 5 has no name in the header \(a delimiter at the end of the header line\?\)"),
    (",a,b,price", r"column 1 of 4 has no name in the header \(pandas writes its row index this way"),
])
def test_a_header_column_without_a_name_is_refused(tmp_path, header, message):
    # It was read as a feature named '' (pandas' row index, trained on as an input).
    path = tmp_path / "d.csv"
    path.write_text(header + "\n" + ",".join(["1"] * len(header.split(","))) + "\n")
    with pytest.raises(DataError, match=message):
        csv_file(str(path), target_columns=["price"])


@pytest.mark.parametrize("cell", ["", "NA", " n/a ", "null", "?"])
def test_a_missing_value_is_named_as_missing_without_the_class_labels_hint(tmp_path, cell):
    path = tmp_path / "d.csv"
    path.write_text(f"a,price\n1,2\n3,{cell}\n")
    with pytest.raises(DataError, match=rf"line 3, column 'price': a missing value \('{re.escape(cell.strip())}'\); "
                                        rf"fill or drop the row$"):
        csv_file(str(path), target_columns=["price"])


def test_an_empty_first_target_is_a_missing_value_not_a_class_label(tmp_path):
    # "auto" used to see a non-number in the first row and train a classifier with a class ''.
    path = tmp_path / "d.csv"
    path.write_text("a,price\n1,\n2,3\n")
    with pytest.raises(DataError, match=r"line 2, column 'price': a missing value \(''\)"):
        csv_file(str(path), target_columns=["price"])
    path.write_text("a,label\n1,cat\n2,\n3,dog\n")
    with pytest.raises(DataError, match=r"line 3: a class label is missing \(an empty cell\); fill or drop the row"):
        csv_file(str(path), target_columns=["label"])


def test_npz_already_column_major_names_the_stored_shapes_and_suggests_layout_columns(tmp_path):
    """Trial 12: X (4, 150), y (150,) with the default layout reported X's transposed shape (150, 4)
    and advised to transpose row-major data, which is backwards."""
    path = tmp_path / "cols.npz"
    rng = np.random.default_rng(0)
    np.savez(path, X=rng.standard_normal((4, 150)), y=rng.integers(0, 3, 150))
    with pytest.raises(DataError, match=re.escape(
            f"{path}: X and y disagree on the number of examples with layout = \"rows\" (one example per "
            f"row): the file's X has shape (4, 150), 4 examples; its y has shape (150,), 150 examples. "
            f"X looks stored as (features, m), examples as columns: set layout = \"columns\"")):
        registry.build("datasets", "npz", {"path": str(path)}, path="data")
    data = registry.build("datasets", "npz", {"path": str(path), "layout": "columns"}, path="data")
    assert data.X.shape == (4, 150) and data.y.shape == (1, 150)


def test_npz_row_major_data_given_layout_columns_suggests_layout_rows(tmp_path):
    path = tmp_path / "rows.npz"
    np.savez(path, X=np.zeros((150, 4)), y=np.zeros((150, 2)))
    with pytest.raises(DataError, match=re.escape(
            f"{path}: X and y disagree on the number of examples with layout = \"columns\" (examples as "
            f"columns, (features, m)): the file's X has shape (150, 4), 4 examples; its y has shape (150, 2), "
            f"2 examples. The file holds one example per row: set layout = \"rows\" (the default)")):
        registry.build("datasets", "npz", {"path": str(path), "layout": "columns"}, path="data")


def test_npz_counts_that_disagree_in_either_layout_get_no_layout_advice(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, X=np.zeros((10, 4)), y=np.zeros(7))
    with pytest.raises(DataError, match=r"the file's X has shape \(10, 4\), 10 examples; its y has shape "
                                        r"\(7,\), 7 examples\.$"):
        registry.build("datasets", "npz", {"path": str(path)}, path="data")
