"""Annotated types for constructor arguments.

Components annotate their constructor arguments with these, so that one
signature serves two purposes: a Python reader sees the constraint, and the
registry derives the pydantic model that validates an experiment's blocks
from it (``out_features = 0`` is rejected with its config path).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

PositiveInt = Annotated[int, Field(gt=0, strict=True)]
NonNegativeInt = Annotated[int, Field(ge=0, strict=True)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
UnitInterval = Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]
FloatDType = Literal["float32", "float64"]

__all__ = ["PositiveInt", "NonNegativeInt", "PositiveFloat", "NonNegativeFloat",
           "FiniteFloat", "UnitInterval", "FloatDType"]
