"""IPOPT through cyipopt (optional extra; the method is unavailable when cyipopt is not installed).

Reference: A. Wächter, L. T. Biegler, "On the implementation of an interior-point filter line-search
algorithm for large-scale nonlinear programming", Mathematical Programming 106, 2006. Exact first
and second derivatives (dense), ``tol`` = our tol, ``max_iter`` = 3000, ``print_level`` = 0. Only
IPOPT's status 0 ("Solve_Succeeded") counts as the solver's success. Its multipliers use IPOPT's sign
(``L = f + mult_g^T g``) and are returned as ``solver_multipliers``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optarena.solvers.constrained._run import BudgetExhausted, CallbackStop, Evaluator, RawResult
from optarena.solvers.constrained.problem import ConstrainedProblem

__all__ = ["ipopt_available", "solve_ipopt"]


def ipopt_available() -> bool:
    try:
        import cyipopt  # noqa: F401
    except ImportError:
        return False
    return True


class _Nlp:
    def __init__(self, p: ConstrainedProblem, ev: Evaluator) -> None:
        self.p, self.ev = p, ev
        self.n, self.me, self.mi = p.n, p.m_eq, p.m_ineq
        self.rows, self.cols = np.tril_indices(self.n)
        self.nit = 0
        self.error: BaseException | None = None

    def _guard(self, fn: Any, *a: Any) -> Any:
        if self.error is not None:  # IPOPT keeps calling after a Python error; answer with NaN
            return np.nan
        try:
            return fn(*a)
        except (BudgetExhausted, CallbackStop) as exc:
            self.error = exc
            return np.nan

    def objective(self, x: np.ndarray) -> float:
        return self._guard(self.ev.fun, x)

    def gradient(self, x: np.ndarray) -> np.ndarray:
        out = self._guard(self.ev.grad, x)
        return np.full(self.n, np.nan) if np.isscalar(out) else out

    def constraints(self, x: np.ndarray) -> np.ndarray:
        return np.r_[self.ev.eq(x) if self.me else [], self.ev.ineq(x) if self.mi else []]

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        parts = [self.ev.eq_jac(x)] if self.me else []
        parts += [self.ev.ineq_jac(x)] if self.mi else []
        return np.vstack(parts).ravel()

    def hessianstructure(self) -> tuple[np.ndarray, np.ndarray]:
        return self.rows, self.cols

    def hessian(self, x: np.ndarray, lagrange: np.ndarray, obj_factor: float) -> np.ndarray:
        p = self.p
        self.ev.nhev += 1
        hf = p.hess(x) if p.hess is not None else p.hess_lagrangian(x, np.zeros(self.me))
        h = p.hess_lagrangian(x, lagrange[: self.me], lagrange[self.me :]) + (obj_factor - 1.0) * hf
        return np.asarray(h)[self.rows, self.cols]

    def intermediate(self, alg_mod: int, iter_count: int, *args: Any) -> bool:
        if self.error is not None:
            return False
        self.nit = iter_count
        try:
            self.ev.iteration(iter_count, self.ev.last_x)
        except (BudgetExhausted, CallbackStop) as exc:
            self.error = exc
            return False
        return True


def solve_ipopt(p: ConstrainedProblem, ev: Evaluator, options: dict[str, Any], tol: float) -> RawResult:
    import cyipopt

    nlp = _Nlp(p, ev)
    # IPOPT's intermediate callback does not pass x; track the last point where f was evaluated
    orig_fun = ev.fun

    def fun(x: np.ndarray) -> float:
        v = orig_fun(x)
        ev.last_x = np.asarray(x, dtype=float).copy()
        return v

    ev.fun = fun  # type: ignore[method-assign]
    lb, ub = p.bounds()
    cl = np.zeros(p.m_eq + p.m_ineq)
    cu = np.r_[np.zeros(p.m_eq), np.full(p.m_ineq, np.inf)]
    prob = cyipopt.Problem(n=p.n, m=cl.size, problem_obj=nlp, lb=lb, ub=ub, cl=cl, cu=cu)
    opts = {"tol": tol, "max_iter": int(options.get("maxiter", 3000)), "print_level": 0, "sb": "yes"}
    if ev.max_time is not None:
        opts["max_cpu_time"] = float(ev.max_time)
    for k, v in opts.items():
        prob.add_option(k, v)
    x, info = prob.solve(np.asarray(p.x0, dtype=float))
    mult = {"mult_g": info["mult_g"], "mult_x_L": info["mult_x_L"], "mult_x_U": info["mult_x_U"]}
    if isinstance(nlp.error, BudgetExhausted):
        return RawResult(ev.last_x, False, nlp.error.status, str(nlp.error), nlp.nit, {}, mult)
    if isinstance(nlp.error, CallbackStop):
        return RawResult(ev.last_x, False, 5, "stopped by callback", nlp.nit, {}, mult)
    st = int(info["status"])
    status = 0 if st == 0 else (1 if st == -1 else (3 if st == -4 else 4))
    msg = info["status_msg"]
    msg = msg.decode() if isinstance(msg, bytes) else str(msg)
    return RawResult(np.asarray(x, dtype=float), st == 0, status, msg, nlp.nit, {}, mult)
