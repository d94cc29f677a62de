"""Shared run machinery: counted, budgeted evaluations, per-iteration history, final result."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import OptimizeResult

from optarena.solvers.constrained.kkt import kkt_report
from optarena.solvers.constrained.problem import ConstrainedProblem

__all__ = ["STATUS", "BudgetExhausted", "Evaluator", "RawResult", "finalize"]

Array = np.ndarray

#: status codes of every constrained solver's result
STATUS = {
    0: "converged: recomputed KKT residual and infeasibility within tolerance",
    1: "iteration limit reached",
    2: "evaluation limit reached",
    3: "time limit reached",
    4: "solver failure",
    5: "stopped by callback",
    6: "solver reported success, but the recomputed KKT residual or infeasibility exceeds the tolerance",
}


class BudgetExhausted(Exception):
    """Raised inside an evaluation when the evaluation or time budget is spent (status 2 or 3)."""

    def __init__(self, status: int) -> None:
        super().__init__(STATUS[status])
        self.status = status


class CallbackStop(Exception):
    """The user's callback raised StopIteration."""


@dataclass
class RawResult:
    """What a backend hands back; everything it claims is re-checked by :func:`finalize`."""

    x: Array
    solver_success: bool
    status: int
    message: str
    nit: int
    counters: dict[str, float] = field(default_factory=dict)
    solver_multipliers: dict[str, Any] = field(default_factory=dict)


class Evaluator:
    """Counts evaluations, enforces ``maxfev`` / ``max_time``, records the history, calls the callback.

    The clock counts solver time only: recording the history (which recomputes the KKT residual) and
    the user's callback are excluded.
    """

    def __init__(
        self, problem: ConstrainedProblem, options: dict[str, Any], callback: Callable | None
    ) -> None:
        self.p = problem
        self.maxfev = options.get("maxfev")
        self.max_time = options.get("max_time")
        self.record_kkt = bool(options.get("history_kkt", True))
        self.callback = callback
        self.nfev = self.ngev = self.ncev = self.njev = self.nhev = 0
        self.history: list[dict[str, float]] = []
        self._t0 = time.perf_counter()
        self._paused = 0.0
        self.last_x = np.asarray(problem.x0, dtype=float).copy()
        self._cb_takes_result = False
        if callback is not None:
            try:
                params = list(inspect.signature(callback).parameters)
                self._cb_takes_result = params[:1] == ["intermediate_result"]
            except (TypeError, ValueError):
                pass

    def elapsed(self) -> float:
        return time.perf_counter() - self._t0 - self._paused

    def tick(self) -> None:
        if self.max_time is not None and self.elapsed() > self.max_time:
            raise BudgetExhausted(3)

    def fun(self, x: Array) -> float:
        self.tick()
        if self.maxfev is not None and self.nfev >= self.maxfev:
            raise BudgetExhausted(2)
        self.nfev += 1
        return float(self.p.fun(x))

    def grad(self, x: Array) -> Array:
        self.tick()
        self.ngev += 1
        return np.asarray(self.p.grad(x), dtype=float)

    def eq(self, x: Array) -> Array:
        self.ncev += 1
        return self.p.eq_val(x)

    def eq_jac(self, x: Array) -> Array:
        self.njev += 1
        return self.p.eq_jac(x)

    def ineq(self, x: Array) -> Array:
        self.ncev += 1
        return self.p.ineq_val(x)

    def ineq_jac(self, x: Array) -> Array:
        self.njev += 1
        return self.p.ineq_jac(x)

    def hess_lagrangian(self, x: Array, v_eq: Array, v_in: Array | None = None) -> Array:
        self.nhev += 1
        return self.p.hess_lagrangian(x, v_eq, v_in)

    def iteration(self, nit: int, x: Array, **extra: float) -> None:
        """Record iteration ``nit`` at ``x``; call the callback (StopIteration -> :class:`CallbackStop`)."""
        t_solver = self.elapsed()
        t_pause = time.perf_counter()
        x = np.asarray(x, dtype=float).copy()
        self.last_x = x
        row: dict[str, float] = {"nit": nit, "time": t_solver, "nfev": self.nfev}
        if self.record_kkt:
            rep = kkt_report(self.p, x)
            row.update(fun=rep.fun, constr_violation=rep.constr_violation, kkt_residual=rep.kkt_residual)
        row.update({k: float(v) for k, v in extra.items()})
        self.history.append(row)
        try:
            if self.callback is not None:
                if self._cb_takes_result:
                    self.callback(intermediate_result=OptimizeResult(x=x, **row))
                else:
                    self.callback(x)
        except StopIteration as exc:
            raise CallbackStop from exc
        finally:
            self._paused += time.perf_counter() - t_pause
        self.tick()


def finalize(
    problem: ConstrainedProblem, ev: Evaluator, raw: RawResult, method: str, tol: float, feas_tol: float
) -> OptimizeResult:
    """Build the public result; ``success`` needs the solver's own success AND our recomputed checks."""
    elapsed = ev.elapsed()
    rep = kkt_report(problem, raw.x)
    ok = rep.kkt_residual <= tol and rep.constr_violation <= feas_tol
    status, message = raw.status, raw.message
    success = bool(raw.solver_success and ok)
    if raw.solver_success and not ok:
        status = 6
        message = (
            f"{STATUS[6]} (KKT {rep.kkt_residual:.3g} vs tol {tol:g}; infeasibility "
            f"{rep.constr_violation:.3g} vs {feas_tol:g}); solver said: {raw.message}"
        )
    return OptimizeResult(
        x=np.asarray(raw.x, dtype=float),
        fun=rep.fun,
        success=success,
        status=status,
        message=message,
        nit=raw.nit,
        nfev=ev.nfev,
        njev=ev.ngev,
        nhev=ev.nhev,
        ncev=ev.ncev,
        ncjev=ev.njev,
        kkt_residual=rep.kkt_residual,
        stationarity=rep.stationarity,
        constr_violation=rep.constr_violation,
        multipliers={"eq": rep.lam_eq, "ineq": rep.mu_ineq, "lower": rep.z_lower, "upper": rep.z_upper},
        solver_multipliers=raw.solver_multipliers,
        solver_success=bool(raw.solver_success),
        history=ev.history,
        counters=dict(raw.counters),
        time=elapsed,
        method=method,
        problem=problem.name,
    )
