"""Baselines on the HyperGrid: NSGA-II (pymoo, optional) and uniform random search.

NSGA-II: K. Deb, A. Pratap, S. Agarwal, T. Meyarivan, "A Fast and Elitist Multiobjective Genetic
Algorithm: NSGA-II", IEEE TEVC 2002, through pymoo (J. Blank, K. Deb, "pymoo: Multi-Objective
Optimization in Python", IEEE Access 2020). Integer coordinates with pymoo's documented recipe for
discrete variables: integer random sampling, SBX (eta 3) and polynomial mutation (eta 3) on floats
followed by rounding, duplicates eliminated; objectives are the grid's normalised ``R_i`` (maximised,
passed to pymoo negated). The run stops at the first generation whose evaluations reach ``n_evals``
(pymoo's ``n_eval`` termination), so it may spend up to one generation more; ``n_evals_`` is exact.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass

import numpy as np

from optarena.science.mogfn.env import HyperGrid
from optarena.science.mogfn.hypervolume import hypervolume

__all__ = ["NSGA2Result", "nsga2", "pymoo_available", "random_search"]


def pymoo_available() -> bool:
    """True when pymoo is installed (``pip install pymoo``)."""
    return importlib.util.find_spec("pymoo") is not None


@dataclass
class NSGA2Result:
    """Final population ``states`` (n, ndim), every state evaluated (``archive``, flat indices, unique),
    the number of objective evaluations, the wall time and, when ``target_hv`` was given, the
    evaluations spent when the population's hypervolume first reached it (None: never)."""

    states: np.ndarray
    archive: np.ndarray
    n_evals: int
    time_s: float
    evals_to_target: int | None = None


def nsga2(
    env: HyperGrid, n_evals: int, pop_size: int = 100, seed: int = 0, target_hv: float | None = None
) -> NSGA2Result:
    """NSGA-II on the grid with a budget of ``n_evals`` objective evaluations (needs pymoo).

    ``target_hv``: also record the evaluations after which the population's hypervolume (reference 0)
    first reached ``target_hv (1 - 1e-9)`` (e.g. the true Pareto front's).
    """
    if isinstance(n_evals, bool) or not isinstance(n_evals, int | np.integer) or n_evals < 1:
        raise ValueError(f"n_evals must be an integer >= 1, got {n_evals!r}")
    if isinstance(pop_size, bool) or not isinstance(pop_size, int | np.integer) or pop_size < 2:
        raise ValueError(f"pop_size must be an integer >= 2, got {pop_size!r}")
    if not pymoo_available():
        raise ImportError("NSGA-II needs pymoo: pip install pymoo")
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.callback import Callback
    from pymoo.core.problem import Problem
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair
    from pymoo.operators.sampling.rnd import IntegerRandomSampling
    from pymoo.optimize import minimize

    seen = np.zeros(env.n_states, dtype=bool)
    count = [0]

    class _Grid(Problem):
        def __init__(self) -> None:
            super().__init__(n_var=env.ndim, n_obj=env.n_objectives, xl=0, xu=env.height - 1, vtype=int)

        def _evaluate(self, X, out, *args, **kwargs):
            idx = env.index(np.clip(np.rint(X), 0, env.height - 1).astype(np.int64))
            seen[idx] = True
            count[0] += len(idx)
            out["F"] = -env.rewards[idx]

    reached: list[int] = []

    class _Watch(Callback):
        def notify(self, algorithm):
            if target_hv is not None and not reached:
                F = -algorithm.pop.get("F")
                if hypervolume(F) >= target_hv * (1 - 1e-9):
                    reached.append(count[0])

    algo = NSGA2(
        pop_size=int(pop_size),
        sampling=IntegerRandomSampling(),
        crossover=SBX(prob=1.0, eta=3.0, vtype=float, repair=RoundingRepair()),
        mutation=PM(prob=1.0, eta=3.0, vtype=float, repair=RoundingRepair()),
        eliminate_duplicates=True,
    )
    t0 = time.perf_counter()
    res = minimize(_Grid(), algo, ("n_eval", int(n_evals)), seed=int(seed), callback=_Watch(), verbose=False)
    elapsed = time.perf_counter() - t0
    X = np.clip(np.rint(res.pop.get("X")), 0, env.height - 1).astype(np.int64)
    return NSGA2Result(X, np.flatnonzero(seen), count[0], elapsed, reached[0] if reached else None)


def random_search(env: HyperGrid, n: int, seed: int = 0) -> np.ndarray:
    """``n`` states drawn uniformly from the grid, ``(n, ndim)``."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    return env.states[np.random.default_rng(seed).integers(0, env.n_states, size=int(n))]
