"""Constrained (single-level) solvers behind one ``minimize`` in scipy's shape, and their problem sets.

``from optarena.solvers.constrained import minimize, solve, ConstrainedProblem``.
"""

from optarena.solvers.constrained.api import METHODS, SolverInfo, available_methods, minimize, solve
from optarena.solvers.constrained.problem import (
    ConstrainedProblem,
    ConstraintBlock,
    ProblemError,
    check_problem,
)

__all__ = [
    "METHODS",
    "ConstrainedProblem",
    "ConstraintBlock",
    "ProblemError",
    "SolverInfo",
    "available_methods",
    "check_problem",
    "minimize",
    "solve",
]
