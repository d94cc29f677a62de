"""Claim experiment: S^3-style solver search for a 2-D diffusion model at 5 NFE (Liu et al., ICLR 2024).

One seed = one trained model and fresh noise. An MLP noise predictor (VP linear-beta schedule) is trained
on standardized two moons (``train_model``, 4000 Adam steps). The solver search
(:func:`optarena.science.diffusion.search_schedule`, ``budget`` evaluations) minimises the mean endpoint
error on a calibration noise set (``n_calib`` points) against a 500-step reference solve of the same
probability-flow ODE. On a held-out noise set (``n_test`` points, other seed) we compare the searched
solver with DPM-Solver++(2M) on the logSNR-uniform grid and on the time-quadratic grid; the baseline
credited on each metric is the better of the two on that seed (``*_2m``). Metrics: sliced Wasserstein-2
distance (``n_proj`` random directions, fixed per seed) to ``n_test`` fresh data points, and the mean
Euclidean distance to the reference ODE endpoint of the same held-out noise.
"""

from __future__ import annotations

import time

import torch

from optarena.science.diffusion import (
    baseline_schedule,
    ddim,
    endpoint_error,
    reference_solve,
    sample_data,
    search_schedule,
    sliced_wasserstein,
    timesteps,
    train_model,
    unified_sample,
)


def measure(
    seed: int,
    quick: bool,
    nfe: int = 5,
    data: str = "moons",
    train_steps: int = 4000,
    budget: int = 300,
    n_calib: int = 1000,
    n_test: int = 4000,
    n_proj: int = 500,
    ref_nfe: int = 500,
) -> dict[str, float]:
    if quick:
        train_steps, budget, n_calib, n_test, n_proj, ref_nfe = 300, 30, 300, 500, 100, 100
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    model, sched = train_model(seed, data, steps=train_steps)
    t_train = time.perf_counter() - t0
    g = torch.Generator().manual_seed(1000 * seed + 1)
    calib = torch.randn(n_calib, 2, generator=g, dtype=torch.float64)
    test = torch.randn(n_test, 2, generator=g, dtype=torch.float64)
    t0 = time.perf_counter()
    res = search_schedule(model, sched, nfe, calib, budget=budget, seed=seed, ref_nfe=ref_nfe)
    t_search = time.perf_counter() - t0
    ref = reference_solve(model, sched, test, ref_nfe)
    target = sample_data(data, n_test, 1000 * seed + 3)
    proj_seed = 1000 * seed + 4

    def swd(x: torch.Tensor) -> float:
        return sliced_wasserstein(x, target, n_proj, proj_seed)

    runs = {
        "searched": unified_sample(model, sched, test, res.best),
        "2m_logsnr": unified_sample(model, sched, test, baseline_schedule(sched, nfe, "logSNR")),
        "2m_quad": unified_sample(model, sched, test, baseline_schedule(sched, nfe, "time_quadratic")),
        "ddim_logsnr": ddim(model, sched, test, timesteps(sched, nfe, "logSNR")),
    }
    out: dict[str, float] = {}
    for name, x in runs.items():
        out[f"swd_{name}"] = swd(x)
        out[f"ref_err_{name}"] = endpoint_error(x, ref)
    out["swd_2m"] = min(out["swd_2m_logsnr"], out["swd_2m_quad"])
    out["ref_err_2m"] = min(out["ref_err_2m_logsnr"], out["ref_err_2m_quad"])
    out["swd_diff"] = out["swd_searched"] - out["swd_2m"]
    out["swd_lower"] = float(out["swd_searched"] < out["swd_2m"])
    out["ref_err_ratio"] = out["ref_err_searched"] / out["ref_err_2m"]
    out["ref_err_lower"] = float(out["ref_err_searched"] < out["ref_err_2m"])
    out["swd_reference_ode"] = swd(ref)
    out["swd_data_floor"] = swd(sample_data(data, n_test, 1000 * seed + 5))
    out["calib_score_searched"] = res.best_score
    out["calib_score_2m_logsnr"] = res.baseline_score
    out["n_evals"] = float(res.n_evals)
    out["time_train_s"] = t_train
    out["time_search_s"] = t_search
    return out
