"""`minidl schema` knows every component's arguments; `minidl describe` tells one's story."""

import json
import re
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from framework import Experiment
from framework.cli import main
from framework.schema import experiment_schema

jsonschema = pytest.importorskip("jsonschema")
ROOT = Path(__file__).resolve().parents[2]


def docs_bad_example() -> str:
    text = (ROOT / "docs" / "experiments.md").read_text()
    return re.search(r"`bad.toml`:\n\n```toml\n(.*?)```", text, re.S).group(1)


def flagged(schema, data):
    validator = jsonschema.Draft202012Validator(schema)
    return sorted((".".join(map(str, e.absolute_path)), e.message) for e in validator.iter_errors(data))


def test_the_schema_flags_all_four_problems_of_the_docs_bad_example():
    data = tomllib.loads(docs_bad_example())
    problems = flagged(experiment_schema(), data)
    assert [(path, re.sub(r"\[.*\]", "[...]", message)) for path, message in problems] == [
        ("model.layers.1.type", "'sigmoidd' is not one of [...]"),
        ("model.layers.2", "'out_features' is a required property"),
        ("model.layers.2", "Additional properties are not allowed ('out_featres' was unexpected)"),
        ("trainer.batch_size", "0 is less than or equal to the minimum of 0"),
    ]
    # measured in issue 11: the plain model schema flagged 1 of the 4
    assert len(flagged(Experiment.model_json_schema(), data)) == 1


def test_the_schema_checks_argument_types_and_ranges_of_every_kind():
    good = {"model": {"layers": [{"type": "linear", "out_features": 2}, {"type": "relu"}]},
            "loss": {"type": "mse"}, "optimizer": {"type": "sgd", "lr": 0.1, "momentum": 0.9},
            "data": {"source": {"type": "moons", "n_samples": 100}},
            "trainer": {"metrics": ["r2"], "callbacks": [{"type": "early_stopping", "patience": 3}]}}
    schema = experiment_schema()
    assert flagged(schema, good) == []
    bad = json.loads(json.dumps(good))
    bad["optimizer"]["lr"] = "fast"
    bad["data"]["source"]["n_samples"] = -1
    bad["trainer"]["metrics"] = ["r3"]
    bad["trainer"]["callbacks"][0]["patiense"] = 3
    bad["loss"] = {"type": "mse", "reduction": "sum"}
    assert [path for path, _ in flagged(schema, bad)] == [
        "data.source.n_samples", "loss", "optimizer.lr", "trainer.callbacks.0", "trainer.metrics.0"]


def test_a_plugin_component_is_in_the_schema(monkeypatch):
    from framework import Layer
    from framework.registry import registry
    from framework.types import PositiveFloat
    from tests.framework.test_plugins import plugin

    class Scale(Layer):
        """Y = factor * X."""

        def __init__(self, factor: PositiveFloat = 1.0):
            super().__init__()
            self.factor = factor

        def forward_pass(self, X, training):
            return self.factor * X, None

        def backward_pass(self, dY, cache):
            return self.factor * dY

    registry.register(plugin(minidl_layers=lambda: {"scale": Scale}), "scale_plugin")
    try:
        schema = experiment_schema()
    finally:
        registry.unregister("scale_plugin")
    block = {"model": {"layers": [{"type": "scale", "factor": 0}]}, "loss": {"type": "mse"},
             "optimizer": {"type": "sgd"}}
    assert flagged(schema, block) == [("model.layers.0.factor", "0 is less than or equal to the minimum of 0")]
    assert schema["$defs"]["layers.scale"]["description"] == "Y = factor * X."


def test_schema_cli_writes_the_component_schema(tmp_path, capsys):
    assert main(["schema", "--output", str(tmp_path / "s.json")]) == 0
    written = json.loads((tmp_path / "s.json").read_text())
    assert "linear" in written["$defs"]["kind.layers"]["properties"]["type"]["enum"]


def test_describe_prints_arguments_defaults_summary_and_plugin(capsys):
    assert main(["describe", "sgd"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "sgd (optimizer, SGD from plugin minidl:optimizers (minidl 0.1.0))"
    assert "    lr: float (> 0), default 0.01\n" in out
    assert "  supplied by minidl: params" in out
    assert main(["describe", "linear"]) == 0
    out = capsys.readouterr().out
    assert "    out_features: int (> 0), required\n" in out
    assert "    in_features: int (> 0) or None, inferred (from the layer before, or the data)\n" in out
    assert main(["describe", "metrics:r2"]) == 0
    assert "higher is better: yes" in capsys.readouterr().out


def test_describe_asks_for_a_kind_when_the_name_is_ambiguous_and_suggests_on_typos(capsys):
    assert main(["describe", "mse"]) == 1
    assert ("'mse' names a component of several kinds; say which: minidl describe losses:mse, "
            "minidl describe metrics:mse") in capsys.readouterr().err
    assert main(["describe", "loss:mse"]) == 0
    assert capsys.readouterr().out.startswith("mse (loss, ")
    assert main(["describe", "sgdd"]) == 1
    assert "no component is registered as 'sgdd'; similar: optimizers:sgd" in capsys.readouterr().err
    assert main(["describe", "lossez:mse"]) == 1
    assert "unknown component kind 'lossez'" in capsys.readouterr().err
