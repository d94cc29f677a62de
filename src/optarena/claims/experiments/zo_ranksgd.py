"""Claim experiment: ZO-RankSGD (Tang, Rybin, Chang, ICLR 2024) on a d = 100 quadratic.

One seed draws the quadratic ``f(x) = sum_i lam_i (x_i - c_i)^2`` (lam log-spaced in [1, 10], c ~ U[-1, 1]^d,
box [-3, 3]^d, start at the box centre) and spends the same query budget on:
- ZO-RankSGD, which sees only the (m, k) = (10, 5) top-k rankings of the exact oracle (and the top-1 of
  its line-search points);
- ZO-SGD with values (two-point Gaussian estimator, m = 10 directions) and the same line search on values;
- random search (uniform in the box); CMA-ES (the ``cma`` package, informational, full mode only,
  if installed).

Both ZO methods share mu = 0.01, step_size = 0.5, 5 line-search steps with gamma = 0.5 and the
adaptive base step (unit-cube coordinates). Loss = f at the method's final iterate (random search and
CMA-ES: the best point seen); f* = 0.
"""

from __future__ import annotations

import importlib.util
import math

from optarena.solvers.blackbox import minimize_blackbox
from optarena.solvers.blackbox.functions import quadratic

ZO = {"m": 10, "mu": 0.01, "step_size": 0.5, "line_search_steps": 5, "gamma": 0.5, "adapt_step": True}


def measure(seed: int, quick: bool, dim: int = 100, budget: int = 4000, k: int = 5) -> dict[str, float]:
    if quick:
        budget = 600
    q = quadratic(dim, condition=10.0, seed=seed)
    rank = minimize_blackbox(q.f, q.bounds, budget, "zo-ranksgd", seed, k=k, **ZO)
    zosgd = minimize_blackbox(q.f, q.bounds, budget, "zo-sgd", seed, line_search=True, **ZO)
    rnd = minimize_blackbox(q.f, q.bounds, budget, "random", seed)
    out = {
        "initial_loss": float(q.f(q.bounds.mean(axis=1))),
        "rank_loss": float(q.f(rank.x)),
        "zo_sgd_loss": float(q.f(zosgd.x)),
        "random_loss": float(rnd.fun),
        "rank_queries": float(rank.nfev),
        "zo_sgd_queries": float(zosgd.nfev),
    }
    out["rank_over_zo_sgd"] = out["rank_loss"] / out["zo_sgd_loss"]
    out["rank_over_random"] = out["rank_loss"] / out["random_loss"]
    if not quick and importlib.util.find_spec("cma") is not None:
        out["cma_loss"] = float(minimize_blackbox(q.f, q.bounds, budget, "cma-es", seed).fun)
    else:
        out["cma_loss"] = math.nan
    return out
