"""Black-box workloads: test functions with known minima, for the ``blackbox`` method family.

A trial is one run of a black-box method with ``max_steps`` function evaluations (the budget's step
cap; default ``step_hint``) from the trial's seed, which seeds only the method (the function is fixed).
The curve has one point per evaluation: the simple regret of the best value so far (``regret`` =
best - f*), against the evaluation count and the wall time since the run started (the method's own
work, GP fits and acquisition optimization included; the test functions cost microseconds).
Targets: the simple regret of the black-box claims (Branin: 1e-2; Hartmann6: 0.05).
"""

from __future__ import annotations

import math
import time
from typing import Any, ClassVar

import numpy as np

from optarena.core.paper import PaperRef
from optarena.solvers.blackbox.functions import BRANIN, HARTMANN6, TestFunction
from optarena.workloads.base import Workload

__all__ = ["BlackBoxProblem", "BlackBoxWorkload", "BraninWorkload", "Hartmann6Workload"]


class BlackBoxProblem:
    """What a black-box trial gets: the function, its box, and a log of every evaluation."""

    def __init__(self, function: TestFunction, seed: int) -> None:
        self.function = function
        self.seed = seed
        self.bounds = function.bounds.copy()
        self.log: list[tuple[float, float]] = []  # (seconds since start, value)
        self._t0: float | None = None

    def start(self) -> None:
        self.log.clear()
        self._t0 = time.perf_counter()

    def __call__(self, x: np.ndarray) -> float:
        value = float(self.function(np.asarray(x, dtype=float)))
        self.log.append((time.perf_counter() - (self._t0 or time.perf_counter()), value))
        return value

    def curve(self) -> list[tuple[int, float, dict[str, float]]]:
        """(evaluations, time, metrics) after every evaluation, regret of the best value so far."""
        best, out = math.inf, []
        for i, (t, v) in enumerate(self.log, start=1):
            best = min(best, v)
            out.append((i, t, {"regret": best - self.function.fmin, "best": best}))
        return out

    def evaluate(self) -> dict[str, float]:
        """Metrics before any evaluation: the regret of the box's centre, a fixed reference point."""
        centre = self.bounds.mean(axis=1)
        value = float(self.function(centre))
        return {"regret": value - self.function.fmin, "best": value}


class BlackBoxWorkload(Workload):
    metric: ClassVar[str] = "regret"
    mode = "min"
    target_source = "fixed"
    eval_every: ClassVar[int] = 1
    interfaces: ClassVar[frozenset[str]] = frozenset({"blackbox"})
    function: ClassVar[TestFunction]
    paper: ClassVar[PaperRef | None] = PaperRef(
        "P. I. Frazier", "A Tutorial on Bayesian Optimization", "arXiv preprint", 2018, "1807.02811"
    )

    def build(self, seed: int) -> Any:
        return BlackBoxProblem(type(self).function, seed)


class BraninWorkload(BlackBoxWorkload):
    id: ClassVar[str] = "branin"
    summary: ClassVar[str] = "Branin on [-5, 10] x [0, 15] (three minimizers), 50 evaluations, simple regret"
    function = BRANIN
    target: ClassVar[float] = 1e-2
    max_runtime: ClassVar[float] = 20.0
    step_hint: ClassVar[int] = 50


class Hartmann6Workload(BlackBoxWorkload):
    id: ClassVar[str] = "hartmann6"
    summary: ClassVar[str] = "Hartmann6 on [0, 1]^6, 100 evaluations, simple regret"
    function = HARTMANN6
    target: ClassVar[float] = 0.05
    max_runtime: ClassVar[float] = 60.0
    step_hint: ClassVar[int] = 100
