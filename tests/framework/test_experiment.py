import json
import re

import numpy as np
import pytest

from framework import ConfigError, Experiment, build_model, load_experiment
from framework.config_files import to_toml

BASE = {
    "name": "t",
    "model": {"layers": [{"type": "linear", "out_features": 8}, {"type": "sigmoid"},
                         {"type": "linear", "out_features": 1}]},
    "loss": {"type": "mse"},
    "optimizer": {"type": "sgd", "lr": 0.1},
    "data": {"source": {"type": "synthetic_linear", "n_samples": 64, "n_features": 3}},
    "trainer": {"epochs": 2, "batch_size": 16},
}


def copy_base(**changes):
    data = json.loads(json.dumps(BASE))
    data.update(changes)
    return data


def problems_of(data):
    with pytest.raises(ConfigError) as info:
        Experiment.from_dict(data)
    return dict(info.value.problems), str(info.value)


def test_python_dict_and_file_forms_agree(tmp_path):
    exp = Experiment.from_dict(BASE)
    (tmp_path / "e.json").write_text(json.dumps(BASE))
    (tmp_path / "e.toml").write_text(to_toml(BASE))
    assert load_experiment(tmp_path / "e.json").to_dict() == exp.to_dict()
    assert load_experiment(tmp_path / "e.toml").to_dict() == exp.to_dict()
    assert Experiment(**BASE).to_dict() == exp.to_dict()


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_save_round_trips(tmp_path, suffix):
    exp = Experiment.from_dict(copy_base(trainer={"epochs": 3, "callbacks": [
        {"type": "lr_scheduler", "schedule": {"type": "step", "step_size": 2}}]}))
    path = exp.save(tmp_path / f"saved{suffix}")
    assert load_experiment(path).to_dict() == exp.to_dict()


def test_every_problem_is_reported_at_once_with_its_path():
    data = copy_base()
    data["model"]["layers"][2] = {"type": "linear", "out_featres": 1}
    data["model"]["layers"][1] = {"type": "sigmoidd"}
    data["model"]["layers"][0]["out_features"] = 0
    data["trainer"] = {"epochs": -1, "batch_size": 0, "epoch": 3}
    data["optimizer"] = {"type": "sgd", "lr": float("nan")}
    data["extra"] = 1
    problems, text = problems_of(data)
    assert problems["model.layers[2].out_featres"] == "unknown field, did you mean out_features?"
    assert "model.layers[2].out_features" in problems  # and the required field is missing
    assert problems["model.layers[1].type"].startswith("can't find 'sigmoidd' in registry layers. Did you mean 'sigmoid'?")
    assert "Available names:" in problems["model.layers[1].type"] and "relu" in problems["model.layers[1].type"]
    assert "greater than 0" in problems["model.layers[0].out_features"]
    assert "greater than 0" in problems["trainer.epochs"] and "greater than 0" in problems["trainer.batch_size"]
    assert problems["trainer.epoch"] == "unknown field, did you mean epochs?"
    assert "finite" in problems["optimizer.lr"]
    assert problems["extra"].startswith("unknown field")
    assert text.startswith(f"{len(problems)} problems:")


def test_unknown_loss_optimizer_data_and_metric_names():
    data = copy_base(loss={"type": "mae_loss"}, optimizer={"type": "sdg", "lr": 0.1})
    data["data"]["source"]["type"] = "synthetic_linaer"
    data["trainer"]["metrics"] = ["r3"]
    problems, _ = problems_of(data)
    assert "Did you mean 'sgd'?" in problems["optimizer.type"]
    assert "Did you mean 'synthetic_linear'?" in problems["data.source.type"]
    assert "registry losses" in problems["loss.type"]
    assert "Did you mean 'r2'?" in problems["trainer.metrics[0]"]


