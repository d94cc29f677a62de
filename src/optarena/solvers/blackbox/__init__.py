"""Black-box optimization: Bayesian optimization (GP + EI/KG), ZO-RankSGD, ZO-SGD, search floors, baselines.

Entry points: :func:`minimize_blackbox` (a whole run at a fixed budget) and the ask/tell objects from
:func:`make_optimizer` for users who evaluate elsewhere. Inputs are scaled to the unit cube inside;
everything is float64.
"""

from optarena.solvers.blackbox._common import BlackBoxOptimizer, RankingOptimizer
from optarena.solvers.blackbox.api import METHODS, make_optimizer, minimize_blackbox

__all__ = ["METHODS", "BlackBoxOptimizer", "RankingOptimizer", "make_optimizer", "minimize_blackbox"]
