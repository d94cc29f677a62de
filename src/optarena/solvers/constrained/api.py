"""``minimize``: scipy.optimize.minimize's shape for every constrained solver we ship.

>>> import numpy as np
>>> from optarena.solvers.constrained import minimize
>>> res = minimize(lambda x: (1 - x[0]) ** 2, [-1.2, 1.0], method="trust-constr",
...                constraints=[{"type": "eq", "fun": lambda x: 10 * (x[1] - x[0] ** 2)}])
>>> bool(res.success), np.round(res.x, 4).tolist()
(True, [1.0, 1.0])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import OptimizeResult

from optarena.core.errors import IncompatibleError, UnknownNameError
from optarena.solvers.constrained._run import Evaluator, RawResult, finalize
from optarena.solvers.constrained._scipy_input import problem_from_scipy
from optarena.solvers.constrained.exact_al import solve_exact_al
from optarena.solvers.constrained.ipopt_backend import ipopt_available, solve_ipopt
from optarena.solvers.constrained.problem import ConstrainedProblem, check_problem
from optarena.solvers.constrained.scipy_backends import solve_slsqp, solve_trust_constr

__all__ = ["METHODS", "SolverInfo", "available_methods", "minimize", "solve"]

ALL_KINDS = frozenset({"equality", "inequality", "bounds"})


@dataclass(frozen=True)
class SolverInfo:
    """A constrained method: its backend, the problem kinds it handles and whether it is randomized."""

    name: str
    run: Callable[[ConstrainedProblem, Evaluator, dict[str, Any], float], RawResult]
    kinds: frozenset[str]
    randomized: bool = False
    available: Callable[[], bool] = lambda: True


def _exact_al(solver: str) -> Callable[..., RawResult]:
    return lambda p, ev, opts, tol: solve_exact_al(p, ev, opts, solver, tol)


METHODS: dict[str, SolverInfo] = {
    "exact-al": SolverInfo("exact-al", _exact_al("exact"), frozenset({"equality"})),
    "exact-al-kaczmarz": SolverInfo(
        "exact-al-kaczmarz", _exact_al("kaczmarz"), frozenset({"equality"}), True
    ),
    "exact-al-gaussian": SolverInfo(
        "exact-al-gaussian", _exact_al("gaussian"), frozenset({"equality"}), True
    ),
    "slsqp": SolverInfo("slsqp", solve_slsqp, ALL_KINDS),
    "trust-constr": SolverInfo("trust-constr", solve_trust_constr, ALL_KINDS),
    "ipopt": SolverInfo("ipopt", solve_ipopt, ALL_KINDS, available=ipopt_available),
}

_COMMON = {"maxiter", "maxfev", "max_time", "feas_tol", "history_kkt", "name", "seed"}
_METHOD_OPTIONS = {
    "exact-al": {"eta1", "eta2", "delta", "xi_B", "beta", "nu", "max_inner", "licq_tol", "max_ls"},
    "slsqp": {"ftol"},
    "trust-constr": {"gtol", "xtol", "barrier_tol"},
    "ipopt": set(),
}


def available_methods() -> list[str]:
    """Names of the methods whose dependencies are installed."""
    return [k for k, v in METHODS.items() if v.available()]


def solve(
    problem: ConstrainedProblem,
    method: str = "exact-al-kaczmarz",
    *,
    tol: float | None = None,
    callback: Callable | None = None,
    options: Mapping[str, Any] | None = None,
) -> OptimizeResult:
    """Solve a :class:`ConstrainedProblem`; see :func:`minimize` for the result and the options."""
    key = method.lower()
    if key not in METHODS:
        raise UnknownNameError("constrained method", method, list(METHODS))
    info = METHODS[key]
    if not info.available():
        raise IncompatibleError(
            f"method {method!r} is not installed (pip install 'cyipopt==1.7.0' and IPOPT)"
        )
    opts = dict(options or {})
    family = "exact-al" if key.startswith("exact-al") else key
    unknown = set(opts) - _COMMON - _METHOD_OPTIONS[family]
    if unknown:
        raise TypeError(f"unknown options for method {method!r}: {sorted(unknown)}")
    check_problem(problem)
    missing = problem.kinds - info.kinds
    if missing:
        raise IncompatibleError(
            f"method {method!r} handles {sorted(info.kinds)} constraints; problem {problem.name!r} "
            f"also has {sorted(missing)}"
        )
    tol = 1e-6 if tol is None else float(tol)
    if not tol > 0:
        raise ValueError(f"tol must be positive, got {tol}")
    for k in ("maxiter", "maxfev", "max_time"):
        if k in opts and not (opts[k] is None or float(opts[k]) >= 0):
            raise ValueError(f"option {k!r} must be >= 0, got {opts[k]!r}")
    feas_tol = float(opts.pop("feas_tol", tol))
    opts.pop("name", None)
    ev = Evaluator(problem, opts, callback)
    raw = info.run(problem, ev, opts, tol)
    return finalize(problem, ev, raw, key, tol, feas_tol)


def minimize(
    fun: Callable[..., Any] | ConstrainedProblem,
    x0: Any = None,
    args: tuple = (),
    method: str = "exact-al-kaczmarz",
    jac: Any = None,
    hess: Any = None,
    bounds: Any = None,
    constraints: Any = (),
    tol: float | None = None,
    callback: Callable | None = None,
    options: Mapping[str, Any] | None = None,
) -> OptimizeResult:
    """Minimize ``fun`` subject to ``constraints`` and ``bounds``, in ``scipy.optimize.minimize``'s shape.

    ``fun`` may also be a :class:`ConstrainedProblem` (then ``x0`` defaults to its own). Constraints
    are scipy dicts (``{"type": "eq"|"ineq", "fun", "jac", "args"}``, ``'ineq'`` meaning ``>= 0``),
    ``NonlinearConstraint`` or ``LinearConstraint``; ``bounds`` a ``Bounds`` or ``(lo, hi)`` pairs.
    Missing derivatives are replaced by central differences.

    Methods: ``"exact-al"``, ``"exact-al-kaczmarz"``, ``"exact-al-gaussian"`` (Hong et al., ICML 2023;
    equality constraints only), ``"slsqp"``, ``"trust-constr"``, ``"ipopt"`` (if cyipopt is installed).

    Options: ``maxiter``, ``maxfev`` (objective evaluations), ``max_time`` (seconds of solver time),
    ``feas_tol`` (default ``tol``), ``seed`` (randomized methods), ``history_kkt`` (record the KKT
    residual per iteration, default True), ``name`` (the problem's name in errors and results), plus
    each method's own (see its module).

    Returns an ``OptimizeResult`` with ``x, fun, success, status, message, nit, nfev, njev, nhev`` and
    ``kkt_residual``, ``constr_violation`` (max-norm), ``stationarity``, ``multipliers`` (least
    squares, recomputed by us), ``solver_multipliers``, ``solver_success`` (the solver's own flag),
    ``history`` (one dict per iteration), ``counters`` (the method's cost units) and ``time``.
    ``success`` is True only if the solver reports success AND our recomputed KKT residual is
    ``<= tol`` (default 1e-6) AND the infeasibility ``<= feas_tol``; status 6 marks a solver that
    claimed success and failed that check.
    """
    if isinstance(fun, ConstrainedProblem):
        problem = fun
        if x0 is not None:
            from dataclasses import replace

            problem = replace(problem, x0=np.asarray(x0, dtype=float))
    else:
        name = (options or {}).get("name")
        problem = problem_from_scipy(
            fun, x0, args=args, jac=jac, hess=hess, constraints=constraints, bounds=bounds, name=name
        )
    return solve(problem, method, tol=tol, callback=callback, options=options)
