"""Optimizer.state_dict keeps each hyperparameter's type, through a checkpoint too (issue 11)."""

import numpy as np
import pytest

from framework import Optimizer, Sequential, load_checkpoint, save_checkpoint
from framework.errors import StateError
from plugins.layers import Linear


class Tuned(Optimizer):
    """SGD with a switch and a mode, to carry hyperparameters of every type."""

    hyperparameters = ("lr", "centered", "mode", "window", "floor")
    elementwise = True

    def __init__(self, params, lr=0.1, centered=True, mode="fast", window=3, floor=None):
        self.centered, self.mode, self.window, self.floor = centered, mode, window, floor
        super().__init__(params, lr)

    def update(self, param, state):
        param.data -= self.lr * param.grad


def test_state_dict_keeps_bool_int_str_and_none(tmp_path):
    model = Sequential([Linear(2, 1, seed=0)])
    opt = Tuned(model.parameters(), lr=0.25, centered=np.bool_(True), window=np.int64(5))
    hp = opt.state_dict()["hyperparameters"]
    assert hp == {"lr": 0.25, "centered": True, "mode": "fast", "window": 5, "floor": None}
    assert [type(v) for v in hp.values()] == [float, bool, str, int, type(None)]
    path = save_checkpoint(tmp_path / "c.npz", model, opt)
    fresh = Tuned(model.parameters(), lr=0.5, centered=False, mode="slow", window=1, floor=0.1)
    load_checkpoint(path).apply(Sequential([Linear(2, 1, seed=1)]), fresh)
    assert (fresh.lr, fresh.centered, fresh.mode, fresh.window, fresh.floor) == (0.25, True, "fast", 5, None)
    assert type(fresh.centered) is bool and type(fresh.window) is int


def test_a_hyperparameter_that_cannot_be_saved_is_named():
    opt = Tuned(Sequential([Linear(2, 1, seed=0)]).parameters(), mode=["a"])
    with pytest.raises(StateError, match=r"Tuned: hyperparameter 'mode' is a list; state_dict saves bool, int, "
                                         r"float, str or None. Received: mode=\['a'\]"):
        opt.state_dict()


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_passing_the_model_instead_of_its_parameters_says_pass_model_parameters(name):
    """Trial 12: Adam(model) said "'Linear' object is not iterable"."""
    import plugins.optimizers as optimizers
    from framework import Sequential

    cls = getattr(optimizers, name)
    layer = Linear(3, 2, seed=0)
    for model, shown in ((layer, "Linear"), (Sequential([layer]), "Sequential")):
        with pytest.raises(TypeError, match=rf"^{name} expects an iterable of Parameter: pass model.parameters\(\), "
                                            rf"not the {shown} itself$"):
            cls(model)
    with pytest.raises(TypeError, match=rf"^{name} expects an iterable of Parameter \(e.g. model.parameters\(\)\). "
                                        rf"Received: 0.1 \(float\)$"):
        cls(0.1)
