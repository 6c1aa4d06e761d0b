import numpy as np
import pytest

from framework import CheckpointError, Sequential, load_checkpoint, save_checkpoint
from plugins.activations import Sigmoid
from plugins.layers import Linear
from plugins.optimizers import SGD


def trainer_state(m, opt):
    from framework import Trainer
    from plugins.losses import MSELoss as MSE

    t = Trainer(m, MSE(), opt, epochs=2)
    t.history.append(1, {"loss": 0.5, "val_loss": 0.25})
    t.history.append(2, {"loss": 0.125, "val_loss": 0.0625})
    t.epoch = 2
    return t.state_dict()


def model(hidden=4):
    return Sequential([Linear(3, hidden, seed=0), Sigmoid(), Linear(hidden, 1, seed=1)])


def test_round_trip_with_optimizer_and_spec(tmp_path):
    m = model()
    opt = SGD(m.parameters(), lr=0.1, momentum=0.9)
    for p in m.parameters():
        p.grad[...] = 1.0
    opt.step()
    state = trainer_state(m, opt)
    path = save_checkpoint(tmp_path / "c.npz", m, opt, trainer=state, spec={"name": "x"})
    ckpt = load_checkpoint(path)
    assert ckpt.trainer == state and ckpt.spec == {"name": "x"} and ckpt.meta.format_version == 2
    fresh = model()
    fresh_opt = SGD(fresh.parameters(), lr=0.5, momentum=0.9)
    ckpt.apply(fresh, fresh_opt)
    for a, b in zip(m.parameters(), fresh.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    assert fresh_opt.lr == 0.1 and fresh_opt.steps == 1
    np.testing.assert_array_equal(fresh_opt.state[0]["velocity"], opt.state[0]["velocity"])
    with np.load(path, allow_pickle=False) as f:  # loadable without pickle
        assert "meta" in f.files


def test_architecture_mismatch_lists_every_problem(tmp_path):
    path = save_checkpoint(tmp_path / "c.npz", model(4))
    other = Sequential([Linear(3, 5, seed=0), Sigmoid(), Linear(5, 1, seed=1), Sigmoid(), Linear(1, 1, seed=2)])
    # The last parameter matches in shape, so a partial apply would overwrite it: it must not.
    before = {name: p.data.copy() for name, p in other.named_parameters()}
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path).apply(other)
    text = str(info.value)
    assert "(5 mismatches)" in text and "0.b: file has shape (4, 1), model has (5, 1)" in text
    assert "0.W: file has shape (4, 3), model has (5, 3)" in text
    assert "2.W: file has shape (1, 4), model has (1, 5)" in text
    assert "missing parameter 4.W (1, 1)" in text
    for name, p in other.named_parameters():  # nothing was changed
        np.testing.assert_array_equal(p.data, before[name])


def test_truncated_corrupted_and_foreign_files(tmp_path):
    path = save_checkpoint(tmp_path / "c.npz", model())
    data = path.read_bytes()
    (tmp_path / "t.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"t.npz: not an .npz file \(a damaged or truncated zip archive\)"):
        load_checkpoint(tmp_path / "t.npz")
    np.savez(tmp_path / "other.npz", a=np.ones(3))
    with pytest.raises(CheckpointError, match="not a minidl checkpoint"):
        load_checkpoint(tmp_path / "other.npz")
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "none.npz")


def test_a_crash_mid_write_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    m = model()
    path = save_checkpoint(tmp_path / "c.npz", m)
    before = path.read_bytes()
    for p in m.parameters():
        p.data += 1

    def crash(fh, **arrays):
        fh.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, m)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz"]  # no temporary left behind


def test_nan_parameters_are_never_saved(tmp_path):
    m = model()
    m[0].W.data[0, 0] = np.nan
    with pytest.raises(CheckpointError, match="parameter 0.W holds NaN or inf"):
        save_checkpoint(tmp_path / "c.npz", m)
    assert not (tmp_path / "c.npz").exists()


def test_non_finite_buffers_are_never_saved(tmp_path):
    """Trial 12: a diverged batch norm's running_var (inf) was checkpointed, and --resume was suggested from it."""
    from plugins.layers import BatchNorm

    m = Sequential([Linear(3, 2, seed=0), BatchNorm(2)])
    m[1].running_var[1] = np.inf
    with pytest.raises(CheckpointError, match=r"refusing to save .*c\.npz: 1\.running_var holds NaN or inf"):
        save_checkpoint(tmp_path / "c.npz", m)
    assert not (tmp_path / "c.npz").exists()


def test_a_checkpoint_of_adams_unscaled_moments_from_an_earlier_version_resumes(tmp_path, monkeypatch):
    # Earlier minidl saved Adam's m as the paper defines it, under the key m; this one keeps it
    # divided by 1 - beta1. Such a file resumes to the uninterrupted run (to 1e-12:
    # the conversion rounds) instead of being refused or misread.
    from framework import Trainer
    from plugins.losses import MSELoss
    from plugins.optimizers import Adam

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((3, 40)), rng.standard_normal((1, 40))

    def trainer(epochs):
        m = model()
        return Trainer(m, MSELoss(), Adam(m.parameters(), lr=0.01, beta1=0.8), epochs=epochs, batch_size=8, seed=0)

    straight = trainer(6)
    straight.fit(X, y)
    first = trainer(3)
    first.fit(X, y)
    saved = first.optimizer.state_dict()
    old = {**saved, "state": [{"m": s["m_scaled"] * (1 - 0.8), "v": s["v"]} for s in saved["state"]]}
    monkeypatch.setattr(first.optimizer, "state_dict", lambda: old)
    path = save_checkpoint(tmp_path / "old.npz", first.model, first.optimizer, trainer=first.state_dict())
    assert load_checkpoint(path).meta.optimizer.state_keys[0] == ["m", "v"]
    resumed = trainer(6)
    resumed.fit(X, y, resume_from=path)
    for a, b in zip(straight.model.parameters(), resumed.model.parameters()):
        np.testing.assert_allclose(b.data, a.data, rtol=1e-12, atol=1e-15)
    assert sorted(resumed.optimizer.state_dict()["state"][0]) == ["m_scaled", "v"]


def test_a_checkpoint_with_invalid_hyperparameters_is_refused_naming_the_file(tmp_path, monkeypatch):
    from plugins.optimizers import Adam

    m = model()
    opt = Adam(m.parameters(), lr=0.01)
    for p in m.parameters():
        p.grad[...] = 1.0
    opt.step()
    edited = opt.state_dict()
    edited["hyperparameters"]["beta1"] = 1.0  # a hand-edited file
    monkeypatch.setattr(opt, "state_dict", lambda: edited)
    path = save_checkpoint(tmp_path / "c.npz", m, opt)
    with pytest.raises(CheckpointError, match=r"c.npz: optimizer state does not fit: Adam.load_state_dict: the "
                                              r"saved hyperparameters are not valid for Adam: beta1: Input should "
                                              r"be less than 1. Received: 1.0"):
        load_checkpoint(path).apply(model(), Adam(model().parameters(), lr=0.01))
