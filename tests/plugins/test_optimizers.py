import numpy as np
import pytest

from framework import Parameter
from plugins.optimizers import SGD, Adam, AdamW, RMSprop


def make_params(rng):
    params = [Parameter(rng.standard_normal((3, 2)), "W"), Parameter(rng.standard_normal((3, 1)), "b")]
    return params


def test_sgd_step_is_p_minus_lr_g(rng):
    params = make_params(rng)
    start = [p.data.copy() for p in params]
    for p in params:
        p.grad[...] = rng.standard_normal(p.shape)
    SGD(params, lr=0.1).step()
    for p, p0 in zip(params, start):
        np.testing.assert_allclose(p.data, p0 - 0.1 * p.grad, rtol=1e-14)


def test_momentum_follows_pytorch_and_equals_the_course_form(rng):
    grads = [rng.standard_normal((3, 2)) for _ in range(5)]
    p = Parameter(np.zeros((3, 2)), "W")
    opt = SGD([p], lr=0.1, momentum=0.9)
    v, expected = np.zeros((3, 2)), np.zeros((3, 2))
    # The course form: v <- beta v + (1 - beta) g, p <- p - alpha v, with alpha = lr / (1 - beta).
    v_course, course = np.zeros((3, 2)), np.zeros((3, 2))
    for g in grads:
        p.grad[...] = g
        opt.step()
        v = 0.9 * v + g
        expected = expected - 0.1 * v
        v_course = 0.9 * v_course + 0.1 * g
        course = course - (0.1 / 0.1) * v_course
    np.testing.assert_allclose(p.data, expected, rtol=1e-12)
    np.testing.assert_allclose(p.data, course, rtol=1e-12)


def test_weight_decay_adds_l2_gradient(rng):
    p = Parameter(np.ones((2, 2)), "W")
    SGD([p], lr=0.5, weight_decay=0.1).step()  # grad is zero: only decay acts
    np.testing.assert_allclose(p.data, np.full((2, 2), 1 - 0.5 * 0.1))


def test_adam_matches_the_paper_formula(rng):
    p = Parameter(rng.standard_normal((2, 3)), "W")
    p0 = p.data.copy()
    opt = Adam([p], lr=0.01)
    m = v = np.zeros((2, 3))
    expected = p0
    for t in range(1, 4):
        g = rng.standard_normal((2, 3))
        p.grad[...] = g
        opt.step()
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        expected = expected - 0.01 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    np.testing.assert_allclose(p.data, expected, rtol=1e-10)


def test_zero_grad(rng):
    params = make_params(rng)
    for p in params:
        p.grad[...] = 1.0
    SGD(params, lr=0.1).zero_grad()
    assert all(not p.grad.any() for p in params)


@pytest.mark.parametrize("cls,kwargs", [
    (SGD, dict(lr=0.1, momentum=0.9)), (Adam, dict(lr=0.01)),
    (SGD, dict(lr=0.1, momentum=0.9, dampening=0.5)), (SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    (Adam, dict(lr=0.01, amsgrad=True, weight_decay=0.1)), (AdamW, dict(lr=0.01, amsgrad=True)),
    (RMSprop, dict(lr=0.01, centered=True, momentum=0.9, weight_decay=0.1)),
])
def test_state_dict_round_trip_continues_identically(cls, kwargs, rng):
    grads = [[rng.standard_normal(s) for s in ((3, 2), (3, 1))] for _ in range(6)]
    a, b = make_params(np.random.default_rng(0)), make_params(np.random.default_rng(0))
    opt_a = cls(a, **kwargs)
    for g in grads[:3]:
        for p, gi in zip(a, g):
            p.grad[...] = gi
        opt_a.step()
    saved = opt_a.state_dict()
    for pb, pa in zip(b, a):
        pb.data[...] = pa.data
    opt_b = cls(b, **kwargs)
    opt_b.load_state_dict(saved)
    for g in grads[3:]:
        for params, opt in ((a, opt_a), (b, opt_b)):
            for p, gi in zip(params, g):
                p.grad[...] = gi
            opt.step()
    for pa, pb in zip(a, b):
        np.testing.assert_array_equal(pa.data, pb.data)


def test_state_keys_starting_with_underscore_are_scratch_and_not_saved(rng):
    class WithScratch(SGD):
        def init_state(self, param):
            return {**super().init_state(param), "_scratch": np.full(param.shape, 7.0)}

    opt = WithScratch(make_params(rng), lr=0.1, momentum=0.9)
    assert set(opt.state[0]) == {"velocity", "_scratch"}
    saved = opt.state_dict()
    assert set(saved["state"][0]) == {"velocity"}
    fresh = WithScratch(make_params(rng), lr=0.1, momentum=0.9)
    fresh.load_state_dict(saved)  # the scratch key is neither expected nor overwritten
    assert np.all(fresh.state[0]["_scratch"] == 7.0)


def test_load_state_dict_rejects_mismatches(rng):
    opt = SGD(make_params(rng), lr=0.1, momentum=0.5)
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="holds 1 parameters, this optimizer has 2"):
        opt.load_state_dict({**sd, "state": sd["state"][:1]})
    bad = [dict(s) for s in sd["state"]]
    bad[0]["velocity"] = np.zeros((9, 9))
    with pytest.raises(ValueError, match=r"state 'velocity' of parameter 0 \(W\) has shape \(9, 9\), expected \(3, 2\)"):
        opt.load_state_dict({**sd, "state": bad})


