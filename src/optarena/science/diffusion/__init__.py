"""Diffusion ODE samplers on a small 2-D model: DDIM, DPM-Solver++(2M), the USF unified sampler and S^3 search."""

from optarena.science.diffusion.metrics import endpoint_error, sliced_wasserstein
from optarena.science.diffusion.model import DATASETS, NoiseMLP, VPSchedule, sample_data, train_model
from optarena.science.diffusion.search import SearchResult, search_schedule
from optarena.science.diffusion.solvers import (
    SCHEDULE_KINDS,
    SolverSchedule,
    StepChoice,
    baseline_schedule,
    check_timesteps,
    ddim,
    dpm_solver_pp_2m,
    reference_solve,
    timesteps,
    unified_sample,
)

__all__ = [
    "DATASETS",
    "SCHEDULE_KINDS",
    "NoiseMLP",
    "SearchResult",
    "SolverSchedule",
    "StepChoice",
    "VPSchedule",
    "baseline_schedule",
    "check_timesteps",
    "ddim",
    "dpm_solver_pp_2m",
    "endpoint_error",
    "reference_solve",
    "sample_data",
    "search_schedule",
    "sliced_wasserstein",
    "timesteps",
    "train_model",
    "unified_sample",
]
