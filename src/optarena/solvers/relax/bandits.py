"""Bandits over SOR's relaxation parameter (Khodak, Chow, Balcan, Talwalkar, ICLR 2024).

M. Khodak, E. Chow, M.-F. Balcan, A. Talwalkar, "Learning to Relax: Setting Solver Parameters Across a
Sequence of Linear System Instances", ICLR 2024 (arXiv:2310.02246).

**Tsallis-INF** (Zimmert & Seldin 2021; the paper's Algorithm over a grid of K values of omega, here
``linspace(1, 1.95, 20)`` as the authors' scripts). At round t, with ``eta_t = 2 / sqrt(t)``,

    p_i = 4 (eta_t (Khat_i / s_t - x))^{-2},   x such that sum_i p_i = 1   (Newton on x),

sample arm ``i ~ p``, pay the SOR iteration count ``cost``, and update the importance-weighted loss
``Khat_i += (cost - 1) / p_i``. ``s_t = mean(costs so far) - 1`` normalizes the losses (the authors' code;
the paper normalizes by the known bound on the cost instead: we follow the code).

**Tsallis-INF-CB** (the paper's discretized contextual baseline, authors' ``TsallisINFCB.m``): the context
interval ``[a, b]`` is cut into ``m`` equal bins and an independent Tsallis-INF runs in each; a context is
routed to the bin with the nearest centre. The context is the instance's diagonal shift c.

API: ``select(context=None) -> omega`` then ``update(cost)``; one ``update`` per ``select``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DEFAULT_GRID", "FixedOmega", "TsallisINF", "TsallisINFCB"]

#: The authors' action grid.
DEFAULT_GRID = np.linspace(1.0, 1.95, 20)


def _check_grid(grid: object) -> np.ndarray:
    g = np.asarray(grid, dtype=float).reshape(-1)
    if g.size == 0 or not np.all(np.isfinite(g)) or np.any(g <= 0) or np.any(g >= 2):
        raise ValueError(f"omega grid must be a non-empty list of values in (0, 2), got {grid!r}")
    return g


def _check_cost(cost: object) -> float:
    c = float(cost)  # type: ignore[arg-type]
    if not np.isfinite(c) or c < 1:
        raise ValueError(f"cost must be a finite iteration count >= 1, got {cost!r}")
    return c


class FixedOmega:
    """The constant policy omega (a comparator: ``omega = 1`` is Gauss-Seidel)."""

    def __init__(self, omega: float) -> None:
        self.grid = _check_grid([omega])
        self.index = 0

    def select(self, context: float | None = None) -> float:
        return float(self.grid[0])

    def update(self, cost: float) -> None:
        _check_cost(cost)


class TsallisINF:
    """Tsallis-INF with ``eta_t = 2/sqrt(t)`` over a finite grid of omega values (see module doc)."""

    def __init__(self, grid: object = DEFAULT_GRID, seed: int | np.random.Generator | None = 0) -> None:
        self.grid = _check_grid(grid)
        self.rng = np.random.default_rng(seed)
        self.t = 1
        self.khat = np.zeros(len(self.grid))
        self.cost_sum = 0.0
        self.scale = 1.0
        self.index: int | None = None
        self.prob = 1.0

    def probabilities(self) -> np.ndarray:
        """The sampling distribution of the current round."""
        eta = 2.0 / np.sqrt(self.t)
        z = self.khat / self.scale
        # start where the smallest-loss arm has p = 1, so sum p >= 1: Newton then decreases x monotonically
        x = z.min() - 2.0 / eta
        for _ in range(100):
            p = 4.0 * (eta * (z - x)) ** -2.0
            step = (p.sum() - 1.0) / (eta * np.sum(p**1.5))
            x -= step
            if abs(step) <= 1e-12 * max(1.0, abs(x)):
                break
        p = 4.0 * (eta * (z - x)) ** -2.0
        return p / p.sum()

    def select(self, context: float | None = None) -> float:
        if self.index is not None:
            raise RuntimeError("select() called twice without update(cost)")
        p = self.probabilities()
        self.index = int(self.rng.choice(len(self.grid), p=p))
        self.prob = float(p[self.index])
        return float(self.grid[self.index])

    def update(self, cost: float) -> None:
        cost = _check_cost(cost)
        if self.index is None:
            raise RuntimeError("update(cost) called before select()")
        self.cost_sum += cost
        self.scale = max(self.cost_sum / self.t - 1.0, 1e-12)
        self.khat[self.index] += (cost - 1.0) / self.prob
        self.t += 1
        self.index = None


class TsallisINFCB:
    """Contextual Tsallis-INF: ``m`` context bins on ``[low, high]``, one Tsallis-INF per bin."""

    def __init__(
        self,
        grid: object = DEFAULT_GRID,
        bins: int = 5,
        low: float = -0.15,
        high: float = 0.45,
        seed: int | np.random.Generator | None = 0,
    ) -> None:
        self.grid = _check_grid(grid)
        if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 1:
            raise ValueError(f"bins must be a positive integer, got {bins!r}")
        if not (np.isfinite(low) and np.isfinite(high) and low < high):
            raise ValueError(f"need a finite context interval low < high, got [{low!r}, {high!r}]")
        rng = np.random.default_rng(seed)
        self.learners = [TsallisINF(self.grid, rng) for _ in range(bins)]
        self.centres = low + (high - low) * np.linspace(0.5 / bins, 1 - 0.5 / bins, bins)
        self.current: TsallisINF | None = None

    @property
    def index(self) -> int | None:
        return None if self.current is None else self.current.index

    def select(self, context: float | None = None) -> float:
        if context is None or not np.isfinite(context):
            raise ValueError(f"TsallisINFCB needs a finite context (the shift c), got {context!r}")
        self.current = self.learners[int(np.argmin(np.abs(self.centres - context)))]
        return self.current.select()

    def update(self, cost: float) -> None:
        if self.current is None:
            raise RuntimeError("update(cost) called before select()")
        self.current.update(cost)
        self.current = None
