"""Plugin loading through entry points, and every failure mode with its message."""

import re
import types

import pytest

from framework import Layer, Loss, Optimizer, PluginError, RegistryError, hookimpl
from framework.plugin_manager import DISABLE_AUTOLOAD_ENV, STRICT_ENV, PluginLoadWarning, discover_entry_points
from framework.registry import Registry, registry

BUILTIN_KINDS = {
    "layers": {"linear", "sigmoid", "tanh", "relu", "dropout", "batch_norm"},
    "losses": {"mse", "bce"},
    "optimizers": {"sgd", "adam"},
    "initializers": {"glorot_uniform", "glorot_normal", "he_normal", "he_uniform", "lecun_normal", "zeros"},
    "datasets": {"synthetic_linear", "synthetic_nonlinear", "moons", "spirals", "digits", "csv", "npz"},
    "callbacks": {"early_stopping", "checkpoint", "metrics_logger", "lr_scheduler"},
    "metrics": {"mse", "mae", "r2", "accuracy"},
    "schedules": {"constant", "step", "exponential", "cosine"},
}


class FakeDist:
    def __init__(self, name, version="1.2.3"):
        self.metadata = {"Name": name}
        self.version = version


class FakeEntryPoint:
    def __init__(self, name, obj=None, error=None, value=None):
        self.name, self.obj, self.error = name, obj, error
        self.value = value or f"fake_module_{name}"

    def load(self):
        if self.error:
            raise self.error
        return self.obj


def builtins():
    return [(ep, dist) for ep, dist in discover_entry_points() if dist.metadata["Name"] == "minidl"]


def plugin(**hooks):
    module = types.ModuleType("fake_plugin")
    for name, fn in hooks.items():
        setattr(module, name, hookimpl(fn))
    return module


class Cube(Layer):
    def forward_pass(self, X, training):
        return X ** 3, X

    def backward_pass(self, dY, X):
        return 3 * X ** 2 * dY


def third_party(obj, name="cube_plugin", dist="minidl-cube"):
    return (FakeEntryPoint(name, obj), FakeDist(dist))


def test_builtins_come_from_this_distributions_entry_points():
    for kind, names in BUILTIN_KINDS.items():
        assert set(registry.names(kind)) >= names
    for entry in registry.entries("layers"):
        if entry.name in BUILTIN_KINDS["layers"]:
            assert entry.plugin.distribution == "minidl" and " = plugins." in entry.plugin.entry_point
    assert {p.name for p in registry.plugins() if p.distribution == "minidl"} >= {
        "minidl:layers", "minidl:activations", "minidl:losses", "minidl:optimizers"}


def test_without_entry_points_the_registry_is_empty():
    empty = Registry(entry_points=[])
    assert all(empty.names(kind) == [] for kind in BUILTIN_KINDS)


def test_a_third_party_layer_is_usable_by_name():
    reg = Registry(entry_points=builtins() + [third_party(plugin(minidl_layers=lambda: {"cube": Cube}))])
    entry = reg.entry("layers", "cube")
    assert entry.component is Cube and entry.distribution == "minidl-cube 1.2.3"
    assert isinstance(reg.build("layers", "cube"), Cube)


def test_unknown_name_lists_available_and_closest():
    with pytest.raises(RegistryError, match=r"can't find 'sigmoidd' in registry layers. Did you mean 'sigmoid'\? "
                                            r"Available names: ([a-z_]+, )*linear, ([a-z_]+, )*relu, sigmoid, ([a-z_]+, )*tanh\."):
        Registry(entry_points=builtins()).get("layers", "sigmoidd")


def test_a_plugin_that_fails_to_import_warns_and_the_rest_load(monkeypatch):
    broken = (FakeEntryPoint("broken", error=ImportError("No module named 'scipy'"), value="broken_pkg.layers"),
              FakeDist("minidl-broken", "0.3"))
    reg = Registry(entry_points=builtins() + [broken], environ={})
    with pytest.warns(PluginLoadWarning, match=r"could not load plugin 'minidl-broken:broken' \(entry point "
                                               r"'broken = broken_pkg.layers' of distribution minidl-broken 0.3\): "
                                               r"ImportError: No module named 'scipy'"):
        reg.load()
    assert "linear" in reg.names("layers")
    with pytest.raises(RegistryError, match=r"can't find 'fancy'.*Plugins that failed to load, and may have "
                                            r"provided it: plugin 'minidl-broken:broken'.*ImportError: No module named 'scipy'"):
        reg.get("layers", "fancy")
    strict = Registry(entry_points=builtins() + [broken], environ={STRICT_ENV: "1"})
    with pytest.raises(PluginError, match=rf"could not load .*minidl-broken 0.3.*\({STRICT_ENV} is set\)"):
        strict.load()


