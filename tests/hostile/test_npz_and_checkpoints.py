"""Hostile .npz files and checkpoints: refused before allocating, with the file and the field."""

import zipfile

import numpy as np
import pytest

from framework import CheckpointError, DataError, Sequential, Trainer, load_checkpoint, save_checkpoint
from framework.errors import MemoryLimitError
from framework.npz import NpzReader, read_npz
from plugins.activations import Sigmoid
from plugins.layers import Linear
from plugins.losses import MSELoss
from plugins.optimizers import SGD
from tests.hostile import corpus


def small_model():
    return Sequential([Linear(3, 4, seed=0), Sigmoid(), Linear(4, 1, seed=1)])


@pytest.fixture
def checkpoint(tmp_path):
    m = small_model()
    opt = SGD(m.parameters(), lr=0.1, momentum=0.9)
    t = Trainer(m, MSELoss(), opt, epochs=2, batch_size=4, progress=False)
    rng = np.random.default_rng(0)
    t.fit(rng.standard_normal((3, 8)), rng.standard_normal((1, 8)))
    return save_checkpoint(tmp_path / "good.npz", m, opt, trainer=t.state_dict())


def test_random_bytes_are_not_an_npz_file_and_get_no_pickle_advice(tmp_path):
    path = corpus.random_bytes(tmp_path / "r.npz")
    with pytest.raises(DataError) as info:
        read_npz(path, ["X"])
    assert str(info.value) == f"{path}: not an .npz file (it is not a zip archive)"
    with pytest.raises(CheckpointError, match="not an .npz file") as info:
        load_checkpoint(path)
    assert "pickle" not in str(info.value)
    with pytest.raises(ValueError, match="allow_pickle"):  # what numpy says instead
        np.load(path)


def test_an_npy_file_is_named_as_such(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros(3))
    with pytest.raises(DataError, match=r"a.npy: is an .npy file \(one array\), not an .npz file"):
        read_npz(tmp_path / "a.npy", ["X"])


def test_a_header_declaring_8_tib_is_refused_from_the_header(tmp_path):
    path = corpus.header_declares_8_tib(tmp_path / "h.npz")
    with pytest.raises(DataError) as info:
        read_npz(path, ["X", "y"])
    assert ("array 'X': its header declares shape (1099511627776,) float64 = 8.0 TiB "
            "(8,796,093,022,208 bytes), but the member holds 16 bytes (truncated or crafted)") in str(info.value)
    with pytest.raises(MemoryError):  # what numpy does: tries to allocate (or, just under RAM, swaps)
        np.load(path)["X"]


def test_a_small_decompression_bomb_is_refused_before_inflating(tmp_path):
    path = corpus.inflating_member(tmp_path / "bomb.npz", inflated_mib=32)
    with pytest.raises(DataError, match=r"array 'X' would inflate .* to 32.0 MiB \(more than 100:1\); refused "
                                        r"as a possible decompression bomb"):
        read_npz(path, ["X"])
    assert read_npz(path, ["y"])["y"].shape == (4,)  # the other member is fine


@pytest.mark.slow
def test_a_decompression_bomb_is_refused_before_inflating(tmp_path):
    path = corpus.inflating_member(tmp_path / "bomb.npz", inflated_mib=256)
    assert path.stat().st_size < 300 * 1024  # the 257 KiB member
    with pytest.raises(DataError) as info:
        read_npz(path, ["X"])
    assert "array 'X' would inflate" in str(info.value) and "to 256.0 MiB" in str(info.value)
    assert "possible decompression bomb" in str(info.value)
    with np.load(path) as f:  # numpy inflates it in full
        assert f["X"].nbytes == 256 * 2**20


def test_object_arrays_are_never_unpickled(tmp_path):
    path = corpus.object_array(tmp_path / "o.npz")
    with pytest.raises(DataError, match=r"array 'X' holds Python objects \(dtype object\); reading them "
                                        r"would need pickle, which minidl never uses"):
        read_npz(path, ["X"])


def test_only_the_arrays_asked_for_are_read(tmp_path):
    path = corpus.header_declares_8_tib(tmp_path / "h.npz")
    assert read_npz(path, ["y"])["y"].shape == (4, 1)  # the hostile member is never touched
    with NpzReader(path) as npz:
        assert sorted(npz.names) == ["X", "y"]


