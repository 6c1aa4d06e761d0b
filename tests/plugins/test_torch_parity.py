"""Every math component against its PyTorch namesake (float64). Skipped without torch."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from plugins.activations import ELU, GELU, LeakyReLU, Sigmoid, Softmax, Softplus  # noqa: E402
from plugins.losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss  # noqa: E402

#: Inputs spanning the float64 range, the kinks and PyTorch's thresholds.
SPECIAL = [0.0, -0.0, 1e-30, -1e-30, 1.0, -1.0, 19.99, 20.0, 20.01, -20.0, 30.0, -30.0, 40.0, -40.0,
           100.0, -100.0, 700.0, -700.0, 1e5, -1e5, 1e300, -1e300]


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


ACTIVATIONS = [
    (Sigmoid, {}, torch.sigmoid),
    (LeakyReLU, {"negative_slope": 0.2}, lambda x: F.leaky_relu(x, 0.2)),
    (ELU, {"alpha": 1.5}, lambda x: F.elu(x, 1.5)),
    (GELU, {}, lambda x: F.gelu(x, approximate="tanh")),
    (Softplus, {}, F.softplus),
    (Softplus, {"beta": 2.0, "threshold": 10.0}, lambda x: F.softplus(x, 2.0, 10.0)),
]


@pytest.mark.parametrize("cls,kwargs,torch_fn", ACTIVATIONS)
def test_activations_in_float64(rng, cls, kwargs, torch_fn):
    X = np.concatenate([rng.standard_normal((1, 60)) * 6, [SPECIAL]], axis=1)
    dY = rng.standard_normal(X.shape)
    layer = cls(**kwargs)
    A = layer(X)
    dX = layer.backward(dY)
    xt = torch.tensor(X, requires_grad=True)
    at = torch_fn(xt)
    at.backward(torch.tensor(dY))
    ta, tg = at.detach().numpy(), xt.grad.numpy()
    finite = np.isfinite(tg)  # PyTorch's GELU gradient is NaN at |x| = 1e300 (x^3 overflows); ours is finite
    assert finite.sum() >= X.size - 2
    # PyTorch evaluates GELU as X/2 (1 + tanh u), which cancels for X < -3 (3% relative error at
    # X = -8, 1e-16 absolute); minidl's X sigmoid(2u) does not: GELU agrees to 1e-15 absolute.
    atol = 1e-15 if cls is GELU else 0
    np.testing.assert_allclose(A, ta, rtol=1e-12, atol=atol)
    np.testing.assert_allclose(dX[finite], tg[finite], rtol=1e-12, atol=10 * atol or 1e-300)


@pytest.mark.parametrize("cls,kwargs,torch_fn", ACTIVATIONS)
def test_activations_in_float32(rng, cls, kwargs, torch_fn):
    X = np.concatenate([rng.standard_normal((1, 60)) * 6, [SPECIAL[:-2]]], axis=1).astype(np.float32)
    layer = cls(**kwargs)
    A = layer(X)
    dX = layer.backward(np.ones_like(X))
    xt = torch.tensor(X, requires_grad=True)
    torch_fn(xt).sum().backward()
    ta = torch_fn(torch.tensor(X)).numpy()
    assert A.dtype == np.float32 and dX.dtype == np.float32
    # float32 rounding differs between the libraries' exp and tanh (and PyTorch's GELU cancels).
    np.testing.assert_allclose(A, ta, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dX, xt.grad.numpy(), rtol=1e-6, atol=1e-5 if cls is GELU else 1e-6)


def test_sigmoid_has_pytorchs_relative_precision_far_left():
    X = np.array([[-20.0, -30.0, -40.0, -100.0, -700.0]])
    np.testing.assert_allclose(Sigmoid()(X), torch.sigmoid(torch.tensor(X)).numpy(), rtol=1e-14)


def _compare_loss(ours, torch_fn, y_hat, y, rtol=1e-13, atol=1e-300):
    value = ours(y_hat, y)
    grad = ours.backward()
    pt = torch.tensor(y_hat, requires_grad=True)
    lt = torch_fn(pt, torch.tensor(y))
    lt.backward()
    assert value == pytest.approx(lt.item(), rel=rtol, abs=1e-300)
    np.testing.assert_allclose(grad, pt.grad.numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bce_on_every_kind_of_probability(rng, dtype):
    p = np.concatenate([rng.uniform(0, 1, 30), [0.0, 1.0, 1e-300, 1e-17, 2e-16, 1e-13, 1e-12, 1e-10, 0.5,
                                                 1 - 1e-10, 1 - 1e-13, 1 - 1e-16, 0.999999]])
    p = np.concatenate([p, p]).reshape(1, -1).astype(dtype)
    y = np.concatenate([rng.uniform(0, 1, p.size // 2), rng.integers(0, 2, p.size - p.size // 2)])
    _compare_loss(BCELoss(), F.binary_cross_entropy, p, y.reshape(1, -1).astype(dtype),
                  rtol=1e-13 if dtype == np.float64 else 1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bce_with_logits_for_any_logit(rng, dtype):
    z = np.concatenate([rng.standard_normal(30) * 10, SPECIAL[:-2] if dtype == np.float64 else SPECIAL[:-4]])
    y = rng.uniform(0, 1, z.size)
    y[::3] = np.round(y[::3])
    _compare_loss(BCEWithLogitsLoss(), F.binary_cross_entropy_with_logits, z.reshape(1, -1).astype(dtype),
                  y.reshape(1, -1).astype(dtype), rtol=1e-13 if dtype == np.float64 else 1e-6,
                  atol=1e-300 if dtype == np.float64 else 1e-8)


@pytest.mark.parametrize("delta", [0.3, 1.0, 2.5])
def test_huber(rng, delta):
    y_hat, y = rng.standard_normal((3, 9)) * 2, rng.standard_normal((3, 9))
    y_hat[0, 0] = y[0, 0] + delta  # the joint itself
    _compare_loss(HuberLoss(delta), lambda a, b: F.huber_loss(a, b, delta=delta), y_hat, y)


def test_l1(rng):
    y_hat, y = rng.standard_normal((3, 9)), rng.standard_normal((3, 9))
    y_hat[1, 1] = y[1, 1]  # sign(0) = 0 in both
    _compare_loss(L1Loss(), F.l1_loss, y_hat, y)


# --- optimizers: 50 steps on the same gradient field ---------------------------
from framework.parameter import Parameter  # noqa: E402
from plugins.optimizers import SGD, Adam, AdamW, RMSprop  # noqa: E402

OPTIMIZERS = [
    (SGD, dict(lr=0.05), torch.optim.SGD, dict(lr=0.05)),
    (SGD, dict(lr=0.05, momentum=0.9), torch.optim.SGD, dict(lr=0.05, momentum=0.9)),
    (SGD, dict(lr=0.05, momentum=0.9, dampening=0.9), torch.optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0.9)),
    (SGD, dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.1), torch.optim.SGD,
     dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.1)),
    (SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01), torch.optim.SGD,
     dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (Adam, dict(lr=0.01), torch.optim.Adam, dict(lr=0.01)),
    (Adam, dict(lr=0.01, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.1), torch.optim.Adam,
     dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    (Adam, dict(lr=0.01, amsgrad=True, weight_decay=0.05), torch.optim.Adam,
     dict(lr=0.01, amsgrad=True, weight_decay=0.05)),
    (AdamW, dict(lr=0.01), torch.optim.AdamW, dict(lr=0.01)),
    (AdamW, dict(lr=0.01, weight_decay=0.3, amsgrad=True, beta2=0.95), torch.optim.AdamW,
     dict(lr=0.01, weight_decay=0.3, amsgrad=True, betas=(0.9, 0.95))),
    (RMSprop, dict(lr=0.01), torch.optim.RMSprop, dict(lr=0.01)),
    (RMSprop, dict(lr=0.01, alpha=0.9, eps=1e-6, momentum=0.8), torch.optim.RMSprop,
     dict(lr=0.01, alpha=0.9, eps=1e-6, momentum=0.8)),
    (RMSprop, dict(lr=0.005, centered=True, weight_decay=0.1, momentum=0.5), torch.optim.RMSprop,
     dict(lr=0.005, centered=True, weight_decay=0.1, momentum=0.5)),
]


@pytest.mark.parametrize("ours,kwargs,theirs,torch_kwargs", OPTIMIZERS,
                         ids=[f"{o.__name__}-{'-'.join(k)}" for o, k, _, _ in OPTIMIZERS])
@pytest.mark.parametrize("block_bytes", [1 << 18, 40])
def test_optimizer_matches_torch_over_50_steps(rng, ours, kwargs, theirs, torch_kwargs, block_bytes):
    shapes = [(5, 4), (5, 1)]
    start = [rng.standard_normal(s) for s in shapes]
    noise = [[rng.standard_normal(s) * 0.3 for s in shapes] for _ in range(50)]

    def gradient(p, t, i):  # a nonlinear field: the trajectory depends on every earlier step
        return 0.5 * p + 0.1 * p ** 3 + noise[t][i]

    params = [Parameter(a.copy(), n) for a, n in zip(start, "Wb")]
    opt = ours(params, **kwargs)
    opt.block_bytes = block_bytes  # 40: blocks of 5 elements, the blocked path
    tensors = [torch.tensor(a.copy(), requires_grad=True) for a in start]
    topt = theirs(tensors, **torch_kwargs)
    for t in range(50):
        for i, (p, tp) in enumerate(zip(params, tensors)):
            p.grad[...] = gradient(p.data, t, i)
            tp.grad = torch.tensor(gradient(tp.detach().numpy(), t, i))
        opt.step()
        topt.step()
    for p, tp in zip(params, tensors):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-12, atol=1e-14)
    assert not np.allclose(params[0].data, start[0], atol=1e-3)  # it did move


# --- schedules --------------------------------------------------------------------
@pytest.mark.parametrize("min_lr", [0.0, 0.01])
def test_cosine_equals_cosine_annealing_up_to_total_epochs(min_lr):
    from plugins.schedules import cosine

    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1)
    torch_sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=7, eta_min=min_lr)
    ours = cosine(total_epochs=7, min_lr=min_lr)
    for epoch in range(8):  # 0 .. T_max; past it PyTorch's rises again, ours stays at min_lr (documented)
        assert ours(epoch, 0.1) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12, abs=1e-15)
        opt.step()
        torch_sched.step()
    assert ours(20, 0.1) == min_lr


def test_step_and_exponential_equal_torch():
    from plugins.schedules import exponential, step

    for ours, make in ((step(step_size=3, gamma=0.5), lambda o: torch.optim.lr_scheduler.StepLR(o, 3, 0.5)),
                       (exponential(gamma=0.9), lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.9))):
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([p], lr=0.1)
        sched = make(opt)
        for epoch in range(10):
            assert ours(epoch, 0.1) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12)
            opt.step()
            sched.step()


# --- gradient clipping: the Trainer's options against torch.nn.utils -------------------
@pytest.mark.parametrize("options,torch_clip", [
    (dict(clip_grad_norm=0.05), lambda ts: torch.nn.utils.clip_grad_norm_(ts, 0.05)),
    (dict(clip_grad_norm=1e6), lambda ts: torch.nn.utils.clip_grad_norm_(ts, 1e6)),   # no clipping
    (dict(clip_grad_value=0.01), lambda ts: torch.nn.utils.clip_grad_value_(ts, 0.01)),
    (dict(clip_grad_value=0.01, clip_grad_norm=0.02),
     lambda ts: (torch.nn.utils.clip_grad_value_(ts, 0.01), torch.nn.utils.clip_grad_norm_(ts, 0.02))),
])
def test_gradient_clipping(options, torch_clip):
    from framework import Sequential, Trainer
    from plugins.activations import Tanh
    from plugins.layers import Linear
    from plugins.losses import MSELoss

    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((3, 16)), rng.standard_normal((1, 16)) * 3

    def applied_gradients(**kw):
        model = Sequential([Linear(3, 6, seed=1), Tanh(), Linear(6, 1, seed=2)])
        before = [p.data.copy() for p in model.parameters()]
        Trainer(model, MSELoss(), SGD(model.parameters(), lr=1.0), epochs=1, batch_size=16, shuffle=False,
                progress=False, **kw).fit(X, y)
        return [b - p.data for b, p in zip(before, model.parameters())]

    raw = applied_gradients()
    tensors = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in raw]
    for t_, g in zip(tensors, raw):
        t_.grad = torch.tensor(g)
    torch_clip(tensors)
    for ours, t_ in zip(applied_gradients(**options), tensors):
        np.testing.assert_allclose(ours, t_.grad.numpy(), rtol=1e-12, atol=1e-17)
