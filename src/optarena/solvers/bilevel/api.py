"""``minimize_bilevel``: one entry point for the bilevel methods, with a result we check ourselves."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from scipy.optimize import OptimizeResult
from torch import Tensor

from optarena.core.errors import UnknownNameError
from optarena.solvers.bilevel._lower import lower_gap
from optarena.solvers.bilevel._problem import BilevelProblem, BilevelProblemError, Oracle
from optarena.solvers.bilevel.implicit import run_implicit
from optarena.solvers.bilevel.lvhba import run_lvhba
from optarena.solvers.bilevel.penalty import run_penalty

__all__ = ["METHODS", "minimize_bilevel", "solve_bilevel"]

METHODS: dict[str, Callable[..., Any]] = {
    "lv-hba": run_lvhba,
    "penalty": run_penalty,
    "implicit-cg": run_implicit,
}


def minimize_bilevel(
    F: Callable[..., Tensor],
    f: Callable[..., Tensor],
    x0: Any,
    y0: Any,
    method: str = "lv-hba",
    g: Callable[[Tensor, Tensor], Tensor] | None = None,
    h: Callable[[Tensor, Tensor], Tensor] | None = None,
    *,
    max_iter: int = 1000,
    options: Mapping[str, Any] | None = None,
    callback: Callable[[OptimizeResult], Any] | None = None,
    seed: int = 0,
    gap_tol: float = 1e-4,
    record_every: int | None = None,
    max_time: float | None = None,
    **problem_kwargs: Any,
) -> OptimizeResult:
    """Solve ``min_x F(x, y) s.t. y in argmin_y {f(x, y) : g(x, y) <= 0, h(x, y) = 0}``.

    Args:
        F, f: upper and lower objectives on 1-D float64 torch tensors (gradients by torch autograd);
            finite-sum problems (``n_samples=(n_upper, n_lower)``) take a third argument ``idx``.
        x0, y0: starting points (array-likes or tensors).
        method: ``"lv-hba"`` (Yao et al. 2024), ``"penalty"`` (Kwon et al. 2024) or ``"implicit-cg"``.
        g, h: optional lower-level inequality (``<= 0``) and equality constraints, 1-D tensors.
        max_iter: outer iterations.
        options: the method's hyperparameters (see each method's ``*_DEFAULTS``).
        callback: called with an intermediate ``OptimizeResult`` (x, y, fun, nit) at every recorded
            iteration; returning True or raising StopIteration stops the run.
        seed: for the stochastic forms.
        gap_tol: success needs the recomputed lower-level gap and violation below this.
        record_every: history stride (default: about 500 records per run).
        max_time: wall-clock limit in seconds, checked after every outer iteration (not only at
            recorded ones); a run it stops says so in ``message``.
        **problem_kwargs: ``project_x``, ``project_y``, ``project_xy``, ``lower_solution``,
            ``n_samples``, ``x_star``, ``y_star``, ``name`` (see :class:`BilevelProblem`).

    Returns:
        ``OptimizeResult`` with ``x``, ``y`` (numpy), ``fun`` = F(x, y), ``lower_gap`` =
        f(x, y) - min f(x, .) recomputed by an accurate solve (never the method's own estimate),
        ``lower_fun``, ``lower_constr_violation``, ``success``, ``message``, ``nit``, ``history``
        (a list of dicts: nit, time, fun and, when a solution is known, ``x_error`` = relative error of x),
        the counters ``ngrad_F``, ``ngrad_f``, ``ngrad_g``, ``nhvp``, and ``method``.
    """
    problem = BilevelProblem(F=F, f=f, x0=x0, y0=y0, g=g, h=h, **problem_kwargs)
    return solve_bilevel(
        problem,
        method,
        max_iter=max_iter,
        options=options,
        callback=callback,
        seed=seed,
        gap_tol=gap_tol,
        record_every=record_every,
        max_time=max_time,
    )


def solve_bilevel(
    problem: BilevelProblem,
    method: str = "lv-hba",
    *,
    max_iter: int = 1000,
    options: Mapping[str, Any] | None = None,
    callback: Callable[[OptimizeResult], Any] | None = None,
    seed: int = 0,
    gap_tol: float = 1e-4,
    record_every: int | None = None,
    max_time: float | None = None,
) -> OptimizeResult:
    """:func:`minimize_bilevel` on a ready :class:`BilevelProblem`."""
    if method not in METHODS:
        raise UnknownNameError("bilevel method", str(method), list(METHODS))
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise BilevelProblemError(f"max_iter must be a positive integer, got {max_iter!r}")
    if not (isinstance(gap_tol, int | float) and gap_tol > 0 and math.isfinite(gap_tol)):
        raise BilevelProblemError(f"gap_tol must be a positive number, got {gap_tol!r}")
    stride = record_every or max(1, max_iter // 500)
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise BilevelProblemError(f"record_every must be a positive integer, got {record_every!r}")
    if max_time is not None and not (
        isinstance(max_time, int | float) and not isinstance(max_time, bool) and max_time > 0
    ):
        raise BilevelProblemError(f"max_time must be a positive number of seconds, got {max_time!r}")
    oracle = Oracle(problem, seed)
    history: list[dict[str, float]] = []
    start = time.perf_counter()
    state = {"nit": 0, "stopped": False, "nonfinite": False, "timed_out": False}
    deadline = math.inf if max_time is None else start + float(max_time)

    def record(k: int, x: Tensor, y: Tensor) -> bool:
        state["nit"] = k
        if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
            state["nonfinite"] = True
            return True
        if time.perf_counter() > deadline:  # checked every iteration; the last iterate is recorded
            state["timed_out"] = True
        elif k % stride and k != max_iter:
            return False
        with torch.no_grad():
            fun = float(problem.call("F", x, y, None))
        row = {"nit": float(k), "time": time.perf_counter() - start, "fun": fun}
        row.update({key: float(v) for key, v in oracle.counts.items()})
        if problem.x_star is not None:
            row["x_error"] = float((x - problem.x_star).norm() / max(float(problem.x_star.norm()), 1e-300))
        if problem.y_star is not None:
            row["y_error"] = float((y - problem.y_star).norm() / max(float(problem.y_star.norm()), 1e-300))
        history.append(row)
        if callback is not None:
            inter = OptimizeResult(x=x.numpy().copy(), y=y.numpy().copy(), fun=fun, nit=k)
            try:
                if callback(inter) is True:
                    state["stopped"] = True
            except StopIteration:
                state["stopped"] = True
        return bool(state["stopped"] or state["timed_out"])

    x, y, extra = METHODS[method](problem, oracle, max_iter, dict(options or {}), record)
    elapsed = time.perf_counter() - start
    res = OptimizeResult(
        x=x.numpy().copy(),
        y=y.numpy().copy(),
        nit=state["nit"],
        history=history,
        method=method,
        time=elapsed,
        **oracle.counts,
        **extra,
    )
    if state["nonfinite"]:
        res.update(
            fun=float("nan"),
            lower_gap=float("nan"),
            lower_fun=float("nan"),
            lower_constr_violation=float("nan"),
            success=False,
            status=3,
            message="iterates became NaN or inf (step sizes too large?)",
        )
        return res
    gap, lower_fun, viol = lower_gap(problem, x, y)
    with torch.no_grad():
        res.fun = float(problem.call("F", x, y, None))
    res.update(lower_gap=gap, lower_fun=lower_fun, lower_constr_violation=viol)
    if problem.x_star is not None:
        res.x_error = float((x - problem.x_star).norm() / max(float(problem.x_star.norm()), 1e-300))
    ok = np.isfinite(res.fun) and abs(gap) <= gap_tol * max(1.0, abs(lower_fun)) and viol <= gap_tol
    res.success = bool(ok)
    res.status = 0 if ok else 2
    if state["timed_out"]:
        res.message = f"stopped at the time limit max_time={max_time:g} s after {state['nit']} iterations"
    elif state["stopped"]:
        res.message = "stopped by the callback"
    elif ok:
        res.message = f"lower-level gap {gap:.3g} and violation {viol:.3g} within gap_tol={gap_tol:g}"
    else:
        res.message = f"lower-level gap {gap:.3g} or violation {viol:.3g} above gap_tol={gap_tol:g}"
    return res
