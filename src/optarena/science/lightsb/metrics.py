"""Conditional Bures-Wasserstein UVP (Gushchin et al., NeurIPS 2023 Datasets and Benchmarks).

``BW2(N(m1, C1), N(m2, C2)) = ||m1 - m2||^2 + tr C1 + tr C2 - 2 tr (C1^{1/2} C2 C1^{1/2})^{1/2}``.
The benchmark's ``cBW2-UVP = 100 * mean_x [BW2(fit(pi_hat(. | x)), pi*(. | x)) / 2] / (tr Var(P1) / 2)``,
where ``fit`` moment-matches a Gaussian to samples of the model's conditional (the authors' code
halves both the distance and the normalizer; the halves cancel) and ``pi*(. | x)`` enters by its exact
mean and covariance. The *sampling floor* is the same number for samples of ``pi*(. | x)`` itself.
"""

from __future__ import annotations

import numpy as np

from optarena.science.lightsb.problems import sqrtm_psd

__all__ = ["bw2", "cond_bw_uvp", "gaussian_fit"]


def bw2(m1: np.ndarray, C1: np.ndarray, m2: np.ndarray, C2: np.ndarray) -> np.ndarray:
    """Squared Bures-Wasserstein distance between Gaussians, batched over leading axes."""
    R = sqrtm_psd(C1)
    lam = np.linalg.eigvalsh(R @ C2 @ R)
    cross = np.sqrt(np.clip(lam, 0.0, None)).sum(-1)
    tr = np.trace(C1, axis1=-2, axis2=-1) + np.trace(C2, axis1=-2, axis2=-1)
    return np.clip(((m1 - m2) ** 2).sum(-1) + tr - 2.0 * cross, 0.0, None)


def gaussian_fit(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (n, d) and unbiased covariance (n, d, d) of samples (n, m, d)."""
    samples = np.asarray(samples, dtype=float)
    if samples.ndim != 3 or samples.shape[1] < 2:
        raise ValueError(f"samples must have shape (n, m >= 2, d), got {samples.shape}")
    mean = samples.mean(1)
    dev = samples - mean[:, None]
    return mean, np.einsum("nmi,nmj->nij", dev, dev) / (samples.shape[1] - 1)


def cond_bw_uvp(
    mean: np.ndarray, cov: np.ndarray, true_mean: np.ndarray, true_cov: np.ndarray, target_var: float
) -> float:
    """``100 * mean_x BW2(model, true) / tr Var(P1)`` (the benchmark's halves cancel)."""
    if not target_var > 0:
        raise ValueError(f"target_var must be > 0, got {target_var!r}")
    return float(100.0 * bw2(mean, cov, true_mean, true_cov).mean() / target_var)
