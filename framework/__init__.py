"""minidl: a layered deep-learning framework on numpy.

Convention (from the course notes): examples are columns. X is
(features, m), W is (out, in), b is (out, 1), and every gradient has the shape
of what it differentiates.
"""

from framework.callback import Callback
from framework.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from framework.data import Dataset
from framework.errors import (BackwardError, CheckpointError, ConfigError, DataError, DTypeError,
                              GradcheckError, MinidlError, ModelFileError, PluginError, RegistryError, ShapeError,
                              TrainingError)
from framework.gradcheck import GradcheckReport, gradcheck
from framework.hookspecs import hookimpl, hookspec
from framework.layer import Layer
from framework.metric import metric
from framework.loss import Loss
from framework.optimizer import Optimizer
from framework.parameter import Parameter
from framework.registry import override, registry
from framework.sequential import Sequential
from framework.trainer import History, Trainer, TrainingInterrupted
from framework.experiment import Experiment, build_model, load_experiment
from framework.runner import RunResult, run_experiment
from framework.saving import class_probabilities, load_model, predicted_labels, save_model

__version__ = "0.1.0"

__all__ = [
    "BackwardError", "Callback", "Checkpoint", "CheckpointError", "ConfigError", "DataError",
    "Dataset", "DTypeError", "Experiment", "GradcheckError", "GradcheckReport", "History", "Layer",
    "Loss", "MinidlError", "Optimizer", "Parameter", "PluginError", "RegistryError", "RunResult",
    "Sequential", "ShapeError", "Trainer", "TrainingError", "TrainingInterrupted", "build_model",
    "gradcheck", "hookimpl", "hookspec", "load_checkpoint", "load_experiment", "metric", "override", "registry",
    "run_experiment", "save_checkpoint", "load_model", "save_model", "class_probabilities", "predicted_labels", "ModelFileError",
]
