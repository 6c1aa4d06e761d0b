"""The Layer contract, checked on the built-in layers."""

import numpy as np
import pytest

from framework import BackwardError, DTypeError, Layer, Sequential, ShapeError
from plugins.activations import ReLU, Sigmoid, Tanh
from plugins.layers import Linear


def make_model(dtype="float64"):
    return Sequential([Linear(4, 6, seed=0, dtype=dtype), Sigmoid(), Linear(6, 2, seed=1, dtype=dtype)])


@pytest.mark.parametrize("factory", [lambda: Linear(4, 3, seed=0), Sigmoid, Tanh, ReLU, make_model])
def test_backward_before_forward_raises(factory):
    layer = factory()
    with pytest.raises(BackwardError, match=r"backward\(\) needs a forward\(X, training=True\) first"):
        layer.backward(np.ones((3, 5)))


@pytest.mark.parametrize("factory", [lambda: Linear(4, 3, seed=0), Sigmoid, make_model])
def test_second_backward_raises_and_cache_is_released(factory, rng):
    layer = factory()
    X = rng.standard_normal((4, 5))
    Y = layer(X)
    layer.backward(np.ones_like(Y))
    assert not layer.has_cache
    with pytest.raises(BackwardError, match="called twice"):
        layer.backward(np.ones_like(Y))


def test_inference_keeps_no_cache(rng):
    model = make_model()
    X = rng.standard_normal((4, 5))
    model.forward(X, training=False)
    assert not model.has_cache
    model.predict(X)
    assert not model.has_cache
    with pytest.raises(BackwardError):
        model.backward(np.ones((2, 5)))


def test_predict_between_forward_and_backward_does_not_disturb_training(rng):
    model, twin = make_model(), make_model()
    X, X2 = rng.standard_normal((4, 5)), rng.standard_normal((4, 7))
    dY = rng.standard_normal((2, 5))
    model(X)
    model.predict(X2)
    model.backward(dY)
    twin(X)
    twin.backward(dY)
    for (_, a), (_, b) in zip(model.named_parameters(), twin.named_parameters()):
        np.testing.assert_array_equal(a.grad, b.grad)


def test_inputs_are_never_mutated(rng):
    model = make_model()
    X = rng.standard_normal((4, 5))
    dY = rng.standard_normal((2, 5))
    X0, dY0 = X.copy(), dY.copy()
    model(X)
    model.backward(dY)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(dY, dY0)


def test_wrong_input_shape_names_the_layer_and_the_expected_shape(rng):
    model = make_model()
    with pytest.raises(ShapeError, match=r"Linear\(4 -> 6\) expects input of shape \(4, m\)\. Received: shape \(3, 5\)"):
        model(rng.standard_normal((3, 5)))
    with pytest.raises(ShapeError, match=r"did you pass examples as rows"):
        model(rng.standard_normal((5, 4)))
    with pytest.raises(ShapeError, match=r"features are rows.*Received: shape \(4,\)"):
        model(rng.standard_normal(4))
    with pytest.raises(TypeError, match="expects a numpy array.*Received: list"):
        Linear(2, 1, seed=0)([[1.0], [2.0]])


def test_wrong_dy_shape_is_reported(rng):
    layer = Linear(4, 3, seed=0)
    layer(rng.standard_normal((4, 5)))
    with pytest.raises(ShapeError, match=r"expects dY of the forward output's shape \(3, 5\)\. Received: \(5, 3\)"):
        layer.backward(np.ones((5, 3)))


def test_integer_input_and_mixed_dtypes_are_rejected(rng):
    with pytest.raises(DTypeError, match="expects a float32 or float64 input. Received: dtype int64"):
        Sigmoid()(np.ones((2, 3), dtype=np.int64))
    with pytest.raises(DTypeError, match="has float64 parameters but received a float32 input"):
        Linear(2, 1, seed=0)(np.ones((2, 3), dtype=np.float32))


def test_float32_end_to_end_without_upcasting(rng):
    model = make_model("float32")
    X = rng.standard_normal((4, 5)).astype(np.float32)
    Y = model(X)
    dX = model.backward(np.ones_like(Y))
    assert Y.dtype == np.float32 and dX.dtype == np.float32
    for _, p in model.named_parameters():
        assert p.data.dtype == np.float32 and p.grad.dtype == np.float32
    model64 = make_model("float64")
    model64.to("float32")
    assert all(p.dtype == np.float32 for p in model64.parameters())


def test_memory_does_not_grow_over_steps(rng):
    model = make_model()
    X = rng.standard_normal((4, 8))

    def held_arrays():
        total = 0
        for layer in model:
            total += len(layer._scratch)
        return total

    model(X)
    model.backward(np.ones((2, 8)))
    first = held_arrays()
    ids = {id(buf) for layer in model for buf in layer._scratch.values()}
    for _ in range(20):
        model(X)
        model.backward(np.ones((2, 8)))
    assert held_arrays() == first
    assert {id(buf) for layer in model for buf in layer._scratch.values()} == ids


def test_output_returned_to_user_survives_the_next_step(rng):
    model = make_model()
    X1, X2 = rng.standard_normal((4, 8)), rng.standard_normal((4, 8))
    Y1 = model(X1)
    kept = Y1.copy()
    dX1 = model.backward(np.ones_like(Y1))
    kept_dX = dX1.copy()
    model(X2)
    model.backward(np.full_like(Y1, 2.0))
    np.testing.assert_array_equal(Y1, kept)
    np.testing.assert_array_equal(dX1, kept_dX)


def test_a_standalone_layer_returns_fresh_arrays(rng):
    layer = Sigmoid()
    X = rng.standard_normal((3, 4))
    Y1 = layer(X)
    Y2 = layer(X + 1)
    assert not np.shares_memory(Y1, Y2)


def test_missing_forward_pass_is_a_clear_error():
    class Incomplete(Layer):
        pass

    with pytest.raises(NotImplementedError, match="Incomplete must implement forward_pass"):
        Incomplete()(np.ones((2, 2)))


def test_input_grad_false_skips_dx(rng):
    layer = Linear(4, 3, seed=0)
    layer(rng.standard_normal((4, 5)))
    assert layer.backward(np.ones((3, 5)), input_grad=False) is None
    assert np.any(layer.W.grad != 0)
