"""MethodSpecs of the black-box family: ``factory(hparams) -> solve(fun, bounds, budget, seed)``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from optarena.core.paper import PaperRef
from optarena.core.searchspace import Param, SearchSpace
from optarena.core.spec import MethodSpec

__all__ = [
    "BOTORCH_LOGEI_SPEC",
    "BO_EI_SPEC",
    "BO_KG_SPEC",
    "CMA_ES_SPEC",
    "OPTUNA_GP_SPEC",
    "OPTUNA_TPE_SPEC",
    "RANDOM_SEARCH_SPEC",
    "SOBOL_SEARCH_SPEC",
    "ZO_RANKSGD_SPEC",
    "ZO_SGD_SPEC",
]


def _factory(method: str) -> Callable[[Mapping[str, Any]], Callable[..., Any]]:
    def factory(hparams: Mapping[str, Any]) -> Callable[..., Any]:
        from optarena.solvers.blackbox.api import minimize_blackbox

        options = dict(hparams)

        def solve(fun: Callable[..., float], bounds: Any, budget: int, seed: int) -> Any:
            return minimize_blackbox(fun, bounds, budget, method, seed, **options)

        return solve

    factory.__name__ = method.replace("-", "_")
    return factory


bo_ei = _factory("bo-ei")
bo_kg = _factory("bo-kg")
random_search = _factory("random")
sobol_search = _factory("sobol")
optuna_tpe = _factory("optuna-tpe")
optuna_gp = _factory("optuna-gp")
zo_ranksgd = _factory("zo-ranksgd")
zo_sgd = _factory("zo-sgd")
cma_es = _factory("cma-es")
botorch_logei = _factory("botorch-logei")

_HERE = "optarena.solvers.blackbox.specs"
_FRAZIER = PaperRef(
    "P. I. Frazier", "A Tutorial on Bayesian Optimization", "arXiv preprint", 2018, "1807.02811"
)
_BO_SPACE = SearchSpace(
    (
        Param("n_candidates", 64, 4096, log=True, integer=True),
        Param("n_restarts", 1, 10, integer=True),
        Param("n_fit_starts", 1, 8, integer=True),
        Param("noisy", choices=(False, True)),
    )
)
_BO_DEFAULTS = {"n_candidates": 512, "n_restarts": 5, "n_fit_starts": 3, "noisy": False}

BO_EI_SPEC = MethodSpec(
    name="bo-ei",
    family="blackbox",
    factory=f"{_HERE}:bo_ei",
    summary="GP (Matern 5/2 ARD, ML hyperparameters) Bayesian optimization with expected improvement",
    search_space=_BO_SPACE,
    defaults=_BO_DEFAULTS,
    paper=_FRAZIER,
    capabilities=frozenset({"ask-tell", "batch", "noisy"}),
)
BO_KG_SPEC = MethodSpec(
    name="bo-kg",
    family="blackbox",
    factory=f"{_HERE}:bo_kg",
    summary="GP Bayesian optimization with the discretized knowledge gradient",
    search_space=_BO_SPACE,
    defaults=_BO_DEFAULTS,
    paper=_FRAZIER,
    capabilities=frozenset({"ask-tell", "batch", "noisy"}),
)
RANDOM_SEARCH_SPEC = MethodSpec(
    name="random-search",
    family="blackbox",
    factory=f"{_HERE}:random_search",
    summary="Uniform random search (floor)",
    search_space=SearchSpace(),
    paper=PaperRef("J. Bergstra, Y. Bengio", "Random Search for Hyper-Parameter Optimization", "JMLR", 2012),
    capabilities=frozenset({"ask-tell", "batch"}),
)
SOBOL_SEARCH_SPEC = MethodSpec(
    name="sobol-search",
    family="blackbox",
    factory=f"{_HERE}:sobol_search",
    summary="Scrambled Sobol sequence (floor)",
    search_space=SearchSpace(),
    paper=PaperRef(
        "I. M. Sobol'",
        "On the distribution of points in a cube and the approximate evaluation of integrals",
        "USSR Computational Mathematics and Mathematical Physics",
        1967,
    ),
    capabilities=frozenset({"ask-tell", "batch"}),
)
_OPTUNA = PaperRef(
    "T. Akiba, S. Sano, T. Yanase, T. Ohta, M. Koyama",
    "Optuna: A Next-generation Hyperparameter Optimization Framework",
    "KDD",
    2019,
    "1907.10902",
)
OPTUNA_TPE_SPEC = MethodSpec(
    name="optuna-tpe",
    family="blackbox",
    factory=f"{_HERE}:optuna_tpe",
    summary="Optuna's TPE sampler with its defaults (baseline; needs optuna)",
    search_space=SearchSpace(),
    paper=_OPTUNA,
    capabilities=frozenset({"ask-tell", "batch", "needs-optuna"}),
)
OPTUNA_GP_SPEC = MethodSpec(
    name="optuna-gp",
    family="blackbox",
    factory=f"{_HERE}:optuna_gp",
    summary="Optuna's GP sampler with its defaults (baseline; needs optuna and torch)",
    search_space=SearchSpace(),
    paper=_OPTUNA,
    capabilities=frozenset({"ask-tell", "batch", "needs-optuna"}),
)
_ZO_PARAMS = (
    Param("m", 2, 50, integer=True),
    Param("mu", 1e-4, 1e-1, log=True),
    Param("step_size", 1e-3, 2.0, log=True),
    Param("line_search_steps", 1, 10, integer=True),
    Param("adapt_step", choices=(False, True)),
)
ZO_RANKSGD_SPEC = MethodSpec(
    name="zo-ranksgd",
    family="blackbox",
    factory=f"{_HERE}:zo_ranksgd",
    summary="ZO-RankSGD: rank-based zeroth-order descent with a rank line search (sees only rankings)",
    search_space=SearchSpace((*_ZO_PARAMS, Param("k", 1, 50, integer=True))),
    defaults={"m": 10, "k": 5, "mu": 0.01, "step_size": 0.5, "line_search_steps": 5, "adapt_step": False},
    paper=PaperRef(
        "Z. Tang, D. Rybin, T.-H. Chang",
        "Zeroth-Order Optimization Meets Human Feedback: Provable Learning via Ranking Oracles",
        "ICLR",
        2024,
        "2303.03751",
    ),
    capabilities=frozenset({"ask-tell", "ranking-oracle"}),
)
ZO_SGD_SPEC = MethodSpec(
    name="zo-sgd",
    family="blackbox",
    factory=f"{_HERE}:zo_sgd",
    summary="ZO-SGD with the two-point Gaussian estimator (values), optional line search",
    search_space=SearchSpace((*_ZO_PARAMS, Param("line_search", choices=(False, True)))),
    defaults={
        "m": 10,
        "mu": 0.01,
        "step_size": 0.5,
        "line_search_steps": 5,
        "adapt_step": False,
        "line_search": False,
    },
    paper=PaperRef(
        "Y. Nesterov, V. Spokoiny",
        "Random Gradient-Free Minimization of Convex Functions",
        "Foundations of Computational Mathematics",
        2017,
    ),
    capabilities=frozenset({"ask-tell"}),
)
CMA_ES_SPEC = MethodSpec(
    name="cma-es",
    family="blackbox",
    factory=f"{_HERE}:cma_es",
    summary="CMA-ES via the cma package (baseline; needs cma)",
    search_space=SearchSpace((Param("sigma0", 0.01, 0.5, log=True),)),
    defaults={"sigma0": 0.2},
    paper=PaperRef(
        "N. Hansen, A. Ostermeier",
        "Completely Derandomized Self-Adaptation in Evolution Strategies",
        "Evolutionary Computation",
        2001,
    ),
    capabilities=frozenset({"ask-tell", "needs-cma"}),
)
BOTORCH_LOGEI_SPEC = MethodSpec(
    name="botorch-logei",
    family="blackbox",
    factory=f"{_HERE}:botorch_logei",
    summary="BoTorch's SingleTaskGP (its defaults) with LogEI, qLogNEI when noisy (baseline; needs botorch)",
    search_space=SearchSpace(
        (
            Param("num_restarts", 1, 20, integer=True),
            Param("raw_samples", 64, 2048, log=True, integer=True),
            Param("noisy", choices=(False, True)),
        )
    ),
    defaults={"num_restarts": 10, "raw_samples": 512, "noisy": False},
    paper=PaperRef(
        "S. Ament, S. Daulton, D. Eriksson, M. Balandat, E. Bakshy",
        "Unexpected Improvements to Expected Improvement for Bayesian Optimization",
        "NeurIPS",
        2023,
        "2310.20708",
    ),
    capabilities=frozenset({"ask-tell", "batch", "noisy", "needs-botorch"}),
)
