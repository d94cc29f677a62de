"""Penalty-method claim (Kwon, Kwon, Wright, Nowak, ICLR 2024): the error of the penalty solution against
the true bilevel solution is O(sigma).

Per seed: a ridge-tuning problem (x = log penalty; data drawn from the seed) whose bilevel solution is
computed independently (closed form + root finding). For each sigma on a grid the deterministic penalty
method runs to convergence; the metric is the least-squares slope of log |x_sigma - x*| against log sigma.
"""

from __future__ import annotations

import numpy as np

from optarena.solvers.bilevel.api import solve_bilevel
from optarena.solvers.bilevel.problems import ridge_tuning

SIGMAS = (0.2, 0.1, 0.05, 0.02, 0.01)
QUICK_SIGMAS = (0.1, 0.03, 0.01)


def measure(seed: int, quick: bool, iterations: int = 150, inner_steps: int = 30) -> dict[str, float]:
    problem = ridge_tuning(seed)
    sigmas = QUICK_SIGMAS if quick else SIGMAS
    its = 60 if quick else iterations
    errors = []
    for s in sigmas:
        opts = {"sigma": s, "alpha": 3.0, "gamma": 0.3, "inner_steps": 20 if quick else inner_steps}
        r = solve_bilevel(problem, "penalty", max_iter=its, options=opts)
        errors.append(abs(float(r.x[0]) - float(problem.x_star[0])))
    slope = float(np.polyfit(np.log(sigmas), np.log(np.maximum(errors, 1e-300)), 1)[0])
    out = {"slope": slope, "x_star": float(problem.x_star[0])}
    out.update({f"error_sigma_{s:g}": e for s, e in zip(sigmas, errors, strict=True)})
    return out
