"""Accurate lower-level solves, used to recompute the lower-level gap f(x, y) - min_y f(x, .) ourselves.

Unconstrained lower levels go to scipy L-BFGS-B (tolerances near machine precision), constrained ones to
SLSQP (ftol 1e-14); both get exact gradients and Jacobians from torch autograd and start from the
method's y. A problem's own ``lower_solution`` (a closed form) takes precedence. The gap is never taken
from the bilevel method.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import minimize
from torch import Tensor

from optarena.solvers.bilevel._problem import DTYPE, BilevelProblem

__all__ = ["lower_gap", "solve_lower"]


def _np(t: Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float64)


def solve_lower(problem: BilevelProblem, x: Tensor, y_start: Tensor | None = None) -> Tensor:
    """A (numerically exact) lower-level solution y*(x)."""
    if problem.lower_solution is not None:
        return problem.lower_solution(x.detach()).detach().to(DTYPE)
    y0 = problem.y0 if y_start is None else y_start
    x = x.detach()

    def fg(yv: np.ndarray) -> tuple[float, np.ndarray]:
        y = torch.as_tensor(yv, dtype=DTYPE).requires_grad_(True)
        val = problem.call("f", x, y, None)
        (gy,) = torch.autograd.grad(val, y)
        return float(val.detach()), _np(gy)

    if not problem.constrained and problem.project_y is None:
        res = minimize(
            fg,
            _np(y0),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": 20000, "maxfun": 40000, "ftol": 1e-14, "gtol": 1e-9, "maxcor": 30},
        )
        return torch.as_tensor(res.x, dtype=DTYPE)
    if problem.project_y is not None and not problem.constrained:
        return _projected_gradient(problem, x, y0)
    constraints = []
    for attr, kind in (("g", "ineq"), ("h", "eq")):
        fn = getattr(problem, attr)
        if fn is None:
            continue

        def fun(yv: np.ndarray, fn=fn, kind=kind) -> np.ndarray:
            c = fn(x, torch.as_tensor(yv, dtype=DTYPE))
            return -_np(c) if kind == "ineq" else _np(c)  # scipy wants c >= 0

        def jac(yv: np.ndarray, fn=fn, kind=kind) -> np.ndarray:
            y = torch.as_tensor(yv, dtype=DTYPE)
            jm = torch.autograd.functional.jacobian(lambda t: fn(x, t), y)
            return -_np(jm) if kind == "ineq" else _np(jm)

        constraints.append({"type": kind, "fun": fun, "jac": jac})
    res = minimize(
        fg,
        _np(y0),
        jac=True,
        method="SLSQP",
        constraints=constraints,
        options={"maxiter": 2000, "ftol": 1e-14},
    )
    return torch.as_tensor(res.x, dtype=DTYPE)


def _projected_gradient(problem: BilevelProblem, x: Tensor, y0: Tensor, iters: int = 20000) -> Tensor:
    """Projected gradient with backtracking (Armijo) for a lower level on a convex set Y."""
    y = problem.proj_y(y0.detach())
    step = 1.0
    for _ in range(iters):
        yr = y.detach().requires_grad_(True)
        val = problem.call("f", x, yr, None)
        (gy,) = torch.autograd.grad(val, yr)
        while True:
            cand = problem.proj_y(y - step * gy)
            d = cand - y
            if problem.call("f", x, cand, None) <= val + gy @ d + d @ d / (2 * step) or step < 1e-14:
                break
            step /= 2
        if d.norm() <= 1e-13 * (1 + y.norm()):
            return cand
        y, step = cand, step * 2
    return y


def lower_gap(problem: BilevelProblem, x: Tensor, y: Tensor) -> tuple[float, float, float]:
    """``(gap, lower_fun, constr_violation)`` at ``(x, y)``; the gap is f(x, y) - min f(x, .)."""
    y_star = solve_lower(problem, x, y)
    with torch.no_grad():
        fy = float(problem.call("f", x, y, None))
        fstar = float(problem.call("f", x, y_star, None))
        viol = 0.0
        if problem.g is not None:
            viol = max(viol, float(torch.clamp(problem.g(x, y), min=0).max()))
        if problem.h is not None:
            viol = max(viol, float(problem.h(x, y).abs().max()))
        if problem.project_y is not None:
            viol = max(viol, float((problem.proj_y(y) - y).abs().max()))
    return fy - fstar, fstar, viol
