"""minidl predict / evaluate on a run directory: raw data in, columns checked, numbers equal to the model's."""

import csv
import io
from pathlib import Path

import numpy as np
import pytest

from framework import load_experiment, load_model, run_experiment
from framework.cli import main
from framework.errors import DataError

ROOT = Path(__file__).resolve().parents[1]


def trained_run(tmp_path_factory, experiment_file: str, epochs: int):
    run_dir = tmp_path_factory.mktemp(experiment_file.split(".")[0]) / "run"
    experiment = load_experiment(ROOT / "experiments" / experiment_file, [f"trainer.epochs={epochs}"])
    run_experiment(experiment, run_dir=run_dir, progress=False)
    return run_dir


@pytest.fixture(scope="module")
def moons_run(tmp_path_factory):
    return trained_run(tmp_path_factory, "moons_classifier.toml", 15)


@pytest.fixture(scope="module")
def regression_run(tmp_path_factory):
    return trained_run(tmp_path_factory, "sigmoid_mlp.toml", 5)


POINTS = np.array([[0.0, 0.5], [1.0, -0.5], [-1.0, 0.2], [2.0, 0.3], [0.5, 0.25]])
LABELS = ["0", "1", "0", "1", "1"]


def write_csv(path, header, rows):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        if header:
            w.writerow(header)
        w.writerows(rows)
    return path


def train_from_toml(directory, text: str):
    """Write ``text`` as directory/e.toml and run it into directory/run (the data paths relative to it)."""
    (directory / "e.toml").write_text(text)
    return run_experiment(load_experiment(directory / "e.toml"), run_dir=directory / "run", progress=False)


def rows_of(text):
    return list(csv.DictReader(io.StringIO(text)))


def test_predict_prints_labels_and_probabilities_equal_to_the_loaded_model(moons_run, tmp_path, capsys):
    data = write_csv(tmp_path / "new.csv", ["x1", "x2"], POINTS.tolist())
    assert main(["predict", str(moons_run), str(data)]) == 0
    rows = rows_of(capsys.readouterr().out)
    p = load_model(moons_run).predict(POINTS.T)[0]   # the sigmoid's output: P(class "1")
    assert [float(r["p_1"]) for r in rows] == p.tolist()
    assert [float(r["p_0"]) for r in rows] == (1 - p).tolist()
    assert [r["label"] for r in rows] == ["1" if v >= 0.5 else "0" for v in p]


def test_columns_are_matched_by_name_in_any_order_and_the_target_may_be_there(moons_run, tmp_path, capsys):
    plain = write_csv(tmp_path / "a.csv", ["x1", "x2"], POINTS.tolist())
    swapped = write_csv(tmp_path / "b.csv", ["label", "x2", "x1"],
                        [[lab, x2, x1] for (x1, x2), lab in zip(POINTS.tolist(), LABELS)])
    headerless = write_csv(tmp_path / "c.csv", None, POINTS.tolist())
    outputs = []
    for path in (plain, swapped, headerless):
        assert main(["predict", str(moons_run), str(path)]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] == outputs[2]


@pytest.mark.parametrize("header, rows, message", [
    (["x1", "x3"], [[1, 2]], "a.csv: no column 'x2': the model was trained on the features x1, x2. "
                             "The file's columns: x1, x3"),
    (["X1", "x2"], [[1, 2]], "a.csv: no column 'x1': the model was trained on the features x1, x2. "
                             "The file's columns: X1, x2. Did you mean 'X1' for 'x1'? Names are matched exactly, "
                             "case included"),
    (["x_1", "X2"], [[1, 2]], "a.csv: no columns 'x1', 'x2': the model was trained on the features x1, x2. "
                              "The file's columns: x_1, X2. Did you mean 'x_1' for 'x1', 'X2' for 'x2'? Names "
                              "are matched exactly, case included"),
    (["x1", "x2", "id"], [[1, 2, 3]], "a.csv: column 'id' is not a feature of the model (x1, x2) nor its "
                                      "target (label); remove it"),
    (["x1", "x2"], [[1, "abc"]], "a.csv, line 2, column 'x2': cannot read 'abc' as a number"),
    (["x1", "x2", "x1"], [[1, 2, 3]], "a.csv: the header names column(s) 'x1' more than once; names must be unique"),
    (None, [[1, 2, 3, 4]], "a.csv: 4 columns, but the model takes 2 feature column(s) (optionally followed "
                           "by 1 target column(s)) (x1, x2)"),
])
def test_data_that_does_not_fit_the_model_is_refused_clearly(moons_run, tmp_path, capsys, header, rows, message):
    path = write_csv(tmp_path / "a.csv", header, rows)
    assert main(["predict", str(moons_run), str(path)]) == 1
    err = capsys.readouterr().err
    assert err == f"minidl: error: {tmp_path / message}\n" and "Traceback" not in err


