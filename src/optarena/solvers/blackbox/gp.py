r"""Gaussian-process regression for Bayesian optimization, written out in numpy as a transparent reference.

Model (Frazier, "A Tutorial on Bayesian Optimization", arXiv:1807.02811, 2018, section 3):

.. math::

    f \sim \mathcal{GP}(\mu_0, k), \quad \mu_0(x) = c, \quad
    k(x, x') = \sigma_f^2 \left(1 + \sqrt5 r + \tfrac53 r^2\right) e^{-\sqrt5 r}, \quad
    r^2 = \sum_j (x_j - x'_j)^2 / \ell_j^2  \quad\text{(Matern 5/2, ARD)},

    y_i = f(x_i) + \varepsilon_i, \quad \varepsilon_i \sim N(0, \sigma_n^2).

Hyperparameters ``theta = (log l_1..l_d, log sigma_f^2[, log sigma_n^2])`` maximize the log marginal
likelihood (type-II maximum likelihood, the tutorial's MLE option) by multi-start L-BFGS-B with the
analytic gradient :math:`\tfrac12 \operatorname{tr}((\alpha\alpha^\top - K^{-1})\,\partial K/\partial\theta)`.
The constant mean is profiled out in closed form, :math:`\hat c = 1^\top K^{-1} y / 1^\top K^{-1} 1`
(its exact maximizer, so the envelope theorem keeps the gradient exact). Inputs live in the unit
cube; outputs are standardized before fitting (``y_s = (y - mean) / std``) and all posterior quantities
are returned in standardized units unless a method says otherwise. For noiseless data the noise
variance is a fixed nugget ``1e-8`` (raised tenfold at a time if the Cholesky factorization fails).

Posterior: :math:`\mu_n(x) = c + k(x, X)\alpha`, :math:`\Sigma_n(x, x') = k(x, x') - k(x, X) K^{-1} k(X, x')`.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import numpy as np
from scipy.linalg import cho_solve, cholesky, solve_triangular
from scipy.optimize import minimize

__all__ = ["GP", "fit_gp", "matern52"]

SQRT5 = math.sqrt(5.0)
# bounds of the log-hyperparameters (unit-cube inputs, standardized outputs)
LOG_LS_BOUNDS = (math.log(1e-2), math.log(20.0))
LOG_SF2_BOUNDS = (math.log(1e-2), math.log(1e2))
LOG_SN2_BOUNDS = (math.log(1e-6), math.log(1.0))
NUGGET = 1e-8


def matern52(a: np.ndarray, b: np.ndarray, ls: np.ndarray, sf2: float) -> np.ndarray:
    """The Matern 5/2 ARD kernel matrix ``k(a, b)`` (squared distances by the Gram-matrix identity)."""
    a, b = a / ls, b / ls
    r2 = np.sum(a * a, axis=1)[:, None] + np.sum(b * b, axis=1)[None, :] - 2.0 * (a @ b.T)
    r = np.sqrt(np.maximum(r2, 0.0))
    return sf2 * (1.0 + SQRT5 * r + (5.0 / 3.0) * r**2) * np.exp(-SQRT5 * r)


class GP:
    """A fitted GP posterior; ``X`` in the unit cube, ``y`` in the user's units (standardized inside)."""

    def __init__(self, X: np.ndarray, y: np.ndarray, theta: np.ndarray, noisy: bool) -> None:
        self.X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        self.y_mean = float(y.mean())
        std = float(y.std())
        self.y_std = std if std > 0 and math.isfinite(std) else 1.0
        self.ys = (y - self.y_mean) / self.y_std
        self.theta = np.asarray(theta, dtype=np.float64)
        self.noisy = noisy
        d = self.X.shape[1]
        self.ls = np.exp(self.theta[:d])
        self.sf2 = float(np.exp(self.theta[d]))
        self.sn2 = float(np.exp(self.theta[d + 1])) if noisy else NUGGET
        Kf = matern52(self.X, self.X, self.ls, self.sf2)
        self.L, self.sn2 = _cholesky_with_jitter(Kf, self.sn2)
        ones = np.ones(len(self.ys))
        k1 = cho_solve((self.L, True), ones)
        self.c = float(k1 @ self.ys / (k1 @ ones))
        self.alpha = cho_solve((self.L, True), self.ys - self.c)

    # --- posterior in standardized units --------------------------------------------------------------
    def predict(self, Xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and variance of ``f`` (not of ``y``) at the rows of ``Xs``."""
        Ks = matern52(np.atleast_2d(Xs), self.X, self.ls, self.sf2)
        v = solve_triangular(self.L, Ks.T, lower=True, check_finite=False)
        var = np.maximum(self.sf2 - np.sum(v * v, axis=0), 1e-300)
        return self.c + Ks @ self.alpha, var

    def predict_with_grad(self, x: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
        """Mean, variance and their gradients in ``x`` at one point (the EI optimizer's inner call)."""
        diff = x[None, :] - self.X  # (n, d)
        r = np.sqrt(np.sum((diff / self.ls) ** 2, axis=1))
        e = np.exp(-SQRT5 * r)
        k = self.sf2 * (1.0 + SQRT5 * r + (5.0 / 3.0) * r**2) * e
        # dk/dx_j = -sf2 (5/3) (1 + sqrt5 r) e^{-sqrt5 r} (x_j - X_ij) / l_j^2
        dk = -(self.sf2 * (5.0 / 3.0) * (1.0 + SQRT5 * r) * e)[:, None] * diff / self.ls**2
        w = cho_solve((self.L, True), k)
        mu = self.c + float(k @ self.alpha)
        var = max(self.sf2 - float(k @ w), 1e-300)
        return mu, var, dk.T @ self.alpha, -2.0 * dk.T @ w

    def posterior_cov(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """Posterior covariance ``Sigma_n(A, B)`` (standardized units)."""
        va = solve_triangular(self.L, matern52(self.X, A, self.ls, self.sf2), lower=True)
        vb = solve_triangular(self.L, matern52(self.X, B, self.ls, self.sf2), lower=True)
        return matern52(A, B, self.ls, self.sf2) - va.T @ vb

    # --- user units ------------------------------------------------------------------------------------
    def predict_original(self, Xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mu, var = self.predict(Xs)
        return self.y_mean + self.y_std * mu, var * self.y_std**2

    @property
    def noise_var(self) -> float:
        """Noise variance in standardized units (the nugget when the model is noiseless)."""
        return self.sn2


def single_thread_blas() -> contextlib.AbstractContextManager[Any]:
    """One BLAS thread: the matrices here are at most a few hundred wide, and threaded OpenBLAS on such
    sizes is up to 20x slower on a loaded machine (measured: 100x100 inverse by triangular solves,
    64 ms threaded vs 3 ms single).
    """
    try:
        from threadpoolctl import threadpool_limits  # a dependency of scikit-learn
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _cholesky_with_jitter(Kf: np.ndarray, sn2: float) -> tuple[np.ndarray, float]:
    n = Kf.shape[0]
    for _ in range(8):
        try:
            return cholesky(Kf + sn2 * np.eye(n), lower=True), sn2
        except np.linalg.LinAlgError:
            sn2 *= 10.0
    raise np.linalg.LinAlgError(f"kernel matrix not positive definite even with noise variance {sn2:g}")


def pairwise_sqdiff(X: np.ndarray) -> np.ndarray:
    """``(x_ij - x_kj)^2`` flattened to shape (n * n, d): computed once per fit."""
    return ((X[:, None, :] - X[None, :, :]) ** 2).reshape(-1, X.shape[1])


def neg_log_marginal_likelihood(
    theta: np.ndarray, X: np.ndarray, ys: np.ndarray, noisy: bool, sqdiff: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """Negative log marginal likelihood (constant mean profiled out) and its gradient in ``theta``."""
    n, d = X.shape
    sqdiff = pairwise_sqdiff(X) if sqdiff is None else sqdiff
    inv_ls2 = np.exp(-2.0 * theta[:d])
    sf2 = math.exp(theta[d])
    sn2 = math.exp(theta[d + 1]) if noisy else NUGGET
    r = np.sqrt(np.maximum(sqdiff @ inv_ls2, 0.0)).reshape(n, n)
    e = np.exp(-SQRT5 * r)
    Kf = sf2 * (1.0 + SQRT5 * r + (5.0 / 3.0) * r**2) * e
    try:
        L = cholesky(Kf + sn2 * np.eye(n), lower=True, check_finite=False)
    except np.linalg.LinAlgError:
        return 1e25, np.zeros_like(theta)
    Linv = solve_triangular(L, np.eye(n), lower=True, check_finite=False)
    Kinv = Linv.T @ Linv
    ones = np.ones(n)
    k1 = Kinv @ ones
    c = (k1 @ ys) / (k1 @ ones)
    alpha = Kinv @ (ys - c)
    nll = 0.5 * (ys - c) @ alpha + np.log(np.diag(L)).sum() + 0.5 * n * math.log(2 * math.pi)
    W = np.outer(alpha, alpha) - Kinv
    grad = np.empty_like(theta)
    # dK/dlog l_j = sf2 (5/3) (1 + sqrt5 r) e^{-sqrt5 r} (x_ij - x_kj)^2 / l_j^2
    S = sf2 * (5.0 / 3.0) * (1.0 + SQRT5 * r) * e
    grad[:d] = 0.5 * ((W * S).reshape(-1) @ sqdiff) * inv_ls2
    grad[d] = 0.5 * np.sum(W * Kf)
    if noisy:
        grad[d + 1] = 0.5 * sn2 * np.trace(W)
    return float(nll), -grad


def _bounds(d: int, noisy: bool) -> list[tuple[float, float]]:
    return [LOG_LS_BOUNDS] * d + [LOG_SF2_BOUNDS] + ([LOG_SN2_BOUNDS] if noisy else [])


def fit_gp(
    X: np.ndarray,
    y: np.ndarray,
    *,
    noisy: bool = False,
    rng: np.random.Generator | None = None,
    theta0: np.ndarray | None = None,
    n_starts: int = 3,
) -> GP:
    """Fit hyperparameters by maximum marginal likelihood (multi-start L-BFGS-B on log-parameters).

    Starts: ``theta0`` (the previous fit, a warm start) when given, a default (all lengthscales 0.5,
    unit signal variance, noise variance 1e-2) and random draws in the bounds, ``n_starts`` in all.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    d = X.shape[1]
    rng = rng if rng is not None else np.random.default_rng(0)
    std = y.std()
    ys = (y - y.mean()) / (std if std > 0 else 1.0)
    bounds = _bounds(d, noisy)
    sqdiff = pairwise_sqdiff(X)
    lo, hi = np.array(bounds).T
    default = np.r_[np.full(d, math.log(0.5)), 0.0, [math.log(1e-2)] if noisy else []]
    starts = [np.clip(theta0, lo, hi)] if theta0 is not None and len(theta0) == len(lo) else []
    starts.append(default)
    while len(starts) < max(n_starts, 1):
        starts.append(rng.uniform(lo, hi))
    best_theta, best_val = default, math.inf
    with single_thread_blas():
        for s in starts[: max(n_starts, 1)]:
            res = minimize(
                neg_log_marginal_likelihood,
                s,
                args=(X, ys, noisy, sqdiff),
                jac=True,
                method="L-BFGS-B",
                bounds=bounds,
                options={"maxiter": 200},
            )
            if np.isfinite(res.fun) and res.fun < best_val:
                best_theta, best_val = res.x, float(res.fun)
        return GP(X, y, best_theta, noisy)
