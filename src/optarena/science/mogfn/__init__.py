"""Multi-Objective GFlowNets (Jain et al., ICML 2023): MOGFN-PC on a multi-objective HyperGrid with exact
target and model distributions, exact hypervolume, diversity metrics and an NSGA-II baseline (pymoo)."""

from optarena.science.mogfn.baselines import NSGA2Result, nsga2, pymoo_available, random_search
from optarena.science.mogfn.env import HyperGrid, check_beta, check_preference
from optarena.science.mogfn.exact import l1_distance, terminal_distribution, total_variation
from optarena.science.mogfn.hypervolume import hypervolume, pareto_mask
from optarena.science.mogfn.metrics import pareto_recall, set_hypervolume, topk_diversity
from optarena.science.mogfn.model import MOGFN
from optarena.science.mogfn.objectives import OBJECTIVES, Objective
from optarena.science.mogfn.specs import MOGFN_SPEC

__all__ = [
    "MOGFN",
    "MOGFN_SPEC",
    "OBJECTIVES",
    "HyperGrid",
    "NSGA2Result",
    "Objective",
    "check_beta",
    "check_preference",
    "hypervolume",
    "l1_distance",
    "nsga2",
    "pareto_mask",
    "pareto_recall",
    "pymoo_available",
    "random_search",
    "set_hypervolume",
    "terminal_distribution",
    "topk_diversity",
    "total_variation",
]
