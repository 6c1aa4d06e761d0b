"""The benchmarks run (quickly) and say how to install a missing peer; they assert no timings."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def test_the_sklearn_benchmark_says_how_to_install_its_peer(monkeypatch, capsys):
    import bench_sklearn

    monkeypatch.setattr(bench_sklearn, "sklearn", None)
    assert bench_sklearn.main([]) == 2
    err = capsys.readouterr().err
    assert "scikit-learn is not installed" in err and "pip install -e '.[bench]'" in err


@pytest.mark.parametrize("kind,baseline", [("softmax", "numpy_softmax_step"), ("bn-drop", "numpy_bn_step")])
def test_the_numpy_baselines_compute_the_same_step_as_minidl(kind, baseline, monkeypatch):
    # The hand-written classifiers are honest baselines: one step of each moves the
    # parameters exactly as minidl's step does (without dropout: its stream differs).
    import numpy as np

    import bench_classifier as bc

    monkeypatch.setattr(bc, "P_DROP", 0.0)
    dims = (6, 5, 3, 8)
    X, labels = bc.data(dims[0], dims[2], dims[3], np.float64)
    step, model = bc.minidl_step(kind, dims, "float64", X, labels)
    params = [p.data.copy() for p in model.parameters()]
    getattr(bc, baseline)(params, X, labels)()
    step()
    for mine, theirs in zip(model.parameters(), params):
        np.testing.assert_allclose(mine.data, theirs, rtol=1e-12, atol=1e-14)


def test_the_csv_benchmark_runs_and_says_which_path_read_the_file(capsys):
    import bench_csv

    bench_csv.main(["--rows", "300", "--columns", "4", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "fast path (framework.numeric_csv): used" in out and "speed-up previous / current:" in out
    bench_csv.main(["--rows", "300", "--columns", "4", "--repeats", "1", "--fmt", "%.18e"])
    assert "declined, numpy.loadtxt read it" in capsys.readouterr().out


def test_the_predict_csv_benchmark_runs_and_both_readers_agree(capsys):
    import bench_predict_csv

    bench_predict_csv.main(["--rows", "300", "--features", "4", "--repeats", "1"])  # asserts the readers agree
    out = capsys.readouterr().out
    assert out.startswith("CSV file: 300 rows x 5 columns") and out.count("speed-up") == 3