@pytest.mark.parametrize("kwargs,message", [
    (dict(lr=0), r"1 problem in SGD\(params=.*, lr=0\):\n  lr: Input should be greater than 0. Received: 0"),
    (dict(lr=float("nan")), r"lr: Input should be a finite number. Received: nan"),
    (dict(lr=0.1, momentum=1.0), r"momentum: Input should be less than 1. Received: 1.0"),
    (dict(lr="fast"), r"lr: Input should be a valid number. Received: 'fast'"),
    (dict(lr="0.1"), r"lr: Input should be a valid number. Received: '0.1'"),  # re-trial: was read as 0.1
])
def test_bad_hyperparameters(kwargs, message, rng):
    with pytest.raises((ValueError, TypeError), match=message):
        SGD(make_params(rng), **kwargs)


def test_rejects_non_parameters():
    with pytest.raises(TypeError, match="item 0 is ndarray"):
        SGD([np.zeros(3)], lr=0.1)


# -- elementwise optimizers update large parameters in blocks ------------------------
@pytest.mark.parametrize("cls,kwargs", [
    (SGD, dict(lr=0.1)), (SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.01)), (Adam, dict(lr=0.01)),
    (SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (SGD, dict(lr=0.1, momentum=0.9, dampening=0.9)),
    (Adam, dict(lr=0.01, weight_decay=0.1, amsgrad=True)), (AdamW, dict(lr=0.01, weight_decay=0.1)),
    (RMSprop, dict(lr=0.01, centered=True, momentum=0.9, weight_decay=0.1)), (RMSprop, dict(lr=0.01)),
])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_blocked_update_equals_the_whole_update_bit_for_bit(cls, kwargs, dtype, rng):
    # 7 x 13 = 91 elements in blocks of 16 bytes (4 or 2 elements): a ragged last block.
    shapes = ((7, 13), (7, 1))
    start = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(4)]
    whole = [Parameter(a.copy(), n) for a, n in zip(start, "Wb")]
    blocked = [Parameter(a.copy(), n) for a, n in zip(start, "Wb")]
    opt_whole, opt_blocked = cls(whole, **kwargs), cls(blocked, **kwargs)
    opt_blocked.block_bytes = 16
    for g in grads:
        for params, opt in ((whole, opt_whole), (blocked, opt_blocked)):
            for p, gi in zip(params, g):
                p.grad[...] = gi
            opt.step()
    for pw, pb in zip(whole, blocked):
        assert pb.data.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(pb.data, pw.data)
    for sw, sb in zip(opt_whole.state_dict()["state"], opt_blocked.state_dict()["state"]):
        for key in sw:
            np.testing.assert_array_equal(sb[key], sw[key])


