"""Types shared by every part of OptArena. Nothing here imports torch."""

from optarena.core.errors import (
    HyperparameterError,
    IncompatibleError,
    OptArenaError,
    StoreMismatchError,
    SuiteError,
    UnknownNameError,
)
from optarena.core.paper import PaperRef
from optarena.core.searchspace import Param, SearchSpace, halton
from optarena.core.spec import FAMILIES, MethodSpec, load_object
from optarena.core.types import Budget, EvalPoint, TrialResult, TrialSpec, TrialStatus

__all__ = [
    "FAMILIES",
    "Budget",
    "EvalPoint",
    "HyperparameterError",
    "IncompatibleError",
    "MethodSpec",
    "OptArenaError",
    "PaperRef",
    "Param",
    "SearchSpace",
    "StoreMismatchError",
    "SuiteError",
    "TrialResult",
    "TrialSpec",
    "TrialStatus",
    "UnknownNameError",
    "halton",
    "load_object",
]
