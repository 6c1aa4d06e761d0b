"""Layer state beyond parameters: buffers, the random generator, state_dict, checkpoints."""

import copy

import numpy as np
import pytest

from framework import Layer, Sequential, Trainer, build_model, hookimpl, load_checkpoint
from framework.errors import DTypeError, StateError
from framework.registry import registry
from plugins.activations import Sigmoid
from plugins.callbacks import ModelCheckpoint
from plugins.layers import Linear
from plugins.losses import MSELoss
from plugins.optimizers import SGD


class Centering(Layer):
    """Y = X - running_mean; training updates running_mean (momentum 0.5) and counts batches."""

    def __init__(self, in_features: int):
        super().__init__()
        self.in_features = in_features
        self.add_buffer("running_mean", np.zeros((in_features, 1)))
        self.add_buffer("batches", np.zeros((), dtype=np.int64))

    def forward_pass(self, X, training):
        if training:
            self.running_mean *= 0.5
            self.running_mean += 0.5 * X.mean(axis=1, keepdims=True)
            self.batches += 1
        return X - self.running_mean, None

    def backward_pass(self, dY, cache):
        return dY.copy()


class Mask(Layer):
    """Inverted dropout written for these tests: keeps each entry with probability 1 - p."""

    stochastic = True

    def __init__(self, p: float = 0.5):
        super().__init__()
        self.p = p

    def forward_pass(self, X, training):
        if not training:
            return X, None
        keep = (self.rng.random(X.shape) >= self.p) / (1 - self.p)
        return X * keep, keep

    def backward_pass(self, dY, keep):
        return dY * keep


def mask_of(generator, shape, p=0.5):
    return (generator.random(shape) >= p) / (1 - p)


# -- buffers -------------------------------------------------------------------
def test_buffers_are_attributes_named_with_dotted_paths(rng):
    model = Sequential([Linear(3, 4, seed=0), Centering(4)])
    assert [n for n, _ in model.named_buffers()] == ["1.running_mean", "1.batches"]
    X = rng.standard_normal((3, 5))
    hidden = model[0].predict(X)
    model(X)
    np.testing.assert_allclose(model[1].running_mean, 0.5 * hidden.mean(axis=1, keepdims=True))
    assert dict(model.named_buffers())["1.running_mean"] is model[1].running_mean
    assert int(model[1].batches) == 1


def test_state_dict_holds_parameters_buffers_and_generators_as_plain_arrays(tmp_path, rng):
    model = Sequential([Linear(3, 4, seed=0), Centering(4), Mask()]).seed(3)
    model(rng.standard_normal((3, 5)))
    state = model.state_dict()
    assert list(state) == ["0.W", "0.b", "1.running_mean", "1.batches", "2.rng"]
    assert all(isinstance(v, np.ndarray) for v in state.values())
    assert state["0.W"] is not model[0].W.data  # copies
    np.savez(tmp_path / "s.npz", **state)
    with np.load(tmp_path / "s.npz", allow_pickle=False) as f:
        loaded = {k: f[k] for k in f.files}
    fresh = Sequential([Linear(3, 4, seed=9), Centering(4), Mask()]).seed(99)
    fresh.load_state_dict(loaded)
    X = rng.standard_normal((3, 5))
    np.testing.assert_array_equal(fresh(X), model(X))  # same buffers, same next mask
    assert int(fresh[1].batches) == 2


def test_load_state_dict_reports_every_problem_and_changes_nothing():
    model = Sequential([Linear(3, 4, seed=0), Centering(4), Mask()])
    state = model.state_dict()
    other = Sequential([Linear(3, 5, seed=1), Centering(5), Mask()])
    before = other.state_dict()
    state["1.running_mean"] = state["1.running_mean"].astype(np.float32)
    state["9.extra"] = np.zeros(2)
    state["2.rng"] = np.array("not json")
    with pytest.raises(StateError) as info:
        other.load_state_dict(state)
    text = str(info.value)
    assert "(5 problems)" in text and "0.b: state has shape (4, 1), model has (5, 1)" in text
    assert "unexpected entry 9.extra (2,) (not in the model)" in text
    assert "0.W: state has shape (4, 3), model has (5, 3)" in text
    assert "1.running_mean: state has shape (4, 1), model has (5, 1)" in text
    assert "2.rng: not a valid encoded generator state" in text
    for key, value in other.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
    del state["9.extra"]
    state = {k: v for k, v in Sequential([Linear(3, 5, seed=1), Centering(5), Mask()]).state_dict().items()
             if k != "1.batches"}
    with pytest.raises(StateError, match=r"missing buffer 1.batches \(\) \(not in the state\)"):
        other.load_state_dict(state)
    result = other.load_state_dict({**state, "extra": np.ones(1)}, strict=False)
    assert result.missing_keys == ["1.batches"] and result.unexpected_keys == ["extra"]