def test_file_errors_name_file_line_and_column(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[model\nlayers = []\n')
    with pytest.raises(ConfigError, match=r"in .*bad.toml:\n  TOML syntax error: .*line 2, column"):
        load_experiment(bad)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{\n  "name": "x",\n  "seed": ,\n}')
    with pytest.raises(ConfigError, match=r"bad.json:\n  JSON syntax error at line 3, column 11"):
        load_experiment(bad_json)
    dup = tmp_path / "dup.json"
    dup.write_text('{\n  "seed": 1,\n  "seed": 2\n}')
    with pytest.raises(ConfigError, match=r"duplicate key 'seed' \(line 3\)"):
        load_experiment(dup)
    with pytest.raises(ConfigError, match=r"missing.toml:\n  file not found"):
        load_experiment(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match=r"unsupported file type '.yaml'"):
        load_experiment(tmp_path / "e.yaml")


def test_validation_errors_in_a_file_name_the_file(tmp_path):
    path = tmp_path / "e.toml"
    data = copy_base()
    data["trainer"]["batch_size"] = 0
    path.write_text(to_toml(data))
    with pytest.raises(ConfigError, match=r"1 problem in .*e.toml:\n  trainer.batch_size: Input should be greater than 0"):
        load_experiment(path)


def test_overrides(tmp_path):
    path = tmp_path / "e.toml"
    path.write_text(to_toml(BASE))
    exp = load_experiment(path, ["trainer.epochs=7", "model.layers[0].out_features=5", "name=other"])
    assert exp.trainer.epochs == 7 and exp.model.layers[0].args["out_features"] == 5 and exp.name == "other"
    with pytest.raises(ConfigError, match="there is no item \\[9\\]"):
        load_experiment(path, ["model.layers[9].out_features=5"])
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_experiment(path, ["trainer.epochs"])


def test_build_model_infers_in_features_and_is_reproducible():
    exp = Experiment.from_dict(BASE)
    model = build_model(exp, in_features=3)
    assert model[0].W.shape == (8, 3) and model[2].W.shape == (1, 8)
    again = build_model(exp, in_features=3)
    for a, b in zip(model.parameters(), again.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    other = build_model(exp.model_copy(update={"seed": 1}), in_features=3)
    assert not np.array_equal(model[0].W.data, other[0].W.data)
    with pytest.raises(ConfigError, match=r"model.layers\[0\].in_features: cannot be inferred"):
        build_model(exp)


def test_build_model_reports_a_size_mismatch_at_the_layer():
    layers = [{"type": "linear", "in_features": 3, "out_features": 4}, {"type": "linear", "in_features": 5, "out_features": 1}]
    with pytest.raises(ConfigError, match=r"model.layers\[1\]: does not accept the 4 features it receives"):
        build_model(layers, in_features=3)


def test_linear_before_relu_defaults_to_he_init():
    model = build_model([{"type": "linear", "out_features": 400}, {"type": "relu"}], in_features=500, seed=0)
    np.testing.assert_allclose(model[0].W.data.var(), 2 / 500, rtol=0.05)
    glorot = build_model([{"type": "linear", "out_features": 400}, {"type": "sigmoid"}], in_features=500, seed=0)
    np.testing.assert_allclose(glorot[0].W.data.var(), 2 / 900, rtol=0.05)


def test_float32_experiment_builds_float32_parameters():
    model = build_model(Experiment.from_dict(copy_base(dtype="float32")), in_features=3)
    assert all(p.dtype == np.float32 for p in model.parameters())


def test_python_construction_also_checks_components():
    data = copy_base(loss={"type": "msee"})
    with pytest.raises(ValueError, match="can't find 'msee' in registry losses. Did you mean 'mse'"):
        Experiment(**data)


def test_a_none_argument_is_kept_and_toml_refuses_it_naming_its_path(tmp_path):
    data = copy_base()
    data["model"]["layers"].insert(1, {"type": "batch_norm", "momentum": None})
    exp = Experiment.from_dict(data)
    assert exp.to_dict()["model"]["layers"][1] == {"type": "batch_norm", "momentum": None}
    with pytest.raises(ConfigError, match=re.escape(
            "1 problem in " + str(tmp_path / "e.toml") + ":\n  model.layers[1].momentum: is None (null in JSON), "
            "which TOML cannot hold: TOML has no null, and leaving the key out would mean its default instead; "
            "save the experiment as .json (e.g. e.json)")):
        exp.save(tmp_path / "e.toml")
    assert not (tmp_path / "e.toml").exists()
    loaded = load_experiment(exp.save(tmp_path / "e.json"))
    assert loaded.to_dict() == exp.to_dict() and loaded.model.layers[1].args == {"momentum": None}
    with pytest.raises(ConfigError, match=r"model\.layers\[1\]\.momentum: is None"):
        to_toml(exp.to_dict())


def test_a_none_argument_that_is_its_default_is_left_out(tmp_path):
    data = copy_base()
    data["model"]["layers"][0]["seed"] = None  # linear's seed defaults to None
    exp = Experiment.from_dict(data)
    assert "seed" not in exp.to_dict()["model"]["layers"][0]
    assert load_experiment(exp.save(tmp_path / "e.toml")).to_dict() == exp.to_dict()
