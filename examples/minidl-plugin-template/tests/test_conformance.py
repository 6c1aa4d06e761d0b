"""The plugin's own test suite, using minidl's conformance kit."""

import numpy as np

from framework.testing import assert_layer_conforms
from minidl_example_plugin import LayerNorm, Swish


def test_layer_norm_conforms():
    assert_layer_conforms(lambda: LayerNorm(5), in_features=5, registered_name="layer_norm")


def test_swish_conforms():
    assert_layer_conforms(Swish, in_features=3, registered_name="swish")


def test_layer_norm_normalises_each_example():
    X = np.random.default_rng(0).standard_normal((6, 4)) * 3 + 2
    Y = LayerNorm(6)(X)
    np.testing.assert_allclose(Y.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(Y.std(axis=0), 1, rtol=1e-4)
