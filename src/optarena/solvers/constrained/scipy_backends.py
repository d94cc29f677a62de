"""scipy's SLSQP and trust-constr behind the constrained-solver interface (baselines).

References: D. Kraft, "A software package for sequential quadratic programming", DFVLR-FB 88-28,
1988 (SLSQP); R. H. Byrd, M. E. Hribar, J. Nocedal, "An interior point algorithm for large-scale
nonlinear programming", SIAM J. Optim. 9(4), 1999, and M. Lalee, J. Nocedal, T. Plantenga, SIAM J.
Optim. 8(3), 1998 (trust-constr). Both are called through ``scipy.optimize.minimize`` with exact
derivatives; their own success flag is kept as ``solver_success`` and re-checked by us.
Defaults: SLSQP ``ftol = tol**2`` (scipy's 1e-6 is far too loose for a 1e-6 KKT target),
trust-constr ``gtol = barrier_tol = tol / 10``, ``xtol = 1e-14``; both ``maxiter = 1000``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import Bounds, NonlinearConstraint, minimize

from optarena.solvers.constrained._run import BudgetExhausted, CallbackStop, Evaluator, RawResult
from optarena.solvers.constrained.problem import ConstrainedProblem

__all__ = ["solve_slsqp", "solve_trust_constr"]


def _bounds(p: ConstrainedProblem) -> Bounds | None:
    if not p.has_bounds:
        return None
    lb, ub = p.bounds()
    return Bounds(lb, ub)


def _run(p: ConstrainedProblem, ev: Evaluator, method: str, cons: list, options: dict, cb: Any) -> RawResult:
    nit = [0]
    try:
        r = minimize(ev.fun, np.asarray(p.x0, dtype=float), jac=ev.grad, method=method,
                     hess=(ev_hess(ev) if method == "trust-constr" else None),
                     constraints=cons, bounds=_bounds(p), callback=cb(nit), options=options)  # fmt: skip
    except CallbackStop:
        return RawResult(ev.last_x, False, 5, "stopped by callback", nit[0])
    except BudgetExhausted as exc:
        return RawResult(ev.last_x, False, exc.status, str(exc), nit[0])
    if r.status == 99 or "callback" in str(r.message).lower():  # StopIteration inside scipy
        return RawResult(np.asarray(r.x), False, 5, "stopped by callback", nit[0])
    limit = (method == "SLSQP" and r.status == 9) or (method == "trust-constr" and r.status == 0)
    status = 0 if r.success else (1 if limit else 4)
    mult = {"v": [np.asarray(v) for v in r.get("v", [])]} if method == "trust-constr" else {}
    return RawResult(
        np.asarray(r.x, dtype=float), bool(r.success), status, str(r.message), int(r.nit), {}, mult
    )


def ev_hess(ev: Evaluator) -> Any:
    def hess(x: np.ndarray) -> np.ndarray:
        ev.nhev += 1
        return ev.p.hess_lagrangian(x, np.zeros(ev.p.m_eq), np.zeros(ev.p.m_ineq))

    return hess


def solve_slsqp(p: ConstrainedProblem, ev: Evaluator, options: dict[str, Any], tol: float) -> RawResult:
    cons = []
    if p.eq is not None:
        cons.append({"type": "eq", "fun": ev.eq, "jac": ev.eq_jac})
    if p.ineq is not None:
        cons.append({"type": "ineq", "fun": ev.ineq, "jac": ev.ineq_jac})
    opts = {"maxiter": int(options.get("maxiter", 1000)), "ftol": float(options.get("ftol", tol**2))}

    def cb(nit: list) -> Any:
        def callback(xk: np.ndarray) -> None:
            nit[0] += 1
            ev.iteration(nit[0], xk)

        return callback

    return _run(p, ev, "SLSQP", cons, opts, cb)


def solve_trust_constr(
    p: ConstrainedProblem, ev: Evaluator, options: dict[str, Any], tol: float
) -> RawResult:
    cons = []
    for block, lo, hi, val, jac in (
        (p.eq, 0.0, 0.0, ev.eq, ev.eq_jac),
        (p.ineq, 0.0, np.inf, ev.ineq, ev.ineq_jac),
    ):
        if block is not None:
            hess = (lambda x, v, b=block: b.hess(x, v)) if block.hess is not None else None
            kw = {"hess": hess} if hess is not None else {}
            cons.append(NonlinearConstraint(val, lo, hi, jac=jac, **kw))
    opts = {
        "maxiter": int(options.get("maxiter", 1000)),
        "gtol": float(options.get("gtol", tol / 10)),
        "xtol": float(options.get("xtol", 1e-14)),
        "barrier_tol": float(options.get("barrier_tol", tol / 10)),
    }

    def cb(nit: list) -> Any:
        def callback(intermediate_result: Any) -> None:
            nit[0] = int(intermediate_result.nit)
            ev.iteration(nit[0], intermediate_result.x)

        return callback

    return _run(p, ev, "trust-constr", cons, opts, cb)
