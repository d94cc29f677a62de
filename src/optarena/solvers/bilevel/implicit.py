r"""Implicit-gradient (approximate implicit differentiation) baseline with a conjugate-gradient solve.

The standard AID scheme, e.g. Pedregosa, "Hyperparameter optimization with approximate gradient",
ICML 2016, and Ji, Yang, Liang, "Bilevel Optimization: Convergence Analysis and Enhanced Design",
ICML 2021 (AID-BiO). For a lower level that is unconstrained and strongly convex in y, the implicit
function theorem gives

.. math::
    \nabla\Phi(x) = \nabla_x F(x, y^*) - \nabla^2_{xy} f(x, y^*)\, v, \qquad
    \nabla^2_{yy} f(x, y^*)\, v = \nabla_y F(x, y^*).

One outer iteration: ``T`` gradient steps (step ``gamma``) on ``f(x_k, .)`` warm-started from the
previous y; ``cg_iters`` conjugate-gradient iterations on the linear system (Hessian-vector products by
double backward, warm-started from the previous v); ``x <- Proj_X(x - alpha * hypergradient)``.

Defaults: ``alpha=0.05, gamma=0.1, inner_steps=20, cg_iters=20, cg_tol=1e-10``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from optarena.core.errors import IncompatibleError
from optarena.solvers.bilevel._problem import BilevelProblem, Oracle, check_options, check_positive

__all__ = ["IMPLICIT_DEFAULTS", "cg_hypergradient", "run_implicit"]

IMPLICIT_DEFAULTS: dict[str, Any] = {
    "alpha": 0.05,
    "gamma": 0.1,
    "inner_steps": 20,
    "cg_iters": 20,
    "cg_tol": 1e-10,
}


def conjugate_gradient(
    matvec: Callable[[Tensor], Tensor],
    b: Tensor,
    x0: Tensor | None = None,
    iters: int = 50,
    tol: float = 1e-10,
) -> tuple[Tensor, int]:
    """Solve ``A v = b`` for symmetric positive definite ``A`` given by ``matvec``; returns (v, iterations)."""
    v = torch.zeros_like(b) if x0 is None else x0.clone()
    r = b - matvec(v) if x0 is not None else b.clone()
    p = r.clone()
    rs = r @ r
    bnorm = float(b.norm())
    for i in range(iters):
        if float(rs.sqrt()) <= tol * max(bnorm, 1e-300):
            return v, i
        Ap = matvec(p)
        curv = p @ Ap
        if curv <= 0:
            raise IncompatibleError(f"conjugate gradient met non-positive curvature {float(curv):.3g}")
        a = rs / curv
        v = v + a * p
        r = r - a * Ap
        rs_new = r @ r
        p = r + (rs_new / rs) * p
        rs = rs_new
    return v, iters


def cg_hypergradient(
    oracle: Oracle,
    x: Tensor,
    y: Tensor,
    cg_iters: int = 50,
    cg_tol: float = 1e-12,
    v0: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """The implicit hypergradient at ``(x, y)`` (y taken as the lower-level solution) and the CG solution v."""
    Fx, Fy = oracle.grad_F(x, y)
    v, _ = conjugate_gradient(lambda u: oracle.hvp_f(x, y, u)[1], Fy, v0, cg_iters, cg_tol)
    hxy_v = oracle.hvp_f(x, y, v)[0]
    return Fx - hxy_v, v


def run_implicit(
    problem: BilevelProblem,
    oracle: Oracle,
    max_iter: int,
    options: dict[str, Any],
    record: Callable[[int, Tensor, Tensor], bool],
) -> tuple[Tensor, Tensor, dict[str, Any]]:
    check_options(options, IMPLICIT_DEFAULTS, "implicit-cg")
    o = {**IMPLICIT_DEFAULTS, **options}
    for name in ("alpha", "gamma", "cg_tol"):
        check_positive(name, o[name])
    for name in ("inner_steps", "cg_iters"):
        check_positive(name, o[name], integer=True)
    if problem.constrained or problem.project_y is not None:
        raise IncompatibleError(
            f"{problem.name}: the implicit-gradient baseline needs an unconstrained lower level; "
            "use method='lv-hba' (constraints) or 'penalty' (a convex set Y)"
        )
    alpha, gamma = float(o["alpha"]), float(o["gamma"])
    x, y = problem.proj_x(problem.x0.clone()), problem.y0.clone()
    v = None
    for k in range(max_iter):
        for _ in range(int(o["inner_steps"])):
            y = y - gamma * oracle.grad_f(x, y)[1]
        hg, v = cg_hypergradient(oracle, x, y, int(o["cg_iters"]), float(o["cg_tol"]), v)
        x = problem.proj_x(x - alpha * hg)
        if record(k + 1, x, y):
            break
    return x, y, {}
