"""Every math component against its PyTorch namesake (float64). Skipped without torch."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from plugins.activations import Softmax  # noqa: E402
from plugins.losses import CrossEntropyLoss  # noqa: E402


def t(a, grad=False):
    """Our (C, m) array as torch's (m, C) tensor."""
    return torch.tensor(np.ascontiguousarray(a.T), dtype=torch.float64, requires_grad=grad)


def test_softmax(rng):
    Z, dY = rng.standard_normal((5, 7)) * 4, rng.standard_normal((5, 7))
    layer = Softmax()
    A = layer(Z)
    dX = layer.backward(dY)
    zt = t(Z, True)
    at = torch.softmax(zt, dim=1)
    at.backward(t(dY))
    np.testing.assert_allclose(A, at.detach().numpy().T, rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(dX, zt.grad.numpy().T, rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("target", ["indices", "flat", "probabilities"])
def test_cross_entropy(rng, smoothing, target):
    C, m = 6, 11
    Z = rng.standard_normal((C, m)) * 5
    idx = rng.integers(0, C, m)
    Q = rng.uniform(size=(C, m))
    Q /= Q.sum(axis=0)
    ours_y, torch_y = {"indices": (idx.reshape(1, -1).astype(float), torch.tensor(idx)),
                       "flat": (idx, torch.tensor(idx)),
                       "probabilities": (Q, t(Q))}[target]
    loss = CrossEntropyLoss(label_smoothing=smoothing)
    value = loss(Z, ours_y)
    grad = loss.backward()
    zt = t(Z, True)
    lt = F.cross_entropy(zt, torch_y, label_smoothing=smoothing)
    lt.backward()
    assert value == pytest.approx(lt.item(), rel=1e-13, abs=1e-15)
    np.testing.assert_allclose(grad, zt.grad.numpy().T, rtol=1e-12, atol=1e-16)
