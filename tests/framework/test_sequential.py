import numpy as np
import pytest

from framework import Layer, Sequential
from framework.errors import DataError, InvalidValueError
from plugins.activations import ReLU, Sigmoid, Tanh
from plugins.layers import Linear


@pytest.fixture
def model():
    return Sequential([Linear(10, 32, seed=0), Sigmoid(), Linear(32, 1, seed=1)])


def test_container_protocol(model):
    assert len(model) == 3
    assert isinstance(model[1], Sigmoid)
    assert model[-1].out_features == 1
    head = model[:2]
    assert isinstance(head, Sequential) and len(head) == 2 and head[0] is model[0]
    assert [type(layer).__name__ for layer in model] == ["Linear", "Sigmoid", "Linear"]
    model.append(ReLU())
    assert len(model) == 4 and isinstance(model[3], ReLU)


def test_parameter_names_and_shapes(model):
    named = dict(model.named_parameters())
    assert list(named) == ["0.W", "0.b", "2.W", "2.b"]
    assert named["0.W"].shape == (32, 10) and named["0.b"].shape == (32, 1)
    assert named["2.W"].shape == (1, 32) and named["2.b"].shape == (1, 1)
    assert model[0].W is named["0.W"]
    assert model.num_parameters() == 32 * 10 + 32 + 32 + 1


def test_slice_shares_layers_and_runs(model, rng):
    X = rng.standard_normal((10, 4))
    hidden = model[:2](X)
    np.testing.assert_allclose(model[2](hidden), model(X))


def test_rejects_what_is_not_a_layer():
    with pytest.raises(TypeError, match=r"item 1 is not one.*Received: 'relu' of type str"):
        Sequential([Linear(2, 2, seed=0), "relu"])
    with pytest.raises(TypeError, match=r"did you pass the class instead of an instance"):
        Sequential([ReLU])
    with pytest.raises(TypeError, match=r"Received: 3 of type int"):
        Sequential().append(3)


def test_repr(model):
    assert repr(model) == "Sequential(\n  (0): Linear(10 -> 32)\n  (1): Sigmoid()\n  (2): Linear(32 -> 1)\n)"


def test_summary_shows_forward_and_backward_shapes(model):
    text = model.summary(print_fn=None)
    lines = text.splitlines()
    assert lines[0].split() == ["#", "layer", "input", "output", "params", "gradients", "(dL/dparam)", "dL/dX"]
    assert "Linear(10 -> 32)" in lines[2] and "(32, m)" in lines[2] and "352" in lines[2]
    assert "dW (32, 10), db (32, 1)" in lines[2] and lines[2].rstrip().endswith("(10, m)")
    assert "Sigmoid()" in lines[3] and lines[3].rstrip().endswith("(32, m)")
    assert "dW (1, 32), db (1, 1)" in lines[4] and "(1, m)" in lines[4]
    assert "Total parameters: 385" in lines[-1]


def test_summary_of_activations_only_needs_in_features():
    with pytest.raises(ValueError, match="needs in_features"):
        Sequential([Sigmoid()]).summary(print_fn=None)
    assert "(7, m)" in Sequential([Sigmoid()]).summary(7, print_fn=None)


def test_empty_sequential_is_a_clear_error():
    with pytest.raises(ValueError, match="Sequential is empty"):
        Sequential()(np.ones((2, 2)))


def test_nested_sequential_backward_matches_flat(rng):
    flat = Sequential([Linear(3, 4, seed=0), Sigmoid(), Linear(4, 2, seed=1)])
    nested = Sequential([Sequential([Linear(3, 4, seed=0), Sigmoid()]), Linear(4, 2, seed=1)])
    X, dY = rng.standard_normal((3, 6)), rng.standard_normal((2, 6))
    np.testing.assert_array_equal(flat(X), nested(X))
    np.testing.assert_array_equal(flat.backward(dY), nested.backward(dY))
    for a, b in zip(flat.parameters(), nested.parameters()):
        np.testing.assert_array_equal(a.grad, b.grad)
    assert [n for n, _ in nested.named_parameters()] == ["0.0.W", "0.0.b", "1.W", "1.b"]


def test_a_custom_layer_subclass_works_in_sequential(rng):
    class Double(Layer):
        def forward_pass(self, X, training):
            return 2 * X, None

        def backward_pass(self, dY, cache):
            return 2 * dY

    model = Sequential([Linear(3, 2, seed=0), Double()])
    X = rng.standard_normal((3, 4))
    np.testing.assert_allclose(model(X), 2 * model[0](X))
    model(X)
    dX = model.backward(np.ones((2, 4)))
    np.testing.assert_allclose(dX, 2 * model[0].W.data.T @ np.ones((2, 4)))


def test_the_same_layer_object_twice_in_one_model_is_refused_with_the_fix():
    # Its second forward would overwrite the cache of the first, and an optimizer would update it twice.
    shared = Linear(3, 3, seed=0)
    with pytest.raises(InvalidValueError, match=r"item 2 \(Linear\(3 -> 3\)\) is already item 0 of this model.*"
                                                r"copy.deepcopy\(layer\) for the same weights"):
        Sequential([shared, Tanh(), shared])
    model = Sequential([Sequential([shared]), Tanh()])
    with pytest.raises(InvalidValueError, match=r"item 2 \(Linear\(3 -> 3\)\) is already inside item 0"):
        model.append(shared)
    with pytest.raises(InvalidValueError, match=r"(?s)item 2 .* contains this Sequential itself"):
        model.append(model)
    assert len(model) == 2
    # One layer in two models (and in slices) stays allowed.
    other = Sequential([shared, Tanh()])
    assert other[0] is model[0][0] and len(model[::-1]) == 2


def test_without_input_grad_the_backward_stops_at_the_first_layer_with_parameters(rng):
    from framework.preprocessing import Standardize

    class CountingStandardize(Standardize):
        calls = 0

        def backward_pass(self, dY, cache):
            CountingStandardize.calls += 1
            return super().backward_pass(dY, cache)

    X = rng.standard_normal((2, 6))
    model = Sequential([CountingStandardize(2).fit(X), Linear(2, 3, seed=0), Sigmoid(), Linear(3, 1, seed=1)])
    dY = rng.standard_normal((1, 6))
    model(X)
    dX = model.backward(dY)  # dL/dX asked for: every layer runs
    full = [p.grad.copy() for p in model.parameters()]
    assert dX.shape == (2, 6) and CountingStandardize.calls == 1
    model(X)
    assert model.backward(dY, input_grad=False) is None
    assert CountingStandardize.calls == 1, "the standardization's backward ran although nothing needs it"
    assert model[1].needs_input_grad is False  # the first Linear skipped W^T dY
    assert not model[0].has_cache  # its forward's values were released all the same
    for p, g in zip(model.parameters(), full):
        np.testing.assert_array_equal(p.grad, g)


def test_predict_refuses_nan_and_inf_inputs_naming_the_first(rng):
    model = Sequential([Linear(2, 1, seed=0)])
    X = rng.standard_normal((2, 5))
    X[1, 3], X[0, 4] = np.nan, np.inf
    with pytest.raises(DataError, match=r"Sequential.predict: X holds 2 NaN or infinite value\(s\), first "
                                        r"X\[0, 4\] \(feature 0 of example 4\): inf. Fill or drop"):
        model.predict(X)
    np.testing.assert_allclose(model.predict(X[:, :3]), model[0].W.data @ X[:, :3] + model[0].b.data)
