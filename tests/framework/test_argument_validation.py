"""One source of validation: a constructor's type hints, checked once, with one message (issue 11)."""

import numpy as np
import pytest

from framework import Experiment, Layer, MinidlError
from framework.checks import validate_arguments
from framework.errors import ArgumentError, ArgumentTypeError, ConfigError
from framework.types import PositiveInt
from plugins import schedules
from plugins.layers import Linear
from plugins.optimizers import SGD


def file_problem(tmp_path, layer_block):
    path = tmp_path / "exp.toml"
    path.write_text(f'[model]\nlayers = [{layer_block}]\n[loss]\ntype = "mse"\n[optimizer]\ntype = "sgd"\n')
    from framework import load_experiment

    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    return info.value


def test_linear_0_3_is_a_minidl_value_error_with_the_experiment_files_message(tmp_path):
    with pytest.raises(ArgumentError) as info:
        Linear(0, 3)
    error = info.value
    assert isinstance(error, MinidlError) and isinstance(error, ValueError) and not isinstance(error, TypeError)
    assert str(error) == ("1 problem in Linear(in_features=0, out_features=3):\n"
                          "  in_features: Input should be greater than 0. Received: 0")
    from_file = file_problem(tmp_path, '{ type = "linear", in_features = 0, out_features = 3 }')
    assert from_file.problems == [("model.layers[0].in_features", error.problems[0][1])]


def test_a_wrong_type_is_also_a_type_error_with_the_same_message_as_a_file(tmp_path):
    with pytest.raises(ArgumentTypeError) as info:
        Linear(3, "4")
    assert isinstance(info.value, TypeError) and isinstance(info.value, ValueError)
    from_file = file_problem(tmp_path, '{ type = "linear", in_features = 3, out_features = "4" }')
    assert from_file.problems == [("model.layers[0].out_features", info.value.problems[0][1])]
    assert info.value.problems[0][1] == "Input should be a valid integer. Received: '4'"


def test_every_problem_is_reported_at_once_and_numpy_scalars_are_numbers():
    with pytest.raises(ArgumentError) as info:
        SGD(Linear(2, 1, seed=0).parameters(), lr=-1.0, momentum=1.0, nesterov="yes")
    assert [p for p, _ in info.value.problems] == ["lr", "momentum", "nesterov"]
    assert not isinstance(info.value, TypeError)  # two of the three are values, not types
    layer = Linear(np.int64(3), np.int32(2), dtype=np.float32, seed=0)
    assert (layer.in_features, layer.out_features, layer.W.dtype) == (3, 2, np.float32)
    assert type(layer.in_features) is int


def test_a_switch_is_a_bool_from_python_and_from_a_file():
    with pytest.raises(ArgumentTypeError, match=r"nesterov: Input should be a valid boolean. Received: 1"):
        SGD(Linear(2, 1, seed=0).parameters(), lr=0.1, momentum=0.9, nesterov=1)
    with pytest.raises(ConfigError, match=r"optimizer.nesterov: Input should be a valid boolean. Received: 'yes'"):
        Experiment.from_dict({"model": {"layers": [{"type": "linear", "out_features": 1}]}, "loss": {"type": "mse"},
                              "optimizer": {"type": "sgd", "nesterov": "yes"}})


def test_a_plugin_layer_is_validated_by_its_own_hints_without_writing_a_check():
    class Widen(Layer):
        def __init__(self, factor: PositiveInt = 2):
            super().__init__()
            self.factor = factor

    class Wider(Widen):
        pass  # inherits the validated __init__

    with pytest.raises(ArgumentError, match=r"1 problem in Widen\(factor=0\):\n  factor: Input should be greater than 0"):
        Widen(0)
    with pytest.raises(ArgumentError, match=r"in Wider\(factor=-1\)"):
        Wider(-1)
    assert Widen(3).factor == 3


def test_the_step_schedule_from_python_and_a_decorated_function():
    with pytest.raises(ArgumentError, match=r"in step\(step_size=0, gamma=0.5\):\n  step_size: Input should be greater than 0"):
        schedules.step(0, gamma=0.5)

    @validate_arguments
    def warm(epochs: PositiveInt):
        return epochs

    assert warm(np.int64(4)) == 4
    with pytest.raises(ArgumentTypeError, match=r"epochs: Input should be a valid integer. Received: 2.5"):
        warm(2.5)
    with pytest.raises(TypeError, match="missing 1 required positional argument"):
        warm()  # a call that does not bind is Python's own error
