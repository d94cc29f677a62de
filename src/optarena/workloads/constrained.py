"""Constrained-optimization workloads: one problem each, for the ``constrained`` method family.

A trial runs a solver once under the trial's budget; the curve is the solver's own per-iteration
history, with the KKT residual, the infeasibility and the objective gap recomputed by us at every
iterate (:mod:`optarena.solvers.constrained.kkt`). Metric: ``kkt_residual``; target 1e-6 by
definition (the issue's accuracy for the Hock-Schittkowski subset); ``max_runtime`` 10 s (the floor of
the [10, 120] s range: every shipped solver that succeeds takes well under a second here).

Problems: Hock-Schittkowski 6, 7, 28, 40 (equality constraints) and 71 (inequalities and bounds: the
exact augmented Lagrangian methods refuse it, which the harness scores as a miss), scipy's Maratos
problem, and the paper's constrained logistic regression on breast_cancer (Hong et al., ICML 2023;
linear equalities drawn from the seed plus one quadratic constraint).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from optarena.core.paper import PaperRef
from optarena.solvers.constrained.kkt import kkt_report
from optarena.solvers.constrained.problem import ConstrainedProblem
from optarena.workloads.base import Workload

__all__ = ["CONSTRAINED_WORKLOADS", "ConstrainedTrialProblem", "ConstrainedWorkload"]


class ConstrainedTrialProblem:
    """What a constrained trial gets: the problem, and how a logged iterate becomes metrics."""

    def __init__(self, problem: ConstrainedProblem) -> None:
        self.problem = problem

    def metrics(self, row: dict[str, float]) -> dict[str, float]:
        out = {
            "kkt_residual": float(row.get("kkt_residual", math.nan)),
            "constr_violation": float(row.get("constr_violation", math.nan)),
            "fun": float(row.get("fun", math.nan)),
            "nfev": float(row.get("nfev", 0)),
        }
        if self.problem.f_star is not None:
            out["fun_gap"] = abs(out["fun"] - self.problem.f_star)
        return out

    def evaluate(self) -> dict[str, float]:
        """Metrics at the starting point."""
        rep = kkt_report(self.problem, np.asarray(self.problem.x0, dtype=float))
        row = {"kkt_residual": rep.kkt_residual, "constr_violation": rep.constr_violation, "fun": rep.fun}
        return self.metrics(row)


class ConstrainedWorkload(Workload):
    """Base of the constrained workloads: subclasses set ``id``, ``summary`` and ``make``."""

    metric: ClassVar[str] = "kkt_residual"
    mode = "min"
    target: ClassVar[float] = 1e-6
    target_source = "fixed"
    max_runtime: ClassVar[float] = 10.0
    eval_every: ClassVar[int] = 1
    step_hint: ClassVar[int] = 100
    interfaces: ClassVar[frozenset[str]] = frozenset({"constrained"})
    make: ClassVar[Callable[[int], ConstrainedProblem]]

    def build(self, seed: int) -> Any:
        return ConstrainedTrialProblem(type(self).make(seed))


def _hs(name: str) -> Callable[[int], ConstrainedProblem]:
    def make(seed: int) -> ConstrainedProblem:
        from optarena.solvers.constrained.problems.hs import hs_problem

        return hs_problem(name)  # a fixed test problem: the seed changes nothing

    return make


def _maratos(seed: int) -> ConstrainedProblem:
    from optarena.solvers.constrained.problems.scipy_set import maratos

    return maratos()


def _clogreg(seed: int) -> ConstrainedProblem:
    from optarena.solvers.constrained.problems.logreg import constrained_logreg

    return constrained_logreg("breast_cancer", seed=seed)


_HS_PAPER = PaperRef(
    "W. Hock, K. Schittkowski", "Test Examples for Nonlinear Programming Codes", "Springer", 1981
)


def _workload(wid: str, text: str, make: Callable[[int], ConstrainedProblem], paper: PaperRef | None) -> type:
    return type(
        f"Constrained_{wid.replace('-', '_')}",
        (ConstrainedWorkload,),
        {"id": wid, "summary": text, "make": staticmethod(make), "paper": paper, "__module__": __name__},
    )


HS6 = _workload("hs6", "Hock-Schittkowski 6: n=2, one equality", _hs("hs6"), _HS_PAPER)
HS7 = _workload("hs7", "Hock-Schittkowski 7: n=2, one equality", _hs("hs7"), _HS_PAPER)
HS28 = _workload("hs28", "Hock-Schittkowski 28: n=3, one linear equality", _hs("hs28"), _HS_PAPER)
HS40 = _workload("hs40", "Hock-Schittkowski 40: n=4, three equalities", _hs("hs40"), _HS_PAPER)
HS71 = _workload("hs71", "Hock-Schittkowski 71: n=4, equality, inequality and bounds", _hs("hs71"), _HS_PAPER)
MARATOS = _workload("maratos", "scipy's Maratos problem: n=2, one equality (circle)", _maratos, None)
CLOGREG = _workload(
    "clogreg-cancer",
    "logistic regression on breast_cancer with 10 random linear equalities and one quadratic constraint",
    _clogreg,
    PaperRef(
        "I. Hong, S. Na, M. W. Mahoney, M. Kolar",
        "Constrained Optimization via Exact Augmented Lagrangian and Randomized Iterative Sketching",
        "ICML",
        2023,
        arxiv="2305.18379",
    ),
)

CONSTRAINED_WORKLOADS = (HS6, HS7, HS28, HS40, HS71, MARATOS, CLOGREG)
