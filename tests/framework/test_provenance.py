"""Provenance: summary.json and checkpoints name the plugins (distribution, version) a run used."""

import json

import pytest

from framework import Experiment, load_checkpoint, run_experiment
from framework.checkpoint import latest_checkpoint
from framework.registry import registry
from tests.framework.test_plugins import Cube, FakeDist, FakeEntryPoint, builtins, plugin


@pytest.fixture
def cube_installed(monkeypatch):
    cube = (FakeEntryPoint("cube_layers", plugin(minidl_layers=lambda: {"cube": Cube})), FakeDist("minidl-cube", "2.5.1"))
    monkeypatch.setattr(registry, "_entry_points", builtins() + [cube])
    registry.reload()
    yield
    monkeypatch.undo()
    registry.reload()


def test_summary_and_checkpoints_record_every_plugin_the_run_used(cube_installed, tmp_path):
    experiment = Experiment.from_dict({
        "name": "cubed", "model": {"layers": [{"type": "linear", "out_features": 3, "init": "he_normal"},
                                              {"type": "cube"}, {"type": "linear", "out_features": 1}]},
        "loss": {"type": "mse"}, "optimizer": {"type": "sgd", "lr": 0.01},
        "data": {"source": {"type": "synthetic_linear", "n_samples": 32, "n_features": 2}},
        "trainer": {"epochs": 2, "progress": False, "metrics": ["r2"],
                    "callbacks": [{"type": "lr_scheduler", "schedule": {"type": "step", "step_size": 1}}]}})
    run_experiment(experiment, run_dir=tmp_path / "run")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    used = {p["plugin"]: p for p in summary["plugins"]}
    assert used["minidl-cube:cube_layers"] == {"plugin": "minidl-cube:cube_layers", "distribution": "minidl-cube",
                                               "version": "2.5.1", "components": ["layers:cube"]}
    assert used["minidl:layers"]["components"] == ["layers:linear"] and used["minidl:layers"]["version"] == "0.1.0"
    assert used["minidl:initializers"]["components"] == ["initializers:he_normal"]
    assert used["minidl:schedules"]["components"] == ["schedules:step"]
    assert used["minidl:metrics"]["components"] == ["metrics:r2"]
    assert "minidl:datasets" in used and "minidl:losses" in used and "minidl:optimizers" in used
    assert "minidl:activations" not in used  # nothing of it was used
    ckpt = load_checkpoint(latest_checkpoint(tmp_path / "run" / "checkpoints"))
    in_checkpoint = {p.plugin: (p.distribution, p.version, p.components) for p in ckpt.meta.plugins}
    assert in_checkpoint["minidl-cube:cube_layers"] == ("minidl-cube", "2.5.1", ["layers:cube"])


def test_a_checkpoint_saved_from_python_records_the_plugins_of_its_layers(cube_installed, tmp_path):
    from framework import build_model, save_checkpoint

    model = build_model([{"type": "linear", "out_features": 2}, {"type": "cube"}], in_features=2, seed=0)
    ckpt = load_checkpoint(save_checkpoint(tmp_path / "c.npz", model))
    assert [(p.distribution, p.components) for p in ckpt.meta.plugins] == [
        ("minidl-cube", ["layers:cube"]), ("minidl", ["layers:linear"])]
