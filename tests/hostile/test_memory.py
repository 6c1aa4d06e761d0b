"""Bounded memory: sizes from untrusted input are priced before anything is allocated."""

import numpy as np
import pytest

from framework.cli import main
from framework.errors import MemoryLimitError
from framework.memory import available_bytes, check_bytes, format_bytes, parse_size
from plugins.layers import Linear
from plugins.optimizers import Adam
from tests.test_cli import EXPERIMENT


def validate(capsys, *overrides):
    args = ["validate", str(EXPERIMENT)]
    for o in overrides:
        args += ["--set", o]
    code = main(args)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_a_huge_layer_is_refused_with_its_path_size_and_what_is_available(capsys):
    """Issue 10: out_features = 1000000000000 ended in a MemoryError traceback."""
    code, err = validate(capsys, "model.layers[0].out_features=1000000000000")
    assert code == 1
    assert err.startswith("minidl: error: model.layers[0]: Linear: a parameter of shape (1000000000000, 10) "
                          "float64 needs 72.8 TiB (80,000,000,000,000 bytes), more than the ")
    assert "allowed (available memory); refused before allocating" in err


def test_huge_synthetic_data_is_refused_before_drawing(capsys):
    """Issue 10: n_samples = 10**12 ended in a MemoryError traceback."""
    code, err = validate(capsys, "data.source.n_samples=1000000000000")
    assert code == 1
    assert ("data.source: synthetic_linear: 1,000,000,000,000 examples x 28 float64 rows (the data and its "
            "working copies) needs 203.7 TiB (224,000,000,000,000 bytes)") in err


def test_a_size_just_under_ram_is_caught_by_the_optional_cap(capsys, monkeypatch):
    # 10 x 200,000 float64 fits any machine; with a cap of 10 MB it is refused, not swapped.
    monkeypatch.setenv("MINIDL_MAX_MEMORY", "10MB")
    code, err = validate(capsys, "data.source.n_samples=200000")
    assert code == 1 and "needs 42.7 MiB (44,800,000 bytes), more than the 9.5 MiB allowed " \
                         "(MINIDL_MAX_MEMORY=10MB); refused before allocating" in err
    monkeypatch.setenv("MINIDL_MAX_MEMORY", "1GB")
    assert validate(capsys, "data.source.n_samples=200000")[0] == 0


def test_optimizer_state_is_priced(monkeypatch):
    layer = Linear(1000, 100, seed=0)  # 800 KB of weights
    monkeypatch.setenv("MINIDL_MAX_MEMORY", "1MB")
    with pytest.raises(MemoryLimitError, match=r"Adam: optimizer state for 2 parameter\(s\) needs 1.5 MiB"):
        Adam(layer.parameters())
    monkeypatch.delenv("MINIDL_MAX_MEMORY")
    assert Adam(layer.parameters()).state[0]["m_scaled"].shape == (100, 1000)


def test_csv_files_are_priced_before_reading(tmp_path, monkeypatch):
    from plugins.datasets import csv_file

    path = tmp_path / "d.csv"
    np.savetxt(path, np.ones((20000, 5)), delimiter=",", header="a,b,c,d,y", comments="")
    monkeypatch.setenv("MINIDL_MAX_MEMORY", "200KB")
    with pytest.raises(MemoryLimitError, match=r"d.csv: reading a [0-9,]+-byte CSV file needs"):
        csv_file(str(path), target_columns=["y"])
    monkeypatch.setenv("MINIDL_MAX_MEMORY", "10MB")
    assert csv_file(str(path), target_columns=["y"]).n_examples == 20000


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
def test_csv_rows_are_counted_with_every_kind_of_line_end(tmp_path, monkeypatch, end):
    """When the bound from the file's size is too loose, the rows are counted: a lone "\r" ends a row too
    (counting only "\n", a file with old Mac line ends was priced as one row, then read unpriced)."""
    from plugins.datasets import csv_file

    path = tmp_path / "d.csv"
    path.write_bytes(("1,2,3" + end).encode() * 100_000)  # 100,000 x 3 float64: 2.4 MB
    monkeypatch.setenv("MINIDL_MAX_MEMORY", "2MB")  # more than twice the file's size, not the numbers
    with pytest.raises(MemoryLimitError, match=r"d.csv: 3 numeric column\(s\) \(100001, 3\) float64 needs"):
        csv_file(str(path), target_columns=[-1])
    monkeypatch.setenv("MINIDL_MAX_MEMORY", "10MB")
    assert csv_file(str(path), target_columns=[-1]).n_examples == 100_000


def test_memory_errors_are_both_minidl_and_memory_errors():
    with pytest.raises(MemoryError):
        check_bytes(available_bytes() * 4, "a test")
    assert issubclass(MemoryLimitError, MemoryError)


def test_sizes_parse_and_print():
    assert parse_size("512MB") == 512_000_000 and parse_size("2GiB") == 2 * 2**30 and parse_size("1e9") == 10**9
    with pytest.raises(ValueError, match="cannot read 'lots' as a size"):
        parse_size("lots")
    assert format_bytes(8 * 2**40) == "8.0 TiB" and format_bytes(912) == "912 B"


