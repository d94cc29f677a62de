"""Time of one Bayesian-optimization iteration (GP fit + acquisition optimization) at n evaluations.

The issue's target: at 100 evaluations in 6 dimensions, well under a second per iteration. The
benchmark builds a BayesOpt on Hartmann6 with 100 observations (Sobol design, seeded), then times
``ask()`` (hyperparameter fit by multi-start L-BFGS + multi-start acquisition optimization) for
several consecutive iterations, each followed by ``tell`` (so every ask refits). Reports the median
and max per iteration for EI and KG.

    python benchmarks/bo_step_time.py [--n 100] [--iters 5] [--acq ei kg]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def step_times(acq: str, n: int, iters: int, seed: int = 0) -> list[float]:
    from optarena.solvers.blackbox.bo import BayesOpt, sobol_points
    from optarena.solvers.blackbox.functions import HARTMANN6

    opt = BayesOpt(HARTMANN6.bounds, seed, acquisition=acq, n_init=1)
    X = sobol_points(n, 6, np.random.default_rng(seed))
    for x in X:  # feed n observations through the public interface
        opt._pending = None
        opt.tell(x[None, :], [HARTMANN6(x)])
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        x = opt.ask(1)
        times.append(time.perf_counter() - t0)
        opt.tell(x, [HARTMANN6(x[0])])
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--acq", nargs="+", default=["ei", "kg"])
    args = ap.parse_args()
    for acq in args.acq:
        t = step_times(acq, args.n, args.iters)
        print(
            f"bo-{acq}: n={args.n}, d=6: median {statistics.median(t):.3f} s/iter, max {max(t):.3f} s "
            f"({args.iters} iterations)"
        )


if __name__ == "__main__":
    main()
