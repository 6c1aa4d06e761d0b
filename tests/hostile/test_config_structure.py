"""Hostile experiment files and --set values: one clear error with the file and field, never a traceback."""

import json

import pytest

from framework import ConfigError, Experiment, load_experiment
from framework.cli import main
from tests.test_cli import EXPERIMENT

BASE = EXPERIMENT.read_text()


def run_validate(capsys, path, *overrides):
    args = ["validate", str(path)]
    for o in overrides:
        args += ["--set", o]
    code = main(args)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.err


@pytest.mark.parametrize("name, text, message", [
    ("deep.json", "[" * 2000 + "]" * 2000,
     "the document nests arrays or objects more than 32 deep; minidl reads at most 32 levels"),
    ("deep_obj.json", '{"a": ' * 2000 + "1" + "}" * 2000, "nests arrays or objects more than 32 deep"),
    ("deep.toml", "a = " + "[" * 1000 + "]" * 1000, "tables or arrays nest more than 32 deep"),
    ("deep_keys.toml", ".".join(["a"] * 1000) + " = 1", "nests tables, arrays or objects more than 32 deep"),
    ("deep_value.toml", BASE.replace("seed = 0", "seed = " + "[" * 600 + "]" * 600),
     "more than 32 deep"),
])
def test_deep_nesting_is_refused_with_the_file(tmp_path, capsys, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    code, err = run_validate(capsys, path)
    assert code == 2 and f"1 problem in {path}:" in err and message in err, err


def test_a_deep_dict_from_python_is_refused_before_any_recursion():
    deep = {"x": 1}
    for _ in range(5000):
        deep = {"x": deep}
    with pytest.raises(ConfigError, match="the experiment nests tables, arrays or objects more than 32 deep"):
        Experiment.from_dict({"model": {"layers": [deep]}})


@pytest.mark.parametrize("override, message", [
    ("trainer.epochs.x.y=1", "--set: 'trainer.epochs.x.y=1': trainer.epochs is 30, not a table; it has no field 'x'"),
    ("trainer.epochs.x=1", "trainer.epochs is 30, not a table; it has no field 'x'"),
    ("name.first=1", "name is 'linear_regression', not a table; it has no field 'first'"),
    ("seed=" + "[" * 600 + "]" * 600, "--set: the value of seed nests more than 32 deep"),
    ("seed=" + "[" * 40 + "]" * 40, "--set: the value of seed nests tables, arrays or objects more than 32 deep"),
])
def test_set_paths_through_scalars_and_deep_values(tmp_path, capsys, override, message):
    code, err = run_validate(capsys, EXPERIMENT, override)
    assert code == 2 and message in err, err


def test_a_width_too_large_for_its_field_names_the_field(capsys):
    code, err = run_validate(capsys, EXPERIMENT, "model.layers[0].out_features=1000000000000000000000000000000")
    assert code == 2
    assert "model.layers[0].out_features: Input should be less than or equal to 9223372036854775807" in err


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_a_utf8_bom_is_accepted(tmp_path, capsys, suffix):
    data = load_experiment(EXPERIMENT).to_dict()
    text = BASE if suffix == ".toml" else json.dumps(data)
    path = tmp_path / f"bom{suffix}"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    code, err = run_validate(capsys, path)
    assert code == 0, err


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_undecodable_bytes_are_reported_with_file_line_and_column(tmp_path, capsys, suffix):
    path = tmp_path / f"latin1{suffix}"
    if suffix == ".toml":
        path.write_bytes(BASE.replace('name = "linear_regression"', 'name = "caf\xe9"').encode("latin-1"))
        line = BASE.splitlines().index('name = "linear_regression"') + 1
        where = f"line {line}, column 12"
    else:
        path.write_bytes(b'{\n  "name": "caf\xe9"\n}')
        where = "line 2, column 15"
    code, err = run_validate(capsys, path)
    assert code == 2 and f"1 problem in {path}:\n  {where}: byte 0xe9 is not UTF-8 text; save the file as UTF-8" in err, err
