import numpy as np
import pytest

from framework import DataError, Dataset
from framework.data import Standardizer, check_arrays
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
