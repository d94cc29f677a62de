"""Entropic OT pairs with a known conditional plan, built locally (nothing is downloaded).

Convention (LightSB's): ``pi* = argmin E_pi ||x - y||^2 / 2 - eps H(pi)`` over couplings of ``P0`` and
``P1``; equivalently the static Schrodinger bridge with the Wiener prior of volatility ``eps``. Its
conditional has the form ``pi*(y | x) ∝ N(y | x, eps I) f(y)`` for some potential ``f``.

- :class:`GaussianPair`: ``P0 = N(mu0, Sigma0)``, ``P1 = N(mu1, Sigma1)``. The plan is Gaussian
  (Janati, Muzellec, Peyre, Cuturi, "Entropic Optimal Transport between Unbalanced Gaussian Measures
  has a Closed Form", NeurIPS 2020; Mallasto, Gerolin, Minh, "Entropy-regularized 2-Wasserstein
  distance between Gaussian measures", Information Geometry 2021): ``y | x ~ N(A x + b, Sigma_c)`` with
  ``A = Sigma0^{-1/2} M Sigma0^{-1/2}``, ``M = (B + eps^2/4 I)^{1/2} - eps/2 I``,
  ``B = Sigma0^{1/2} Sigma1 Sigma0^{1/2}``, ``Sigma_c = eps A``, ``b = mu1 - A mu0``. (Derivation:
  the form ``N(y | x, eps I) f(y)`` forces ``Sigma_c^{-1} A = I / eps``; the marginal forces
  ``A Sigma0 A^T + Sigma_c = Sigma1``; so ``eps M + M^2 = B``.) In LightSB's form it is one component,
  ``S = A``, ``r = b``.
- :class:`MixturePair`: the construction of Gushchin et al.'s benchmark ("Building the Bridge of
  Schrodinger: A Continuous Entropic Optimal Transport Benchmark", NeurIPS 2023 Datasets and
  Benchmarks; the LightSB paper's benchmark): ``P0`` a Gaussian mixture, ``f(y) = sum_k beta_k
  N(y | m_k, Sigma_k)`` and ``P1`` the second marginal of ``P0(x) pi*(y | x)``, where ``pi*(y | x)``
  is the mixture with covariances ``C_k = (I / eps + Sigma_k^{-1})^{-1}``, means
  ``C_k (Sigma_k^{-1} m_k + x / eps)`` and weights ``∝ beta_k N(x | m_k, Sigma_k + eps I)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.stats import ortho_group

__all__ = [
    "GaussianPair",
    "MixturePair",
    "entropic_gaussian_plan",
    "random_gaussian_pair",
    "random_mixture_pair",
    "sqrtm_psd",
]


def sqrtm_psd(C: np.ndarray) -> np.ndarray:
    """Symmetric square root of (a batch of) symmetric PSD matrices."""
    lam, V = np.linalg.eigh(0.5 * (C + np.swapaxes(C, -1, -2)))
    return (V * np.sqrt(np.clip(lam, 0.0, None))[..., None, :]) @ np.swapaxes(V, -1, -2)


def _check_cov(S: np.ndarray, d: int, name: str) -> np.ndarray:
    S = np.asarray(S, dtype=float)
    if S.shape != (d, d):
        raise ValueError(f"{name} must have shape {(d, d)}, got {S.shape}")
    if not np.all(np.isfinite(S)) or not np.allclose(S, S.T) or np.linalg.eigvalsh(S)[0] <= 0:
        raise ValueError(f"{name} must be a finite symmetric positive definite matrix")
    return S


def _check_eps(eps: float) -> float:
    if isinstance(eps, bool) or not isinstance(eps, int | float) or not np.isfinite(eps) or eps <= 0:
        raise ValueError(f"eps must be a finite number > 0, got {eps!r}")
    return float(eps)


def entropic_gaussian_plan(
    mu0: np.ndarray, Sigma0: np.ndarray, mu1: np.ndarray, Sigma1: np.ndarray, eps: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(A, b, Sigma_c)`` of the entropic plan ``y | x ~ N(A x + b, Sigma_c)`` between two Gaussians."""
    eps = _check_eps(eps)
    mu0, mu1 = np.asarray(mu0, dtype=float), np.asarray(mu1, dtype=float)
    d = mu0.shape[0]
    if mu0.shape != (d,) or mu1.shape != (d,):
        raise ValueError(f"mu0 and mu1 must be vectors of one length, got {mu0.shape} and {mu1.shape}")
    Sigma0, Sigma1 = _check_cov(Sigma0, d, "Sigma0"), _check_cov(Sigma1, d, "Sigma1")
    R = sqrtm_psd(Sigma0)
    R_inv = np.linalg.inv(R)
    B = R @ Sigma1 @ R
    M = sqrtm_psd(B + 0.25 * eps**2 * np.eye(d)) - 0.5 * eps * np.eye(d)
    A = R_inv @ M @ R_inv
    A = 0.5 * (A + A.T)
    return A, mu1 - A @ mu0, eps * A