def test_arrays_beyond_the_memory_cap_are_refused_with_sizes(tmp_path, monkeypatch):
    np.savez(tmp_path / "d.npz", X=np.zeros((100, 1000)), y=np.zeros((1, 1000)))
    monkeypatch.setenv("MINIDL_MAX_MEMORY", "100KB")
    with pytest.raises(MemoryLimitError) as info:
        read_npz(tmp_path / "d.npz", ["X", "y"])
    assert str(info.value) == (f"{tmp_path / 'd.npz'}: reading 2 array(s) needs 789.1 KiB (808,000 bytes), "
                               f"more than the 97.7 KiB allowed (MINIDL_MAX_MEMORY=100KB); refused before allocating")
    monkeypatch.setenv("MINIDL_MAX_MEMORY", "1MB")
    assert read_npz(tmp_path / "d.npz", ["X", "y"])["X"].shape == (100, 1000)


def test_round_trip_keeps_every_array_exactly(tmp_path):
    arrays = {"a": np.arange(12.).reshape(3, 4), "f": np.asfortranarray(np.arange(6.).reshape(2, 3)),
              "s": np.array(["cat", "dog"]), "e": np.arange(5, dtype=">i4"), "z": np.zeros((0, 3))}
    for save in (np.savez, np.savez_compressed):
        save(tmp_path / "t.npz", **arrays)
        got = read_npz(tmp_path / "t.npz", list(arrays))
        for k, v in arrays.items():
            np.testing.assert_array_equal(got[k], v)
            assert got[k].shape == v.shape and got[k].dtype.isnative


# -- checkpoints ----------------------------------------------------------------
def test_malformed_metadata_gives_one_error_with_file_and_field(tmp_path, checkpoint):
    def wrong_types(meta):
        meta["params"] = "0.W"
        meta["trainer"]["epoch"] = "two"
        return meta

    bad = corpus.checkpoint_with_meta(tmp_path / "bad.npz", checkpoint, wrong_types)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(bad)
    text = str(info.value)
    assert text.startswith(f"{bad}: malformed checkpoint metadata: ")
    assert "field params: Input should be a valid list" in text
    assert "field trainer.epoch: Input should be a valid integer" in text


@pytest.mark.parametrize("edit, expected", [
    (lambda m: {k: v for k, v in m.items() if k != "trainer"} | {"trainer": {"epoch": 1}},
     "field trainer.batch: Field required"),
    (lambda m: m | {"optimizer": None, "extra": 1}, "field extra: Extra inputs are not permitted"),
    (lambda m: m | {"params": ["0.W", "9.W"]}, "refers to array(s) not listed in `arrays`: param/9.W"),
    (lambda m: "[" * 2000 + "]" * 2000, "nests arrays or objects more than 32 deep"),
    (lambda m: "{not json", "checkpoint metadata is corrupted: JSON syntax error at line 1, column 2"),
    (lambda m: m | {"format_version": 99}, "has checkpoint format version 99; this minidl reads version 2"),
    (lambda m: [1, 2], "checkpoint metadata must be a JSON object. Received: list"),
])
def test_hostile_metadata_never_gives_a_traceback(tmp_path, checkpoint, edit, expected):
    bad = corpus.checkpoint_with_meta(tmp_path / "bad.npz", checkpoint, edit)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(bad)
    assert expected in str(info.value) and str(bad) in str(info.value)


def test_an_array_that_disagrees_with_the_metadata_is_refused(tmp_path, checkpoint):
    bad = corpus.checkpoint_with_meta(tmp_path / "bad.npz", checkpoint,
                                      lambda m: m | {"arrays": m["arrays"] | {"param/0.W": {"shape": [2**40],
                                                                                           "dtype": "float64"}}})
    with pytest.raises(CheckpointError, match=r"array 'param/0.W' is float64 \(4, 3\), but the metadata "
                                              r"declares float64 \(1099511627776,\)"):
        load_checkpoint(bad)


def test_metadata_is_compact_json_bytes_and_history_is_numeric(checkpoint):
    with zipfile.ZipFile(checkpoint) as zf:
        names = sorted(zf.namelist())
    assert "history/epochs.npy" in names and "history/0.npy" in names
    ckpt = load_checkpoint(checkpoint)
    assert ckpt.arrays["history/0"].dtype == np.float64
    assert ckpt.trainer["history"]["epochs"] == [1, 2] and len(ckpt.trainer["history"]["logs"]["loss"]) == 2
    with np.load(checkpoint, allow_pickle=False) as f:
        assert f["meta"].dtype == np.uint8  # UTF-8 bytes, not a UTF-32 string


