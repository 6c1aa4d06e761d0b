"""Annotated types for constructor arguments.

Components annotate their constructor arguments with these, so that one
signature serves two purposes: a Python reader sees the constraint, and the
registry derives the pydantic model that validates an experiment's blocks
from it (``out_features = 0`` is rejected with its config path).
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import AfterValidator, BeforeValidator, Field

from framework.paths import RUN_PATH, check_run_path

#: Integers stop at 2**63 - 1: beyond that numpy cannot hold them (a width of
#: 10**30 is refused with its field, not by numpy with none).
MAX_INT = 2**63 - 1

PositiveInt = Annotated[int, Field(gt=0, le=MAX_INT, strict=True)]
NonNegativeInt = Annotated[int, Field(ge=0, le=MAX_INT, strict=True)]
#: A data file's column: a name, or an index (negative from the last). Strict, so that
#: ``true`` in an experiment file is refused rather than read as column 1.
#: ``true`` or ``false`` only: pydantic's lax mode would read "yes" or 1 as true.
StrictBool = Annotated[bool, Field(strict=True)]
Column = Union[Annotated[str, Field(strict=True)], Annotated[int, Field(strict=True)]]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
UnitInterval = Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]
UnitClosed = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


def _dtype_name(value):
    """numpy dtypes and scalar types (np.float32, np.dtype("float64")) by name; anything else as given."""
    if isinstance(value, str):
        return value
    try:
        import numpy as np

        return np.dtype(value).name if isinstance(value, (type, np.dtype)) else value
    except TypeError:
        return value


#: "float32" or "float64"; from Python, np.float32 or np.dtype("float64") too.
FloatDType = Annotated[Literal["float32", "float64"], BeforeValidator(_dtype_name)]

#: An output path of a component (a callback's ``path`` or ``directory``):
#: relative to the run directory, refused at validation when absolute or
#: climbing out with ``..``, and checked again (symlinks resolved) against the
#: run directory before the run starts. See framework/paths.py.
RunPath = Annotated[str, AfterValidator(check_run_path), RUN_PATH,
                    Field(description="a path relative to the run directory (absolute or escaping paths are refused)")]


class _LogKeyMarker:
    """Marks a string argument that names a key of the epoch logs."""

    def __repr__(self) -> str:
        return "LogKey"


LOG_KEY = _LogKeyMarker()
#: A key of the Trainer's epoch logs ("val_loss", "accuracy", ...). An argument
#: annotated with it (early stopping's ``monitor``) is checked by ``minidl
#: validate`` and ``minidl run`` against the keys the run will log, before training.
LogKey = Annotated[str, LOG_KEY]

__all__ = ["PositiveInt", "NonNegativeInt", "PositiveFloat", "NonNegativeFloat",
           "FiniteFloat", "UnitInterval", "UnitClosed", "FloatDType", "RunPath", "MAX_INT", "LogKey", "LOG_KEY"]
