"""Exceptions raised by minidl.

Every error says what was wrong, where (layer, config path, file and line),
what it received and what would be valid. They all derive from
:class:`MinidlError`, so a script can catch the whole family at once, and each
also derives from the builtin exception a Python user would expect
(``ValueError`` for bad values, ``TypeError`` for bad types, ...).
"""

from __future__ import annotations


class MinidlError(Exception):
    """Base class of every error minidl raises on purpose."""


class InvalidValueError(MinidlError, ValueError):
    """A value is out of range or malformed, where no more specific class applies."""


class InvalidTypeError(MinidlError, TypeError):
    """A value has the wrong type, where no more specific class applies."""


class MissingKeyError(MinidlError, KeyError):
    """A key is not there (``history["val_loss"]`` of a run without validation)."""

    def __str__(self) -> str:  # KeyError would show the message quoted
        return str(self.args[0]) if self.args else ""


class ConformanceError(MinidlError, AssertionError):
    """A component fails the conformance kit (:mod:`framework.testing`)."""


class ShapeError(MinidlError, ValueError):
    """An array does not have the shape a layer or loss expects."""


class DTypeError(MinidlError, TypeError):
    """An array's dtype does not match (minidl never upcasts silently)."""


class BackwardError(MinidlError, RuntimeError):
    """``backward`` was called without a matching ``forward(training=True)``."""


class StateError(MinidlError, ValueError):
    """A layer's state (parameters, buffers, generator) does not fit: missing, unexpected or mis-shaped entries."""


class LayerInitError(MinidlError, AttributeError):
    """A layer's ``__init__`` did not call ``super().__init__()``, so the Layer base is not set up."""

    missing_init = True


class ConfigError(MinidlError, ValueError):
    """An experiment or component configuration is invalid.

    ``problems`` holds one ``(path, message)`` pair per problem, so that all of
    them are reported at once; ``source`` names the file, when there is one.
    """

    def __init__(self, problems: list[tuple[str, str]], source: str | None = None):
        self.problems = list(problems)
        self.source = source
        where = f" in {source}" if source else ""
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        lines = [f"{count} {noun}{where}:"]
        lines += [f"  {path}: {msg}" if path else f"  {msg}" for path, msg in self.problems]
        super().__init__("\n".join(lines))


class ArgumentError(ConfigError):
    """A component was called with arguments its type hints refuse, from Python or from a file.

    The message is the one an experiment file gets for the same mistake,
    with the call in place of the file: ``1 problem in Linear(in_features=0,
    out_features=3):`` then ``in_features: Input should be greater than 0. Received: 0``.
    """


class ArgumentTypeError(ArgumentError, TypeError):
    """An :class:`ArgumentError` in which every problem is an argument of the wrong type."""


class RegistryError(MinidlError, LookupError):
    """A component name is not registered (or its plugin failed to load)."""


class PluginError(MinidlError):
    """A plugin could not be loaded or registers something invalid."""


class DataError(MinidlError, ValueError):
    """A dataset is missing, malformed or inconsistent."""


class CheckpointError(MinidlError):
    """A checkpoint cannot be written, read or applied to this model."""


class ModelFileError(MinidlError, ValueError):
    """A saved model cannot be written, read or used: a plugin it needs is not installed, the file
    is of a newer format, or new data does not have the columns the model was trained on."""


class MissingDependencyError(MinidlError, ImportError):
    """A feature needs an optional extra that is not installed; the message says how to install it."""


class MemoryLimitError(MinidlError, MemoryError):
    """An allocation was refused before it happened: more bytes than the machine
    has available (or than ``MINIDL_MAX_MEMORY`` allows). The message names
    what asked (dotted config path or file), the size asked and the size available."""


class UnsafePathError(MinidlError, ValueError):
    """An output path would leave the run directory, or a delete would touch a
    file minidl did not write."""


class TrainingError(MinidlError, RuntimeError):
    """Training cannot continue (for example, the loss became NaN or inf)."""


class GradcheckError(MinidlError, AssertionError):
    """Analytic gradients disagree with central differences."""


class RunLockedError(MinidlError, RuntimeError):
    """A run directory is in use by a live process (its lock file names the pid and host)."""
