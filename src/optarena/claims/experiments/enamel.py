"""Claim experiment: ENAMEL's Rao-Blackwellized eff@k estimator is unbiased, has less variance than
the naive max of k samples, and reduces to pass@k on 0/1 scores (Qiu et al., ICLR 2025).

One seed draws a random discrete score distribution D (an atom at 0 for failed samples plus five
values in [0, 2]), whose E[max of k draws] is exact from its CDF: sum_j v_j (F_j^k - F_{j-1}^k). It
then draws ``reps`` independent sets of n = 10 scores and compares the Monte Carlo mean of
:func:`optarena.selection.eff_at_k` with the exact value (z-score over the MC standard error), for
k in {1, 3, 5, 10}; the same for a Bernoulli score (pass@k). A with-replacement plug-in estimator,
biased by construction, goes through the same test to show it has power.

Metrics: ``max_abs_z`` (worst |z| of eff@k and pass@k over k), ``plugin_abs_z`` (|z| of the plug-in
at k = 3), ``max_var_ratio`` (largest Var[eff@k] / Var[max of the first k] over k in {3, 5}),
``pass_consistency_err`` (largest |eff_at_k(0/1 scores) - pass_at_k| over the Bernoulli sets), and
the per-k z-scores and variance ratios.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from optarena.selection.estimators import eff_at_k, eff_at_k_weights, pass_at_k

__all__ = ["measure"]

N = 10
KS = (1, 3, 5, 10)


def _exact_max(values: np.ndarray, probs: np.ndarray, k: int) -> float:
    cdf = np.cumsum(probs)
    cdf[-1] = 1.0
    prev = np.concatenate([[0.0], cdf[:-1]])
    return float(np.sum(values * (cdf**k - prev**k)))


def _draw(
    rng: np.random.Generator, values: np.ndarray, probs: np.ndarray, shape: tuple[int, int]
) -> np.ndarray:
    cdf = np.cumsum(probs)
    cdf[-1] = 1.0
    idx = np.searchsorted(cdf, rng.random(shape), side="right").clip(max=values.size - 1)
    return values[idx]


def _z(est: np.ndarray, exact: float, spread: float) -> float:
    """(MC mean - exact) / MC standard error. When every Monte Carlo value is equal (e.g. pass@10
    at p = 0.85: a success in all sets), the sample has no spread to estimate an error from; by the
    rule of three an unseen outcome has probability below 3/reps (95%), so a gap within
    3/reps * ``spread`` (the score range) is consistent (z = 0) and a larger one is not (z = inf)."""
    se = est.std(ddof=1) / math.sqrt(est.size)
    gap = float(est.mean() - exact)
    if se > 0:
        return gap / se
    return 0.0 if abs(gap) <= 3.0 / est.size * spread else math.inf


def measure(seed: int, quick: bool, reps: int = 50_000, **options: Any) -> dict[str, float]:
    if options:
        raise TypeError(f"unknown options {sorted(options)}")
    rng = np.random.default_rng(seed)
    out: dict[str, float] = {}

    # A distribution of efficiency scores: failures at 0, five score values in [0, 2].
    p0 = rng.uniform(0.1, 0.6)
    values = np.concatenate([[0.0], np.sort(rng.uniform(0.0, 2.0, size=5))])
    probs = np.concatenate([[p0], (1 - p0) * rng.dirichlet(np.ones(5))])
    draws = _draw(rng, values, probs, (reps, N))
    srt = np.sort(draws, axis=1)
    zs, ratios = [], []
    for k in KS:
        est = srt @ eff_at_k_weights(N, k)
        z = _z(est, _exact_max(values, probs, k), float(values[-1] - values[0]))
        out[f"z_eff_k{k}"] = z
        zs.append(abs(z))
        if k in (3, 5):
            ratio = float(est.var() / draws[:, :k].max(axis=1).var())
            out[f"var_ratio_k{k}"] = ratio
            ratios.append(ratio)
    # spot-check the vectorized form against the public function
    out["vector_vs_function_err"] = max(
        abs(float(srt[i] @ eff_at_k_weights(N, 3)) - eff_at_k(draws[i], 3)) for i in range(50)
    )

    # The plug-in (resampling the empirical distribution with replacement) is biased low.
    i = np.arange(1, N + 1)
    plug = srt @ ((i / N) ** 3 - ((i - 1) / N) ** 3)
    out["plugin_abs_z"] = abs(_z(plug, _exact_max(values, probs, 3), float(values[-1] - values[0])))

    # pass@k: Bernoulli scores.
    p = rng.uniform(0.05, 0.95)
    bern = (rng.random((reps, N)) < p).astype(float)
    bsrt = np.sort(bern, axis=1)
    c = bern.sum(axis=1).astype(int)
    err = 0.0
    for k in KS:
        est = bsrt @ eff_at_k_weights(N, k)
        z = _z(est, 1.0 - (1.0 - p) ** k, 1.0)
        out[f"z_pass_k{k}"] = z
        zs.append(abs(z))
        table = np.array([pass_at_k(N, cc, k) for cc in range(N + 1)])
        err = max(err, float(np.abs(est - table[c]).max()))
    out["pass_consistency_err"] = err
    out["max_abs_z"] = max(zs)
    out["max_var_ratio"] = max(ratios)
    out["p_fail"] = float(p0)
    out["p_bernoulli"] = float(p)
    return out
