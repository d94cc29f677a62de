"""Turn ``scipy.optimize.minimize``-style arguments into a :class:`ConstrainedProblem`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, NonlinearConstraint

from optarena.solvers.constrained.problem import ConstrainedProblem, ConstraintBlock, ProblemError, _fd_jac

__all__ = ["problem_from_scipy"]

Array = np.ndarray


def _objective(
    fun: Callable, jac: Any, hess: Any, args: tuple, name: str
) -> tuple[Callable, Callable, Callable | None]:
    if jac is True:
        cache: dict[str, Any] = {}

        def both(x: Array) -> tuple[float, Array]:
            key = np.asarray(x, dtype=float).tobytes()
            if cache.get("key") != key:
                f, g = fun(x, *args)
                cache.update(key=key, val=(float(f), np.asarray(g, dtype=float)))
            return cache["val"]

        f_fn, g_fn = (lambda x: both(x)[0]), (lambda x: both(x)[1])
    else:

        def f_fn(x: Array) -> Any:
            v = np.asarray(fun(x, *args), dtype=float)
            return float(v.reshape(())) if v.size == 1 else v  # a non-scalar is reported by check_problem

        if callable(jac):
            g_fn = lambda x: np.asarray(jac(x, *args), dtype=float)  # noqa: E731
        elif jac in (None, False, "2-point", "3-point", "cs"):
            g_fn = lambda x: _fd_jac(lambda z: np.atleast_1d(f_fn(z)), x)[0]  # noqa: E731
        else:
            raise ProblemError(
                f"problem {name!r}: jac must be callable, True, None or a FD scheme, got {jac!r}"
            )
    if hess is None or callable(hess):
        h_fn = (lambda x: np.asarray(hess(x, *args), dtype=float)) if callable(hess) else None
    else:
        raise ProblemError(f"problem {name!r}: hess must be callable or None, got {hess!r}")
    return f_fn, g_fn, h_fn


def _pieces(constraints: Any, x0: Array, name: str) -> tuple[list, list]:
    """Each constraint becomes (value fn, jac fn, hess fn|None, rows, offsets) for eq and ineq parts."""
    if constraints is None:
        return [], []
    if isinstance(constraints, dict | NonlinearConstraint | LinearConstraint):
        constraints = [constraints]
    eqs, ineqs = [], []
    for k, con in enumerate(constraints):
        where = f"problem {name!r}, constraint {k}"
        if isinstance(con, dict):
            kind = con.get("type")
            if kind not in ("eq", "ineq") or not callable(con.get("fun")):
                raise ProblemError(
                    f"{where}: a dict constraint needs type 'eq'|'ineq' and a callable fun, got {con!r}"
                )
            a = tuple(con.get("args", ()))
            fn = lambda x, c=con, a=a: np.atleast_1d(np.asarray(c["fun"](x, *a), dtype=float))  # noqa: E731
            jac = con.get("jac")
            jf = (
                (lambda x, j=jac, a=a, f=fn: np.atleast_2d(np.asarray(j(x, *a), dtype=float)))
                if callable(jac)
                else (lambda x, f=fn: _fd_jac(f, x))
            )
            m = fn(x0).size
            (eqs if kind == "eq" else ineqs).append((fn, jf, None, np.arange(m), np.zeros(m), 1.0, m, where))
            continue
        if isinstance(con, LinearConstraint):
            amat = np.atleast_2d(np.asarray(con.A, dtype=float))
            fn = lambda x, A=amat: A @ x  # noqa: E731
            jf = lambda x, A=amat: A  # noqa: E731
            hf = lambda x, v, n=x0.size: np.zeros((n, n))  # noqa: E731
        elif isinstance(con, NonlinearConstraint):
            fn = lambda x, c=con: np.atleast_1d(np.asarray(c.fun(x), dtype=float))  # noqa: E731
            jf = (
                (lambda x, c=con: np.atleast_2d(np.asarray(c.jac(x), dtype=float)))
                if callable(con.jac)
                else (lambda x, f=fn: _fd_jac(f, x))
            )
            hf = (lambda x, v, c=con: np.asarray(c.hess(x, v), dtype=float)) if callable(con.hess) else None
        else:
            raise ProblemError(f"{where}: unsupported constraint type {type(con).__name__}")
        m = fn(x0).size
        lo = np.broadcast_to(np.asarray(con.lb, dtype=float), np.shape(con.lb)).ravel()
        hi = np.broadcast_to(np.asarray(con.ub, dtype=float), np.shape(con.ub)).ravel()
        if lo.size == 1:
            lo = np.full(m, lo[0])
        if hi.size == 1:
            hi = np.full(m, hi[0])
        if lo.size != m or hi.size != m:
            raise ProblemError(f"{where}: returns {m} values but lb/ub have {lo.size}/{hi.size} entries")
        if np.any(lo > hi):
            raise ProblemError(f"{where}: lb > ub at rows {np.flatnonzero(lo > hi).tolist()}")
        is_eq = lo == hi
        eq_rows = np.flatnonzero(is_eq)
        if eq_rows.size:
            eqs.append((fn, jf, hf, eq_rows, lo[eq_rows], 1.0, m, where))
        lo_rows = np.flatnonzero(~is_eq & np.isfinite(lo))
        if lo_rows.size:
            ineqs.append((fn, jf, hf, lo_rows, lo[lo_rows], 1.0, m, where))
        hi_rows = np.flatnonzero(~is_eq & np.isfinite(hi))
        if hi_rows.size:
            ineqs.append((fn, jf, hf, hi_rows, hi[hi_rows], -1.0, m, where))
    return eqs, ineqs


def _block(pieces: list, n: int) -> ConstraintBlock | None:
    """Stack pieces ``sign * (c(x)[rows] - offset)`` into one block, checking each piece's size."""
    if not pieces:
        return None

    def checked(v: Array, m: int, where: str) -> Array:
        if v.shape != (m,):
            raise ProblemError(f"{where}: returned shape {v.shape}, expected ({m},)")
        return v

    def fun(x: Array) -> Array:
        return np.concatenate([s * (checked(fn(x), m, w)[r] - o) for fn, _, _, r, o, s, m, w in pieces])

    def jac(x: Array) -> Array:
        out = []
        for _, jf, _, r, _, s, m, w in pieces:
            j = jf(x)
            if j.shape != (m, n):
                raise ProblemError(f"{w}: Jacobian has shape {j.shape}, expected ({m}, {n})")
            out.append(s * j[r])
        return np.vstack(out)

    has_hess = all(p[2] is not None for p in pieces)

    def hess(x: Array, v: Array) -> Array:
        h, k = np.zeros((n, n)), 0
        for _, _, hf, r, _, s, m, _ in pieces:
            full = np.zeros(m)
            full[r] = s * v[k : k + r.size]
            k += r.size
            h = h + hf(x, full)
        return h

    return ConstraintBlock(sum(p[3].size for p in pieces), fun, jac, hess if has_hess else None)


