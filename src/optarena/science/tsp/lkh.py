"""LKH-3 baseline through PyPI ``elkai`` (optional extra ``tsp``).

K. Helsgaun, "An Extension of the Lin-Kernighan-Helsgaun TSP Solver for Constrained Traveling Salesman
and Vehicle Routing Problems", Roskilde University, 2017 (LKH-3). ``elkai`` (github.com/fikisipi/elkai)
bundles LKH-3, whose code is free for academic and non-commercial use only: it is an optional
extra (``pip install optarena[tsp]``), never a core dependency, and callers skip when it is missing.

LKH reads ``EUC_2D`` instances, which round distances to integers, so coordinates are scaled by
``scale`` (default ``1e6``: distances exact to ~1e-6 in the unit square) before they are passed.
The returned length is recomputed in floating point on the original coordinates.
"""

from __future__ import annotations

import importlib.util
import time

import numpy as np

from optarena.science.tsp.instances import check_coords, check_tour, tour_length

__all__ = ["elkai_available", "lkh_solve"]


def elkai_available() -> bool:
    """True when the optional ``elkai`` package (LKH-3, non-commercial licence) is importable."""
    return importlib.util.find_spec("elkai") is not None


def lkh_solve(
    coords: np.ndarray,
    runs: int = 1,
    *,
    seed: int = 1,
    time_limit: float | None = None,
    scale: float = 1e6,
) -> tuple[np.ndarray, float, float]:
    """Solve with LKH-3 (``elkai``): returns ``(tour, length, seconds)``.

    Args:
        coords: ``(n, 2)`` coordinates.
        runs: LKH ``RUNS`` (independent trials, best kept).
        seed: LKH ``SEED``.
        time_limit: LKH ``TIME_LIMIT`` in seconds (checked by LKH between trials), ``None`` for none.
        scale: coordinate scale before LKH's integer rounding.

    Raises:
        ImportError: ``elkai`` is not installed (``pip install optarena[tsp]``).
    """
    c = check_coords(coords)
    if int(runs) != runs or runs < 1:
        raise ValueError(f"runs must be an integer >= 1, got {runs!r}")
    if time_limit is not None and not (np.isfinite(time_limit) and time_limit > 0):
        raise ValueError(f"time_limit must be finite and > 0, got {time_limit!r}")
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be finite and > 0, got {scale!r}")
    try:
        from elkai import _elkai  # the C extension; elkai's public classes cannot set SEED or TIME_LIMIT
    except ImportError as exc:
        raise ImportError("LKH-3 needs the optional extra: pip install 'optarena[tsp]' (elkai)") from exc
    n = c.shape[0]
    params = f"RUNS = {int(runs)}\nSEED = {int(seed)}\nPROBLEM_FILE = :stdin:\n"
    if time_limit is not None:
        params += f"TIME_LIMIT = {float(time_limit)}\n"
    lines = [f"TYPE : TSP\nDIMENSION : {n}\nEDGE_WEIGHT_TYPE : EUC_2D\nNODE_COORD_SECTION"]
    lines += [f"{i + 1} {x * scale:.3f} {y * scale:.3f}" for i, (x, y) in enumerate(c)]
    problem = "\n".join(lines) + "\nEOF\n"
    t0 = time.perf_counter()
    sol = _elkai.solve_problem(params, problem)
    seconds = time.perf_counter() - t0
    tour = check_tour(np.asarray(sol, dtype=np.int64) - 1, n)
    return tour, tour_length(c, tour), seconds
