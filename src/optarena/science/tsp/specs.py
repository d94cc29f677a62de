"""Registry entries of the TSP methods (family ``"science"``).

Each factory answers ``factory(hparams) -> run(coords, time_budget, seed) -> (tour, length)``:
``coords`` an ``(n, 2)`` array, ``time_budget`` in seconds. :func:`optarena.science.tsp.solve` and
:func:`optarena.science.tsp.lkh_solve` return the full records.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from optarena.core.paper import PaperRef
from optarena.core.searchspace import Param, SearchSpace
from optarena.core.spec import MethodSpec

__all__ = ["HEATMAP_SEARCH_SPEC", "LKH_SPEC", "make_heatmap_search", "make_lkh"]

_XIA = PaperRef(
    "Y. Xia, X. Yang, Z. Liu, Z. Liu, L. Song, J. Bian",
    "Position: Rethinking Post-Hoc Search-Based Neural Approaches for Solving Large-Scale Traveling "
    "Salesman Problems",
    "ICML",
    2024,
)

_HEATMAPS = ("softdist", "knn", "uniform")
_SEARCH_KEYS = {"n_candidates", "samples_per_city", "patience", "kick_window", "oropt"}

Run = Callable[[np.ndarray, float, int], tuple[np.ndarray, float]]


def make_heatmap_search(hparams: Mapping[str, Any]) -> Run:
    """``run(coords, time_budget, seed) -> (tour, length)``: heatmap (``heatmap``, ``tau``, ``k``) + search."""
    h = dict(hparams)
    heatmap = h.pop("heatmap", "softdist")
    if heatmap not in _HEATMAPS:
        raise ValueError(f"heatmap must be one of {_HEATMAPS}, got {heatmap!r}")
    tau, k = h.pop("tau", None), h.pop("k", 10)
    unknown = set(h) - _SEARCH_KEYS
    if unknown:
        raise ValueError(
            f"unknown hyperparameters {sorted(unknown)}; known: {sorted(_SEARCH_KEYS | {'heatmap', 'tau', 'k'})}"
        )

    def run(coords: np.ndarray, time_budget: float, seed: int = 0) -> tuple[np.ndarray, float]:
        from optarena.science.tsp.heatmaps import knn_heatmap, softdist, uniform_heatmap
        from optarena.science.tsp.search import solve

        if heatmap == "softdist":
            H = softdist(coords, tau, k)
        elif heatmap == "knn":
            H = knn_heatmap(coords, k)
        else:
            H = uniform_heatmap(coords)
        r = solve(coords, H, time_budget, seed=seed, **h)
        return r.tour, r.length

    return run


def make_lkh(hparams: Mapping[str, Any]) -> Run:
    """``run(coords, time_budget, seed) -> (tour, length)``: LKH-3 via ``elkai`` with ``TIME_LIMIT = time_budget``."""
    h = dict(hparams)
    runs = h.pop("runs", 1)
    if h:
        raise ValueError(f"unknown hyperparameters {sorted(h)}; known: ['runs']")

    def run(coords: np.ndarray, time_budget: float, seed: int = 0) -> tuple[np.ndarray, float]:
        from optarena.science.tsp.lkh import lkh_solve

        tour, length, _ = lkh_solve(coords, runs, seed=seed + 1, time_limit=time_budget)
        return tour, length

    return run


HEATMAP_SEARCH_SPEC = MethodSpec(
    name="softdist-search",
    family="science",
    factory="optarena.science.tsp.specs:make_heatmap_search",
    summary="SoftDist heatmap + heatmap-guided 2-opt/Or-opt local search for the TSP (MCTS simplification)",
    search_space=SearchSpace(
        (
            Param("tau", 1e-3, 1e-1, log=True),
            Param("k", 5, 20, integer=True),
            Param("samples_per_city", 1, 10, integer=True),
        )
    ),
    defaults={"heatmap": "softdist", "tau": None, "k": 10, "n_candidates": 10, "samples_per_city": 3},
    paper=_XIA,
    capabilities=frozenset({"tsp", "time-budget", "heatmap"}),
    status="experimental",
)

LKH_SPEC = MethodSpec(
    name="lkh3",
    family="science",
    factory="optarena.science.tsp.specs:make_lkh",
    summary="LKH-3 (elkai, optional extra 'tsp', non-commercial licence) with a time limit",
    search_space=SearchSpace((Param("runs", 1, 10, integer=True),)),
    defaults={"runs": 1},
    paper=PaperRef(
        "K. Helsgaun",
        "An Extension of the Lin-Kernighan-Helsgaun TSP Solver for Constrained Traveling Salesman and "
        "Vehicle Routing Problems",
        "Technical report, Roskilde University",
        2017,
    ),
    capabilities=frozenset({"tsp", "time-budget", "optional-dependency"}),
    status="experimental",
)
