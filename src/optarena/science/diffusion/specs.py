"""Registry entries of the diffusion-sampler methods (family ``"science"``).

Each factory answers ``factory(hparams) -> run(model, sched, nfe, calib_noise, seed) -> SolverSchedule``;
sample with :func:`optarena.science.diffusion.unified_sample`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from optarena.core.paper import PaperRef
from optarena.core.searchspace import Param, SearchSpace
from optarena.core.spec import MethodSpec

__all__ = ["DPM_SOLVER_PP_2M_SPEC", "USF_SEARCH_SPEC", "make_dpm_solver_pp_2m", "make_usf_search"]

Runner = Callable[..., Any]


def make_usf_search(hparams: Mapping[str, Any]) -> Runner:
    """``run(model, sched, nfe, calib_noise, seed=0) -> SolverSchedule`` of the S^3-style search."""
    h = dict(hparams)

    def run(model: Any, sched: Any, nfe: int, calib_noise: Any, seed: int = 0) -> Any:
        from optarena.science.diffusion.search import search_schedule

        return search_schedule(model, sched, nfe, calib_noise, seed=seed, **h).best

    return run


def make_dpm_solver_pp_2m(hparams: Mapping[str, Any]) -> Runner:
    """``run(model, sched, nfe, calib_noise=None, seed=0) -> SolverSchedule`` of DPM-Solver++(2M) (no search)."""
    h = dict(hparams)

    def run(model: Any, sched: Any, nfe: int, calib_noise: Any = None, seed: int = 0) -> Any:
        from optarena.science.diffusion.solvers import baseline_schedule

        return baseline_schedule(sched, nfe, h["grid"])

    return run


USF_SEARCH_SPEC = MethodSpec(
    name="usf-search",
    family="science",
    factory="optarena.science.diffusion.specs:make_usf_search",
    summary="USF / S^3: predictor-guided evolutionary search of per-step diffusion ODE solver choices",
    search_space=SearchSpace(
        (
            Param("budget", 10, 2000, log=True, integer=True),
            Param("init_frac", 0.1, 1.0),
            Param("per_gen", 1, 32, integer=True),
            Param("mutation_scale", 0.005, 1.0, log=True),
        )
    ),
    defaults={"budget": 300, "init_frac": 0.4, "per_gen": 8, "mutation_scale": 0.05},
    paper=PaperRef(
        "S. Liu, X. Ning, H. Yang, Y. Wang",
        "A Unified Sampling Framework for Solver Searching of Diffusion Probabilistic Models",
        "ICLR",
        2024,
        "2312.07243",
    ),
    capabilities=frozenset({"diffusion-sampler", "calibration-search"}),
    status="experimental",
)

DPM_SOLVER_PP_2M_SPEC = MethodSpec(
    name="dpm-solver-pp-2m",
    family="science",
    factory="optarena.science.diffusion.specs:make_dpm_solver_pp_2m",
    summary="DPM-Solver++(2M): multistep 2nd-order data-prediction exponential integrator (baseline)",
    search_space=SearchSpace((Param("grid", choices=("logSNR", "time_uniform", "time_quadratic")),)),
    defaults={"grid": "logSNR"},
    paper=PaperRef(
        "C. Lu, Y. Zhou, F. Bao, J. Chen, C. Li, J. Zhu",
        "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion Probabilistic Models",
        "arXiv",
        2022,
        "2211.01095",
    ),
    capabilities=frozenset({"diffusion-sampler"}),
    status="experimental",
)
