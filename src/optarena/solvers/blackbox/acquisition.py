r"""Acquisition functions for minimization and their multi-start optimizer (Frazier 2018, sections 4.1-4.2).

Expected improvement over the incumbent :math:`f^*` (the best observed value; with noise, the least
posterior mean at an observed point, the tutorial's plug-in):

.. math::

    \mathrm{EI}(x) = (f^* - \mu)\,\Phi(z) + \sigma\,\varphi(z), \quad z = (f^* - \mu)/\sigma,

with analytic gradient :math:`\nabla\mathrm{EI} = -\Phi(z)\nabla\mu + \varphi(z)\nabla\sigma`.

Knowledge gradient, **discretized** (Frazier, Powell & Dayanik, "The knowledge-gradient policy for
correlated normal beliefs", INFORMS J. Computing, 2009; the tutorial's section 4.2 discretization of
the domain to a finite set ``A``): for minimization,

.. math::

    \mathrm{KG}(x) = \min_{x' \in A'} \mu_n(x') - E\big[\min_{x' \in A'} \mu_{n+1}(x')\big],
    \quad \mu_{n+1}(x') = \mu_n(x') + \tilde\sigma(x', x) Z,\;
    \tilde\sigma(x', x) = \frac{\Sigma_n(x', x)}{\sqrt{\Sigma_n(x, x) + \sigma_n^2}},

with :math:`A' = A \cup \{x\}` and ``A`` = the observed points plus a Sobol set redrawn each iteration.
The expectation of a maximum of lines :math:`a_i + b_i Z` is exact: sort by slope, keep the upper
envelope, and sum :math:`(b_{j+1} - b_j)\,(\varphi(c_j) - |c_j|\Phi(-|c_j|))` over its breakpoints.

Optimization: score ``n_candidates`` Sobol points, start L-BFGS-B (bounded to the unit cube) from the
best ``n_restarts`` of them (EI with the analytic gradient; KG with finite differences: KG is piecewise
smooth in ``x``), and return the best point found.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.linalg import solve_triangular
from scipy.optimize import minimize
from scipy.special import ndtr

from optarena.solvers.blackbox.gp import GP, matern52

__all__ = [
    "expected_improvement",
    "expected_max_of_lines",
    "knowledge_gradient",
    "optimize_acquisition",
]

_INV_SQRT2PI = 1.0 / np.sqrt(2.0 * np.pi)


def _phi(z: np.ndarray) -> np.ndarray:
    return _INV_SQRT2PI * np.exp(-0.5 * z * z)


def ei_from_moments(mu: np.ndarray, sigma: np.ndarray, fbest: float) -> np.ndarray:
    """EI of N(mu, sigma^2) below ``fbest`` (zero where sigma is zero and mu >= fbest)."""
    mu, sigma = np.asarray(mu, dtype=np.float64), np.asarray(sigma, dtype=np.float64)
    delta = fbest - mu
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(sigma > 0, delta / np.where(sigma > 0, sigma, 1.0), 0.0)
    ei = delta * ndtr(z) + sigma * _phi(z)
    return np.where(sigma > 0, np.maximum(ei, 0.0), np.maximum(delta, 0.0))


def expected_improvement(gp: GP, Xs: np.ndarray, fbest: float) -> np.ndarray:
    """EI at the rows of ``Xs`` (standardized units, as ``fbest``)."""
    mu, var = gp.predict(Xs)
    return ei_from_moments(mu, np.sqrt(var), fbest)


def _ei_and_grad(gp: GP, x: np.ndarray, fbest: float) -> tuple[float, np.ndarray]:
    mu, var, dmu, dvar = gp.predict_with_grad(x)
    sigma = np.sqrt(var)
    z = (fbest - mu) / sigma
    cdf, pdf = float(ndtr(z)), float(_phi(np.array(z)))
    ei = (fbest - mu) * cdf + sigma * pdf
    dsigma = dvar / (2.0 * sigma)
    return ei, -cdf * dmu + pdf * dsigma


def expected_max_of_lines(a: np.ndarray, b: np.ndarray) -> float:
    """``E[max_i (a_i + b_i Z)] - max_i a_i`` for ``Z ~ N(0, 1)``, exactly (Frazier et al. 2009, Alg. 1)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    order = np.lexsort((a, b))  # by slope, then intercept
    a, b = a[order], b[order]
    keep = np.append(b[1:] != b[:-1], True)  # equal slopes: only the largest intercept matters
    a, b = a[keep], b[keep]
    # Exact pruning: envelope lines are the upper convex hull of the points (b, a), which lies above
    # the polyline through the least-slope, the highest-intercept and the greatest-slope points.
    top = int(np.argmax(a))
    if 0 < top < a.size - 1:
        chord = np.where(
            b <= b[top],
            a[0] + (a[top] - a[0]) * (b - b[0]) / (b[top] - b[0]),
            a[top] + (a[-1] - a[top]) * (b - b[top]) / (b[-1] - b[top]),
        )
        on = a >= chord - 1e-12 * (1.0 + np.abs(chord))
        on[[0, top, -1]] = True
        a, b = a[on], b[on]
    m = a.size
    if m == 1:
        return 0.0
    env = [0]
    cuts = [-np.inf]
    for i in range(1, m):
        while True:
            j = env[-1]
            c = (a[j] - a[i]) / (b[i] - b[j])  # where line i overtakes line j
            if len(env) > 1 and c <= cuts[-1]:
                env.pop()
                cuts.pop()
                continue
            break
        env.append(i)
        cuts.append(c)
    c = np.abs(np.asarray(cuts[1:]))
    slopes = np.diff(b[env])
    return float(np.sum(slopes * (_phi(c) - c * ndtr(-c))))


