"""The constrained-problem interface shared by every constrained solver and problem set.

A problem is ``min f(x)`` subject to ``c_E(x) = 0``, ``c_I(x) >= 0`` (scipy's ``'ineq'`` sign) and
``lb <= x <= ub``. It carries its derivatives (exact ones; finite differences only where a user gave
none through :func:`optarena.solvers.constrained.minimize`) and, where the literature knows them, its
optimal value ``f_star`` and a minimizer ``x_star``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from optarena.core.errors import OptArenaError

__all__ = ["ConstrainedProblem", "ConstraintBlock", "ProblemError", "check_problem"]

Array = np.ndarray


class ProblemError(OptArenaError, ValueError):
    """A malformed problem: wrong shapes, non-finite start, inconsistent bounds. Names the problem."""


@dataclass(frozen=True)
class ConstraintBlock:
    """``m`` constraints ``c(x)`` with Jacobian ``jac(x)`` (m, n) and ``hess(x, v) = sum_i v_i hess c_i(x)``."""

    m: int
    fun: Callable[[Array], Array]
    jac: Callable[[Array], Array]
    hess: Callable[[Array, Array], Array] | None = None


@dataclass(frozen=True)
class ConstrainedProblem:
    """``min f(x)  s.t.  eq(x) = 0, ineq(x) >= 0, lb <= x <= ub``.

    ``hess`` is the Hessian of ``f``; ``None`` where unknown (solvers that need it then use finite
    differences of the gradient). ``lb``/``ub`` may hold infinities; ``None`` means unbounded.
    """

    name: str
    x0: Array
    fun: Callable[[Array], float]
    grad: Callable[[Array], Array]
    hess: Callable[[Array], Array] | None = None
    eq: ConstraintBlock | None = None
    ineq: ConstraintBlock | None = None
    lb: Array | None = None
    ub: Array | None = None
    f_star: float | None = None
    x_star: Array | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(np.asarray(self.x0).size)

    @property
    def m_eq(self) -> int:
        return self.eq.m if self.eq is not None else 0

    @property
    def m_ineq(self) -> int:
        return self.ineq.m if self.ineq is not None else 0

    @property
    def has_bounds(self) -> bool:
        lb, ub = self.bounds()
        return bool(np.isfinite(lb).any() or np.isfinite(ub).any())

    @property
    def kinds(self) -> frozenset[str]:
        """What the problem needs from a solver: ``equality``, ``inequality``, ``bounds``."""
        out = set()
        if self.m_eq:
            out.add("equality")
        if self.m_ineq:
            out.add("inequality")
        if self.has_bounds:
            out.add("bounds")
        return frozenset(out)

    def bounds(self) -> tuple[Array, Array]:
        n = self.n
        lb = np.full(n, -np.inf) if self.lb is None else np.asarray(self.lb, dtype=float)
        ub = np.full(n, np.inf) if self.ub is None else np.asarray(self.ub, dtype=float)
        return lb, ub

    def eq_val(self, x: Array) -> Array:
        return np.asarray(self.eq.fun(x), dtype=float) if self.eq is not None else np.zeros(0)

    def eq_jac(self, x: Array) -> Array:
        return np.asarray(self.eq.jac(x), dtype=float) if self.eq is not None else np.zeros((0, self.n))

    def ineq_val(self, x: Array) -> Array:
        return np.asarray(self.ineq.fun(x), dtype=float) if self.ineq is not None else np.zeros(0)

    def ineq_jac(self, x: Array) -> Array:
        if self.ineq is None:
            return np.zeros((0, self.n))
        return np.asarray(self.ineq.jac(x), dtype=float)

    def hess_lagrangian(self, x: Array, v_eq: Array, v_in: Array | None = None) -> Array:
        """Hessian of ``f + v_eq^T c_E + v_in^T c_I`` (finite differences of gradients where a block lacks ``hess``)."""
        h = self.hess(x) if self.hess is not None else _fd_jac(self.grad, x)
        h = np.asarray(h, dtype=float)
        for block, v in ((self.eq, v_eq), (self.ineq, v_in)):
            if block is None or v is None or not np.any(v):
                continue
            if block.hess is not None:
                h = h + np.asarray(block.hess(x, v), dtype=float)
            else:
                h = h + _fd_jac(lambda z, b=block, w=v: np.asarray(b.jac(z)).T @ w, x)
        return 0.5 * (h + h.T)


def _fd_jac(g: Callable[[Array], Array], x: Array) -> Array:
    """Central-difference Jacobian of a vector function (used only where no derivative was given)."""
    x = np.asarray(x, dtype=float)
    g0 = np.asarray(g(x), dtype=float)
    out = np.empty((g0.size, x.size))
    for j in range(x.size):
        h = 1e-6 * max(1.0, abs(x[j]))
        e = np.zeros_like(x)
        e[j] = h
        out[:, j] = (np.asarray(g(x + e), dtype=float) - np.asarray(g(x - e), dtype=float)) / (2 * h)
    return out


def check_problem(p: ConstrainedProblem) -> None:
    """Raise :class:`ProblemError` naming ``p`` when its data or functions are malformed at ``x0``."""
    x0 = np.asarray(p.x0)
    name = p.name
    if x0.ndim != 1 or x0.size == 0:
        raise ProblemError(f"problem {name!r}: x0 must be a non-empty 1-D array, got shape {x0.shape}")
    if not np.issubdtype(x0.dtype, np.number) or not np.all(np.isfinite(x0)):
        raise ProblemError(f"problem {name!r}: x0 must be finite, got {x0.tolist()}")
    n = x0.size
    lb, ub = p.bounds()
    for label, b in (("lb", lb), ("ub", ub)):
        if b.shape != (n,):
            raise ProblemError(f"problem {name!r}: {label} has shape {b.shape}, expected ({n},)")
        if np.any(np.isnan(b)):
            raise ProblemError(f"problem {name!r}: {label} contains NaN: {b.tolist()}")
    bad = np.flatnonzero(lb > ub)
    if bad.size:
        i = int(bad[0])
        raise ProblemError(f"problem {name!r}: inconsistent bounds, lb[{i}] = {lb[i]} > ub[{i}] = {ub[i]}")
    f0 = np.asarray(p.fun(x0), dtype=float)
    if f0.size != 1:
        raise ProblemError(f"problem {name!r}: f(x0) must be a scalar, got shape {f0.shape}")
    if not np.isfinite(f0):
        raise ProblemError(f"problem {name!r}: f(x0) is not finite ({float(f0)})")
    g0 = np.asarray(p.grad(x0))
    if g0.shape != (n,):
        raise ProblemError(f"problem {name!r}: grad(x0) has shape {g0.shape}, expected ({n},)")
    if p.hess is not None:
        h0 = np.asarray(p.hess(x0))
        if h0.shape != (n, n):
            raise ProblemError(f"problem {name!r}: hess(x0) has shape {h0.shape}, expected ({n}, {n})")
    for label, block in (("equality", p.eq), ("inequality", p.ineq)):
        if block is None:
            continue
        c0 = np.asarray(block.fun(x0))
        if c0.shape != (block.m,):
            raise ProblemError(
                f"problem {name!r}: {label} constraint returned shape {c0.shape}, expected ({block.m},)"
            )
        if not np.all(np.isfinite(c0)):
            raise ProblemError(f"problem {name!r}: {label} constraint is not finite at x0: {c0.tolist()}")
        j0 = np.asarray(block.jac(x0))
        if j0.shape != (block.m, n):
            raise ProblemError(
                f"problem {name!r}: {label} Jacobian has shape {j0.shape}, expected ({block.m}, {n})"
            )
    if p.x_star is not None and np.asarray(p.x_star).shape != (n,):
        raise ProblemError(
            f"problem {name!r}: x_star has shape {np.asarray(p.x_star).shape}, expected ({n},)"
        )
