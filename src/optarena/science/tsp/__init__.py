"""TSP: SoftDist heatmaps and heatmap-guided local search (Xia et al., ICML 2024), LKH-3 baseline.

Optional extra ``tsp`` (``elkai``, LKH-3 under a non-commercial licence) for :func:`lkh_solve` only.
"""

from optarena.science.tsp.heatmaps import (
    OFFICIAL_TAU,
    check_heatmap,
    default_tau,
    knn_heatmap,
    softdist,
    uniform_heatmap,
)
from optarena.science.tsp.instances import (
    check_coords,
    check_tour,
    distance_matrix,
    random_uniform,
    tour_length,
)
from optarena.science.tsp.lkh import elkai_available, lkh_solve
from optarena.science.tsp.search import SearchResult, candidate_lists, greedy_tour, solve, two_opt_delta

__all__ = [
    "OFFICIAL_TAU",
    "SearchResult",
    "candidate_lists",
    "check_coords",
    "check_heatmap",
    "check_tour",
    "default_tau",
    "distance_matrix",
    "elkai_available",
    "greedy_tour",
    "knn_heatmap",
    "lkh_solve",
    "random_uniform",
    "softdist",
    "solve",
    "tour_length",
    "two_opt_delta",
    "uniform_heatmap",
]
