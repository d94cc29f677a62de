"""Pareto and diversity metrics of candidate sets on a :class:`HyperGrid` (objectives maximised).

- ``pareto_recall``: share of the grid's Pareto-optimal states present in the set;
- ``topk_diversity``: for a preference ``w``, the ``k`` distinct candidates of highest ``R(x | w)``
  and their mean pairwise Euclidean distance in ``u = s / (H - 1)`` (the paper's top-K diversity,
  with the grid's distance in place of its sequence / Tanimoto distances);
- ``set_hypervolume``: exact hypervolume of the set's objective vectors, reference point 0 (the
  worst value of every normalised objective).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optarena.science.mogfn.env import HyperGrid, check_preference
from optarena.science.mogfn.hypervolume import hypervolume

__all__ = ["pareto_recall", "set_hypervolume", "topk_diversity"]


def set_hypervolume(env: HyperGrid, states: np.ndarray) -> float:
    """Hypervolume of the normalised objective vectors of ``states`` (n, ndim), reference 0."""
    return hypervolume(env.objective_values(states), np.zeros(env.n_objectives))


def pareto_recall(env: HyperGrid, states: np.ndarray, front: np.ndarray | None = None) -> float:
    """Fraction of the Pareto-optimal states (``front``: bool mask, default ``env.pareto_mask()``) in ``states``."""
    front = env.pareto_mask() if front is None else np.asarray(front, dtype=bool)
    hit = np.zeros(env.n_states, dtype=bool)
    hit[env.index(states)] = True
    return float((hit & front).sum() / max(front.sum(), 1))


def topk_diversity(env: HyperGrid, states: np.ndarray, preference: Any, k: int = 10) -> float:
    """Mean pairwise distance (in ``[0, 1]^ndim``) of the top-``k`` distinct states by ``R(x | w)``."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 2:
        raise ValueError(f"k must be an integer >= 2, got {k!r}")
    w = check_preference(preference, env.n_objectives)
    if w.ndim != 1:
        raise ValueError(f"one preference (k,) expected, got shape {w.shape}")
    idx = np.unique(env.index(states))
    top = idx[np.argsort(-(env.rewards[idx] @ w), kind="stable")[:k]]
    if len(top) < 2:
        return 0.0
    u = env.states[top] / (env.height - 1)
    d = np.sqrt(((u[:, None] - u[None]) ** 2).sum(-1))
    return float(d[np.triu_indices(len(top), 1)].mean())
