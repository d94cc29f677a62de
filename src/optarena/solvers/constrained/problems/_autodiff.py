"""Build a :class:`ConstrainedProblem` from formulas written once for numpy and torch.

The formulas take ``(x, xp)`` where ``xp`` is ``numpy`` or ``torch``; values are computed in numpy,
exact first and second derivatives by ``torch.func`` in float64 (no finite differences).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from optarena.solvers.constrained.problem import ConstrainedProblem, ConstraintBlock

__all__ = ["autodiff_problem"]

Formula = Callable[[Any, Any], Any]


def _stack(xp: Any, items: Sequence[Any]) -> Any:
    if xp is np:
        return np.array([float(v) for v in items])
    return xp.stack([xp.as_tensor(v, dtype=xp.float64) for v in items])


def _block(cons: Formula, m: int) -> ConstraintBlock:
    import torch
    from torch.func import hessian, jacrev

    def vec(t: Any) -> Any:
        return _stack(torch, cons(t, torch))

    jac_fn = jacrev(vec)

    def hess_fn(x: np.ndarray, v: np.ndarray) -> np.ndarray:
        vt = torch.as_tensor(np.asarray(v, dtype=float))
        return hessian(lambda t: vec(t) @ vt)(torch.as_tensor(np.asarray(x, dtype=float))).numpy()

    return ConstraintBlock(
        m=m,
        fun=lambda x: _stack(np, cons(np.asarray(x, dtype=float), np)),
        jac=lambda x: jac_fn(torch.as_tensor(np.asarray(x, dtype=float))).numpy().reshape(m, -1),
        hess=hess_fn,
    )


def autodiff_problem(
    name: str,
    f: Formula,
    x0: Sequence[float],
    *,
    eq: Formula | None = None,
    m_eq: int = 0,
    ineq: Formula | None = None,
    m_ineq: int = 0,
    lb: Sequence[float] | None = None,
    ub: Sequence[float] | None = None,
    f_star: float | None = None,
    x_star: Sequence[float] | None = None,
    **meta: Any,
) -> ConstrainedProblem:
    """``eq``/``ineq`` return a sequence of scalars (``ineq`` means ``>= 0``)."""
    import torch
    from torch.func import grad, hessian

    def ft(t: Any) -> Any:
        return f(t, torch)

    g_fn, h_fn = grad(ft), hessian(ft)
    as_t = lambda x: torch.as_tensor(np.asarray(x, dtype=float))  # noqa: E731
    return ConstrainedProblem(
        name=name,
        x0=np.asarray(x0, dtype=float),
        fun=lambda x: float(f(np.asarray(x, dtype=float), np)),
        grad=lambda x: g_fn(as_t(x)).numpy(),
        hess=lambda x: h_fn(as_t(x)).numpy(),
        eq=_block(eq, m_eq) if eq is not None else None,
        ineq=_block(ineq, m_ineq) if ineq is not None else None,
        lb=None if lb is None else np.asarray(lb, dtype=float),
        ub=None if ub is None else np.asarray(ub, dtype=float),
        f_star=f_star,
        x_star=None if x_star is None else np.asarray(x_star, dtype=float),
        meta=dict(meta),
    )