def _random_cov(d: int, lo: float, hi: float, rng: np.random.Generator) -> np.ndarray:
    """Random rotation of a spectrum log-spaced over [lo, hi]."""
    lam = np.exp(np.linspace(np.log(lo), np.log(hi), d)) if d > 1 else np.array([np.sqrt(lo * hi)])
    rot = ortho_group.rvs(d, random_state=rng) if d > 1 else np.ones((1, 1))
    return (rot * lam) @ rot.T


@dataclass
class GaussianPair:
    """``P0 = N(mu0, Sigma0)``, ``P1 = N(mu1, Sigma1)`` and their entropic plan in closed form."""

    mu0: np.ndarray
    Sigma0: np.ndarray
    mu1: np.ndarray
    Sigma1: np.ndarray
    eps: float
    A: np.ndarray = field(init=False)
    b: np.ndarray = field(init=False)
    Sigma_c: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.A, self.b, self.Sigma_c = entropic_gaussian_plan(
            self.mu0, self.Sigma0, self.mu1, self.Sigma1, self.eps
        )
        self._L0 = np.linalg.cholesky(self.Sigma0)
        self._L1 = np.linalg.cholesky(self.Sigma1)
        self._Lc = np.linalg.cholesky(self.Sigma_c)

    @property
    def dim(self) -> int:
        return self.mu0.shape[0]

    def sample_x0(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.mu0 + rng.standard_normal((n, self.dim)) @ self._L0.T

    def sample_x1(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.mu1 + rng.standard_normal((n, self.dim)) @ self._L1.T

    def target_moments(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and covariance of ``P1``."""
        return self.mu1.copy(), self.Sigma1.copy()

    def conditional_moments(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean (n, d) and covariance (n, d, d) of ``pi*(. | x)``."""
        x = np.atleast_2d(x)
        return x @ self.A.T + self.b, np.broadcast_to(self.Sigma_c, (x.shape[0], self.dim, self.dim)).copy()

    def sample_conditional(self, x: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
        """``m`` draws of ``pi*(. | x)`` for every row of ``x``: (n, m, d)."""
        mean, _ = self.conditional_moments(x)
        return mean[:, None, :] + rng.standard_normal((mean.shape[0], m, self.dim)) @ self._Lc.T

    def lightsb_params(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The exact solution in LightSB's form (K = 1): ``r`` (1, d), full ``S`` (1, d, d), ``log alpha``."""
        return self.b[None].copy(), self.A[None].copy(), np.zeros(1)


def random_gaussian_pair(
    dim: int, eps: float, seed: int, spectrum: tuple[float, float] = (0.1, 10.0), mean_scale: float = 1.0
) -> GaussianPair:
    """Random full covariances (eigenvalues log-spaced over ``spectrum``, random rotations),
    ``mu0 = 0``, ``mu1 ~ N(0, mean_scale^2 I)``."""
    rng = np.random.default_rng(seed)
    Sigma0 = _random_cov(dim, *spectrum, rng)
    Sigma1 = _random_cov(dim, *spectrum, rng)
    mu1 = mean_scale * rng.standard_normal(dim)
    return GaussianPair(np.zeros(dim), Sigma0, mu1, Sigma1, eps)


def _log_gauss(x: np.ndarray, m: np.ndarray, C: np.ndarray) -> np.ndarray:
    """log N(x | m_k, C_k) for x (n, d), m (K, d), C (K, d, d): (n, K)."""
    L = np.linalg.cholesky(C)
    diff = x[:, None, :] - m[None]  # (n, K, d)
    z = np.linalg.solve(L[None], diff[..., None])[..., 0]
    logdet = 2 * np.log(np.diagonal(L, 0, -2, -1)).sum(-1)
    return -0.5 * ((z**2).sum(-1) + logdet[None] + x.shape[1] * np.log(2 * np.pi))


def _softmax(a: np.ndarray) -> np.ndarray:
    a = a - a.max(axis=-1, keepdims=True)
    e = np.exp(a)
    return e / e.sum(axis=-1, keepdims=True)


def _sample_gmm(w: np.ndarray, m: np.ndarray, L: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per row: weights w (n, K), means m (n, K, d) or (K, d), Cholesky factors L (K, d, d)."""
    n = w.shape[0]
    u = rng.random((n, 1))
    k = np.minimum((np.cumsum(w, axis=1) < u).sum(axis=1), w.shape[1] - 1)
    mk = m[np.arange(n), k] if m.ndim == 3 else m[k]
    return mk + np.einsum("nij,nj->ni", L[k], rng.standard_normal((n, m.shape[-1])))


@dataclass
class MixturePair:
    """Gushchin et al.'s benchmark construction: Gaussian-mixture ``P0`` and potential ``f``."""

    p0_weights: np.ndarray
    p0_means: np.ndarray
    p0_covs: np.ndarray
    f_weights: np.ndarray
    f_means: np.ndarray
    f_covs: np.ndarray
    eps: float

    def __post_init__(self) -> None:
        self.eps = _check_eps(self.eps)
        d = self.p0_means.shape[1]
        eye = np.eye(d)
        f_prec = np.linalg.inv(self.f_covs)
        self.C = np.linalg.inv(eye / self.eps + f_prec)  # (K, d, d) conditional covariances
        self.C = 0.5 * (self.C + np.swapaxes(self.C, -1, -2))
        self.bias = np.einsum("kij,kjl,kl->ki", self.C, f_prec, self.f_means)
        self.slope = self.C / self.eps
        self._LC = np.linalg.cholesky(self.C)
        self._L0 = np.linalg.cholesky(self.p0_covs)
        self._wcov = self.f_covs + self.eps * eye

    @property
    def dim(self) -> int:
        return self.p0_means.shape[1]

    def sample_x0(self, n: int, rng: np.random.Generator) -> np.ndarray:
        w = np.broadcast_to(self.p0_weights, (n, len(self.p0_weights)))
        return _sample_gmm(w, self.p0_means, self._L0, rng)

    def _cond(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = _softmax(np.log(self.f_weights)[None] + _log_gauss(x, self.f_means, self._wcov))
        means = self.bias[None] + np.einsum("kij,nj->nki", self.slope, x)
        return w, means

    def sample_conditional(self, x: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
        x = np.atleast_2d(x)
        xr = np.repeat(x, m, axis=0)
        w, means = self._cond(xr)
        return _sample_gmm(w, means, self._LC, rng).reshape(x.shape[0], m, self.dim)

    def sample_x1(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.sample_conditional(self.sample_x0(n, rng), 1, rng)[:, 0]

    def conditional_moments(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w, means = self._cond(np.atleast_2d(x))
        mean = np.einsum("nk,nki->ni", w, means)
        dev = means - mean[:, None]
        cov = np.einsum("nk,kij->nij", w, self.C) + np.einsum("nk,nki,nkj->nij", w, dev, dev)
        return mean, cov

    def target_moments(self, n_mc: int = 200_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Mean and covariance of ``P1`` by the law of total covariance over ``n_mc`` draws of ``x``."""
        x = self.sample_x0(n_mc, np.random.default_rng(seed))
        mean, cov = self.conditional_moments(x)
        m = mean.mean(0)
        return m, cov.mean(0) + np.cov(mean.T, bias=True).reshape(self.dim, self.dim)


def random_mixture_pair(
    dim: int,
    eps: float,
    seed: int,
    n_p0: int = 3,
    n_f: int = 5,
    p0_mean_scale: float | None = None,
    f_mean_scale: float | None = None,
) -> MixturePair:
    """A pair in the style of the benchmark's construction script (``src/gaussian_benchmark.py``):
    ``P0``: ``n_p0`` equal-weight components, covariance spectra log-spaced over [0.25, 4] (random
    rotations), means ``p0_mean_scale * N(0, I)``; ``f``: ``n_f`` equal-weight components whose inverse
    covariances have spectra log-spaced over [0.81, 1.21], means ``f_mean_scale * N(0, I)``. Default
    scales are the script's: (8, 1) in dimension 2, (3, 5) in dimension 16, (5, 5) otherwise."""
    eps = _check_eps(eps)
    defaults = {2: (8.0, 1.0), 16: (3.0, 5.0)}.get(dim, (5.0, 5.0))
    s0 = defaults[0] if p0_mean_scale is None else p0_mean_scale
    sf = defaults[1] if f_mean_scale is None else f_mean_scale
    rng = np.random.default_rng(seed)
    p0_covs = np.stack([_random_cov(dim, 0.25, 4.0, rng) for _ in range(n_p0)])
    p0_means = s0 * rng.standard_normal((n_p0, dim))
    f_covs = np.stack([np.linalg.inv(_random_cov(dim, 0.81, 1.21, rng)) for _ in range(n_f)])
    f_means = sf * rng.standard_normal((n_f, dim))
    return MixturePair(
        np.full(n_p0, 1.0 / n_p0), p0_means, p0_covs, np.full(n_f, 1.0 / n_f), f_means, f_covs, eps
    )
