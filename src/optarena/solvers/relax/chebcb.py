"""ChebCB: a contextual bandit over SOR's omega with Chebyshev regression of the cost on the context.

M. Khodak, E. Chow, M.-F. Balcan, A. Talwalkar, "Learning to Relax: Setting Solver Parameters Across a
Sequence of Linear System Instances", ICLR 2024 (arXiv:2310.02246). ChebCB is SquareCB (D. Foster,
A. Rakhlin, "Beyond UCB: Optimal and Efficient Contextual Bandits with Regression Oracles", ICML 2020)
with one regression per arm on Chebyshev polynomials of a scalar context (here the diagonal shift c).

**Model.** With ``M = degree + 1`` coefficients and ``x = 2 (c - a) / (b - a) - 1`` (clipped to [-1, 1]),
the features are ``f(c) = (T_0(x), ..., T_degree(x))`` and arm i predicts ``yhat_i(c) = <theta_i, f(c)>``
for the centred cost ``cost - 1``.

**Round t.** Given the context c_t:

    i*  = argmin_i yhat_i(c_t)
    p_i = 1 / (d + eta_t (yhat_i - yhat_{i*}))   (i != i*),   p_{i*} = 1 - sum_{i != i*} p_i

(SquareCB's inverse-gap weighting over the d arms), sample ``i ~ p``, pay ``cost``, then refit arm i on
all of its rounds ``S_i`` by box-constrained (ridge) least squares

    theta_i = argmin_{|theta_j| <= u_j}  sum_{s in S_i} (<theta, f(c_s)> - (cost_s - 1))^2 + lambda |theta|^2,
    u_0 = max cost seen,   u_j = 2 (max cost - min cost seen) / j   (j >= 1),

(the box bounds the Chebyshev coefficients of a Lipschitz cost; when the bounds move, every arm is refit)
and set, with ``t`` rounds seen, ``R_t = sum_{s<=t} (yhat_{i_s}(c_s) - (cost_s - 1))^2`` the online
squared error and ``alpha = (pi + (2/pi) log(2M + 1)) (max - min) / (2 (M + 1))`` the Chebyshev
approximation error of a Lipschitz cost,

    eta_t = 2 t sqrt(d t / (R_t + 2 alpha^2 t)),       eta_0 = 0 (the first round is uniform).

Unplayed arms keep ``theta = 0``: they predict the least possible cost, so they are greedy choices early.

**Following the authors' code** (``learners/ChebCB.m`` and ``scripts/contextual.m`` of
mkhodak/learning-to-relax): the inverse-gap weights, the per-arm refit on all of the arm's data with the
box above, the full refit when the box moves, the adaptive ``eta_t``, ``M = 6`` (degree 5) and the grid.
The paper's algorithm box was not at hand; the update above is read from that code. The code divides
costs by a scale ``S = K N`` (``K`` the max cost, ``N = 2 + 4 (max - min)(1 + log M) / K``) before the
fit; ``S`` cancels from ``eta_t (yhat_i - yhat_{i*})`` and turns the code's box into the one above, so we
work in cost units.

**Departures.**
- Ridge term ``lambda`` (default 1e-3): the authors use the minimum-norm least-squares solution
  (``lsqminnorm``), the limit ``lambda -> 0``; ``regularization=0`` gives that solution.
- The code subtracts from ``R_t`` the residual of the last box-constrained refit of the round (zero in
  rounds without one); we omit it: it is not the regression regret and can make the denominator negative.
- The code's cost buffer is pre-filled with zeros, so its ``min cost`` is 0 until the last round; we use
  the observed minimum, as its variable names intend (for SOR costs, min ~ 10 and max ~ 10^3, the two
  differ by about one percent).
- The code compares ``yhat`` with ``cost / S`` in ``R_t`` and with ``(cost - 1) / S`` in the fit; we use
  ``cost - 1`` in both.
- Context interval: the authors pass [-0.15, 0.65]; c lies in [-0.15, 0.45], which we use (as
  ``TsallisINFCB`` here). Contexts outside the interval are clipped to it.

API (as the other bandits): ``select(context) -> omega`` then ``update(cost)``; also
``predict(context)`` (the predicted cost of every arm) and ``probabilities(context)``.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import lsq_linear

from optarena.solvers.relax.bandits import DEFAULT_GRID, _check_cost, _check_grid

__all__ = ["ChebCB"]


def _box_ridge(G: np.ndarray, h: np.ndarray, lam: float, bound: np.ndarray) -> np.ndarray:
    """``argmin theta' (G + lam I) theta - 2 h' theta`` over ``|theta_j| <= bound_j``.

    The unconstrained (minimum-norm when singular) solution is returned when it lies in the box;
    otherwise the problem is rewritten as bounded least squares ``|A theta - r|^2`` with
    ``A' A = G + lam I`` and ``A' r = h`` and solved exactly (BVLS).
    """
    H = G + lam * np.eye(len(h))
    theta = np.linalg.lstsq(H, h, rcond=None)[0]
    if np.all(np.abs(theta) <= bound):
        return theta
    s, V = np.linalg.eigh(H)
    keep = s > s.max() * 1e-12
    sq = np.sqrt(s[keep])
    A = sq[:, None] * V[:, keep].T
    r = (V[:, keep].T @ h) / sq
    lo = -bound
    hi = np.where(bound > 0, bound, 1e-300)  # lsq_linear needs lo < hi; a zero bound pins the coefficient
    return np.clip(lsq_linear(A, r, bounds=(lo, hi), method="bvls", tol=1e-12).x, -bound, bound)


class ChebCB:
    """SquareCB with per-arm Chebyshev regression of the SOR cost on a scalar context (see module doc)."""

    def __init__(
        self,
        grid: object = DEFAULT_GRID,
        degree: int = 5,
        regularization: float = 1e-3,
        low: float = -0.15,
        high: float = 0.45,
        seed: int | np.random.Generator | None = 0,
    ) -> None:
        self.grid = _check_grid(grid)
        if isinstance(degree, bool) or not isinstance(degree, int | np.integer) or degree < 0:
            raise ValueError(f"degree must be a non-negative integer, got {degree!r}")
        if (
            isinstance(regularization, bool)
            or not isinstance(regularization, int | float | np.integer | np.floating)
            or not np.isfinite(regularization)
            or regularization < 0
        ):
            raise ValueError(f"regularization must be a finite number >= 0, got {regularization!r}")
        if not (np.isfinite(low) and np.isfinite(high) and low < high):
            raise ValueError(f"need a finite context interval low < high, got [{low!r}, {high!r}]")
        self.degree = int(degree)
        self.regularization = float(regularization)
        self.low, self.high = float(low), float(high)
        self.rng = np.random.default_rng(seed)
        d, M = len(self.grid), self.degree + 1
        self.theta = np.zeros((d, M))  # predicts cost - 1
        self.gram = np.zeros((d, M, M))
        self.moment = np.zeros((d, M))
        self.counts = np.zeros(d, dtype=np.int64)
        self.t = 0  # rounds observed
        self.eta = 0.0
        self.sq_error = 0.0  # R_t
        self.cost_max = -np.inf
        self.cost_min = np.inf
        self.index: int | None = None
        self._feature = np.zeros(M)
        self._predicted = 0.0
        # Chebyshev approximation error constant of the code, with its m = M coefficients
        self._alpha_factor = (np.pi + 2.0 / np.pi * np.log(2.0 * M + 1.0)) / (2.0 * (M + 1.0))

    def features(self, context: float) -> np.ndarray:
        """``(T_0(x), ..., T_degree(x))`` at ``x = 2 (c - low) / (high - low) - 1``, clipped to [-1, 1]."""
        if context is None or not np.isfinite(context):
            raise ValueError(f"ChebCB needs a finite context (the shift c), got {context!r}")
        x = float(np.clip(2.0 * (context - self.low) / (self.high - self.low) - 1.0, -1.0, 1.0))
        f = np.empty(self.degree + 1)
        f[0] = 1.0
        if self.degree >= 1:
            f[1] = x
        for j in range(2, self.degree + 1):
            f[j] = 2.0 * x * f[j - 1] - f[j - 2]
        return f

    def predict(self, context: float) -> np.ndarray:
        """The model's cost of every arm at ``context`` (``1 + yhat_i``)."""
        return 1.0 + self.theta @ self.features(context)

    def _probabilities(self, yhat: np.ndarray) -> np.ndarray:
        d = len(yhat)
        star = int(np.argmin(yhat))
        gap = yhat - yhat[star]
        scaled = np.zeros(d)
        np.multiply(self.eta, gap, out=scaled, where=gap > 0)  # eta may be inf: 0 * inf is never formed
        p = 1.0 / (d + scaled)
        p[star] = 0.0
        p[star] = 1.0 - p.sum()
        return p

    def probabilities(self, context: float) -> np.ndarray:
        """The inverse-gap-weighted sampling distribution at ``context``."""
        return self._probabilities(self.theta @ self.features(context))

    def select(self, context: float | None = None) -> float:
        if self.index is not None:
            raise RuntimeError("select() called twice without update(cost)")
        f = self.features(context)  # type: ignore[arg-type]
        yhat = self.theta @ f
        p = self._probabilities(yhat)
        self.index = int(self.rng.choice(len(self.grid), p=p))
        self._feature = f
        self._predicted = float(yhat[self.index])
        return float(self.grid[self.index])

    def _bound(self) -> np.ndarray:
        j = np.arange(1, self.degree + 1)
        return np.concatenate(([self.cost_max], 2.0 * (self.cost_max - self.cost_min) / j))

    def _refit(self, i: int, bound: np.ndarray) -> None:
        if self.counts[i] > 0:
            self.theta[i] = _box_ridge(self.gram[i], self.moment[i], self.regularization, bound)

    def update(self, cost: float) -> None:
        cost = _check_cost(cost)
        if self.index is None:
            raise RuntimeError("update(cost) called before select()")
        i, f, y = self.index, self._feature, cost - 1.0
        self.gram[i] += np.outer(f, f)
        self.moment[i] += y * f
        self.counts[i] += 1
        self.sq_error += (self._predicted - y) ** 2
        self.t += 1
        moved = cost > self.cost_max or cost < self.cost_min
        self.cost_max, self.cost_min = max(self.cost_max, cost), min(self.cost_min, cost)
        bound = self._bound()
        for k in range(len(self.grid)) if moved else (i,):
            self._refit(k, bound)
        alpha = self._alpha_factor * (self.cost_max - self.cost_min)
        denom = self.sq_error + 2.0 * alpha**2 * self.t
        self.eta = 2.0 * self.t * np.sqrt(len(self.grid) * self.t / denom) if denom > 0 else np.inf
        self.index = None