def test_a_saved_model_declaring_a_huge_layer_is_refused_before_allocating(tmp_path):
    import io
    import json
    import zipfile

    from framework import MinidlError, build_model, load_model
    from tests.hostile import corpus

    model = build_model({"layers": [{"type": "linear", "out_features": 4}, {"type": "sigmoid"},
                                    {"type": "linear", "out_features": 1}]}, in_features=3)
    model.save(tmp_path / "m.npz")
    with zipfile.ZipFile(tmp_path / "m.npz") as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    meta = json.loads(np.load(io.BytesIO(members["meta.npy"])).tobytes())
    meta["architecture"]["layers"][0]["args"]["out_features"] = 10**12
    members["meta.npy"] = corpus.npy_bytes(np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    corpus.zip_members(tmp_path / "huge.npz", members)
    with pytest.raises(MinidlError) as info:
        load_model(tmp_path / "huge.npz")
    assert "huge.npz: cannot rebuild model[0] (linear) from the file" in str(info.value)
    assert ("Linear: a parameter of shape (1000000000000, 3) float64 needs 21.8 TiB (24,000,000,000,000 bytes)"
            in str(info.value)) and "refused before allocating" in str(info.value)


def test_one_long_class_label_does_not_make_every_label_as_long(tmp_path, monkeypatch):
    """A column of labels becomes one numpy array of strings, each as wide as the longest: one label of
    100,000 characters among 2,000 made it 800 MB, for a file of 130 kB."""
    from plugins.datasets import csv_file

    path = tmp_path / "d.csv"
    path.write_text("x1,x2,label\n" + "0,0,cat\n" * 2000 + "0,0," + "z" * 100_000 + "\n")
    monkeypatch.setenv("MINIDL_MAX_MEMORY", "50MB")
    with pytest.raises(MemoryLimitError) as info:
        csv_file(str(path), target_columns=["label"])
    assert str(info.value) == (f"{path}: column 'label' as text (2,001 labels of up to 100,000 characters) needs "
                               f"763.3 MiB (800,400,000 bytes), more than the 47.7 MiB allowed "
                               f"(MINIDL_MAX_MEMORY=50MB); refused before allocating")
    path.write_text("x1,x2,label\n" + "0,0,cat\n" * 2000 + "0,0," + "z" * 1000 + "\n")  # 8 MB of labels
    assert csv_file(str(path), target_columns=["label"]).classes == ["cat", "z" * 1000]


def test_class_labels_are_priced_per_row_before_they_are_read(tmp_path, monkeypatch):
    """A Python string per row (57 bytes before its characters) for a column of labels: 11 MB of
    strings for this 1.2 MB file, 4 times its numbers."""
    from plugins.datasets import csv_file

    path = tmp_path / "d.csv"
    path.write_text("x1,x2,label\n" + "0,0,a\n" * 200_000)
    monkeypatch.setenv("MINIDL_MAX_MEMORY", "8MB")
    with pytest.raises(MemoryLimitError, match=r"d.csv: column 'label' as text \(200,001 rows\) needs 10.9 MiB "):
        csv_file(str(path), target_columns=["label"])
    monkeypatch.setenv("MINIDL_MAX_MEMORY", "30MB")
    assert csv_file(str(path), target_columns=["label"]).n_examples == 200_000


def a_saved_classifier(tmp_path):
    from framework import build_model

    model = build_model({"layers": [{"type": "linear", "out_features": 3}]}, in_features=2, seed=0)
    return model.save(tmp_path / "m.npz", feature_names=["x1", "x2"], target_names=["label"],
                      classes=["cat", "dog", "emu"], loss={"type": "cross_entropy"}, metrics=["accuracy"])


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_predict_and_evaluate_price_a_csv_file_before_reading_it(tmp_path, monkeypatch, capsys, command):
    """minidl predict read a shared file whole, then made a Python list of its rows and cells, unpriced."""
    model = a_saved_classifier(tmp_path)
    path = tmp_path / "d.csv"
    np.savetxt(path, np.ones((20000, 3)), delimiter=",", header="x1,x2,label", comments="", fmt="%d")
    monkeypatch.setenv("MINIDL_MAX_MEMORY", "200KB")
    assert main([command, str(model), str(path)]) == 1
    assert capsys.readouterr().err == (f"minidl: error: {path}: reading a 120,012-byte CSV file needs 234.4 KiB "
                                       f"(240,024 bytes), more than the 195.3 KiB allowed (MINIDL_MAX_MEMORY=200KB); "
                                       f"refused before allocating\n")
    monkeypatch.setenv("MINIDL_MAX_MEMORY", "10MB")
    assert main([command, str(model), str(path)]) == 0


def test_predict_prices_the_numbers_it_reads(tmp_path, monkeypatch, capsys):
    model = a_saved_classifier(tmp_path)
    path = tmp_path / "d.csv"
    path.write_bytes(b"1,2\n" * 100_000)  # 400 kB of text, 1.6 MB of float64
    monkeypatch.setenv("MINIDL_MAX_MEMORY", "1MB")
    assert main(["predict", str(model), str(path)]) == 1
    assert capsys.readouterr().err.startswith(f"minidl: error: {path}: 2 numeric column(s) (100001, 2) float64 "
                                              f"needs 1.5 MiB (1,600,016 bytes), more than the ")
    monkeypatch.setenv("MINIDL_MAX_MEMORY", "4MB")
    assert main(["predict", str(model), str(path)]) == 0


def test_evaluate_prices_the_class_labels_it_reads(tmp_path, monkeypatch, capsys):
    model = a_saved_classifier(tmp_path)
    path = tmp_path / "d.csv"
    path.write_text("x1,x2,label\n" + "0,0,cat\n" * 2000 + "0,0," + "z" * 100_000 + "\n")
    monkeypatch.setenv("MINIDL_MAX_MEMORY", "50MB")
    assert main(["evaluate", str(model), str(path)]) == 1
    assert capsys.readouterr().err == (f"minidl: error: {path}: column 'label' as text (2,001 labels of up to "
                                       f"100,000 characters) needs 763.3 MiB (800,400,000 bytes), more than the "
                                       f"47.7 MiB allowed (MINIDL_MAX_MEMORY=50MB); refused before allocating\n")
