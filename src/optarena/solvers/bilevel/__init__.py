"""Bilevel solvers: ``minimize_bilevel`` with LV-HBA, the penalty method and an implicit-gradient baseline.

``from optarena.solvers.bilevel import minimize_bilevel``; the methods' registry entries are
:data:`LVHBA_SPEC`, :data:`PENALTY_SPEC` and :data:`IMPLICIT_CG_SPEC` (module ``specs``).
"""

from optarena.solvers.bilevel._problem import BilevelProblem, BilevelProblemError
from optarena.solvers.bilevel.api import METHODS, minimize_bilevel, solve_bilevel
from optarena.solvers.bilevel.specs import IMPLICIT_CG_SPEC, LVHBA_SPEC, PENALTY_SPEC

__all__ = [
    "IMPLICIT_CG_SPEC",
    "LVHBA_SPEC",
    "METHODS",
    "PENALTY_SPEC",
    "BilevelProblem",
    "BilevelProblemError",
    "minimize_bilevel",
    "solve_bilevel",
]