def test_dtype_mismatch_is_reported_not_cast():
    layer = Centering(2)
    with pytest.raises(StateError, match="running_mean: state has dtype float32, model has float64"):
        layer.load_state_dict({"running_mean": np.zeros((2, 1), np.float32), "batches": np.zeros((), np.int64)})


def test_to_converts_float_buffers_only(rng):
    layer = Centering(3)
    layer(rng.standard_normal((3, 4)))
    layer.to("float32")
    assert layer.running_mean.dtype == np.float32 and layer.batches.dtype == np.int64
    assert dict(layer.named_buffers())["running_mean"] is layer.running_mean
    assert layer.dtype == np.float32
    assert layer(rng.standard_normal((3, 4)).astype(np.float32)).dtype == np.float32
    with pytest.raises(DTypeError, match="float32 parameters but received a float64 input"):
        layer(rng.standard_normal((3, 4)))


def test_copies_carry_buffers_and_the_generator_independently(rng):
    model = Sequential([Centering(3), Mask()]).seed(0)
    model(rng.standard_normal((3, 4)))
    twin = copy.deepcopy(model)
    assert twin[0].running_mean is not model[0].running_mean
    np.testing.assert_array_equal(twin[0].running_mean, model[0].running_mean)
    X = rng.standard_normal((3, 4))
    np.testing.assert_array_equal(twin(X), model(X))


def test_buffer_names_are_checked():
    layer = Centering(2)
    with pytest.raises(StateError, match="already has a parameter or buffer named 'running_mean'"):
        layer.add_buffer("running_mean", np.zeros(2))
    with pytest.raises(StateError, match="'rng' is taken by the Layer API"):
        layer.add_buffer("rng", np.zeros(2))
    with pytest.raises(StateError, match="'forward' is taken by the Layer API"):
        layer.add_buffer("forward", np.zeros(2))
    with pytest.raises(StateError, match="must hold numbers"):
        layer.add_buffer("names", np.array(["a"]))
    with pytest.raises(DTypeError, match="buffer 'half' is float32 but the layer's parameters are float64"):
        layer.add_buffer("half", np.zeros(2, np.float32))


def test_summary_shows_state_only_when_there_is_some():
    plain = Sequential([Linear(3, 2, seed=0)]).summary(print_fn=None)
    assert "state" not in plain.splitlines()[0]
    text = Sequential([Linear(3, 4, seed=0), Centering(4), Mask()]).summary(print_fn=None)
    lines = text.splitlines()
    assert lines[0].split()[-1] == "state"
    assert lines[3].endswith("running_mean (4, 1), batches ()") and lines[4].endswith("rng")
    assert lines[2].rstrip().endswith("-")


# -- the generator -------------------------------------------------------------
def test_seed_gives_the_stream_of_default_rng():
    layer = Mask().seed(7)
    X = np.ones((3, 4))
    np.testing.assert_array_equal(layer(X), mask_of(np.random.default_rng(7), (3, 4)))


def test_unseeded_random_layers_never_share_a_stream():
    X = np.ones((20, 20))
    assert not np.array_equal(Mask()(X), Mask()(X))


def test_sequential_seed_gives_each_random_layer_an_independent_stream():
    model = Sequential([Mask(), Linear(2, 2, seed=0), Sequential([Sigmoid(), Mask()])]).seed(11)
    top = np.random.SeedSequence(11).spawn(3)
    expected0 = np.random.default_rng(top[0])
    expected2 = np.random.default_rng(top[2].spawn(2)[1])
    np.testing.assert_array_equal(model[0](np.ones((2, 6))), mask_of(expected0, (2, 6)))
    np.testing.assert_array_equal(model[2][1](np.ones((2, 6))), mask_of(expected2, (2, 6)))
    assert not np.array_equal(model[0](np.ones((2, 50))), model[2][1](np.ones((2, 50))))


