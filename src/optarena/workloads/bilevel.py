"""Bilevel workloads: problems with a known solution, for the ``bilevel`` method family.

A trial runs a bilevel method once, ``solve(problem, iterations)`` with ``iterations`` = the budget's
step cap (default ``step_hint``); the solvers take no time limit, so points past ``max_time`` are
dropped. The curve is the method's own history (``solve_bilevel`` logs one row every
``max(1, iterations // 500)`` outer iterations) replayed: the error of the upper-level variable x
against the known solution, against the outer iteration (the harness step) and the solver's clock.
Every point also carries the oracle counters, so a curve can be redrawn against the cost unit of
bilevel methods: ``ngrad_f`` (lower-level gradient evaluations), plus ``ngrad_F`` (upper-level
gradients), ``ngrad_g`` (constraint gradients) and ``nhvp`` (Hessian-vector products of f); and
``fun`` = F(x, y), ``fun_gap`` = |F(x, y) - F(x*, y*)|, ``y_error``.

Workloads:

- ``lvhba-toy``: the lower-level coupled-constraint toy of Yao et al. (ICLR 2024, Sec. 5.1), x in R^100,
  y in R^200, x* = -0.3 * 1. Metric ``x_error`` = ||x - x*|| / ||x*||; target 1e-3 by definition (the
  paper's toy claim, as in the ``lv-hba`` claim); 1500 iterations (the paper's run). Start 10 * 1 (the
  paper's) for seed 0, plus N(0, 1) noise drawn from the seed otherwise. Its lower level has a coupled
  equality constraint: only methods with the ``lower-constraints`` capability run on it (LV-HBA).
- ``ridge-tuning``: tuning a ridge penalty on a validation split, x = log(lambda), y = w in R^10, data
  (40 train / 40 validation rows) drawn from the seed, solution computed independently (closed form and
  Brent's root of the hypergradient; :func:`~optarena.solvers.bilevel.problems.ridge_tuning`). Metric
  ``x_dist`` = |x - x*| (absolute, in log lambda: the relative error blows up when x* is near 0);
  target 1e-2 by definition (lambda within 1 %); 500 iterations; start x = 0 (lambda = 1), w = 0.
  Unconstrained lower level: every bilevel method runs on it (the penalty method has an O(sigma) bias).

Not a workload yet: data hyper-cleaning on digits. It has no known solution, and its meaningful metric
(test accuracy of the lower level retrained at x) needs x at every logged point, which the solver history
does not keep; F at the method's own y is not comparable across methods (LV-HBA's y is pulled toward F).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import torch

from optarena.core.paper import PaperRef
from optarena.solvers.bilevel._problem import BilevelProblem
from optarena.workloads._common import numpy_rng
from optarena.workloads.base import Workload

__all__ = [
    "BILEVEL_WORKLOADS",
    "BilevelTrialProblem",
    "BilevelWorkload",
    "LVHBAToyWorkload",
    "RidgeTuningWorkload",
]

#: counters of :class:`~optarena.solvers.bilevel._problem.Oracle` copied into every curve point
COUNTERS = ("ngrad_f", "ngrad_F", "ngrad_g", "nhvp")


class BilevelTrialProblem:
    """What a bilevel trial gets: a problem with a known solution, and how a logged row becomes metrics."""

    def __init__(self, problem: BilevelProblem, seed: int = 0) -> None:
        if problem.x_star is None:
            raise ValueError(f"{problem.name}: a bilevel workload needs a known solution x_star, got None")
        self.problem = problem
        self.seed = seed  # seeds the solver's own randomness (minibatches of the stochastic forms)
        self.x_norm = max(float(problem.x_star.norm()), 1e-300)  # the solver's x_error divides by this
        self.f_star: float | None = None
        if problem.y_star is not None:
            with torch.no_grad():
                self.f_star = float(problem.call("F", problem.x_star, problem.y_star, None))

    def metrics(self, row: dict[str, float]) -> dict[str, float]:
        x_error = float(row.get("x_error", math.nan))
        out = {"x_error": x_error, "x_dist": x_error * self.x_norm, "fun": float(row.get("fun", math.nan))}
        if "y_error" in row:
            out["y_error"] = float(row["y_error"])
        if self.f_star is not None:
            out["fun_gap"] = abs(out["fun"] - self.f_star)
        out.update({k: float(row.get(k, 0.0)) for k in COUNTERS})
        return out

    def evaluate(self) -> dict[str, float]:
        """Metrics at the starting point (x0, y0), before any oracle call."""
        p = self.problem
        x_star = p.x_star
        assert x_star is not None  # checked in __init__
        with torch.no_grad():
            row = {
                "fun": float(p.call("F", p.x0, p.y0, None)),
                "x_error": float((p.x0 - x_star).norm()) / self.x_norm,
            }
        if p.y_star is not None:
            row["y_error"] = float((p.y0 - p.y_star).norm()) / max(float(p.y_star.norm()), 1e-300)
        return self.metrics(row)


class BilevelWorkload(Workload):
    """Base of the bilevel workloads: subclasses set ``id``, ``summary``, ``make`` and the budget.

    ``requires``: capabilities a method needs to run here (checked by the harness before a trial).
    """

    metric: ClassVar[str] = "x_error"
    mode = "min"
    target_source = "fixed"
    max_runtime: ClassVar[float] = 10.0
    eval_every: ClassVar[int] = 1
    interfaces: ClassVar[frozenset[str]] = frozenset({"bilevel"})
    requires: ClassVar[frozenset[str]] = frozenset()
    make: ClassVar[Callable[[int], BilevelProblem]]

    def build(self, seed: int) -> BilevelTrialProblem:
        return BilevelTrialProblem(type(self).make(seed), seed)


def _toy(seed: int) -> BilevelProblem:
    from optarena.solvers.bilevel.problems import lvhba_toy

    n = 100
    if seed == 0:
        return lvhba_toy(n)  # the paper's start, 10 * 1
    rng = numpy_rng(seed, "init")
    return lvhba_toy(n, x0=10 + rng.standard_normal(n), y0=10 + rng.standard_normal(2 * n))


def _ridge(seed: int) -> BilevelProblem:
    from optarena.solvers.bilevel.problems import ridge_tuning

    return ridge_tuning(seed)


class LVHBAToyWorkload(BilevelWorkload):
    id: ClassVar[str] = "lvhba-toy"
    summary: ClassVar[str] = (
        "LV-HBA's coupled-constraint toy: x in R^100, y in R^200, known solution, relative error of x"
    )
    make = staticmethod(_toy)
    target: ClassVar[float] = 1e-3
    step_hint: ClassVar[int] = 1500
    requires: ClassVar[frozenset[str]] = frozenset({"lower-constraints"})
    paper: ClassVar[PaperRef | None] = PaperRef(
        "W. Yao, C. Yu, S. Zeng, J. Zhang",
        "Constrained Bi-Level Optimization: Proximal Lagrangian Value function Approach and Hessian-free "
        "Algorithm",
        "ICLR",
        2024,
        "2401.16164",
    )


class RidgeTuningWorkload(BilevelWorkload):
    id: ClassVar[str] = "ridge-tuning"
    summary: ClassVar[str] = (
        "ridge-penalty tuning on a validation split (x = log lambda), known solution, |x - x*|"
    )
    make = staticmethod(_ridge)
    metric: ClassVar[str] = "x_dist"
    target: ClassVar[float] = 1e-2
    step_hint: ClassVar[int] = 500


BILEVEL_WORKLOADS = (LVHBAToyWorkload, RidgeTuningWorkload)