@pytest.mark.slow
def test_a_checkpoint_of_the_seed_mlp_is_compact(tmp_path):
    """Issue 13: at most 2x the bytes of parameters and optimizer state, plus 16 KB."""
    from framework import load_experiment, run_experiment
    from tests.test_cli import ROOT

    experiment = load_experiment(ROOT / "experiments" / "sigmoid_mlp.toml")
    result = run_experiment(experiment, run_dir=tmp_path / "run", progress=False)
    newest = sorted((tmp_path / "run" / "checkpoints").glob("checkpoint-*.npz"))[-1]
    ckpt = load_checkpoint(newest)
    payload = sum(a.nbytes for a in ckpt.params.values()) + sum(
        a.nbytes for s in ckpt.optimizer["state"] for a in s.values())
    assert result.model.num_parameters() == 129 and payload == 2 * 129 * 8
    assert newest.stat().st_size <= 2 * payload + 16 * 1024, newest.stat().st_size
    assert len(ckpt.trainer["history"]["logs"]["loss"]) == 100


def test_resume_from_a_malformed_checkpoint_is_one_line_without_traceback(tmp_path, capsys):
    from framework.cli import main
    from tests.test_cli import EXPERIMENT

    main(["run", str(EXPERIMENT), "--runs-dir", str(tmp_path / "runs"), "--set", "trainer.epochs=1", "--quiet"])
    run_dir = next((tmp_path / "runs").iterdir())
    good = next((run_dir / "checkpoints").iterdir())
    saved = good.read_bytes()
    corpus.checkpoint_with_meta(good, good, lambda m: m | {"trainer": m["trainer"] | {"rng_state": {"x": 1}}})
    capsys.readouterr()
    assert main(["run", str(EXPERIMENT), "--resume", str(run_dir), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"minidl: error: the newest checkpoint of {run_dir} is unreadable: {good}: malformed "
                          f"checkpoint metadata: field trainer.rng_state")
    assert "Traceback" not in err


def test_a_callback_state_that_does_not_fit_is_a_checkpoint_error(tmp_path, checkpoint):
    from plugins.callbacks import LearningRateScheduler

    def wrong_state(m):
        m["trainer"]["callbacks"] = [{"class": "LearningRateScheduler", "state": {"unexpected": 1}}]
        return m

    bad = corpus.checkpoint_with_meta(tmp_path / "bad.npz", checkpoint, wrong_state)
    m = small_model()
    t = Trainer(m, MSELoss(), SGD(m.parameters(), lr=0.1, momentum=0.9), epochs=3, batch_size=4, progress=False,
                callbacks=[LearningRateScheduler("constant")])
    with pytest.raises(CheckpointError, match=r"bad.npz: the trainer or callback state does not fit this "
                                              r"Trainer \(KeyError: 'base_lr'\)"):
        t.fit(np.zeros((3, 8)), np.zeros((1, 8)), resume_from=bad)


def test_arrays_in_callback_state_are_stored_as_members_not_text(tmp_path):
    from plugins.callbacks import EarlyStopping

    m = Sequential([Linear(3, 50, seed=0), Sigmoid(), Linear(50, 1, seed=1)])
    opt = SGD(m.parameters(), lr=0.1)
    stop = EarlyStopping(monitor="loss", patience=100)
    t = Trainer(m, MSELoss(), opt, epochs=2, batch_size=4, progress=False, callbacks=[stop])
    rng = np.random.default_rng(0)
    t.fit(rng.standard_normal((3, 8)), rng.standard_normal((1, 8)))
    path = save_checkpoint(tmp_path / "c.npz", m, opt, trainer=t.state_dict())
    with np.load(path, allow_pickle=False) as f:
        meta_bytes = f["meta"].nbytes
        members = f.files
    assert "arrays/0" in members and meta_bytes < 4000  # 201 weights would be ~4 KB of text alone
    saved = [c for c in load_checkpoint(path).trainer["callbacks"] if c["class"] == "EarlyStopping"][0]["state"]
    for name, p in m.named_parameters():
        np.testing.assert_array_equal(saved["best_weights"][name], stop.best_weights[name])
    fresh = EarlyStopping(monitor="loss")
    fresh.load_state_dict(saved)
    assert fresh.best == stop.best and fresh.best_weights.keys() == stop.best_weights.keys()
