"""One record per component kind, and a framework that names no component."""

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest

from framework import Callback, Layer, PluginError, hookimpl, hookspecs
from framework.experiment import build_model
from framework.kinds import KINDS, kind
from framework.plugin_manager import PluginLoadWarning
from framework.registry import Registry, registry
from tests.framework.test_plugins import builtins, plugin, third_party

ROOT = Path(__file__).resolve().parents[2]

# Words that are both a built-in's registered name and a method of a base
# class the framework must call: ("step", the schedule) is Optimizer.step.
NOT_A_COMPONENT = {("kinds.py", "step")}


def test_every_hook_has_one_kind_record_and_the_registry_uses_them():
    hooks = {name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("minidl_")}
    assert hooks == {k.hook for k in KINDS}
    assert registry.kinds == [k.name for k in KINDS]
    assert kind("layers").inferred == {"in_features"} and kind("optimizers").injected == {"params"}
    # the registry's config model leaves out what the record says is injected
    assert "params" not in registry.config_model("optimizers", "sgd").model_fields
    assert registry.config_model("layers", "linear").model_fields["in_features"].is_required() is False


def builtin_names():
    names, classes = set(), set()
    for entry in registry.entries():
        if entry.plugin.distribution == "minidl":
            names.add(entry.name)
            if isinstance(entry.component, type):
                classes.add(entry.component.__name__)
    return names, classes


def offending_names(path: Path, names: set, classes: set) -> list[str]:
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if (node.value in names and (path.name, node.value) not in NOT_A_COMPONENT) or node.value in classes:
                found.append(f"{path.name}:{node.lineno}: string {node.value!r}")
        idents = ([node.id] if isinstance(node, ast.Name) else [node.attr] if isinstance(node, ast.Attribute)
                  else [a.name for a in node.names] if isinstance(node, (ast.Import, ast.ImportFrom)) else [])
        found += [f"{path.name}:{node.lineno}: identifier {i}" for i in idents if i in classes]
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "plugins":
            found.append(f"{path.name}:{node.lineno}: imports {node.module}")
    return found


def test_no_module_of_framework_names_a_builtin_component_or_callback_class():
    names, classes = builtin_names()
    assert {"relu", "metrics_logger", "checkpoint"} <= names and {"MetricsLogger", "ModelCheckpoint"} <= classes
    found = [f for path in sorted((ROOT / "framework").glob("*.py")) for f in offending_names(path, names, classes)]
    assert not found, "framework/ names built-in components:\n" + "\n".join(found)


def test_the_scan_catches_what_the_framework_used_to_do(tmp_path):
    names, classes = builtin_names()
    old = tmp_path / "old.py"
    old.write_text('following = "relu"\nkinds = {"MetricsLogger"}\nfrom plugins.callbacks import ModelCheckpoint\n')
    assert len(offending_names(old, names, classes)) == 4


# -- an activation declares the initializer it prefers before it -----------------
class Tilt(Layer):
    """An activation preferring a zero initialisation before it (to be visible)."""

    init_before = "zeros"

    def forward_pass(self, X, training):
        return X, None

    def backward_pass(self, dY, cache):
        return dY


def test_an_activation_declares_the_initializer_of_the_layer_before_it():
    registry.register(plugin(minidl_layers=lambda: {"tilt": Tilt}), "tilt_plugin")
    try:
        model = build_model([{"type": "linear", "out_features": 3}, {"type": "tilt"}], in_features=2, seed=0)
        assert np.all(model[0].W.data == 0)
        explicit = build_model([{"type": "linear", "out_features": 3, "init": "he_normal"}, {"type": "tilt"}],
                               in_features=2, seed=0)
        assert np.any(explicit[0].W.data != 0)
    finally:
        registry.unregister("tilt_plugin")
    relu = build_model([{"type": "linear", "out_features": 400}, {"type": "relu"}], in_features=400, seed=0)
    assert relu[0].W.data.std() == pytest.approx(np.sqrt(2 / 400), rel=0.02)  # He: variance 2 / fan_in


