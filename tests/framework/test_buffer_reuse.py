"""What model(X) and model.backward(g) return is the caller's: later steps never overwrite it.

Hidden layers' outputs live in buffers reused from step to step; which
outputs are hidden is decided by the container on each call, so a layer may
sit in several models and slices at once (issue 11).
"""

import numpy as np
import pytest

from framework import Layer, Sequential
from plugins.activations import ReLU, Sigmoid, Tanh
from plugins.layers import Linear


class Identity(Layer):
    """Returns its input itself, forward and backward."""

    def forward_pass(self, X, training):
        return X, None

    def backward_pass(self, dY, cache):
        return dY


def steps(models, rng, n=3, features=3):
    """Train each model a few steps, interleaved; return every array the callers received."""
    kept = []
    for _ in range(n):
        for model in models:
            X = rng.standard_normal((features, 5))
            Y = model(X)
            dX = model.backward(rng.standard_normal(Y.shape))
            kept += [Y, dX]
    return kept


def assert_kept(models, rng):
    kept = steps(models, rng)
    copies = [a.copy() for a in kept]
    steps(models, rng)  # more steps, every model
    for i, (a, b) in enumerate(zip(kept, copies)):
        np.testing.assert_array_equal(a, b, err_msg=f"returned array {i} was overwritten by a later step")


@pytest.mark.parametrize("a_first", [True, False])
def test_a_layer_shared_by_two_models(rng, a_first):
    shared = Linear(3, 3, seed=0)
    build_a = lambda: Sequential([shared, Tanh()])        # shared is first: its dX is returned
    build_b = lambda: Sequential([Sigmoid(), shared])     # shared is last: its Y is returned
    a, b = (build_a(), build_b()) if a_first else (build_b()[::-1][::-1], build_a())
    assert_kept([a, b], rng)


def test_a_reversed_model_and_the_original(rng):
    model = Sequential([Linear(3, 3, seed=0), Sigmoid(), Linear(3, 3, seed=1)])
    assert_kept([model, model[::-1]], rng)


def test_a_slice_and_the_original(rng):
    model = Sequential([Sigmoid(), Linear(3, 3, seed=0), Tanh(), Linear(3, 3, seed=1)])
    tail = model[1:]
    head = model[:3]
    assert_kept([model, tail, head], rng)


def test_nested_sequentials_and_the_inner_one_alone(rng):
    inner = Sequential([Linear(3, 3, seed=0), Sigmoid()])
    outer = Sequential([inner, Linear(3, 3, seed=1), Sequential([ReLU(), Linear(3, 3, seed=2)])])
    assert_kept([outer, inner], rng)


def test_an_identity_at_either_end_does_not_hand_out_a_hidden_buffer(rng):
    model = Sequential([Identity(), Linear(3, 3, seed=0), Identity()])
    assert_kept([model], rng)


def test_hidden_outputs_still_live_in_reused_buffers(rng):
    """The speed the reuse exists for: a hidden layer's Y is the same array from step to step."""
    seen = []

    class Spy(Layer):
        def forward_pass(self, X, training):
            seen.append(X)
            return X.copy(), None

        def backward_pass(self, dY, cache):
            return dY.copy()

    model = Sequential([Linear(3, 4, seed=0), Spy(), Linear(4, 2, seed=1)])
    for _ in range(2):
        model.backward(np.ones_like(model(rng.standard_normal((3, 5)))))
    assert seen[0] is seen[1]                    # training: one buffer, reused
    model.predict(rng.standard_normal((3, 5)))
    assert seen[2] is not seen[1]                # inference: fresh
    alone = Linear(3, 4, seed=0)
    assert alone(np.ones((3, 5))) is not alone(np.ones((3, 5)))  # a layer called directly: fresh
