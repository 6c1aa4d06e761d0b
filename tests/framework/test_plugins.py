"""Plugin loading through entry points, and every failure mode with its message."""

import re
import importlib.metadata
import inspect
import re
import types

import numpy as np
import pytest

from framework import Layer, Loss, Optimizer, PluginError, RegistryError, hookimpl, metric
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


def test_two_plugins_registering_one_name_is_a_clash_reported_where_that_kind_is_needed():
    clash = third_party(plugin(minidl_layers=lambda: {"sigmoid": Cube}))
    reg = Registry(entry_points=builtins() + [clash])
    reg.load()  # no refusal at load: other kinds, and `minidl plugins`, keep working
    assert "mse" in reg.names("losses")
    with pytest.raises(PluginError, match=r"layer name 'sigmoid' is registered twice: by plugin 'minidl:activations' "
                                          r"\(entry point 'activations = plugins.activations' of distribution minidl .*\) "
                                          r"and by plugin 'minidl-cube:cube_plugin' \(entry point 'cube_plugin = "
                                          r"fake_module_cube_plugin' of distribution minidl-cube 1.2.3\). Names must be "
                                          r"unique: block one plugin \(`minidl -p no:NAME ...` or MINIDL_BLOCK_PLUGINS="
                                          r"NAME, e.g. minidl-cube:cube_plugin\), uninstall it, or have it declare the "
                                          r"replacement with framework.override\(component\)"):
        reg.names("layers")
    assert [e.plugin.name for e in reg.clashes()["layers"]["sigmoid"]] == ["minidl:activations",
                                                                         "minidl-cube:cube_plugin"]


def load_with_warning(entry_points, match):
    reg = Registry(entry_points=entry_points, environ={})
    with pytest.warns(PluginLoadWarning, match=match) as caught:
        reg.load()
    failed = reg.failures()
    assert len(failed) == 1 and re.search(match, failed[0].error)
    assert not any(failed[0].provides.values())  # left out whole
    return reg, caught


def test_wrong_hook_signature_and_misspelled_hook_name_name_the_plugin():
    wrong = third_party(plugin(minidl_layers=lambda registry: {"cube": Cube}))
    load_with_warning([wrong], r"(?s)plugin 'minidl-cube:cube_plugin' .* has an invalid hook implementation.*"
                               r"Argument\(s\) \{'registry'\} are declared in the hookimpl")
    typo = third_party(plugin(minidl_layer=lambda: {"cube": Cube}))
    load_with_warning([typo], r"plugin 'minidl-cube:cube_plugin' .* implements unknown hook\(s\) "
                              r"minidl_layer; known hooks: minidl_layers, ")
    strict = Registry(entry_points=[typo], environ={STRICT_ENV: "1"})
    with pytest.raises(PluginError, match=rf"implements unknown hook.*\({STRICT_ENV} is set\)"):
        strict.load()


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


class FastMSE(Loss):
    def forward_pass(self, y_hat, y):
        return float(((y_hat - y) ** 2).mean()), (y_hat - y)

    def backward_pass(self, diff):
        return 2 * diff / diff.size


@pytest.mark.parametrize("hook,component,message", [
    ("minidl_layers", NotALayer, r"registers layer 'bad', which is not a subclass of framework.Layer"),
    ("minidl_layers", NoBackward, r"registers layer 'bad', which does not implement backward_pass \(required of every Layer\)"),
    ("minidl_losses", LossNoBackward, r"registers loss 'bad', which does not implement backward_pass"),
    ("minidl_losses", Cube, r"which is not a subclass of framework.Loss"),
    ("minidl_optimizers", OptimizerNoUpdate, r"which does not implement update or step"),
    ("minidl_initializers", 3, r"registers initializer 'bad', which is not callable"),
])
def test_improper_components_are_rejected_saying_what_they_lack(hook, component, message):
    good_and_bad = third_party(plugin(minidl_metrics=lambda: {"fine": metric(higher_is_better=True)(lambda a, b: 0.0)},
                                      **{hook: lambda: {"bad": component}}))
    reg, caught = load_with_warning(builtins() + [good_and_bad], message)
    assert "fine" not in reg.names("metrics") and "mse" in reg.names("metrics")
    # The warning points at the plugin's code, not at the registry (issue 11).
    assert not caught[0].filename.endswith(("registry.py", "plugin_manager.py"))
    if isinstance(component, type):
        assert caught[0].filename == __file__ and caught[0].lineno == inspect.getsourcelines(component)[1]


def test_bad_names_and_bad_hook_results():
    load_with_warning([third_party(plugin(minidl_layers=lambda: {"Cube Layer": Cube}))],
                      r"names must be lowercase identifiers")
    load_with_warning([third_party(plugin(minidl_layers=lambda: [Cube]))],
                      r"hook minidl_layers\(\) must return a dict \{name: component\}. Received: list")