def _bounds(bounds: Any, n: int, name: str) -> tuple[Array | None, Array | None]:
    if bounds is None:
        return None, None
    if isinstance(bounds, Bounds):
        lb = (
            np.broadcast_to(np.asarray(bounds.lb, dtype=float), (n,)).copy()
            if np.size(bounds.lb) in (1, n)
            else None
        )
        ub = (
            np.broadcast_to(np.asarray(bounds.ub, dtype=float), (n,)).copy()
            if np.size(bounds.ub) in (1, n)
            else None
        )
        if lb is None or ub is None:
            raise ProblemError(f"problem {name!r}: Bounds have {np.size(bounds.lb)} entries, x0 has {n}")
        return lb, ub
    pairs = list(bounds)
    if len(pairs) != n:
        raise ProblemError(f"problem {name!r}: {len(pairs)} bound pairs for {n} variables")
    lb = np.array([-np.inf if b[0] is None else float(b[0]) for b in pairs])
    ub = np.array([np.inf if b[1] is None else float(b[1]) for b in pairs])
    return lb, ub


def problem_from_scipy(
    fun: Callable,
    x0: Any,
    *,
    args: tuple = (),
    jac: Any = None,
    hess: Any = None,
    constraints: Sequence[Any] | Any = (),
    bounds: Any = None,
    name: str | None = None,
) -> ConstrainedProblem:
    name = name or getattr(fun, "__name__", "problem")
    x0a = np.asarray(x0, dtype=float) if np.asarray(x0).dtype != object else np.asarray(x0)
    if x0a.ndim != 1 or x0a.size == 0:
        raise ProblemError(f"problem {name!r}: x0 must be a non-empty 1-D array, got shape {x0a.shape}")
    if not np.all(np.isfinite(x0a)):
        raise ProblemError(f"problem {name!r}: x0 must be finite, got {x0a.tolist()}")
    f_fn, g_fn, h_fn = _objective(fun, jac, hess, tuple(args), name)
    eqs, ineqs = _pieces(constraints, x0a, name)
    lb, ub = _bounds(bounds, x0a.size, name)
    return ConstrainedProblem(
        name=name, x0=x0a, fun=f_fn, grad=g_fn, hess=h_fn,
        eq=_block(eqs, x0a.size), ineq=_block(ineqs, x0a.size), lb=lb, ub=ub,
    )  # fmt: skip