def test_rng_of_a_layer_that_does_not_declare_stochastic_says_how_to_fix():
    with pytest.raises(StateError, match=r"Centering uses self.rng but does not declare `stochastic = True`"):
        Centering(2).rng
    with pytest.raises(StateError, match=r"expected `seed` to be a non-negative integer.*Received: seed=-1"):
        Mask().seed(-1)


def test_mt19937_generators_round_trip():
    layer = Mask()
    layer._rng = np.random.Generator(np.random.MT19937(5))
    state = layer.state_dict()
    twin = Mask()
    twin.load_state_dict(state)
    assert isinstance(twin.rng.bit_generator, np.random.MT19937)
    np.testing.assert_array_equal(twin.rng.random(5), layer.rng.random(5))


class MaskPlugin:
    @staticmethod
    @hookimpl
    def minidl_layers():
        return {"test_mask": Mask}


def test_build_model_seeds_every_random_layer_from_the_seed():
    registry.register(MaskPlugin, "test-mask-plugin")
    try:
        spec = [{"type": "linear", "out_features": 4}, {"type": "test_mask"}, {"type": "test_mask"}]
        model = build_model(spec, in_features=3, seed=21)
        again = build_model(spec, in_features=3, seed=21)
    finally:
        registry.unregister("test-mask-plugin")
    children = np.random.SeedSequence(21).spawn(3)
    for i in (1, 2):
        np.testing.assert_array_equal(model[i](np.ones((4, 5))), mask_of(np.random.default_rng(children[i]), (4, 5)))
        np.testing.assert_array_equal(again[i](np.ones((4, 5))), mask_of(np.random.default_rng(children[i]), (4, 5)))


# -- checkpoints: a random layer resumes bit for bit -------------------------------
def trainer(epochs, callbacks=()):
    model = Sequential([Linear(3, 8, seed=0), Mask(0.3), Centering(8), Sigmoid(), Linear(8, 1, seed=1)]).seed(4)
    return Trainer(model, MSELoss(), SGD(model.parameters(), lr=0.2, momentum=0.9), epochs=epochs,
                   batch_size=16, seed=5, callbacks=list(callbacks), progress=False)


@pytest.mark.parametrize("every_epochs,every_batches", [(1, 0), (0, 5)])
def test_a_model_with_a_random_layer_resumes_bit_for_bit(tmp_path, every_epochs, every_batches):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3, 70))
    y = np.sin(X[:1]) + 0.3 * X[1:2]
    straight = trainer(6)
    straight.fit(X, y)
    first = trainer(6, [ModelCheckpoint(tmp_path, every_epochs=every_epochs, every_batches=every_batches,
                                        keep_last=100)])
    first.fit(X, y)
    middle = sorted(tmp_path.glob("*.npz"))[len(list(tmp_path.glob("*.npz"))) // 2]
    assert "1.rng" in load_checkpoint(middle).state and "2.running_mean" in load_checkpoint(middle).state
    resumed = trainer(6)  # same seeds: without the saved state its mask stream would restart
    resumed.fit(X, y, resume_from=middle)
    assert resumed.history.logs == straight.history.logs
    for key, value in straight.model.state_dict().items():
        np.testing.assert_array_equal(resumed.model.state_dict()[key], value)


def test_gradcheck_freezes_the_generator_of_a_random_layer(rng):
    """Issue 11: the kit's gradient check failed with relative error 1.0 on a dropout layer."""
    from framework import gradcheck

    model = Sequential([Linear(3, 4, seed=0), Mask(0.5), Linear(4, 2, seed=1)]).seed(0)
    X = rng.standard_normal((3, 5))
    report = gradcheck(model, X)
    assert report.ok and report.worst < 1e-8
    # the model itself is untouched: its next mask is the seeded stream's first
    np.testing.assert_array_equal(model[1](np.ones((4, 5))), mask_of(np.random.default_rng(
        np.random.SeedSequence(0).spawn(3)[1]), (4, 5)))
