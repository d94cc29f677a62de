r"""Zeroth-order descent from rankings (ZO-RankSGD) and from values (ZO-SGD), with a rank line search.

**ZO-RankSGD** -- Z. Tang, D. Rybin, T.-H. Chang, "Zeroth-Order Optimization Meets Human Feedback:
Provable Learning via Ranking Oracles", ICLR 2024 (arXiv:2303.03751). Each iteration:

.. code-block:: text

    xi_1..xi_m ~ N(0, I)
    the (m, k) ranking oracle returns the top k of {x_t + mu xi_i}, best (lowest f) first
    DAG E: (i, j) in E when i is known to beat j (ranked-vs-later-ranked and ranked-vs-unranked)
    g_t = (1 / |E|) sum_{(i, j) in E} (xi_j - xi_i),    |E| = k (k - 1) / 2 + k (m - k)
        i.e. weight 2 r - (m - 1) for the item of rank r < k and +k for each unranked item
    line search: x_{t+1} = best, by the (L + 1, 1) oracle, of {x_t - eta gamma^l g_t : l < L} and x_t

The weights follow the paper's DAG estimator exactly; the authors' code (optimizer.py of
TZW1998/Taming-Stable-Diffusion-with-Human-Ranking-Feedback) uses ``m - 2r`` for ranked items (an
off-by-one that leaves the weights summing to ``k`` instead of 0) and also averages directions over
failed line searches; we follow the paper. Including ``x_t`` makes the iterates monotone (the paper's
line search over ``gamma^l`` steps; x_t costs one query per iteration and is counted).

**ZO-SGD** (values; Nesterov & Spokoiny, "Random Gradient-Free Minimization of Convex Functions",
Found. Comput. Math., 2017; Ghadimi & Lan, SIAM J. Optim., 2013): the two-point estimator
``g_t = (1/m) sum_i (f(x_t + mu xi_i) - f(x_t)) / mu * xi_i`` and ``x_{t+1} = x_t - eta g_t``, or,
with ``line_search=True``, the same line search as ZO-RankSGD using the values (f(x_t) is known, so
it is not re-queried). This gives an equal-footing baseline: the same queries, values instead of ranks.

Both work in the unit cube (``x = low + u (high - low)``); perturbed and trial points are clipped to
it (a projection the unconstrained paper does not need; the claim's box is wide enough that it
rarely binds). Defaults (ours: the paper's experiments tune per task): ``m = 10``, ``k = 5`` (rank),
``mu = 0.01``, ``step_size = 0.5``, ``line_search_steps = 5``, ``gamma = 0.5``, ``x0`` = the box centre.
``adapt_step=True`` (off by default, a departure from both papers) rescales eta after each line search so
the winning trial becomes the second one, ``eta <- eta gamma^{l*} / gamma``, and shrinks it by ``gamma``
when ``x_t`` wins; without it a rank method, whose direction has no magnitude, stalls once the optimum
is closer than ``eta gamma^{L-1}``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from optarena.solvers.blackbox._common import BlackBoxOptimizer, RankingOptimizer, check_int, check_positive

__all__ = ["ZOSGD", "ZORankSGD", "rank_gradient"]


def rank_gradient(xi: np.ndarray, order: np.ndarray) -> np.ndarray:
    """The DAG rank estimator ``(1/|E|) sum_{(i,j) in E} (xi_j - xi_i)`` from the top-k ``order``."""
    m, k = xi.shape[0], len(order)
    w = np.full(m, float(k))  # unranked items: beaten by all k ranked ones
    w[order] = 2.0 * np.arange(k) - (m - 1)
    n_edges = k * (k - 1) / 2 + k * (m - k)
    return (w @ xi) / n_edges


class _LineSearch:
    """Shared state of the two ZO methods: iterate, step size and the line-search trial points."""

    def _setup(
        self: Any,
        x0: Any,
        mu: float,
        step_size: float,
        line_search_steps: int,
        gamma: float,
        adapt_step: bool,
    ) -> None:
        self.mu = check_positive("mu", mu)
        self.eta = check_positive("step_size", step_size)
        self.L = check_int("line_search_steps", line_search_steps, 1)
        self.gamma = check_positive("gamma", gamma)
        if self.gamma >= 1:
            raise ValueError(f"gamma must lie in (0, 1), got {gamma!r}")
        if not isinstance(adapt_step, bool):
            raise TypeError(f"adapt_step must be a bool, got {adapt_step!r}")
        self.adapt_step = adapt_step
        if x0 is None:
            self.u = np.full(self.dim, 0.5)
        else:
            x = np.asarray(x0, dtype=np.float64).reshape(-1)
            if x.shape != (self.dim,) or not np.all(np.isfinite(x)):
                raise ValueError(f"x0 must be a finite point of dimension {self.dim}, got {x0!r}")
            if np.any(x < self.box.low) or np.any(x > self.box.high):
                raise ValueError(f"x0 = {x.tolist()} lies outside the bounds")
            self.u = self.box.to_unit(x)
        self.f_u = math.nan
        self.phase = "grad"
        self.g = np.zeros(self.dim)
        self.nit = 0

    def _trial_points(self) -> np.ndarray:
        steps = self.eta * self.gamma ** np.arange(self.L)
        return np.clip(self.u[None, :] - steps[:, None] * self.g[None, :], 0.0, 1.0)

    def _accept(self, winner: int, points: np.ndarray, value: float) -> None:
        """``winner`` < L: trial step ``winner`` won; == L: the iterate stayed."""
        if winner < self.L:
            self.u = points[winner].copy()
            self.f_u = value
            if self.adapt_step:
                self.eta *= self.gamma**winner / self.gamma
        elif self.adapt_step:
            self.eta *= self.gamma
        self.phase = "grad"
        self.nit += 1

    @property
    def best(self) -> tuple[np.ndarray, float]:
        return self.box.from_unit(self.u), self.f_u


class ZORankSGD(_LineSearch, RankingOptimizer):
    """ZO-RankSGD: asks alternately for ``m`` perturbed points and ``L + 1`` line-search points."""

    method = "zo-ranksgd"

    def __init__(
        self,
        bounds: Any,
        seed: int = 0,
        *,
        x0: Any = None,
        m: int = 10,
        k: int = 5,
        mu: float = 0.01,
        step_size: float = 0.5,
        line_search_steps: int = 5,
        gamma: float = 0.5,
        adapt_step: bool = False,
    ) -> None:
        super().__init__(bounds, seed)
        self.m = check_int("m", m, 2)
        self.k = check_int("k", k, 1, self.m)
        self._setup(x0, mu, step_size, line_search_steps, gamma, adapt_step)
        self._xi = np.zeros((self.m, self.dim))

    def oracle_k(self, n: int) -> int:
        return self.k if self.phase == "grad" else 1

    def _ask_unit(self) -> np.ndarray:
        if self.phase == "grad":
            self._xi = self.rng.standard_normal((self.m, self.dim))
            return self.u[None, :] + self.mu * self._xi
        return np.vstack([self._trial_points(), self.u[None, :]])

    def _tell_unit(self, u: np.ndarray, order: np.ndarray, values: np.ndarray) -> None:
        if self.phase == "grad":
            self.g = rank_gradient(self._xi, order[: self.k])
            self.phase = "line"
            return
        w = int(order[0])
        self._accept(w, u, float(values[w]))
        if w == self.L and not math.isnan(values[w]):
            self.f_u = float(values[w])


class ZOSGD(_LineSearch, BlackBoxOptimizer):
    """ZO-SGD with the two-point (forward-difference) Gaussian estimator; optional value line search."""

    method = "zo-sgd"

    def __init__(
        self,
        bounds: Any,
        seed: int = 0,
        *,
        x0: Any = None,
        m: int = 10,
        mu: float = 0.01,
        step_size: float = 0.5,
        line_search: bool = False,
        line_search_steps: int = 5,
        gamma: float = 0.5,
        adapt_step: bool = False,
    ) -> None:
        super().__init__(bounds, seed)
        self.m = check_int("m", m, 1)
        if not isinstance(line_search, bool):
            raise TypeError(f"line_search must be a bool, got {line_search!r}")
        self.line_search = line_search
        self._setup(x0, mu, step_size, line_search_steps, gamma, adapt_step)
        self._xi = np.zeros((self.m, self.dim))

    def batch_size(self) -> int:
        if self.phase == "line":
            return self.L
        return self.m + (1 if math.isnan(self.f_u) else 0)

    def _ask_unit(self, n: int) -> np.ndarray:
        if n != self.batch_size():
            raise ValueError(f"zo-sgd asks for batches of {self.batch_size()} points now, got n={n}")
        if self.phase == "line":
            return self._trial_points()
        self._xi = self.rng.standard_normal((self.m, self.dim))
        pts = self.u[None, :] + self.mu * self._xi
        return np.vstack([self.u[None, :], pts]) if math.isnan(self.f_u) else pts

    def _tell_unit(self, u: np.ndarray, y: np.ndarray) -> None:
        if self.phase == "line":
            i = int(np.argmin(y))
            self._accept(i if y[i] < self.f_u else self.L, u, float(y[i]))
            return
        if math.isnan(self.f_u):
            self.f_u, y = float(y[0]), y[1:]
        self.g = ((y - self.f_u) / self.mu) @ self._xi / self.m
        if self.line_search:
            self.phase = "line"
            return
        self.u = np.clip(self.u - self.eta * self.g, 0.0, 1.0)
        self.f_u = math.nan
        self.nit += 1
