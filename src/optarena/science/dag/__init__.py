"""Linear DAG structure learning: TOPO (topological swaps) and a NOTEARS baseline, with SEM data and SHD."""

from optarena.science.dag.data import is_dag, shd, simulate_dag, simulate_linear_sem, topological_order
from optarena.science.dag.notears import notears_linear
from optarena.science.dag.score import least_squares_score, order_refit
from optarena.science.dag.topo import TOPO_SPEC, fit, refine

__all__ = [
    "TOPO_SPEC",
    "fit",
    "is_dag",
    "least_squares_score",
    "notears_linear",
    "order_refit",
    "refine",
    "shd",
    "simulate_dag",
    "simulate_linear_sem",
    "topological_order",
]