class KnowledgeGradient:
    """Discretized KG (minimization, standardized units) over the fixed set ``A`` of one iteration.

    What does not depend on the query point (``mu_n(A)`` and ``L^{-1} k(X, A)``) is computed once.
    """

    def __init__(self, gp: GP, A: np.ndarray) -> None:
        self.gp, self.A = gp, np.asarray(A, dtype=np.float64)
        self.mu_a, _ = gp.predict(self.A)
        self.V_a = solve_triangular(
            gp.L, matern52(gp.X, self.A, gp.ls, gp.sf2), lower=True, check_finite=False
        )

    def __call__(self, Xs: np.ndarray) -> np.ndarray:
        gp = self.gp
        Xs = np.atleast_2d(Xs)
        k_xs = matern52(gp.X, Xs, gp.ls, gp.sf2)  # (n, |Xs|)
        v_x = solve_triangular(gp.L, k_xs, lower=True, check_finite=False)
        mu_x = gp.c + k_xs.T @ gp.alpha
        var_x = np.maximum(gp.sf2 - np.sum(v_x * v_x, axis=0), 1e-300)
        cov_ax = matern52(self.A, Xs, gp.ls, gp.sf2) - self.V_a.T @ v_x  # (|A|, |Xs|)
        denom = np.sqrt(var_x + gp.noise_var)
        out = np.empty(len(Xs))
        for j in range(len(Xs)):
            # minimizing mu is maximizing -mu: lines a = -mu, b = -sigma_tilde (the sign of b does
            # not matter for a symmetric Z; kept for clarity)
            a = -np.r_[self.mu_a, mu_x[j]]
            b = -np.r_[cov_ax[:, j], var_x[j]] / denom[j]
            out[j] = expected_max_of_lines(a, b)
        return out


def knowledge_gradient(gp: GP, Xs: np.ndarray, A: np.ndarray) -> np.ndarray:
    """Discretized KG (minimization, standardized units) at the rows of ``Xs`` over the set ``A``."""
    return KnowledgeGradient(gp, A)(Xs)


def optimize_acquisition(
    score: Callable[[np.ndarray], np.ndarray],
    dim: int,
    candidates: np.ndarray,
    n_restarts: int,
    value_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]] | None = None,
    maxiter: int = 100,
) -> tuple[np.ndarray, float]:
    """Maximize an acquisition over [0, 1]^dim: score ``candidates``, polish the best with L-BFGS-B.

    ``score`` maps an (m, d) array to m values; ``value_and_grad`` (optional) gives the value and
    gradient at one point, else L-BFGS-B uses finite differences of ``score``.
    """
    vals = score(candidates)
    idx = np.argsort(-vals, kind="stable")[:n_restarts]
    best_x, best_v = candidates[idx[0]].copy(), float(vals[idx[0]])
    bounds = [(0.0, 1.0)] * dim
    for i in idx:
        if value_and_grad is not None:

            def fg(x: np.ndarray) -> tuple[float, np.ndarray]:
                v, g = value_and_grad(x)
                return -v, -g

            res = minimize(
                fg, candidates[i], jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": maxiter}
            )
        else:
            res = minimize(
                lambda x: -float(score(x[None, :])[0]),
                candidates[i],
                method="L-BFGS-B",
                bounds=bounds,
                options={"maxiter": maxiter},
            )
        x = np.clip(res.x, 0.0, 1.0)
        v = float(score(x[None, :])[0])  # re-score: never trust the optimizer's own number
        if v > best_v:
            best_x, best_v = x, v
    return best_x, best_v
