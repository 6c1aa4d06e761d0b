"""minidl: a layered deep-learning framework on numpy.

Convention (from the course notes): examples are columns. X is
(features, m), W is (out, in), b is (out, 1), and every gradient has the shape
of what it differentiates.
"""

from framework.callback import Callback
from framework.errors import (BackwardError, CheckpointError, ConfigError, DataError, DTypeError,
                              GradcheckError, MinidlError, PluginError, RegistryError, ShapeError,
                              TrainingError)
from framework.gradcheck import GradcheckReport, gradcheck
from framework.hookspecs import hookimpl, hookspec
from framework.layer import Layer
from framework.loss import Loss
from framework.optimizer import Optimizer
from framework.parameter import Parameter
from framework.registry import registry
from framework.sequential import Sequential

__version__ = "0.1.0"

__all__ = [
    "BackwardError", "Callback", "CheckpointError", "ConfigError", "DataError", "DTypeError",
    "GradcheckError", "GradcheckReport", "Layer", "Loss", "MinidlError", "Optimizer",
    "Parameter", "PluginError", "RegistryError", "Sequential", "ShapeError", "TrainingError",
    "gradcheck", "hookimpl", "hookspec", "registry",
]