ALL_ELEMENTWISE = [
    (SGD, dict(lr=0.1)), (SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (SGD, dict(lr=0.1, momentum=0.9, dampening=0.9)), (Adam, dict(lr=0.01)),
    (Adam, dict(lr=0.01, weight_decay=0.1, amsgrad=True)), (AdamW, dict(lr=0.01, weight_decay=0.1)),
    (RMSprop, dict(lr=0.01, centered=True, momentum=0.9, weight_decay=0.1)), (RMSprop, dict(lr=0.01)),
]


def _mixed_params(rng, dtype):
    """Small parameters (grouped), one large one (its own blocked update), and a float32 pair."""
    shapes = [(7, 13), (7, 1), (3, 7), (3, 1), (300, 200)]
    params = [Parameter(rng.standard_normal(s).astype(dtype), f"p{i}") for i, s in enumerate(shapes)]
    params += [Parameter(rng.standard_normal((4, 2)).astype(np.float32), "f32a"),
               Parameter(rng.standard_normal((4, 1)).astype(np.float32), "f32b")]
    return params


@pytest.mark.parametrize("cls,kwargs", ALL_ELEMENTWISE)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_small_parameters_updated_together_equal_each_updated_alone_bit_for_bit(cls, kwargs, dtype, rng):
    start = _mixed_params(rng, dtype)
    together = [Parameter(p.data.copy(), p.name) for p in start]
    alone = [Parameter(p.data.copy(), p.name) for p in start]
    data_refs = [p.data for p in together]  # references users hold stay the live values
    opt_together, opt_alone = cls(together, **kwargs), cls(alone, **kwargs)
    opt_alone.group_bytes = 0  # nothing grouped: the reference
    for _ in range(4):
        for a, b in zip(together, alone):
            a.grad[...] = b.grad[...] = rng.standard_normal(a.shape).astype(a.dtype)
        grads = [p.grad.copy() for p in together]
        opt_together.step()
        opt_alone.step()
        for p, g in zip(together, grads):
            np.testing.assert_array_equal(p.grad, g)  # the gradients are read, never written
    # One group per dtype; the (300, 200) parameter is large: updated alone, in blocks.
    # Plain SGD (two numpy calls per parameter) does not group: gathering would cost more.
    plain_sgd = cls is SGD and not (kwargs.get("momentum") or kwargs.get("weight_decay"))
    expected = [] if plain_sgd else [2, 4] if dtype == "float64" else [6]
    assert sorted(len(g.members) for g in opt_together._groups) == expected
    assert opt_alone._groups == []
    for p, ref, q in zip(together, data_refs, alone):
        assert p.data is ref
        np.testing.assert_array_equal(p.data, q.data)
    for st, sa in zip(opt_together.state_dict()["state"], opt_alone.state_dict()["state"]):
        assert st.keys() == sa.keys()
        for key in st:
            np.testing.assert_array_equal(st[key], sa[key])


@pytest.mark.parametrize("cls,kwargs", ALL_ELEMENTWISE)
def test_grouped_state_round_trips_and_resumes_exactly(cls, kwargs, rng):
    params = _mixed_params(rng, "float64")
    grads = [[rng.standard_normal(p.shape).astype(p.dtype) for p in params] for _ in range(6)]

    def run(params, opt, steps):
        for g in steps:
            for p, gi in zip(params, g):
                p.grad[...] = gi
            opt.step()

    straight = [Parameter(p.data.copy(), p.name) for p in params]
    run(straight, opt := cls(straight, **kwargs), grads)
    first = [Parameter(p.data.copy(), p.name) for p in params]
    run(first, opt_first := cls(first, **kwargs), grads[:3])
    resumed = [Parameter(p.data.copy(), p.name) for p in first]
    opt_resumed = cls(resumed, **kwargs)
    opt_resumed.load_state_dict(opt_first.state_dict())
    run(resumed, opt_resumed, grads[3:])
    for a, b in zip(resumed, straight):
        np.testing.assert_array_equal(a.data, b.data)


def test_replaced_arrays_are_regrouped_from_their_current_values(rng):
    import copy

    params = [Parameter(rng.standard_normal((5, 3)), "W"), Parameter(rng.standard_normal((5, 1)), "b")]
    opt = Adam(params, lr=0.01)
    for p in params:
        p.grad[...] = 1.0
    opt.step()
    clone = copy.deepcopy(opt)  # views copied apart: the clone regroups its own arrays
    reference = Adam([Parameter(p.data.copy(), p.name) for p in params], lr=0.01, )
    reference.load_state_dict(opt.state_dict())
    reference.group_bytes = 0
    params[0].data = params[0].data.copy()  # a user replaced W's array, and b's gradient
    params[1].grad = np.full((5, 1), 1.0)
    for p in reference.params:
        p.grad[...] = 1.0
    opt.step()
    reference.step()
    for p, q in zip(params, reference.params):
        np.testing.assert_array_equal(p.data, q.data)
    assert opt._groups[0].params[0].data is params[0].data
    clone.params[0].grad[...] = clone.params[1].grad[...] = 1.0
    clone.step()
    for p, q in zip(clone.params, reference.params):
        np.testing.assert_array_equal(p.data, q.data)
    np.testing.assert_array_equal(clone.state_dict()["state"][0]["m_scaled"],
                                  reference.state_dict()["state"][0]["m_scaled"])


@pytest.mark.parametrize("cls,kwargs", [(Adam, {"lr": 0.01}), (SGD, {"lr": 0.1, "momentum": 0.9})])
def test_grouped_gradients_live_in_one_buffer_and_a_layer_may_still_assign_them(cls, kwargs, rng):
    start = _mixed_params(rng, "float64")
    grouped = [Parameter(p.data.copy(), p.name) for p in start]
    alone = [Parameter(p.data.copy(), p.name) for p in start]
    opt, reference = cls(grouped, **kwargs), cls(alone, **kwargs)
    reference.group_bytes = 0
    for step in range(5):
        for i, (a, b) in enumerate(zip(grouped, alone)):
            g = rng.standard_normal(a.shape)
            b.grad[...] = g
            if i == 1 and step % 2:  # a layer that assigns a new array, as `p.grad = dY @ X.T` does
                a.grad = g.copy()
            else:  # written in place, as `out=p.grad` does: into the group's buffer after the first step
                a.grad[...] = g
        opt.step()
        reference.step()
        for a, b in zip(grouped, alone):
            np.testing.assert_array_equal(a.data, b.data)
            np.testing.assert_array_equal(a.grad, b.grad)  # the values are kept, whatever the array
    # The four small float64 parameters' gradients are views of one contiguous array; data stay their own.
    bases = {id(p.grad.base) for p in grouped[:4]}
    assert len(bases) == 1 and grouped[0].grad.base is opt._groups[0].grad
    assert all(p.data.base is None for p in grouped)


def test_blocked_update_keeps_only_block_sized_scratch(rng):
    p = Parameter(rng.standard_normal((500, 300)), "W")  # 1.2 MB of float64: 5 blocks of 256 KB
    p.grad[...] = 1.0
    opt = Adam([p], lr=0.01)
    opt.step()
    assert opt._scratch, "Adam should use the shared scratch"
    assert all(buf.nbytes <= opt.block_bytes for buf in opt._scratch.values())
    assert sum(buf.nbytes for buf in opt._scratch.values()) == opt.block_bytes  # not one per block


def test_blocked_update_of_a_non_contiguous_parameter_updates_it_whole(rng):
    p = Parameter(rng.standard_normal((40, 30)), "W")
    p.data = np.asfortranarray(p.data)  # a user replaced it with a column-major array
    p0 = p.data.copy()
    p.grad[...] = rng.standard_normal((40, 30))
    opt = SGD([p], lr=0.1)
    opt.block_bytes = 64
    opt.step()
    np.testing.assert_allclose(p.data, p0 - 0.1 * p.grad, rtol=1e-14)


def test_elementwise_optimizer_with_a_state_of_another_shape_is_rejected(rng):
    class PerParameterScale(SGD):
        def init_state(self, param):
            return {"scale": np.ones(1)}

    with pytest.raises(TypeError, match=r"PerParameterScale declares elementwise = True.*state 'scale' of W "
                                        r"\(\(3, 2\)\) is \(1,\)\. Set elementwise = False"):
        PerParameterScale(make_params(rng), lr=0.1)


# -- dampening, nesterov, amsgrad, AdamW, RMSprop: hand-derived recursions ------------
def run(opt_cls, kwargs, grads, start):
    p = Parameter(start.copy(), "W")
    opt = opt_cls([p], **kwargs)
    for g in grads:
        p.grad[...] = g
        opt.step()
    return p.data


def test_dampening_equal_to_momentum_is_the_course_average_after_the_first_step(rng):
    start, grads = rng.standard_normal((2, 3)), [rng.standard_normal((2, 3)) for _ in range(6)]
    alpha, beta = 0.1, 0.9
    # The course: v <- beta v + (1 - beta) g, p <- p - alpha v, but with v_1 = g_1 (PyTorch's start).
    p, v = start.copy(), None
    for g in grads:
        v = g.copy() if v is None else beta * v + (1 - beta) * g
        p -= alpha * v
    np.testing.assert_allclose(run(SGD, dict(lr=alpha, momentum=beta, dampening=beta), grads, start), p, rtol=1e-13)


def test_nesterov_looks_ahead_along_the_velocity(rng):
    start, grads = rng.standard_normal((2, 3)), [rng.standard_normal((2, 3)) for _ in range(4)]
    p, v = start.copy(), None
    for g in grads:
        v = g.copy() if v is None else 0.9 * v + g
        p -= 0.05 * (g + 0.9 * v)
    np.testing.assert_allclose(run(SGD, dict(lr=0.05, momentum=0.9, nesterov=True), grads, start), p, rtol=1e-13)


def test_adamw_decays_the_weights_outside_the_moments_and_adam_inside(rng):
    start, g = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    lr, wd, eps = 0.01, 0.5, 1e-8
    # One step: m_hat = g', v_hat = g'^2, so the step is lr * g' / (|g'| + eps).
    coupled = g + wd * start
    np.testing.assert_allclose(run(Adam, dict(lr=lr, weight_decay=wd), [g], start),
                               start - lr * coupled / (np.abs(coupled) + eps), rtol=1e-12)
    np.testing.assert_allclose(run(AdamW, dict(lr=lr, weight_decay=wd), [g], start),
                               start * (1 - lr * wd) - lr * g / (np.abs(g) + eps), rtol=1e-12)


def test_amsgrad_divides_by_the_largest_second_moment(rng):
    start = np.zeros((1, 1))
    grads = [np.array([[10.0]]), np.array([[0.1]])]
    b1, b2, lr = 0.9, 0.999, 0.01
    m = v = v_max = 0.0
    p = 0.0
    for t, g in enumerate([10.0, 0.1], start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        v_max = max(v_max, v)
        p -= lr * (m / (1 - b1 ** t)) / (np.sqrt(v_max / (1 - b2 ** t)) + 1e-8)
    assert run(Adam, dict(lr=lr, amsgrad=True), grads, start)[0, 0] == pytest.approx(p, rel=1e-12)
    assert run(Adam, dict(lr=lr), grads, start)[0, 0] != pytest.approx(p, rel=1e-6)


@pytest.mark.parametrize("centered", [False, True])
def test_rmsprop_is_the_course_recursion(rng, centered):
    start, grads = rng.standard_normal((2, 3)), [rng.standard_normal((2, 3)) for _ in range(5)]
    beta, alpha, eps = 0.9, 0.01, 1e-8
    p, s, a = start.copy(), 0.0, 0.0
    for g in grads:
        s = beta * s + (1 - beta) * g ** 2
        a = beta * a + (1 - beta) * g
        p -= alpha * g / (np.sqrt(s - a ** 2 if centered else s) + eps)
    np.testing.assert_allclose(run(RMSprop, dict(lr=alpha, alpha=beta, centered=centered), grads, start), p,
                               rtol=1e-12)


@pytest.mark.parametrize("cls,kwargs,error,message", [
    (SGD, dict(lr=0.1, nesterov=True), ValueError,
     r"SGD: nesterov momentum requires momentum > 0 and dampening = 0. Received: momentum=0.0, dampening=0.0"),
    (SGD, dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError, r"Received: momentum=0.9, dampening=0.1"),
    (SGD, dict(lr=0.1, dampening=1.5), ValueError, r"dampening: Input should be less than or equal to 1. Received: 1.5"),
    (Adam, dict(amsgrad="yes"), TypeError, r"in Adam\(.*amsgrad='yes'\):\n  amsgrad: Input should be a valid boolean. Received: 'yes'"),
    (AdamW, dict(weight_decay=-1), ValueError, r"in AdamW\(.*\):\n  weight_decay: Input should be greater than or equal to 0. Received: -1"),
    (RMSprop, dict(alpha=1.0), ValueError, r"in RMSprop\(.*\):\n  alpha: Input should be less than 1. Received: 1.0"),
    (RMSprop, dict(centered=1), TypeError, r"centered: Input should be a valid boolean. Received: 1"),
])
def test_bad_new_hyperparameters(cls, kwargs, error, message, rng):
    with pytest.raises(error, match=message):
        cls(make_params(rng), **kwargs)


def test_new_optimizers_from_an_experiment(rng):
    from framework import ConfigError, Experiment

    spec = {"model": {"layers": [{"type": "linear", "in_features": 2, "out_features": 1}]},
            "loss": {"type": "mse"}}
    for optimizer in ({"type": "adamw", "weight_decay": 0.1}, {"type": "rmsprop", "centered": True},
                      {"type": "sgd", "momentum": 0.9, "nesterov": True}, {"type": "adam", "amsgrad": True}):
        Experiment.from_dict({**spec, "optimizer": optimizer})
    with pytest.raises(ConfigError, match=r"optimizer: SGD: nesterov momentum requires momentum > 0"):
        from framework.registry import registry
        registry.build("optimizers", "sgd", {"nesterov": True}, path="optimizer", params=make_params(rng))


def test_an_optimizer_refuses_no_parameters_and_the_same_parameter_twice(rng):
    # Re-trial: Adam([]) was accepted (a run that trains nothing); a parameter listed twice would be
    # updated twice per step.
    with pytest.raises(ValueError, match=r"Adam got no parameters to update: pass model.parameters\(\) of a model "
                                         r"with parameters"):
        Adam([], lr=0.1)
    w = Parameter(rng.standard_normal((3, 2)), "W")
    with pytest.raises(ValueError, match=r"SGD: parameter 1 \(W\) is the same object as parameter 0; pass each "
                                         r"parameter once"):
        SGD([w, w], lr=0.1)


def test_python_calls_take_ints_and_numpy_scalars_for_floats_but_convert_nothing_else(rng):
    opt = Adam(make_params(rng), lr=1, beta1=np.float32(0.5))
    assert (opt.lr, type(opt.lr), opt.beta1) == (1.0, float, 0.5)
    with pytest.raises(TypeError, match=r"amsgrad: Input should be a valid boolean. Received: 1"):
        Adam(make_params(rng), amsgrad=1)


def _paper_adam(p0, grads, betas, lr=0.01, eps=1e-8, amsgrad=False):
    """The paper's Adam, step by step (``betas`` one (beta1, beta2) pair per step); returns p, m, v, v_max."""
    p, m, v, v_max = p0.copy(), np.zeros_like(p0), np.zeros_like(p0), np.zeros_like(p0)
    for t, (g, (b1, b2)) in enumerate(zip(grads, betas), start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        v_max = np.maximum(v_max, v)
        p = p - lr * (m / (1 - b1 ** t)) / (np.sqrt((v_max if amsgrad else v) / (1 - b2 ** t)) + eps)
    return p, m, v, v_max


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_keeps_the_first_moment_scaled_by_one_minus_beta1(amsgrad, rng):
    start, grads = rng.standard_normal((4, 3)), [rng.standard_normal((4, 3)) for _ in range(30)]
    p = Parameter(start.copy(), "W")
    opt = Adam([p], lr=0.01, beta1=0.8, beta2=0.99, amsgrad=amsgrad)
    for g in grads:
        p.grad[...] = g
        opt.step()
    expected, m, v, v_max = _paper_adam(start, grads, [(0.8, 0.99)] * 30, amsgrad=amsgrad)
    state = opt.state_dict()["state"][0]
    np.testing.assert_allclose(p.data, expected, rtol=1e-12)
    np.testing.assert_allclose(state["m_scaled"] * (1 - 0.8), m, rtol=1e-12)
    np.testing.assert_allclose(state["v"], v, rtol=1e-12)
    assert sorted(state) == ["m_scaled", "v", *(["v_max"] if amsgrad else [])]
    if amsgrad:
        np.testing.assert_allclose(state["v_max"], v_max, rtol=1e-12)


def test_adam_in_float32_keeps_the_headroom_of_the_papers_second_moment():
    # v itself stays g^2-sized: kept divided by 1 - beta2 it would overflow float32
    # for gradients above about 6e17 (and the steps would silently stop).
    p = Parameter(np.zeros((2, 2), dtype=np.float32), "W")
    opt = Adam([p], lr=0.01)
    for _ in range(3000):
        p.grad[...] = 1e18
        opt.step()
    expected = _paper_adam(np.zeros((2, 2)), [np.full((2, 2), 1e18)] * 3000, [(0.9, 0.999)] * 3000)[0]
    assert np.all(np.isfinite(opt.state[0]["v"]))
    np.testing.assert_allclose(p.data, expected, rtol=1e-4)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_state_saved_by_earlier_versions_with_the_unscaled_first_moment_is_converted(amsgrad, rng):
    # Earlier minidl saved the paper's m under the key m.
    start, grads = rng.standard_normal((4, 3)), [rng.standard_normal((4, 3)) for _ in range(20)]
    p10, m, v, v_max = _paper_adam(start, grads[:10], [(0.9, 0.999)] * 10, amsgrad=amsgrad)
    saved = {"m": m, "v": v, **({"v_max": v_max} if amsgrad else {})}
    old = {"hyperparameters": {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0},
           "steps": 10, "state": [saved]}
    p = Parameter(p10.copy(), "W")
    opt = Adam([p], lr=0.5, beta1=0.5, beta2=0.5, amsgrad=amsgrad)  # the saved hyperparameters win
    opt.load_state_dict(old)
    for g in grads[10:]:
        p.grad[...] = g
        opt.step()
    np.testing.assert_allclose(p.data, _paper_adam(start, grads, [(0.9, 0.999)] * 20, amsgrad=amsgrad)[0],
                               rtol=1e-12)


@pytest.mark.parametrize("edit, message", [
    ({"beta1": 1.0}, r"beta1: Input should be less than 1. Received: 1.0"),
    ({"beta2": -0.5, "eps": 0}, r"beta2: Input should be greater than or equal to 0. Received: -0.5; "
                                r"eps: Input should be greater than 0. Received: 0"),
    ({"lr": "0.1"}, r"lr: Input should be a valid number. Received: '0.1'"),
])
def test_saved_hyperparameters_are_checked_like_arguments(edit, message, rng):
    from framework.errors import StateError

    p = Parameter(rng.standard_normal((3, 2)), "W")
    opt = Adam([p], lr=0.01)
    p.grad[...] = 1.0
    opt.step()
    saved = opt.state_dict()
    saved["hyperparameters"].update(edit)
    fresh = Adam([Parameter(p.data.copy(), "W")], lr=0.01)
    before = fresh.state_dict()
    with pytest.raises(StateError, match=r"^Adam.load_state_dict: the saved hyperparameters are not valid for "
                                         r"Adam: " + message + "$"):
        fresh.load_state_dict(saved)
    assert fresh.steps == 0 and fresh.state_dict()["hyperparameters"] == before["hyperparameters"]


def test_adam_betas_changed_during_training_apply_from_the_next_step(rng):
    start, grads = rng.standard_normal((4, 3)), [rng.standard_normal((4, 3)) for _ in range(12)]
    p = Parameter(start.copy(), "W")
    opt = Adam([p], lr=0.01)
    for t, g in enumerate(grads):
        if t == 6:
            opt.beta1, opt.beta2 = 0.5, 0.9
        p.grad[...] = g
        opt.step()
    betas = [(0.9, 0.999)] * 6 + [(0.5, 0.9)] * 6
    np.testing.assert_allclose(p.data, _paper_adam(start, grads, betas)[0], rtol=1e-12)
    assert opt.state_dict()["hyperparameters"]["beta1"] == 0.5
    np.testing.assert_allclose(opt.state_dict()["state"][0]["m_scaled"] * 0.5,
                               _paper_adam(start, grads, betas)[1], rtol=1e-12)
    opt.beta1 = 1.0
    with pytest.raises(ValueError, match=r"Adam: expected `beta1` to be a finite number >= 0 and < 1. "
                                         r"Received: beta1=1.0"):
        opt.step()
