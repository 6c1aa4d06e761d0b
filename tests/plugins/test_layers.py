import numpy as np
import pytest

from framework import gradcheck
from plugins import initializers
from plugins.layers import Linear


def test_linear_forward_is_wx_plus_b(rng):
    layer = Linear(3, 2, seed=0)
    X = rng.standard_normal((3, 5))
    np.testing.assert_allclose(layer(X), layer.W.data @ X + layer.b.data, rtol=1e-12)
    assert layer.W.shape == (2, 3) and layer.b.shape == (2, 1)


@pytest.mark.parametrize("out", [2, 1])  # out = 1: W^T dY is an outer product
def test_linear_backward_matches_hand_derivation(rng, out):
    layer = Linear(3, out, seed=0)
    X, dY = rng.standard_normal((3, 5)), rng.standard_normal((out, 5))
    layer(X)
    dX = layer.backward(dY)
    np.testing.assert_allclose(layer.W.grad, dY @ X.T, rtol=1e-12)
    np.testing.assert_allclose(layer.b.grad, dY.sum(axis=1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(dX, layer.W.data.T @ dY, rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradcheck(rng, dtype, bias):
    report = gradcheck(Linear(4, 3, bias=bias, seed=0, dtype=dtype), rng.standard_normal((4, 6)))
    assert report.ok and report.worst < 1e-6
    assert set(report.errors) == ({"W", "b", "input"} if bias else {"W", "input"})


def test_seed_and_rng_are_reproducible_bit_for_bit():
    a, b = Linear(5, 4, seed=7), Linear(5, 4, seed=7)
    np.testing.assert_array_equal(a.W.data, b.W.data)
    c = Linear(5, 4, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a.W.data, c.W.data)
    assert not np.array_equal(a.W.data, Linear(5, 4, seed=8).W.data)
    np.testing.assert_array_equal(Linear(5, 4, seed=7, dtype="float32").W.data, a.W.data.astype(np.float32))


def test_default_init_is_glorot_uniform_and_bias_zero():
    layer = Linear(300, 200, seed=0)
    limit = np.sqrt(6 / 500)
    assert np.abs(layer.W.data).max() <= limit
    assert np.abs(layer.W.data).max() > 0.95 * limit
    np.testing.assert_allclose(layer.W.data.var(), limit ** 2 / 3, rtol=0.05)
    assert not layer.b.data.any()


@pytest.mark.parametrize("name,variance", [("he_normal", 2 / 400), ("glorot_normal", 2 / 700),
                                           ("lecun_normal", 1 / 400), ("he_uniform", 2 / 400)])
def test_named_initializers_have_their_variance(name, variance):
    layer = Linear(400, 300, init=name, seed=0)
    np.testing.assert_allclose(layer.W.data.var(), variance, rtol=0.05)


def test_callable_init():
    layer = Linear(2, 3, init=initializers.zeros, seed=0)
    assert not layer.W.data.any()


@pytest.mark.parametrize("kwargs,message", [
    (dict(in_features=0, out_features=3), r"in_features: Input should be greater than 0. Received: 0"),
    (dict(in_features=2, out_features=-3), r"out_features: Input should be greater than 0. Received: -3"),
    (dict(in_features=2.5, out_features=3), r"in_features: Input should be a valid integer. Received: 2.5"),
    (dict(in_features=2, out_features=3, dtype="int32"), r"dtype: Input should be 'float32' or 'float64'. Received: 'int32'"),
    (dict(in_features=2, out_features=3, seed=1, rng=np.random.default_rng()), r"either `seed` or `rng`"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Linear(**kwargs)


def test_unknown_initializer_lists_choices():
    with pytest.raises(LookupError, match=r"can't find 'he_normall' in registry initializers. Did you mean 'he_normal'\?"):
        Linear(2, 3, init="he_normall")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_linear_on_a_fortran_ordered_batch_equals_the_c_ordered_result(rng, dtype):
    # The Trainer's batches are column blocks of a Fortran array; forward copies them to C order.
    X = rng.standard_normal((5, 40)).astype(dtype)
    batch_f = np.asfortranarray(X)[:, 8:24]
    batch_c = np.ascontiguousarray(batch_f)
    assert not batch_f.flags.c_contiguous
    dY = rng.standard_normal((3, 16)).astype(dtype)
    results = []
    for batch in (batch_f, batch_c):
        layer = Linear(5, 3, seed=0, dtype=dtype)
        Y = layer(batch).copy()
        dX = layer.backward(dY)
        results.append((Y, dX, layer.W.grad.copy(), layer.b.grad.copy()))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-6 if dtype == "float32" else 1e-14)
    np.testing.assert_allclose(results[0][0], Linear(5, 3, seed=0, dtype=dtype).W.data @ batch_c,
                               rtol=1e-6 if dtype == "float32" else 1e-14)