def test_a_plugin_whose_import_fails_is_pointed_at_in_its_own_file(tmp_path, monkeypatch):
    (tmp_path / "broken_plugin_mod.py").write_text("import numpy\nimport not_installed_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = importlib.metadata.EntryPoint(name="broken", value="broken_plugin_mod", group="minidl.plugins")
    reg, caught = load_with_warning([(ep, FakeDist("minidl-broken"))],
                                    r"ModuleNotFoundError: No module named 'not_installed_dependency'")
    assert (caught[0].filename, caught[0].lineno) == (str(tmp_path / "broken_plugin_mod.py"), 2)


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
    from framework.parameter import Parameter
    sgd = reg.build("optimizers", "sgd", {"lr": 0.5}, params=[Parameter(np.zeros((2, 1)), "w")])
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


# -- plugin management: block one plugin, clashes that never stop the diagnosis, overrides
def test_one_plugin_is_blocked_by_name_or_distribution():
    from framework.plugin_manager import BLOCK_ENV

    cube = third_party(plugin(minidl_layers=lambda: {"cube": Cube}))
    for name in ("minidl-cube", "minidl-cube:cube_plugin"):
        reg = Registry(entry_points=builtins() + [cube], environ={BLOCK_ENV: f"other, {name}"})
        assert "cube" not in reg.names("layers") and "linear" in reg.names("layers")
        assert [p.name for p in reg.plugins() if p.blocked] == ["minidl-cube:cube_plugin"]
    # blocking the plugin that clashes lets every command work again
    clash = third_party(plugin(minidl_layers=lambda: {"sigmoid": Cube}))
    reg = Registry(entry_points=builtins() + [clash], environ={BLOCK_ENV: "minidl-cube:cube_plugin"})
    assert reg.get("layers", "sigmoid").__name__ == "Sigmoid"


def test_a_plugin_may_declare_that_it_overrides_a_builtin():
    from framework import override

    replacing = third_party(plugin(minidl_layers=lambda: {"sigmoid": override(Cube)}))
    reg = Registry(entry_points=builtins() + [replacing])
    entry = reg.entry("layers", "sigmoid")
    assert entry.component is Cube and entry.overrides.plugin.name == "minidl:activations"
    assert [e.name for e in reg.overrides()] == ["sigmoid"]
    # two plugins both declaring the override still clash
    twice = [replacing, third_party(plugin(minidl_layers=lambda: {"sigmoid": override(Cube)}), "again", "minidl-again")]
    with pytest.raises(PluginError, match="layer name 'sigmoid' is registered twice"):
        Registry(entry_points=builtins() + twice).names("layers")


@pytest.fixture
def installed(monkeypatch):
    """Make the process registry see the built-ins plus the given fake plugins."""
    from framework.plugin_manager import BLOCK_ENV

    # setenv records the variable's absence, so that undo removes what `-p no:NAME` sets in os.environ
    # (delenv of an absent variable records nothing)
    monkeypatch.setenv(BLOCK_ENV, "")

    def install(*extra):
        monkeypatch.setattr(registry, "_entry_points", builtins() + list(extra))
        registry.reload()

    yield install
    monkeypatch.undo()
    registry.reload()


def test_minidl_plugins_always_works_and_shows_clashes_overrides_and_failures(installed, capsys, tmp_path):
    from framework import override
    from framework.cli import main

    broken = (FakeEntryPoint("broken", error=ImportError("No module named 'scipy'"), value="broken_pkg"),
              FakeDist("minidl-broken", "0.3"))
    installed(third_party(plugin(minidl_layers=lambda: {"sigmoid": Cube})),
              third_party(plugin(minidl_losses=lambda: {"mse": override(FastMSE)}), "fast", "minidl-fast"),
              broken)
    with pytest.warns(PluginLoadWarning, match="could not load plugin 'minidl-broken:broken'"):
        assert main(["plugins"]) == 0  # measured in issue 11: a clash made every command refuse, this one too
    out = capsys.readouterr().out
    assert "  minidl-cube:cube_plugin (minidl-cube 1.2.3): layers: sigmoid\n" in out
    assert "  minidl-fast:fast (minidl-fast 1.2.3): losses: mse (overrides minidl:losses)\n" in out
    assert "  minidl-broken:broken (minidl-broken 0.3): FAILED TO LOAD: could not load" in out
    assert "name clashes" in out and "  layers 'sigmoid': minidl:activations, minidl-cube:cube_plugin\n" in out
    # a command that needs layers reports the clash ...
    installed(third_party(plugin(minidl_layers=lambda: {"sigmoid": Cube})))
    experiment = tmp_path / "e.toml"
    experiment.write_text('[model]\nlayers = [{ type = "linear", out_features = 1 }]\n[loss]\ntype = "mse"\n'
                          '[optimizer]\ntype = "sgd"\nlr = 0.1\n[data.source]\ntype = "synthetic_linear"\n')
    assert main(["validate", str(experiment)]) == 1
    assert "layer name 'sigmoid' is registered twice" in capsys.readouterr().err
    # ... until the clashing plugin is blocked from the command line
    assert main(["-p", "no:minidl-cube:cube_plugin", "validate", str(experiment)]) == 0
    assert main(["-p", "no:minidl-cube", "plugins"]) == 0
    out = capsys.readouterr().out
    assert "minidl-cube:cube_plugin (minidl-cube 1.2.3): blocked" in out and "name clashes" not in out


def test_dash_p_takes_no_colon_name(installed, capsys):
    from framework.cli import main

    installed()
    with pytest.raises(SystemExit) as exit_info:
        main(["-p", "minidl-cube", "plugins"])
    assert exit_info.value.code == 2
    assert "-p takes no:NAME (block the plugin NAME). Received: -p minidl-cube" in capsys.readouterr().err


def test_check_plugins_exits_nonzero_when_a_plugin_failed_to_load(installed, capsys):
    # Measured in issue 11: it exited 0.
    from framework.cli import main

    installed((FakeEntryPoint("broken", error=ImportError("No module named 'scipy'"), value="broken_pkg"),
               FakeDist("minidl-broken", "0.3")))
    with pytest.warns(PluginLoadWarning):
        assert main(["check-plugins", "linear"]) == 1
    out = capsys.readouterr().out
    assert "plugin minidl-broken:broken: FAILED TO LOAD: could not load" in out
    assert "1 plugin(s) failed to load" in out
