"""Writes stay inside the run directory; rotation deletes only its own checkpoints.

Each test keeps a "victim" tree outside the run directory and compares the
checksums of every file in it before and after.
"""

import os

import pytest

from framework import ConfigError, load_experiment, run_experiment
from framework.checkpoint import latest_checkpoint, rotate_checkpoints
from framework.cli import main
from framework.errors import UnsafePathError
from framework.paths import inside_run_dir
from tests.hostile import corpus
from tests.test_cli import EXPERIMENT

BASE = EXPERIMENT.read_text().replace("epochs = 30", "epochs = 2")


@pytest.fixture
def victim(tmp_path):
    """Files a hostile experiment would like to clobber, outside any run directory."""
    root = tmp_path / "victim"
    (root / "x").mkdir(parents=True)
    (root / "notes.txt").write_text("my notes\n")
    (root / "x" / "checkpoint-e00000-b000000.npz").write_bytes(b"not minidl's")
    (root / "important.npz").write_bytes(b"precious")
    return root


def experiment_file(tmp_path, extra: str, name="e.toml"):
    path = tmp_path / "exp" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(BASE + "\n" + extra)
    return path


@pytest.mark.parametrize("block, field, message", [
    ('type = "metrics_logger"\npath = "{victim}/notes.txt"\noverwrite = true', "path",
     "must be relative to the run directory; absolute paths are refused"),
    ('type = "checkpoint"\ndirectory = "../../x"', "directory",
     "must stay inside the run directory; this path climbs out of it with '..'"),
    ('type = "checkpoint"\ndirectory = "{victim}/x"', "directory",
     "must be relative to the run directory; absolute paths are refused"),
    ('type = "metrics_logger"\npath = "logs/../../../notes.txt"', "path", "climbs out of it"),
    ('type = "metrics_logger"\npath = "~/notes.txt"', "path", "'~' is not expanded"),
])
def test_output_paths_outside_the_run_directory_are_refused_at_validation(tmp_path, victim, capsys, block,
                                                                         field, message):
    exp = experiment_file(tmp_path, "[[trainer.callbacks]]\n" + block.format(victim=victim))
    before = corpus.checksums(tmp_path)
    code = main(["run", str(exp), "--runs-dir", str(tmp_path / "runs"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and f"trainer.callbacks[0].{field}: Value error, must " in err and message in err, err
    assert "Traceback" not in err
    assert corpus.checksums(tmp_path) == before and not (tmp_path / "runs").exists()


def test_a_relative_path_inside_the_run_directory_is_fine_and_overwrite_stays_inside(tmp_path, victim):
    exp = experiment_file(tmp_path, '[[trainer.callbacks]]\ntype = "metrics_logger"\npath = "logs/../m.csv"\n'
                                    'overwrite = true\n\n[[trainer.callbacks]]\ntype = "checkpoint"\n'
                                    'directory = "ckpt/sub"\nkeep_last = 1')
    before = corpus.checksums(victim)
    run_dir = tmp_path / "runs" / "r"
    run_experiment(load_experiment(exp), run_dir=run_dir, progress=False)
    assert (run_dir / "m.csv").is_file() and os.listdir(run_dir / "ckpt" / "sub") == ["checkpoint-e00002-b000000.npz"]
    assert corpus.checksums(victim) == before


def test_a_symlink_in_a_shared_run_directory_cannot_lead_writes_outside(tmp_path, victim, capsys):
    exp = experiment_file(tmp_path, "")
    assert main(["run", str(exp), "--runs-dir", str(tmp_path / "runs"), "--quiet"]) == 0
    run_dir = next((tmp_path / "runs").iterdir())
    # A shared run directory whose metrics log is a symlink to a file of the user's.
    (run_dir / "metrics.csv").unlink()
    (run_dir / "metrics.csv").symlink_to(victim / "notes.txt")
    before = corpus.checksums(victim)
    capsys.readouterr()
    code = main(["run", str(exp), "--resume", str(run_dir), "--set", "trainer.epochs=4", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "MetricsLogger.path: 'metrics.csv' resolves to" in err and "outside the run directory" in err
    assert corpus.checksums(victim) == before
    # The same through a callback of the experiment: refused with its dotted path.
    exp2 = experiment_file(tmp_path, '[[trainer.callbacks]]\ntype = "metrics_logger"\npath = "metrics.csv"', "e2.toml")
    run_dir2 = tmp_path / "runs" / "r2"
    run_experiment(load_experiment(exp2), run_dir=run_dir2, progress=False)
    (run_dir2 / "metrics.csv").unlink()
    (run_dir2 / "metrics.csv").symlink_to(victim / "notes.txt")
    with pytest.raises(ConfigError, match=r"trainer.callbacks\[0\].path: 'metrics.csv' resolves to .*notes.txt, "
                                          r"outside the run directory"):
        run_experiment(load_experiment(exp2, ["trainer.epochs=4"]), resume=run_dir2, progress=False)
    assert corpus.checksums(victim) == before


def test_crafted_checkpoint_metadata_cannot_make_resume_delete_files(tmp_path, victim):
    """Issue 10: a checkpoint listing arbitrary paths in the checkpoint callback's state deleted them."""
    exp = experiment_file(tmp_path, '[[trainer.callbacks]]\ntype = "checkpoint"\nkeep_last = 1')
    run_dir = tmp_path / "runs" / "r"
    run_experiment(load_experiment(exp), run_dir=run_dir, progress=False)
    newest = latest_checkpoint(run_dir / "checkpoints")
    targets = [str(victim / "notes.txt"), str(victim / "important.npz"), "../../victim/notes.txt",
               str(victim / "x" / "checkpoint-e00000-b000000.npz")]

    def claim(meta):
        for cb in meta["trainer"]["callbacks"]:
            cb["state"] = {"written": targets}
        return meta

    corpus.checkpoint_with_meta(newest, newest, claim)
    before = corpus.checksums(victim)
    exp_more = load_experiment(exp, ["trainer.epochs=5"])
    run_experiment(exp_more, resume=run_dir, progress=False)
    assert corpus.checksums(victim) == before
    assert os.listdir(run_dir / "checkpoints") == ["checkpoint-e00005-b000000.npz"]


def test_rotation_deletes_only_its_own_names_in_its_own_directory(tmp_path, victim):
    d = tmp_path / "ckpts"
    d.mkdir()
    own = [f"checkpoint-e{e:05d}-b000000.npz" for e in (1, 2, 3, 100000)]
    for name in own:
        (d / name).write_bytes(b"x")
    others = ["notes.txt", "checkpoint-e00001-b000000.npz.bak", "checkpoint-latest.npz", "Checkpoint-e00001-b000000.npz"]
    for name in others:
        (d / name).write_bytes(b"keep")
    (d / "checkpoint-e00000-b000001.npz").symlink_to(victim / "important.npz")
    (d / "checkpoint-e00000-b000002.npz").mkdir()
    before = corpus.checksums(victim)
    deleted = rotate_checkpoints(d, keep_last=2)
    assert deleted == own[:2]  # by position: e100000 is the newest, not sorted as text
    assert sorted(os.listdir(d)) == sorted(others + own[2:] + ["checkpoint-e00000-b000001.npz",
                                                               "checkpoint-e00000-b000002.npz"])
    assert corpus.checksums(victim) == before
    assert latest_checkpoint(d).name == "checkpoint-e100000-b000000.npz"


def test_inside_run_dir_resolves_dots_and_symlinks(tmp_path):
    run = tmp_path / "run"
    (run / "a").mkdir(parents=True)
    assert inside_run_dir(run, "a/../b.csv", "f") == (run / "b.csv").resolve()
    (run / "out").symlink_to(tmp_path)
    with pytest.raises(UnsafePathError, match=r"f: 'out/x' resolves to .*, outside the run directory"):
        inside_run_dir(run, "out/x", "f")
    with pytest.raises(UnsafePathError, match="absolute paths are refused"):
        inside_run_dir(run, str(tmp_path / "x"), "f")


def test_a_checkpoint_folder_that_is_a_symlink_is_named_when_a_resume_finds_nothing(tmp_path, victim, capsys):
    # A shared run directory whose checkpoints/ links to checkpoints elsewhere: never followed, and the
    # error says why (it said "the run stopped before its first one was saved", which was not what happened).
    exp = experiment_file(tmp_path, "")
    assert main(["run", str(exp), "--runs-dir", str(tmp_path / "runs"), "--quiet"]) == 0
    run_dir = next((tmp_path / "runs").iterdir())
    for f in (run_dir / "checkpoints").iterdir():
        f.rename(victim / f.name)
    (run_dir / "checkpoints").rmdir()
    (run_dir / "checkpoints").symlink_to(victim)
    before = corpus.checksums(victim)
    capsys.readouterr()
    code = main(["run", "--resume", str(run_dir), "--set", "trainer.epochs=4", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert err == (f"minidl: error: {run_dir} has no checkpoint (checkpoint-*.npz in any folder of it); "
                   f"checkpoints is a symbolic link, which minidl never follows, so nothing can be resumed "
                   f"from there\n"), err
    assert corpus.checksums(victim) == before
