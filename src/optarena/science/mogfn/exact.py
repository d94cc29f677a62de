"""Exact distributions on the HyperGrid DAG and the distances between them.

A forward policy ``P_F(a | s)`` (an array ``(P, N, ndim + 1)`` of action probabilities, last action =
stop, one slice per preference) induces the terminal distribution

    P_T(x) = rho(x) P_F(stop | x),    rho(s0) = 1,    rho(s) = sum_{i: s_i > 0} rho(s - e_i) P_F(i | s - e_i),

computed level by level (level = sum of coordinates, a topological order of the DAG) in float64:
``O(N ndim)`` per preference.
"""

from __future__ import annotations

import numpy as np

from optarena.science.mogfn.env import HyperGrid

__all__ = ["l1_distance", "terminal_distribution", "total_variation"]


def terminal_distribution(env: HyperGrid, pf: np.ndarray) -> np.ndarray:
    """Exact ``P_T`` over the flat states from action probabilities ``pf`` ``(N, A)`` or ``(P, N, A)``."""
    pf = np.asarray(pf, dtype=np.float64)
    single = pf.ndim == 2
    pf = pf[None] if single else pf
    if pf.ndim != 3 or pf.shape[1:] != (env.n_states, env.n_actions):
        raise ValueError(f"pf must have shape (P, {env.n_states}, {env.n_actions}), got {pf.shape}")
    reach = np.zeros(pf.shape[:2])
    reach[:, 0] = 1.0
    for lvl in env.levels[1:]:
        acc = np.zeros((pf.shape[0], len(lvl)))
        for i in range(env.ndim):
            par = env.parent[lvl, i]
            ok = par >= 0
            acc[:, ok] += reach[:, par[ok]] * pf[:, par[ok], i]
        reach[:, lvl] = acc
    out = reach * pf[:, :, env.ndim]
    return out[0] if single else out


def l1_distance(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``sum_x |p(x) - q(x)|`` over the last axis (in ``[0, 2]`` for distributions)."""
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    if p.shape != q.shape:
        raise ValueError(f"p and q must have the same shape, got {p.shape} and {q.shape}")
    return np.abs(p - q).sum(-1)


def total_variation(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Total variation distance ``L1 / 2``."""
    return 0.5 * l1_distance(p, q)
