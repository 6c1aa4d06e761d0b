"""Plots: the Figure's content (panels, lines, labels) and the written file is a real image."""

import builtins
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from framework import MinidlError, Sequential, Trainer, load_experiment, load_model, run_experiment  # noqa: E402
from framework.cli import main  # noqa: E402
from plugins.activations import Sigmoid  # noqa: E402
from plugins.layers import Linear  # noqa: E402
from plugins.losses import MSELoss  # noqa: E402
from plugins.optimizers import SGD  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def moons_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("runs")
    dirs = []
    for lr, name in ((0.02, "fast"), (0.005, "slow")):
        experiment = load_experiment(ROOT / "experiments" / "moons_classifier.toml",
                                     ["trainer.epochs=12", f"optimizer.lr={lr}"])
        run_experiment(experiment, run_dir=tmp / name, progress=False)
        dirs.append(tmp / name)
    return dirs


def lines_of(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def test_learning_curves_of_a_history_one_panel_per_metric_training_and_validation_together():
    from framework import plot

    X = np.random.default_rng(0).standard_normal((2, 80))
    y = X[:1] * X[1:]
    model = Sequential([Linear(2, 4, seed=0), Sigmoid(), Linear(4, 1, seed=1)])
    history = Trainer(model, MSELoss(), SGD(model.parameters(), lr=0.1), epochs=5, progress=False,
                      metrics=["r2"]).fit(X, y, validation_split=0.25)
    fig = plot.learning_curves(history)
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["loss", "r2"]  # lr is not drawn
    loss = lines_of(axes[0])
    assert set(loss) == {"loss", "val_loss"} and loss["val_loss"].get_linestyle() == "--"
    np.testing.assert_array_equal(loss["loss"].get_ydata(), history["loss"])
    np.testing.assert_array_equal(loss["val_loss"].get_xdata(), [1, 2, 3, 4, 5])
    assert axes[0].get_xlabel() == "epoch" and axes[1].get_ylabel() == "r2"
    assert [t.get_text() for t in axes[1].get_legend().get_texts()] == ["r2", "val_r2"]


def test_several_runs_are_overlaid_with_a_legend(moons_runs):
    from framework import plot

    fig = plot.learning_curves(moons_runs, metrics=["loss", "val_loss", "val_accuracy"])
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["loss", "accuracy"]
    assert sorted(lines_of(axes[0])) == ["fast loss", "fast val_loss", "slow loss", "slow val_loss"]
    assert sorted(lines_of(axes[1])) == ["fast val_accuracy", "slow val_accuracy"]
    fast, slow = lines_of(axes[0])["fast loss"], lines_of(axes[0])["slow loss"]
    assert fast.get_color() != slow.get_color()
    logged = np.genfromtxt(moons_runs[1] / "metrics.csv", delimiter=",", names=True)
    np.testing.assert_array_equal(slow.get_ydata(), logged["loss"])
    with pytest.raises(MinidlError, match="no run logged val_r2; logged: loss, lr, accuracy, val_loss, val_accuracy"):
        plot.learning_curves(moons_runs, metrics=["val_r2"])


def test_decision_regions_of_a_2d_classifier_with_its_data(moons_runs):
    from framework import plot

    fig = plot.decision_regions(moons_runs[0])
    (ax,) = fig.get_axes()
    assert ax.get_xlabel() == "x1" and ax.get_ylabel() == "x2" and ax.get_title() == "decision regions: fast"
    points = ax.collections[-2:]
    assert [c.get_label() for c in points] == ["class 0", "class 1"]
    assert sum(len(c.get_offsets()) for c in points) == 1000  # every example of the run's data
    # the shaded class agrees with the model: points predicted "1" lie where the model says p >= 0.5
    model = load_model(moons_runs[0])
    xy = np.array([[0.0, 1.0], [1.0, -0.5]]).T
    p = model.predict(xy)[0]
    assert p[0] < 0.5 < p[1]


def test_minidl_plot_writes_valid_png_and_svg(moons_runs, tmp_path, capsys):
    import matplotlib.image

    png = tmp_path / "curves.png"
    assert main(["plot", *map(str, moons_runs), "-o", str(png), "--metrics", "loss,val_loss"]) == 0
    assert capsys.readouterr().out == f"wrote {png}\n"
    assert png.read_bytes()[:8] == PNG
    image = matplotlib.image.imread(png)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200
    svg = tmp_path / "moons.svg"
    assert main(["plot", str(moons_runs[0]), "--boundary", "-o", str(svg)]) == 0
    assert ET.parse(svg).getroot().tag.endswith("svg")
    assert main(["plot", str(moons_runs[0]), "-o", str(tmp_path / "x.jpg")]) == 2
    assert "the plot is written as .png or .svg. Received: x.jpg" in capsys.readouterr().err


def test_boundary_needs_a_2d_classifier(tmp_path, capsys):
    experiment = load_experiment(ROOT / "experiments" / "sigmoid_mlp.toml", ["trainer.epochs=2"])
    run_experiment(experiment, run_dir=tmp_path / "run", progress=False)
    assert main(["plot", str(tmp_path / "run"), "--boundary", "-o", str(tmp_path / "b.png")]) == 1
    assert "decision regions need a classifier (a model saved with class names); run is a regression model" \
        in capsys.readouterr().err
    assert not (tmp_path / "b.png").exists()


def test_without_matplotlib_a_clear_message_says_how_to_install_it(monkeypatch, tmp_path, capsys):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    (tmp_path / "run").mkdir()
    assert main(["plot", str(tmp_path / "run")]) == 1
    assert capsys.readouterr().err == ("minidl: error: plotting needs matplotlib, which is not installed: "
                                       "pip install 'minidl[plot]' (or: pip install matplotlib)\n")