def test_two_plugins_registering_one_name_is_an_error_naming_both():
    clash = third_party(plugin(minidl_layers=lambda: {"sigmoid": Cube}))
    with pytest.raises(PluginError, match=r"layer name 'sigmoid' is registered twice: by plugin 'minidl:activations' "
                                          r"\(entry point 'activations = plugins.activations' of distribution minidl .*\) "
                                          r"and by plugin 'minidl-cube:cube_plugin' \(entry point 'cube_plugin = "
                                          r"fake_module_cube_plugin' of distribution minidl-cube 1.2.3\)"):
        Registry(entry_points=builtins() + [clash]).load()


def test_wrong_hook_signature_and_misspelled_hook_name_name_the_plugin():
    wrong = third_party(plugin(minidl_layers=lambda registry: {"cube": Cube}))
    with pytest.raises(PluginError, match=r"(?s)plugin 'minidl-cube:cube_plugin' .* has an invalid hook implementation.*"
                                          r"Argument\(s\) \{'registry'\} are declared in the hookimpl"):
        Registry(entry_points=[wrong]).load()
    typo = third_party(plugin(minidl_layer=lambda: {"cube": Cube}))
    with pytest.raises(PluginError, match=r"plugin 'minidl-cube:cube_plugin' .* implements unknown hook\(s\) "
                                          rf"minidl_layer; known hooks: minidl_layers, .*{DISABLE_AUTOLOAD_ENV}=1"):
        Registry(entry_points=[typo]).load()


class NotALayer:
    pass


class NoBackward(Layer):
    def forward_pass(self, X, training):
        return X, None


class LossNoBackward(Loss):
    def forward_pass(self, y_hat, y):
        return 0.0, None


class OptimizerNoUpdate(Optimizer):
    pass


@pytest.mark.parametrize("hook,component,message", [
    ("minidl_layers", NotALayer, r"registers layer 'bad', which is not a subclass of framework.Layer"),
    ("minidl_layers", NoBackward, r"registers layer 'bad', which does not implement backward_pass \(required of every Layer\)"),
    ("minidl_losses", LossNoBackward, r"registers losse? 'bad', which does not implement backward_pass"),
    ("minidl_losses", Cube, r"which is not a subclass of framework.Loss"),
    ("minidl_optimizers", OptimizerNoUpdate, r"which does not implement update"),
    ("minidl_initializers", 3, r"registers initializer 'bad', which is not callable"),
])
def test_improper_components_are_rejected_saying_what_they_lack(hook, component, message):
    bad = third_party(plugin(**{hook: lambda: {"bad": component}}))
    with pytest.raises(PluginError, match=message):
        Registry(entry_points=[bad]).load()


def test_bad_names_and_bad_hook_results():
    with pytest.raises(PluginError, match=r"names must be lowercase identifiers"):
        Registry(entry_points=[third_party(plugin(minidl_layers=lambda: {"Cube Layer": Cube}))]).load()
    with pytest.raises(PluginError, match=r"hook minidl_layers\(\) must return a dict \{name: component\}. Received: list"):
        Registry(entry_points=[third_party(plugin(minidl_layers=lambda: [Cube]))]).load()


def test_disabling_autoload_keeps_only_the_builtins():
    entry_points = builtins() + [third_party(plugin(minidl_layers=lambda: {"cube": Cube}))]
    reg = Registry(entry_points=entry_points, environ={DISABLE_AUTOLOAD_ENV: "1"})
    assert "cube" not in reg.names("layers") and "linear" in reg.names("layers")
    assert "cube" in Registry(entry_points=entry_points, environ={DISABLE_AUTOLOAD_ENV: "0"}).names("layers")


def test_in_process_registration_is_listed_as_such():
    reg = Registry(entry_points=builtins())
    reg.register(plugin(minidl_layers=lambda: {"cube": Cube}), name="my_script")
    assert reg.entry("layers", "cube").distribution == "(in-process)"
    reg.unregister("my_script")
    assert "cube" not in reg.names("layers")


def test_config_validation_from_the_constructor_signature():
    reg = Registry(entry_points=builtins())
    assert reg.check_args("layers", "linear", {"out_features": 3}) == []
    problems = dict(reg.check_args("layers", "linear", {"out_featurs": 3, "bias": "maybe"}))
    assert problems["out_featurs"] == "unknown field, did you mean out_features?"
    assert problems["out_features"] == "required field is missing"
    assert "bias" in problems
    assert "rng" not in reg.config_model("layers", "linear").model_fields  # supplied by the builder
    sgd = reg.build("optimizers", "sgd", {"lr": 0.5}, params=[])
    assert sgd.lr == 0.5


def test_plugins_cli_lists_distributions_and_components(capsys):
    from framework.cli import main

    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("plugins: ") and "minidl-0.1.0" in out.splitlines()[0]
    assert "minidl:layers (minidl 0.1.0): layers: batch_norm, dropout, linear" in out
    assert re.search(r"minidl:activations \(minidl 0.1.0\): layers: ([a-z_]+, )*relu, sigmoid, ([a-z_]+, )*tanh\b", out)


def test_check_plugins_cli(capsys):
    from framework.cli import main

    assert main(["check-plugins", "linear", "relu"]) == 0
    assert "2 passed, 0 failed" in capsys.readouterr().out
