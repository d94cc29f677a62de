"""Claim experiment: LightSB's conditional plans on entropic OT pairs with a known solution.

One seed = one random pair per dimension (``random_gaussian_pair``: full covariances with spectra
log-spaced over [0.1, 10] and random rotations, ``mu0 = 0``, ``mu1 ~ N(0, I)``; the same marginals for
every eps), solved at each eps. Per (dim, eps):

- LightSB (``K`` components, full ``S``, the authors' lr for eps unless ``lr`` is given, batch 128)
  fitted on fresh samples of both marginals every step (the authors' benchmark protocol), timed;
- Sinkhorn (POT ``ot.sinkhorn``, log-domain, ``n_sinkhorn`` samples per side, same eps), its plan rows
  extended to the test points (:class:`SinkhornConditional`), timed; skipped (NaN) without POT;
- the independent coupling (``pi(. | x) = P1``).

Metric: conditional BW-UVP at ``n_test`` test points ``x ~ P0`` against the exact conditional
(:func:`cond_bw_uvp`): LightSB by a Gaussian fitted to ``n_cond`` samples of its conditional (the
benchmark's protocol); Sinkhorn and the independent coupling by their exact conditional moments
(weighted plan rows; ``P1``'s moments), which spares them the sampling error. The sampling floor is
the BW-UVP of ``n_cond`` samples of the true conditional itself at the same test points.
``problem="mixture"`` swaps in Gushchin et al.'s benchmark construction (``random_mixture_pair``;
diagonal ``S`` by default, as the authors), not used by the claim's rules.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from optarena.science.lightsb import (
    LightSB,
    SinkhornConditional,
    cond_bw_uvp,
    gaussian_fit,
    pot_available,
    random_gaussian_pair,
    random_mixture_pair,
)


def _key(d: int, eps: float) -> str:
    return f"d{d}_eps{eps:g}".replace(".", "p")


def measure(
    seed: int,
    quick: bool,
    dims: tuple[int, ...] | list[int] = (2, 16),
    eps_list: tuple[float, ...] | list[float] = (0.1, 1.0, 10.0),
    K: int = 50,
    cov: str = "full",
    steps: int = 10_000,
    batch_size: int = 128,
    lr: float | None = None,
    n_test: int = 100,
    n_cond: int = 1000,
    n_sinkhorn: int = 1000,
    sinkhorn_iter: int = 2000,
    problem: str = "gaussian",
) -> dict[str, float]:
    if quick:
        dims, eps_list, K, steps, n_test, n_cond, n_sinkhorn = (2,), (1.0,), 10, 300, 20, 200, 200
    if problem not in ("gaussian", "mixture"):
        raise ValueError(f"problem must be 'gaussian' or 'mixture', got {problem!r}")
    out: dict[str, float] = {}
    fit_times, sk_times = [], []
    for d in dims:
        for j, eps in enumerate(eps_list):
            if problem == "gaussian":
                pair = random_gaussian_pair(d, eps, seed=10_000 * seed + d)
                t_mean, t_cov = pair.target_moments()
            else:
                pair = random_mixture_pair(d, eps, seed=10_000 * seed + d)
                t_mean, t_cov = pair.target_moments(seed=seed)
            target_var = float(np.trace(t_cov))
            rng = np.random.default_rng([seed, d, j])
            torch.manual_seed(1000 * seed + 10 * d + j)

            def s0(n: int, pair=pair, rng=rng) -> torch.Tensor:
                return torch.from_numpy(pair.sample_x0(n, rng)).float()

            def s1(n: int, pair=pair, rng=rng) -> torch.Tensor:
                return torch.from_numpy(pair.sample_x1(n, rng)).float()

            sb = LightSB(d, K, eps, cov)
            t0 = time.perf_counter()
            sb.fit(s0, s1, steps=steps, batch_size=batch_size, lr=lr, seed=seed)
            t_fit = time.perf_counter() - t0
            fit_times.append(t_fit)

            xt = pair.sample_x0(n_test, rng)
            true_mean, true_cov = pair.conditional_moments(xt)
            gen = torch.Generator().manual_seed(seed)
            ys = sb.sample(torch.from_numpy(np.repeat(xt, n_cond, axis=0)).float(), generator=gen)
            m, C = gaussian_fit(ys.double().numpy().reshape(n_test, n_cond, d))
            uvp = cond_bw_uvp(m, C, true_mean, true_cov, target_var)
            me, Ce = sb.conditional_moments(torch.from_numpy(xt).float())
            uvp_exact = cond_bw_uvp(me.double().numpy(), Ce.double().numpy(), true_mean, true_cov, target_var)
            fm, fC = gaussian_fit(pair.sample_conditional(xt, n_cond, rng))
            floor = cond_bw_uvp(fm, fC, true_mean, true_cov, target_var)
            ind_m = np.broadcast_to(t_mean, true_mean.shape)
            ind_C = np.broadcast_to(t_cov, true_cov.shape)
            uvp_ind = cond_bw_uvp(ind_m, ind_C, true_mean, true_cov, target_var)
            uvp_sk = t_sk = sk_err = float("nan")
            if pot_available():
                t0 = time.perf_counter()
                sk = SinkhornConditional(
                    pair.sample_x0(n_sinkhorn, rng),
                    pair.sample_x1(n_sinkhorn, rng),
                    eps,
                    max_iter=sinkhorn_iter,
                    tol=1e-6,
                )
                t_sk = time.perf_counter() - t0
                sk_times.append(t_sk)
                sm, sC = sk.conditional_moments(xt)
                uvp_sk = cond_bw_uvp(sm, sC, true_mean, true_cov, target_var)
                sk_err = sk.marginal_error
            k = _key(d, eps)
            out |= {
                f"uvp_lightsb_{k}": uvp,
                f"uvp_lightsb_exact_{k}": uvp_exact,
                f"uvp_floor_{k}": floor,
                f"uvp_sinkhorn_{k}": uvp_sk,
                f"uvp_independent_{k}": uvp_ind,
                f"floor_ratio_{k}": uvp / floor,
                f"sinkhorn_factor_{k}": uvp_sk / uvp,
                f"independent_factor_{k}": uvp_ind / uvp,
                f"fit_time_s_{k}": t_fit,
                f"sinkhorn_time_s_{k}": t_sk,
                f"sinkhorn_marginal_error_{k}": sk_err,
                f"final_loss_{k}": float(sb.loss_history_[-200:].mean()),
            }
    out["max_fit_time_s"] = max(fit_times)
    out["max_sinkhorn_time_s"] = max(sk_times) if sk_times else float("nan")
    out["pot_available"] = float(pot_available())
    return out
