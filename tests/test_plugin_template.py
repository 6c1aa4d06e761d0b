"""The example third-party plugin: pip-installed into a throwaway venv, it is
discovered, passes the conformance kit, trains in an experiment by name, and
disappears when uninstalled."""

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "examples" / "minidl-plugin-template"

EXPERIMENT = """
name = "plugin_demo"
seed = 0
[model]
layers = [
  { type = "linear", out_features = 16 },
  { type = "layer_norm" },
  { type = "swish" },
  { type = "linear", out_features = 1 },
]
[loss]
type = "mse"
[optimizer]
type = "adam"
lr = 0.01
[data.source]
type = "synthetic_nonlinear"
n_samples = 400
[trainer]
epochs = 15
metrics = ["r2"]
[targets]
r2 = { min = 0.8 }
"""


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A fresh venv that sees this environment's packages (minidl, numpy ...) but installs into its own."""
    root = tmp_path_factory.mktemp("plugin-venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    parent = sysconfig.get_paths()["purelib"]
    # site.addsitedir (not a bare path) so that the parent's own .pth files,
    # such as minidl's editable install, are processed too.
    Path(purelib, "_minidl_parent_env.pth").write_text(f"import site; site.addsitedir({parent!r})\n")
    return python


def run(python, *args, check=True):
    done = subprocess.run([str(python), *args], capture_output=True, text=True, timeout=300)
    if check and done.returncode != 0:
        raise AssertionError(f"{args} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def pip(python, *args):
    return run(sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check", *args)


def test_install_discover_train_uninstall(venv, tmp_path):
    before = run(venv, "-m", "framework", "plugins").stdout
    assert "minidl-example-plugin" not in before and "minidl-0.1.0" in before

    pip(venv, "install", "--no-deps", "--no-build-isolation", "--no-index", str(TEMPLATE))
    listing = run(venv, "-m", "framework", "plugins").stdout
    assert "minidl-example-plugin-0.1.0" in listing.splitlines()[0]
    assert "minidl-example-plugin:example (minidl-example-plugin 0.1.0): layers: layer_norm, swish" in listing

    kit = run(venv, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(TEMPLATE / "tests"), check=False)
    assert kit.returncode == 0 and "3 passed" in kit.stdout, kit.stdout + kit.stderr
    check = run(venv, "-m", "framework", "check-plugins", "layer_norm", "swish")
    assert "2 passed, 0 failed" in check.stdout

    experiment = tmp_path / "demo.toml"
    experiment.write_text(EXPERIMENT)
    trained = run(venv, "-m", "framework", "run", str(experiment), "--runs-dir", str(tmp_path / "runs"), "--quiet")
    assert "target r2 >= 0.8" in trained.stdout and "(met)" in trained.stdout

    pip(venv, "uninstall", "-y", "minidl-example-plugin")
    assert "minidl-example-plugin" not in run(venv, "-m", "framework", "plugins").stdout
    gone = run(venv, "-m", "framework", "validate", str(experiment), check=False)
    assert gone.returncode == 2
    assert "model.layers[1].type: can't find 'layer_norm' in registry layers" in gone.stderr
