"""Multi-objective HyperGrid: a DAG of grid states, normalised objectives and the exact targets.

States are integer points ``s in {0, ..., H-1}^ndim``, starting at ``s0 = 0``. From ``s`` an action
either increments one coordinate ``i`` with ``s_i < H - 1`` or stops; stopping at ``s`` terminates
with ``x = s``, so every state is a possible terminal object (``H^ndim`` of them) and trajectories have
at most ``ndim (H - 1) + 1`` actions. The backward policy is uniform over the parents
``{s - e_i : s_i > 0}`` (and 1 for the stop transition), as in the authors' code.

Objectives (:mod:`optarena.science.mogfn.objectives`) are evaluated at ``u = s / (H - 1)``, oriented
for maximisation and min-max normalised to ``[0, 1]`` over the grid. For a preference ``w`` on the
simplex the reward is the weighted-sum scalarisation ``R(x | w) = sum_i w_i R_i(x)`` and the target
distribution is ``p(x | w) = R(x | w)^beta / sum_x' R(x' | w)^beta`` (Jain et al., ICML 2023, eq. 4).

Departure from the authors' grid code (github.com/GFNOrg/multi-objective-gfn): there, reaching the
boundary ``H - 1`` in any coordinate ends the episode (Bengio et al. 2021's original HyperGrid), so
states with two coordinates at ``H - 1`` are unreachable; here increments past the boundary are
masked instead (torchgfn's HyperGrid), and all ``H^ndim`` states are terminal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from optarena.science.mogfn.hypervolume import pareto_mask
from optarena.science.mogfn.objectives import Objective, get_objective

__all__ = ["HyperGrid", "check_beta", "check_preference"]

_MAX_STATES = 2_000_000  # exact enumerations below; refuse grids larger than this


def check_beta(beta: float) -> float:
    """``beta`` as a float; ValueError unless it is finite and > 0."""
    if isinstance(beta, bool) or not isinstance(beta, int | float | np.floating | np.integer):
        raise ValueError(f"beta must be a number > 0, got {beta!r}")
    if not (np.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be finite and > 0, got {beta!r}")
    return float(beta)


def check_preference(preference: Any, k: int, tol: float = 1e-6) -> np.ndarray:
    """A preference ``(k,)`` or a batch ``(P, k)`` on the probability simplex, as float64."""
    w = np.asarray(preference, dtype=float)
    if w.ndim not in (1, 2) or w.shape[-1] != k:
        raise ValueError(f"preference must have shape ({k},) or (P, {k}), got {w.shape}: {preference!r}")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"preference contains NaN or inf: {preference!r}")
    if np.any(w < -tol) or np.any(np.abs(w.sum(-1) - 1.0) > tol):
        raise ValueError(f"preference must lie on the simplex (w >= 0, sum(w) = 1), got {preference!r}")
    return np.clip(w, 0.0, None) / np.clip(w, 0.0, None).sum(-1, keepdims=True)


class HyperGrid:
    """``ndim``-dimensional grid of side ``height`` with ``k`` normalised objectives to maximise.

    Args:
        ndim: number of coordinates (>= 1).
        height: grid side ``H`` (>= 2); coordinates take values ``0 .. H-1``.
        objectives: names of :data:`~optarena.science.mogfn.objectives.OBJECTIVES` (``"branin"``,
            ``"currin"`` are 2-D only; ``"shubert"``, ``"sphere"`` any ``ndim``), :class:`Objective`
            instances or callables ``u (n, ndim) in [0, 1] -> (n,)`` (maximised).

    Attributes:
        states: ``(N, ndim)`` int array of all states, row-major (flat index = :meth:`index`).
        rewards: ``(N, k)`` normalised objective values in ``[0, 1]`` (min 0 and max 1 per column,
            unless an objective is constant on the grid, then 0).
    """

    def __init__(
        self,
        ndim: int,
        height: int,
        objectives: Sequence[str | Objective | Callable[[np.ndarray], np.ndarray]] = ("branin", "currin"),
    ) -> None:
        if isinstance(ndim, bool) or not isinstance(ndim, int | np.integer) or ndim < 1:
            raise ValueError(f"ndim must be an integer >= 1, got {ndim!r}")
        if isinstance(height, bool) or not isinstance(height, int | np.integer) or height < 2:
            raise ValueError(f"height must be an integer >= 2, got {height!r}")
        self.ndim, self.height = int(ndim), int(height)
        if self.height**self.ndim > _MAX_STATES:
            raise ValueError(
                f"grid of height={height}, ndim={ndim} has {self.height**self.ndim} states; "
                f"exact distributions are limited to {_MAX_STATES}"
            )
        if isinstance(objectives, str) or not isinstance(objectives, Sequence) or len(objectives) < 1:
            raise ValueError(f"objectives must be a non-empty sequence, got {objectives!r}")
        self.objectives = tuple(get_objective(o) for o in objectives)
        for o in self.objectives:
            if o.ndim is not None and o.ndim != self.ndim:
                raise ValueError(f"objective {o.name!r} is defined for ndim={o.ndim}, got ndim={ndim}")
        self.n_objectives = len(self.objectives)
        self.n_states = self.height**self.ndim
        self.n_actions = self.ndim + 1  # increments, then stop (last)
        self.max_len = self.ndim * (self.height - 1) + 1
        grids = np.meshgrid(*[np.arange(self.height)] * self.ndim, indexing="ij")
        self.states = np.stack([g.ravel() for g in grids], axis=1).astype(np.int64)
        self._strides = self.height ** np.arange(self.ndim - 1, -1, -1)
        self.rewards = self._normalised(self.states)
        # DAG tables: parent[s, i] = index of s - e_i (or -1); level = sum of coordinates
        self.parent = np.where(self.states > 0, np.arange(self.n_states)[:, None] - self._strides, -1)
        level = self.states.sum(1)
        self.levels = [np.flatnonzero(level == v) for v in range(level.max() + 1)]
        self.n_parents = (self.states > 0).sum(1)

    # -- states ----------------------------------------------------------------------------------
    def index(self, states: np.ndarray) -> np.ndarray:
        """Flat indices of integer states ``(n, ndim)``."""
        s = np.asarray(states)
        if s.ndim != 2 or s.shape[1] != self.ndim:
            raise ValueError(f"states must have shape (n, {self.ndim}), got {s.shape}")
        if np.any(s < 0) or np.any(s >= self.height):
            raise ValueError(f"states must lie in {{0, ..., {self.height - 1}}}^{self.ndim}")
        return s.astype(np.int64) @ self._strides

    def action_mask(self, states: np.ndarray) -> np.ndarray:
        """``(n, ndim + 1)`` bool: increment ``i`` allowed iff ``s_i < H - 1``; stop always allowed."""
        s = np.asarray(states)
        return np.concatenate([s < self.height - 1, np.ones((len(s), 1), dtype=bool)], axis=1)

    # -- objectives and rewards -------------------------------------------------------------------
    def _raw(self, states: np.ndarray) -> np.ndarray:
        u = np.asarray(states, dtype=float) / (self.height - 1)
        cols = []
        for o in self.objectives:
            v = np.asarray(o.fn(u), dtype=float).reshape(-1)
            if v.shape != (len(u),) or not np.all(np.isfinite(v)):
                raise ValueError(f"objective {o.name!r} must return {len(u)} finite values")
            cols.append(v if o.maximize else -v)
        return np.stack(cols, axis=1)

    def _normalised(self, states: np.ndarray) -> np.ndarray:
        raw = self._raw(states)
        lo, hi = raw.min(0), raw.max(0)
        span = np.where(hi > lo, hi - lo, 1.0)
        return (raw - lo) / span

    def objective_values(self, states: np.ndarray) -> np.ndarray:
        """Normalised objectives ``(n, k)`` of integer states ``(n, ndim)`` (one reward call each)."""
        return self.rewards[self.index(states)]

    def scalarized(self, preference: Any) -> np.ndarray:
        """``R(x | w) = sum_i w_i R_i(x)`` for every state: ``(N,)``, or ``(P, N)`` for ``(P, k)`` prefs."""
        w = check_preference(preference, self.n_objectives)
        return w @ self.rewards.T

    def target_distribution(self, preference: Any, beta: float) -> np.ndarray:
        """Exact ``p(x | w) = R(x | w)^beta / Z(w)`` over the flat states (``(N,)`` or ``(P, N)``)."""
        beta = check_beta(beta)
        r = self.scalarized(preference)
        with np.errstate(divide="ignore"):
            logp = beta * np.log(r)  # r = 0 -> probability 0
        logp = logp - logp.max(-1, keepdims=True)
        p = np.exp(logp)
        return p / p.sum(-1, keepdims=True)

    def pareto_mask(self) -> np.ndarray:
        """``(N,)`` bool: states whose objective vector no other state dominates."""
        return pareto_mask(self.rewards)

    def __repr__(self) -> str:
        names = ", ".join(o.name for o in self.objectives)
        return f"HyperGrid(ndim={self.ndim}, height={self.height}, objectives=({names}))"