def test_a_metric_without_a_direction_is_refused_naming_the_fix():
    reg = Registry(entry_points=builtins() + [third_party(plugin(minidl_metrics=lambda: {"hits": lambda a, b: 0.0}))])
    with pytest.warns(PluginLoadWarning, match=r"registers metric 'hits', which does not declare "
                                               r"`higher_is_better` \(bool\); decorate the function with @framework.metric"):
        reg.load()
    assert "hits" not in reg.names("metrics")


def test_callback_defaults_describe_the_documented_methods(tmp_path):
    cb = Callback()
    assert cb.bind_run(tmp_path, {}) is None and cb.save_now(None) is None and Callback.run_dir_default is None


# -- callbacks learn about the run through documented methods ------------------
class RunNotes(Callback):
    """A third-party callback that every run directory gets, writing its own file."""

    run_dir_default = {"filename": "notes.txt"}
    bound: list = []

    def __init__(self, filename: str = "notes.txt"):
        self.filename = filename

    def bind_run(self, run_dir, spec):
        RunNotes.bound.append((run_dir, spec["name"]))
        self.filename = str(run_dir / self.filename)

    def on_train_end(self, trainer, logs):
        Path(self.filename).write_text(f"{trainer.epoch} epochs\n")


def checkpoint_subclass():
    from framework.registry import registry as reg

    base = reg.get("callbacks", "checkpoint")
    return type("EveryEpochCheckpoint", (base,), {})


def tiny_experiment(**trainer):
    from framework import Experiment

    return Experiment.from_dict({
        "name": "tiny", "model": {"layers": [{"type": "linear", "out_features": 1}]},
        "loss": {"type": "mse"}, "optimizer": {"type": "sgd", "lr": 0.1},
        "data": {"source": {"type": "synthetic_linear", "n_samples": 32, "n_features": 2}},
        "trainer": {"epochs": 2, "progress": False, **trainer}})


def test_run_directory_defaults_are_declared_by_the_callback_classes(tmp_path):
    from framework import run_experiment

    RunNotes.bound.clear()
    mine = checkpoint_subclass()
    registry.register(plugin(minidl_callbacks=lambda: {"run_notes": RunNotes, "my_checkpoint": mine}),
                      "notes_plugin")
    try:
        run_experiment(tiny_experiment(), run_dir=tmp_path / "a")
        assert (tmp_path / "a" / "notes.txt").read_text() == "2 epochs\n"
        assert RunNotes.bound == [(tmp_path / "a", "tiny")]
        # A callback of a subclass of the checkpoint class replaces the default one: one writer only.
        result = run_experiment(tiny_experiment(callbacks=[{"type": "my_checkpoint", "directory": "mine"}]),
                                run_dir=tmp_path / "b")
        checkpointers = [cb for cb in result.trainer.callbacks if isinstance(cb, registry.get("callbacks", "checkpoint"))]
        assert len(checkpointers) == 1 and not (tmp_path / "b" / "checkpoints").exists()
        assert len(list((tmp_path / "b" / "mine").glob("checkpoint-*.npz"))) == 2
    finally:
        registry.unregister("notes_plugin")


def test_ctrl_c_saves_through_any_callback_overriding_save_now(tmp_path):
    import os
    import signal

    from framework import TrainingInterrupted
    from tests.framework.test_trainer import data, make

    class SaveOnDemand(Callback):
        def on_batch_end(self, trainer, batch, logs):
            os.kill(os.getpid(), signal.SIGINT)

        def save_now(self, trainer):
            path = tmp_path / f"saved-at-{trainer.epoch}-{trainer.batch}.txt"
            path.write_text("ok")
            return path

    with pytest.raises(TrainingInterrupted, match=r"checkpoint saved to .*saved-at-0-1.txt") as info:
        make(callbacks=[SaveOnDemand()]).fit(*data())
    assert info.value.checkpoint == tmp_path / "saved-at-0-1.txt"
