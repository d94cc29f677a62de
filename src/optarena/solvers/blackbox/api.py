"""``minimize_blackbox``: run any black-box method on a function (or a ranking oracle) for a fixed budget."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.optimize import OptimizeResult

from optarena.solvers.blackbox._common import BlackBoxOptimizer, Box, RankingOptimizer, check_budget

__all__ = ["METHODS", "make_optimizer", "minimize_blackbox"]


def _bo(kind: str) -> Callable[..., BlackBoxOptimizer]:
    def make(bounds: Any, seed: int, **options: Any) -> BlackBoxOptimizer:
        from optarena.solvers.blackbox.bo import BayesOpt

        return BayesOpt(bounds, seed, acquisition=kind, **options)

    return make


def _optuna(sampler: str) -> Callable[..., BlackBoxOptimizer]:
    def make(bounds: Any, seed: int, **options: Any) -> BlackBoxOptimizer:
        from optarena.solvers.blackbox.baselines import OptunaSearch

        return OptunaSearch(bounds, seed, sampler=sampler, **options)

    return make


def _lazy(module: str, cls: str) -> Callable[..., Any]:
    def make(bounds: Any, seed: int, **options: Any) -> Any:
        import importlib

        return getattr(importlib.import_module(f"optarena.solvers.blackbox.{module}"), cls)(
            bounds, seed, **options
        )

    return make


#: method name -> constructor ``(bounds, seed, **options) -> optimizer``
METHODS: dict[str, Callable[..., Any]] = {
    "bo-ei": _bo("ei"),
    "bo-kg": _bo("kg"),
    "random": _lazy("search", "RandomSearch"),
    "sobol": _lazy("search", "SobolSearch"),
    "optuna-tpe": _optuna("tpe"),
    "optuna-gp": _optuna("gp"),
    "zo-ranksgd": _lazy("zo", "ZORankSGD"),
    "zo-sgd": _lazy("zo", "ZOSGD"),
    "cma-es": _lazy("baselines", "CMAES"),
    "botorch-logei": _lazy("botorch_baseline", "BoTorchLogEI"),
}


def make_optimizer(method: str, bounds: Any, seed: int = 0, **options: Any) -> Any:
    """The ask/tell object of ``method`` (a BlackBoxOptimizer or, for ranking methods, a RankingOptimizer)."""
    if method not in METHODS:
        raise ValueError(f"unknown black-box method {method!r}; known: {', '.join(sorted(METHODS))}")
    try:
        return METHODS[method](bounds, seed, **options)
    except TypeError as exc:
        if "unexpected keyword" in str(exc):
            raise TypeError(f"method {method!r}: {exc}") from exc
        raise


def _evaluate(fun: Callable[[np.ndarray], Any], X: np.ndarray) -> np.ndarray:
    out = np.empty(len(X))
    for i, x in enumerate(X):
        v = fun(x.copy())
        try:
            out[i] = float(v)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"fun must return a real number, got {v!r} at x = {x.tolist()}") from exc
        if np.isnan(out[i]):
            raise ValueError(f"fun returned nan at x = {x.tolist()}")
    return out


def minimize_blackbox(
    fun: Callable[[np.ndarray], float] | None,
    bounds: Any,
    budget: int,
    method: str = "bo-ei",
    seed: int = 0,
    *,
    rank: Callable[[np.ndarray], Sequence[int]] | None = None,
    **options: Any,
) -> OptimizeResult:
    """Minimize ``fun`` over the box ``bounds`` with at most ``budget`` evaluations.

    Args:
        fun: ``fun(x) -> float`` for one point ``x`` of shape (d,). May be None for a ranking method
            given ``rank``.
        bounds: ``(low, high)`` pairs, an array of shape (d, 2), or ``scipy.optimize.Bounds``.
        budget: the number of evaluations (for ranking methods: of points shown to the oracle).
        method: one of :data:`METHODS` (``bo-ei``, ``bo-kg``, ``random``, ``sobol``, ``optuna-tpe``,
            ``optuna-gp``, ``zo-ranksgd``, ``zo-sgd``, ``cma-es``, ``botorch-logei``).
        seed: seeds every random choice; equal seeds give equal runs.
        rank: for ranking methods, ``rank(points) -> order``, indices of ``points`` best first (a
            prefix, the top k, is enough). Without it the ranking comes from ``fun``'s values by the
            exact oracle, and the method still sees only the ranking.
        **options: the method's options (see its class).

    Returns:
        ``scipy.optimize.OptimizeResult`` with ``x``, ``fun`` (the method's recommendation: the best
        point seen, or a descent method's iterate; ``fun`` is nan when only rankings were seen),
        ``nfev``, ``nit``, ``history`` (``x``, ``y``, ``best``: every evaluated point, its value and the
        best value so far), ``method`` and ``seed``. Methods with fixed batches stop when the next
        batch no longer fits in the budget (``nfev`` says how many were used).
    """
    budget = check_budget(budget)
    Box(bounds)  # validate before building anything
    opt = make_optimizer(method, bounds, seed, **options)
    ranking = isinstance(opt, RankingOptimizer)
    if fun is None and not (ranking and rank is not None):
        raise ValueError(f"method {method!r} needs fun" + (" or rank" if ranking else ""))
    if rank is not None and not ranking:
        raise ValueError(f"method {method!r} uses values, not a ranking oracle; pass fun, not rank")
    message = "budget exhausted"
    while opt.nfev < budget:
        if ranking:
            X = opt.ask()
        else:
            n = opt.batch_size()
            X = None if n is not None and opt.nfev + n > budget else opt.ask(n or 1)
        if X is None or opt.nfev + len(X) > budget:
            opt._pending = None
            size = len(X) if X is not None else n
            message = f"stopped: the next batch of {size} points exceeds the remaining {budget - opt.nfev}"
            break
        if ranking and rank is not None:
            values = _evaluate(fun, X) if fun is not None else None
            opt.tell(X, np.asarray(rank(X.copy())), values)
        elif ranking:
            opt.tell_values(X, _evaluate(fun, X))
        else:
            opt.tell(X, _evaluate(fun, X))
    return opt.result(message)