def test_evaluate_prints_the_loss_and_the_run_metrics(moons_run, tmp_path, capsys):
    path = write_csv(tmp_path / "labelled.csv", ["x1", "x2", "label"],
                     [[x1, x2, lab] for (x1, x2), lab in zip(POINTS.tolist(), LABELS)])
    assert main(["evaluate", str(moons_run), str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    # oracle: binary cross-entropy and accuracy from the model's probabilities, by hand
    p = load_model(moons_run).predict(POINTS.T)[0]
    y = np.array([float(v) for v in LABELS])
    bce = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    acc = np.mean((p >= 0.5) == (y == 1))
    assert out == [f"5 examples of {path}", f"loss      {bce:.6g}", f"accuracy  {acc:.6g}"]
    # evaluate needs the target column
    write_csv(tmp_path / "unlabelled.csv", ["x1", "x2"], POINTS.tolist())
    assert main(["evaluate", str(moons_run), str(tmp_path / "unlabelled.csv")]) == 1
    assert "evaluating needs the target column label beside the features x1, x2" in capsys.readouterr().err
    write_csv(tmp_path / "wrong.csv", ["x1", "x2", "label"], [[0, 0, "cat"]])
    assert main(["evaluate", str(moons_run), str(tmp_path / "wrong.csv")]) == 1
    assert ("line 2, column 'label': 'cat' is not one of the model's classes (0, 1)\n"  # names, not indices
            in capsys.readouterr().err)


def test_npz_in_and_out(moons_run, tmp_path, capsys):
    np.savez(tmp_path / "new.npz", X=POINTS, y=np.array([float(v) for v in LABELS]))
    assert main(["predict", str(moons_run), str(tmp_path / "new.npz"), "-o", str(tmp_path / "p.npz")]) == 0
    assert capsys.readouterr().out == f"wrote 5 predictions (label, p_0, p_1) to {tmp_path / 'p.npz'}\n"
    with np.load(tmp_path / "p.npz", allow_pickle=False) as f:
        np.testing.assert_array_equal(f["p_1"], load_model(moons_run).predict(POINTS.T)[0])
        assert f["label"].dtype.kind == "U"
    assert main(["evaluate", str(moons_run), str(tmp_path / "new.npz")]) == 0
    assert main(["predict", str(moons_run), str(tmp_path / "new.npz"), "-o", str(tmp_path / "p.csv")]) == 0
    assert (tmp_path / "p.csv").read_text().startswith("label,p_0,p_1\n")


def test_a_regression_model_predicts_values_on_raw_data(regression_run, tmp_path, capsys):
    X = np.random.default_rng(3).uniform(-2, 2, (6, 2))
    path = write_csv(tmp_path / "x.csv", None, X.tolist())   # the data source names no columns: by position
    assert main(["predict", str(regression_run), str(path)]) == 0
    rows = rows_of(capsys.readouterr().out)
    assert [float(r["prediction"]) for r in rows] == load_model(regression_run).predict(X.T)[0].tolist()
    y = np.sin(2 * X[:, 0]) + 0.5 * X[:, 1] ** 2 - 0.5 * X[:, 0] * X[:, 1]
    write_csv(tmp_path / "xy.csv", None, np.column_stack([X, y]).tolist())
    assert main(["evaluate", str(regression_run), str(tmp_path / "xy.csv")]) == 0
    out = capsys.readouterr().out.splitlines()
    y_hat = load_model(regression_run).predict(X.T)[0]
    assert out[1] == f"loss  {np.mean((y_hat - y) ** 2):.6g}" and out[2].startswith("r2    ")


def test_a_model_file_is_accepted_as_well_as_a_run_directory(moons_run, tmp_path, capsys):
    data = write_csv(tmp_path / "new.csv", ["x1", "x2"], POINTS.tolist())
    main(["predict", str(moons_run), str(data)])
    by_dir = capsys.readouterr().out
    main(["predict", str(moons_run / "model.npz"), str(data)])
    assert capsys.readouterr().out == by_dir
    assert main(["predict", str(tmp_path), str(data)]) == 1
    assert "is a directory without a model.npz" in capsys.readouterr().err


def test_a_headerless_file_with_old_mac_line_ends_trains_predicts_and_evaluates(tmp_path, capsys):
    """From the csv source to predict and evaluate, the same file read the same way. The source used to
    raise a _csv.Error traceback on "\r" line ends, and to keep a headerless file's column -1, the target,
    as a feature too."""
    X = np.random.default_rng(4).uniform(-2, 2, (40, 2))
    rows = [",".join(repr(v) for v in row) for row in np.column_stack([X, X[:, 0] - 0.5 * X[:, 1]]).tolist()]
    (tmp_path / "cr.csv").write_bytes("\r".join(rows).encode() + b"\r")
    (tmp_path / "lf.csv").write_bytes("\n".join(rows).encode() + b"\n")
    train_from_toml(
        tmp_path,
        '[model]\nlayers = [{ type = "linear", out_features = 1 }]\n[loss]\ntype = "mse"\n'
        '[optimizer]\ntype = "sgd"\nlr = 0.1\n[trainer]\nepochs = 2\n'
        '[data.source]\ntype = "csv"\npath = "cr.csv"\ntarget_columns = [-1]\n')
    model = load_model(tmp_path / "run")
    assert model.in_features == 2 and model.info.feature_names == ["0", "1"] and model.info.target_names == ["2"]
    outputs = []
    for name in ("cr.csv", "lf.csv"):
        assert main(["predict", str(tmp_path / "run"), str(tmp_path / name)]) == 0
        predicted = [float(r["2"]) for r in rows_of(capsys.readouterr().out)]
        assert predicted == model.predict(X.T)[0].tolist()
        assert main(["evaluate", str(tmp_path / "run"), str(tmp_path / name)]) == 0
        outputs.append(capsys.readouterr().out.replace(name, "DATA"))
    assert outputs[0] == outputs[1] and outputs[0].startswith(f"40 examples of {tmp_path / 'DATA'}\nloss ")


@pytest.mark.parametrize("content, message", [
    (b"x1,x2\n0,0.5\x00\n", ", line 2, character 6: byte 0x00 (NUL) {NUL}"),
    (b'x1,x2,label\n0,0,"1\n1,1,0\n', ", line 2, character 5: {UNCLOSED}"),  # predict used to read one row
    (b'x1,x2,label\n0,"0.5"x,1\n', ", line 2, character 8: 'x' {AFTER}"),
    (b"x1,x2\n0," + b"1" * 200_000 + b"\n", ", line 2, character 3: {LONG}"),  # a _csv.Error traceback
    (b"x1,x2\n0,caf\xe9\n", ", line 2, character 6: byte 0xe9 is not UTF-8 text; save the file as UTF-8"),
])
def test_malformed_files_are_refused_by_predict_and_evaluate_as_by_the_csv_source(moons_run, tmp_path, capsys,
                                                                                  content, message):
    from tests.hostile.test_csv_and_labels import AFTER, LONG, NUL, UNCLOSED

    message = message.format(NUL=NUL, UNCLOSED=UNCLOSED, AFTER=AFTER, LONG=LONG)
    path = tmp_path / "m.csv"
    path.write_bytes(content)
    for command in ("predict", "evaluate"):
        assert main([command, str(moons_run), str(path)]) == 1
        assert capsys.readouterr().err == f"minidl: error: {path}{message}\n"


# ----------------------------------------------------------------------------
# A few thousand rows: the numbers predict and evaluate read are those float() reads, whichever reader
# ----------------------------------------------------------------------------
ANIMALS = ["cat", "dog", "emu"]


@pytest.fixture(scope="module")
def animals(tmp_path_factory):
    """A 3-class model whose class names are not its indices, saved with its loss and metric (untrained:
    only the reading is under test)."""
    from framework import build_model

    model = build_model({"layers": [{"type": "linear", "out_features": 8}, {"type": "tanh"},
                                    {"type": "linear", "out_features": 3}]}, in_features=2, seed=0)
    path = tmp_path_factory.mktemp("animals") / "model.npz"
    model.save(path, feature_names=["x1", "x2"], target_names=["label"], classes=ANIMALS,
               loss={"type": "cross_entropy"}, metrics=["accuracy"])
    return load_model(path)


def cells(values, fmt):
    """``values`` as CSV cells written with ``fmt``, and the numbers float() reads from them."""
    text = [[format(v, fmt) for v in row] for row in values]
    return text, np.array([[float(c) for c in row] for row in text])


def some_labels(m, seed=0):
    """Labels as class names and as class indices, some padded or written as floats, and their indices."""
    forms = [("cat", 0), ("dog", 1), ("emu", 2), ("0", 0), ("1", 1), ("2", 2), (" dog ", 1), ("2.0", 2),
             ("1e0", 1), ("-0", 0)]
    picks = np.random.default_rng(seed).integers(0, len(forms), m)
    picks[0] = 5  # "2": a first row of numbers only, so that a file without a header is read as one
    return [forms[i][0] for i in picks], np.array([float(forms[i][1]) for i in picks])


@pytest.mark.parametrize("fmt", [".6g", ".17g"])  # the fast path's numbers, and numbers it leaves to loadtxt
@pytest.mark.parametrize("layout", ["header", "reordered", "headerless"])
def test_a_few_thousand_rows_are_read_exactly(animals, tmp_path, capsys, fmt, layout):
    from framework.inference import evaluate, predict, read_table
    from framework.registry import registry
    from framework.saving import class_probabilities

    m = 3000
    text, X = cells(np.random.default_rng(1).standard_normal((m, 2)) * [1.0, 3.0], fmt)
    labels, y = some_labels(m)
    if layout == "header":
        header, rows = ["x1", "x2", "label"], [[a, b, lab] for (a, b), lab in zip(text, labels)]
    elif layout == "reordered":
        header, rows = ["label", "x2", "x1"], [[lab, b, a] for (a, b), lab in zip(text, labels)]
    else:
        header, rows = None, [[a, b, lab] for (a, b), lab in zip(text, labels)]
    path = write_csv(tmp_path / "d.csv", header, rows)
    table = read_table(path, animals)
    assert table.y is None and table.X.dtype == np.float64
    np.testing.assert_array_equal(table.X, X.T)
    np.testing.assert_array_equal(predict(animals, table.X), animals.predict(X.T))
    assert main(["predict", str(animals.info.path), str(path)]) == 0
    out = rows_of(capsys.readouterr().out)
    probs = np.array([[float(r[f"p_{c}"]) for c in ANIMALS] for r in out]).T
    np.testing.assert_array_equal(probs, class_probabilities(animals, animals.predict(X.T)))
    labelled = read_table(path, animals, need_targets=True)
    np.testing.assert_array_equal(labelled.X, X.T)
    np.testing.assert_array_equal(labelled.y, y.reshape(1, -1))
    loss = registry.build("losses", "cross_entropy", {}, path="loss")
    y_hat = animals.predict(X.T)
    expected = {"loss": float(loss(y_hat, y.reshape(1, -1))),
                "accuracy": float(registry.get("metrics", "accuracy")(y_hat, y.reshape(1, -1)))}
    assert evaluate(animals, labelled) == expected


def test_the_model_dtype_is_kept(animals, tmp_path):
    from framework import build_model
    from framework.inference import read_table

    model = build_model({"layers": [{"type": "linear", "out_features": 3}]}, in_features=2, seed=0, dtype="float32")
    model.save(tmp_path / "m32.npz", feature_names=["x1", "x2"], target_names=["label"], classes=ANIMALS)
    model = load_model(tmp_path / "m32.npz")
    text, X = cells(np.random.default_rng(2).standard_normal((2000, 2)), ".6g")
    labels, y = some_labels(2000, seed=2)
    path = write_csv(tmp_path / "d.csv", ["x2", "label", "x1"], [[b, lab, a] for (a, b), lab in zip(text, labels)])
    table = read_table(path, model, need_targets=True)
    assert table.X.dtype == table.y.dtype == np.float32
    np.testing.assert_array_equal(table.X, X.T.astype(np.float32))
    np.testing.assert_array_equal(table.y, y.reshape(1, -1).astype(np.float32))


def test_several_regression_targets_are_matched_by_name_in_any_order(tmp_path, capsys):
    from framework import build_model
    from framework.inference import evaluate, read_table
    from framework.registry import registry

    model = build_model({"layers": [{"type": "linear", "out_features": 2}]}, in_features=3, seed=0)
    model.save(tmp_path / "m.npz", feature_names=["a", "b", "c"], target_names=["u", "v"],
               loss={"type": "mse"}, metrics=["r2"])
    model = load_model(tmp_path / "m.npz")
    text, values = cells(np.random.default_rng(3).standard_normal((2500, 5)), ".6g")
    path = write_csv(tmp_path / "d.csv", ["v", "c", "a", "u", "b"], text)  # so values' columns are v c a u b
    X, y = values[:, [2, 4, 1]].T, values[:, [3, 0]].T
    table = read_table(path, model, need_targets=True)
    np.testing.assert_array_equal(table.X, X)
    np.testing.assert_array_equal(table.y, y)
    y_hat = model.predict(X)
    assert evaluate(model, table) == {"loss": float(registry.build("losses", "mse", {}, path="loss")(y_hat, y)),
                                      "r2": float(registry.get("metrics", "r2")(y_hat, y))}
    assert main(["predict", str(tmp_path / "m.npz"), str(path)]) == 0
    out = rows_of(capsys.readouterr().out)
    assert [float(r["u"]) for r in out] == y_hat[0].tolist() and [float(r["v"]) for r in out] == y_hat[1].tolist()
    np.testing.assert_array_equal(read_table(path, model).X, X)  # the targets are not needed to predict


@pytest.mark.parametrize("bad, shown", [("cow", "'cow'"), ("3", "'3'"), ("-1", "'-1'"), ("1.5", "'1.5'"),
                                        ("nan", "'nan'"), ("", "''"), ("Dog", "'Dog'"),
                                        ("a-label-that-is-far-too-long", "'a-label-that-is-far-'...")])
def test_a_bad_label_among_thousands_is_reported_with_its_line(animals, tmp_path, capsys, bad, shown):
    text, _ = cells(np.random.default_rng(4).standard_normal((3000, 2)), ".6g")
    labels, _ = some_labels(3000, seed=4)
    labels[1700], labels[2500] = bad, "ostrich"  # the first bad label is the one reported
    path = write_csv(tmp_path / "d.csv", ["x1", "x2", "label"], [[a, b, lab] for (a, b), lab in zip(text, labels)])
    assert main(["evaluate", str(animals.info.path), str(path)]) == 1
    assert capsys.readouterr().err == (f"minidl: error: {path}, line 1702, column 'label': {shown} is not one of "
                                       f"the model's classes (cat, dog, emu) nor a class index 0..2\n")
    assert main(["predict", str(animals.info.path), str(path)]) == 0  # predict does not read the labels


@pytest.mark.parametrize("header", [True, False])
@pytest.mark.parametrize("cell, what", [("abc", "cannot read 'abc' as a number"),
                                        ("1,5", "cannot read '1,5' as a number"),
                                        ("0x10", "cannot read '0x10' as a number"),
                                        ("nan", "'nan' is not a finite number (NaN and inf are rejected; "
                                                "fill or drop the row)"),
                                        ("-inf", "'-inf' is not a finite number (NaN and inf are rejected; "
                                                 "fill or drop the row)")])
def test_a_bad_number_among_thousands_is_reported_with_its_line_and_column(animals, tmp_path, capsys,
                                                                          header, cell, what):
    text, _ = cells(np.random.default_rng(5).standard_normal((3000, 2)), ".6g")
    text[2200][1] = cell
    path = write_csv(tmp_path / "d.csv", ["x1", "x2"] if header else None, text)
    line, column = (2202, "x2") if header else (2201, "1")
    for command in ("predict", "evaluate"):
        if command == "evaluate":
            rows = [row + ["2"] for row in text]
            path = write_csv(tmp_path / "d.csv", ["x1", "x2", "label"] if header else None, rows)
        assert main([command, str(animals.info.path), str(path)]) == 1
        assert capsys.readouterr().err == f"minidl: error: {path}, line {line}, column '{column}': {what}\n"


def test_a_plain_numeric_file_is_read_without_a_python_loop_per_row(animals, tmp_path, monkeypatch):
    """predict reads new data as the csv data source reads training data: numbers in bulk. It used to
    parse every row with the csv module and convert every cell with float(), 8x slower on 200,000 rows.
    (Class labels, which only evaluate reads, are text: the csv module reads them, as for training.)"""
    import framework.data
    import framework.inference
    from framework.inference import read_table

    def row_by_row(*args, **kwargs):
        raise AssertionError("a plain numeric file was read row by row")

    text, X = cells(np.random.default_rng(6).standard_normal((3000, 2)), ".6g")
    path = write_csv(tmp_path / "d.csv", ["x1", "x2", "label"], [row + ["1"] for row in text])
    monkeypatch.setattr(framework.data, "csv_rows", row_by_row)
    monkeypatch.setattr(framework.inference, "csv_rows", row_by_row, raising=False)  # the reader it replaced
    np.testing.assert_array_equal(read_table(path, animals).X, X.T)


# ----------------------------------------------------------------------------
# Class names that are numbers: a label is a class's name, read as training reads it, never an index
# ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def numbered_run(tmp_path_factory):
    """A run of the csv source with `classes = true` on the integer labels 1, 2, 3 (some written 2.0, 3e0)."""
    tmp = tmp_path_factory.mktemp("numbered")
    X = np.random.default_rng(7).standard_normal((30, 2))
    labels = ["1", "2.0", "3e0", " 2", "3", "1.0"] * 5
    write_csv(tmp / "train.csv", ["x1", "x2", "label"], [[a, b, lab] for (a, b), lab in zip(X.tolist(), labels)])
    train_from_toml(
        tmp,
        '[model]\nlayers = [{ type = "linear", out_features = 3 }]\n[loss]\ntype = "cross_entropy"\n'
        '[optimizer]\ntype = "sgd"\nlr = 0.1\n[trainer]\nepochs = 1\nmetrics = ["accuracy"]\n'
        '[data.source]\ntype = "csv"\npath = "train.csv"\ntarget_columns = ["label"]\nclasses = true\n')
    return tmp / "run"


def test_numeric_class_names_are_matched_by_name_as_training_reads_them(numbered_run, tmp_path, capsys):
    """A model of the classes "1", "2", "3" used to take the label 0 as the index of class "1" (accuracy 1)
    and 1.0 as the index 1, class "2", where training read 1.0 as the class "1"."""
    from framework.inference import read_table

    model = load_model(numbered_run)
    assert model.info.classes == ["1", "2", "3"]
    labels = ["1.0", "2", "3", "1", " 3 ", "2e0", "+1", "3.00"]
    X = np.random.default_rng(8).standard_normal((len(labels), 2))
    path = write_csv(tmp_path / "d.csv", ["x1", "x2", "label"],
                     [[a, b, lab] for (a, b), lab in zip(X.tolist(), labels)])
    expected = [["1", "2", "3"].index(str(int(float(v)))) for v in labels]  # the class names' order
    np.testing.assert_array_equal(read_table(path, model, need_targets=True).y, [expected])
    assert main(["evaluate", str(numbered_run), str(path)]) == 0
    assert capsys.readouterr().out.startswith(f"{len(labels)} examples of {path}\nloss ")


@pytest.mark.parametrize("bad", ["0", "4", "-1", "1.5", "0.0", "one", ""])
def test_a_label_that_is_not_a_numeric_class_name_is_an_error_not_an_index(numbered_run, tmp_path, capsys, bad):
    rows = [[0.1, 0.2, "1"], [0.3, 0.4, "2"], [0.5, 0.6, bad], [0.7, 0.8, "0"]]
    path = write_csv(tmp_path / "d.csv", ["x1", "x2", "label"], rows)
    assert main(["evaluate", str(numbered_run), str(path)]) == 1
    assert capsys.readouterr().err == (f"minidl: error: {path}, line 4, column 'label': '{bad}' is not one of "
                                       f"the model's classes (1, 2, 3)\n")


@pytest.mark.parametrize("y", [np.array([1, 2, 3, 1]), np.array([1.0, 2.0, 3.0, 1.0]),
                               np.array(["1", "2.0", "3", " 1"])])
def test_an_npz_y_is_read_as_class_names_when_they_are_numbers(numbered_run, tmp_path, capsys, y):
    """y holds the labels as the model was trained on them (its npz source reads y so): it used to be taken as
    class indices, 3 an error from the loss and a y of zeros an accuracy of 1; text was a ValueError traceback."""
    from framework.inference import read_table

    model = load_model(numbered_run)
    np.savez(tmp_path / "d.npz", X=np.zeros((4, 2)), y=y)
    np.testing.assert_array_equal(read_table(tmp_path / "d.npz", model, need_targets=True).y, [[0, 1, 2, 0]])
    zero = y.copy()
    zero[2] = "0" if y.dtype.kind == "U" else 0
    np.savez(tmp_path / "zero.npz", X=np.zeros((4, 2)), y=zero)
    assert main(["evaluate", str(numbered_run), str(tmp_path / "zero.npz")]) == 1
    assert capsys.readouterr().err == (f"minidl: error: {tmp_path / 'zero.npz'}, y[2]: '0' is not one of the "
                                       f"model's classes (1, 2, 3)\n")


def test_an_npz_y_of_names_or_indices_for_named_classes(animals, tmp_path):
    from framework.inference import read_table

    for y in (np.array(["dog", "emu", "cat"]), np.array([1, 2, 0]), np.array([1.0, 2.0, 0.0])):
        np.savez(tmp_path / "d.npz", X=np.zeros((3, 2)), y=y)
        np.testing.assert_array_equal(read_table(tmp_path / "d.npz", animals, need_targets=True).y, [[1, 2, 0]])
    np.savez(tmp_path / "d.npz", X=np.zeros((3, 2)), y=np.array([1, 3, 0]))
    with pytest.raises(DataError, match=r"d\.npz, y\[1\]: '3' is not one of the model's classes \(cat, dog, emu\) "
                                        r"nor a class index 0\.\.2$"):
        read_table(tmp_path / "d.npz", animals, need_targets=True)


@pytest.mark.parametrize("name, received", [("out.json", "'.json'"), ("out", "no extension"),
                                            ("out.csv.bak", "'.bak'")])
def test_predict_refuses_an_output_it_cannot_write_before_reading_anything(moons_run, tmp_path, capsys,
                                                                          monkeypatch, name, received):
    """-o out.json (or out) used to write CSV under that name."""
    import framework.saving

    def never(*args, **kwargs):
        raise AssertionError("the model was loaded before the output was checked")

    data = write_csv(tmp_path / "new.csv", ["x1", "x2"], POINTS.tolist())
    monkeypatch.setattr(framework.saving, "load_model", never)
    assert main(["predict", str(moons_run), str(data), "-o", str(tmp_path / name)]) == 2
    assert capsys.readouterr() == ("", f"minidl: error: 1 problem:\n  -o: predictions are written as .csv or .npz. "
                                       f"Received: {name} ({received})\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.csv"]


def test_write_predictions_refuses_an_output_it_cannot_write(tmp_path):
    from framework.errors import ConfigError
    from framework.inference import write_predictions

    with pytest.raises(ConfigError, match=r"-o: predictions are written as \.csv or \.npz\. Received: p\.json"):
        write_predictions({"prediction": [1.0]}, tmp_path / "p.json")
    write_predictions({"prediction": [1.0]}, tmp_path / "p.CSV")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.CSV"]


# ----------------------------------------------------------------------------
# Classifiers whose data names no classes: default names, kept as named classes are
# ----------------------------------------------------------------------------
def softmax_by_hand(z):
    """Softmax over the rows, written out independently of framework.saving."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=0))
    return e / e.sum(axis=0)


def small_experiment(tmp_path, source: str, loss: str = "cross_entropy", out: int = 3):
    (tmp_path / "e.toml").write_text(
        f'[model]\nlayers = [{{ type = "linear", out_features = 6 }}, {{ type = "tanh" }}, '
        f'{{ type = "linear", out_features = {out} }}]\n[loss]\ntype = "{loss}"\n'
        f'[optimizer]\ntype = "sgd"\nlr = 0.1\n[trainer]\nepochs = 2\nmetrics = ["accuracy"]\n' + source)
    return load_experiment(tmp_path / "e.toml")


def integer_labels(m=30, seed=0):
    X = np.random.default_rng(seed).standard_normal((m, 4))
    return X, (np.arange(m) % 3).astype(np.int64)


def test_a_cross_entropy_run_on_integer_labels_predicts_labels_and_probabilities(tmp_path, capsys):
    """An npz of integer labels without `classes = true`: predict used to print the logits under
    prediction_0..2, and summary.json said classes null beside a confusion matrix of labels 0, 1, 2."""
    import json

    X, y = integer_labels()
    np.savez(tmp_path / "train.npz", X=X, y=y)
    run_experiment(small_experiment(tmp_path, '[data.source]\ntype = "npz"\npath = "train.npz"\n'),
                   run_dir=tmp_path / "run", progress=False)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["classes"] == summary["confusion_matrix"]["labels"] == ["0", "1", "2"]
    model = load_model(tmp_path / "run")
    assert model.info.classes == ["0", "1", "2"]
    new = np.random.default_rng(5).standard_normal((4, 4))
    np.savez(tmp_path / "q.npz", X=new)
    assert main(["predict", str(tmp_path / "run"), str(tmp_path / "q.npz")]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0] == "label,p_0,p_1,p_2"
    rows = rows_of(text)
    p = softmax_by_hand(model.predict(new.T))
    np.testing.assert_allclose([[float(r[f"p_{k}"]) for r in rows] for k in range(3)], p, rtol=1e-12, atol=0)
    assert [r["label"] for r in rows] == [str(k) for k in np.argmax(p, axis=0)]
    # evaluate reads the integer labels as the class names they now are, with the loss of training
    np.savez(tmp_path / "e.npz", X=new, y=np.array([0, 1, 2, 1]))
    assert main(["evaluate", str(tmp_path / "run"), str(tmp_path / "e.npz")]) == 0
    ce = -np.mean(np.log(p[[0, 1, 2, 1], np.arange(4)]))
    assert capsys.readouterr().out.splitlines()[1] == f"loss      {ce:.6g}"


def test_probability_target_columns_name_the_classes(tmp_path, capsys):
    """Targets pa, pb, pc (one probability per class): predict used to print the logits under the headers
    pa, pb, pc, where probabilities were expected."""
    import json

    rng = np.random.default_rng(2)
    X = rng.standard_normal((30, 2))
    P = softmax_by_hand(rng.standard_normal((3, 30))).T
    write_csv(tmp_path / "soft.csv", ["x1", "x2", "pa", "pb", "pc"], np.column_stack([X, P]).tolist())
    run_experiment(small_experiment(tmp_path, '[data.source]\ntype = "csv"\npath = "soft.csv"\n'
                                              'target_columns = ["pa", "pb", "pc"]\n'),
                   run_dir=tmp_path / "run", progress=False)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["classes"] == summary["confusion_matrix"]["labels"] == ["pa", "pb", "pc"]
    model = load_model(tmp_path / "run")
    assert (model.info.classes, model.info.target_names) == (["pa", "pb", "pc"], ["pa", "pb", "pc"])
    new = rng.standard_normal((5, 2))
    write_csv(tmp_path / "q.csv", ["x1", "x2"], new.tolist())
    assert main(["predict", str(tmp_path / "run"), str(tmp_path / "q.csv")]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0] == "label,p_pa,p_pb,p_pc"
    rows = rows_of(text)
    p = softmax_by_hand(model.predict(new.T))
    np.testing.assert_allclose([[float(r[f"p_{c}"]) for r in rows] for c in ("pa", "pb", "pc")], p,
                               rtol=1e-12, atol=0)
    assert [r["label"] for r in rows] == [["pa", "pb", "pc"][k] for k in np.argmax(p, axis=0)]
    # evaluate reads the probability columns as numbers, as training did
    Q = softmax_by_hand(rng.standard_normal((3, 5)))
    path = write_csv(tmp_path / "l.csv", ["pc", "x1", "pa", "x2", "pb"],
                     np.column_stack([Q[2], new[:, 0], Q[0], new[:, 1], Q[1]]).tolist())
    assert main(["evaluate", str(tmp_path / "run"), str(path)]) == 0
    ce = -np.mean(np.sum(Q * np.log(p), axis=0))
    assert capsys.readouterr().out.splitlines()[1] == f"loss      {ce:.6g}"


def test_a_binary_run_on_numbers_names_its_classes_0_and_1(tmp_path, capsys):
    """bce_with_logits on a 0/1 column: label and p_0, p_1 (the sigmoid of the logit); evaluate still takes
    probabilities as targets, as training did."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((20, 2))
    write_csv(tmp_path / "b.csv", ["x1", "x2", "t"], np.column_stack([X, X[:, 0] > 0]).astype(float).tolist())
    run_experiment(small_experiment(tmp_path, '[data.source]\ntype = "csv"\npath = "b.csv"\n'
                                              'target_columns = ["t"]\n', loss="bce_with_logits", out=1),
                   run_dir=tmp_path / "run", progress=False)
    model = load_model(tmp_path / "run")
    assert model.info.classes == ["0", "1"]
    new = rng.standard_normal((4, 2))
    write_csv(tmp_path / "q.csv", ["x1", "x2"], new.tolist())
    assert main(["predict", str(tmp_path / "run"), str(tmp_path / "q.csv")]) == 0
    rows = rows_of(capsys.readouterr().out)
    z = model.predict(new.T)[0]
    p1 = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose([float(r["p_1"]) for r in rows], p1, rtol=1e-12, atol=0)
    assert [r["label"] for r in rows] == ["1" if v >= 0 else "0" for v in z]
    t = np.array([0.0, 1.0, 0.25, 0.8])
    path = write_csv(tmp_path / "l.csv", ["x1", "x2", "t"], np.column_stack([new, t]).tolist())
    assert main(["evaluate", str(tmp_path / "run"), str(path)]) == 0
    bce = -np.mean(t * np.log(p1) + (1 - t) * np.log(1 - p1))
    assert capsys.readouterr().out.splitlines()[1] == f"loss      {bce:.6g}"
    write_csv(tmp_path / "bad.csv", ["x1", "x2", "t"], [[0, 0, 2]])
    assert main(["evaluate", str(tmp_path / "run"), str(tmp_path / "bad.csv")]) == 1
    assert "line 2, column 't': '2' is not one of the model's classes (0, 1)" in capsys.readouterr().err


def test_a_python_run_on_arrays_has_default_class_names(tmp_path):
    """run_experiment(exp, data=(X, y)): summary and model name the classes; predicted_labels(m, y_hat,
    m.info.classes) used to raise a bare TypeError for classes None."""
    from framework import class_probabilities, predicted_labels

    X, y = integer_labels()
    result = run_experiment(small_experiment(tmp_path, ""), data=(X.T, y[None].astype(float)),
                            run_dir=tmp_path / "run", progress=False)
    assert result.summary["classes"] == ["0", "1", "2"]
    model = load_model(tmp_path / "run")
    y_hat = model.predict(X.T)
    expected = [str(k) for k in np.argmax(y_hat, axis=0)]
    assert predicted_labels(model, y_hat, model.info.classes) == expected
    assert predicted_labels(model, y_hat) == predicted_labels(model, y_hat, None) == expected
    np.testing.assert_allclose(class_probabilities(model, y_hat), softmax_by_hand(y_hat), rtol=1e-12, atol=0)


def test_a_multi_label_run_predicts_each_labels_probability(tmp_path, capsys):
    """bce_with_logits on two target columns is two yes/no questions, not one class among two: no class
    names; predict used to print the logits under the target columns' names, now each one's probability."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((20, 2))
    write_csv(tmp_path / "m.csv", ["x1", "x2", "a", "b"],
              np.column_stack([X, X[:, 0] > 0, X[:, 1] > 0]).astype(float).tolist())
    run_experiment(small_experiment(tmp_path, '[data.source]\ntype = "csv"\npath = "m.csv"\n'
                                              'target_columns = ["a", "b"]\n', loss="bce_with_logits", out=2),
                   run_dir=tmp_path / "run", progress=False)
    assert load_model(tmp_path / "run").info.classes is None
    new = np.array([[0.5, -0.5], [40.0, -40.0], [-3.0, 2.0]])
    write_csv(tmp_path / "q.csv", ["x1", "x2"], new.tolist())
    assert main(["predict", str(tmp_path / "run"), str(tmp_path / "q.csv")]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0] == "p_a,p_b"
    rows = rows_of(text)
    z = load_model(tmp_path / "run").predict(new.T)
    p = 1 / (1 + np.exp(-np.clip(z, -700, 700)))  # the logistic function, by hand
    np.testing.assert_allclose([[float(r["p_a"]) for r in rows], [float(r["p_b"]) for r in rows]], p,
                               rtol=1e-12, atol=1e-300)
    assert ((0 < p) & (p < 1)).any() and not np.allclose(p, z)  # probabilities, not the logits


def test_a_multi_label_bce_run_predicts_its_own_probabilities(tmp_path, capsys):
    """bce on two columns: the model ends in a sigmoid, so its outputs are the probabilities, written as is."""
    rng = np.random.default_rng(6)
    X = rng.standard_normal((20, 2))
    write_csv(tmp_path / "m.csv", ["x1", "x2", "a", "b"],
              np.column_stack([X, X[:, 0] > 0, X[:, 1] > 0]).astype(float).tolist())
    train_from_toml(
        tmp_path,
        '[model]\nlayers = [{ type = "linear", out_features = 2 }, { type = "sigmoid" }]\n[loss]\ntype = "bce"\n'
        '[optimizer]\ntype = "sgd"\nlr = 0.1\n[trainer]\nepochs = 2\n'
        '[data.source]\ntype = "csv"\npath = "m.csv"\ntarget_columns = ["a", "b"]\n')
    model = load_model(tmp_path / "run")
    assert model.info.classes is None
    new = np.array([[0.5, -0.5], [-3.0, 2.0]])
    write_csv(tmp_path / "q.csv", ["x1", "x2"], new.tolist())
    assert main(["predict", str(tmp_path / "run"), str(tmp_path / "q.csv")]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0] == "p_a,p_b"
    rows = rows_of(text)
    np.testing.assert_array_equal([[float(r["p_a"]) for r in rows], [float(r["p_b"]) for r in rows]],
                                  model.predict(new.T))


def test_a_multi_label_run_scores_each_yes_no_decision(tmp_path, capsys):
    """Re-trial: accuracy of a two-column bce_with_logits model took the arg-max over the columns (a right
    [1, 1] counted as wrong), and summary.json held a confusion matrix of classes '0', '1' it does not have."""
    import json

    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 2))
    A = np.column_stack([X[:, 0] > 0, X[:, 0] + X[:, 1] > 0]).astype(float)
    write_csv(tmp_path / "ml.csv", ["x1", "x2", "has_a", "has_b"], np.column_stack([X, A]).tolist())
    result = train_from_toml(
        tmp_path,
        '[model]\nlayers = [{ type = "linear", out_features = 8 }, { type = "tanh" }, '
        '{ type = "linear", out_features = 2 }]\n[loss]\ntype = "bce_with_logits"\n'
        '[optimizer]\ntype = "adam"\nlr = 0.02\n[data]\nvalidation_split = 0.2\n'
        '[data.source]\ntype = "csv"\npath = "ml.csv"\ntarget_columns = ["has_a", "has_b"]\n'
        '[trainer]\nepochs = 10\nmetrics = ["accuracy", "f1"]\n')
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert "confusion_matrix" not in summary and summary["classes"] is None
    # oracle: the share of right yes/no decisions (logit >= 0 is yes), over both columns of every example
    model = load_model(tmp_path / "run")
    z = model.predict(X.T)
    right = (z >= 0) == (A.T == 1)
    assert result.trainer.evaluate(X.T, A.T)["accuracy"] == pytest.approx(right.mean(), abs=1e-15)
    # f1 of the decisions as binary examples, by hand (macro over "no" and "yes", as for one output row)
    yes, truth = (z >= 0).reshape(-1), (A.T == 1).reshape(-1)
    f1s = [2 * np.sum((yes == c) & (truth == c)) / (np.sum(yes == c) + np.sum(truth == c)) for c in (True, False)]
    assert result.trainer.evaluate(X.T, A.T)["f1"] == pytest.approx(np.mean(f1s), abs=1e-15)
    # evaluate on a file: the same rule
    path = write_csv(tmp_path / "ev.csv", ["x1", "x2", "has_a", "has_b"], np.column_stack([X[:8], A[:8]]).tolist())
    assert main(["evaluate", str(tmp_path / "run"), str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[2] == f"accuracy  {right[:, :8].mean():.6g}"


def test_an_npz_x_stored_as_columns_is_refused_with_the_transpose_named(moons_run, tmp_path, capsys):
    # Re-trial: the message did not say the file looked column-major, as the training source now does.
    np.savez(tmp_path / "cols.npz", X=np.zeros((2, 10)))
    assert main(["predict", str(moons_run), str(tmp_path / "cols.npz")]) == 1
    assert capsys.readouterr().err == (
        f"minidl: error: {tmp_path / 'cols.npz'}: X must have one example per row and 2 columns (the model's "
        f"features: x1, x2). Received: shape (2, 10); it looks stored as (features, m), examples as columns: "
        f"save X.T\n")
