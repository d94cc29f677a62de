"""Heatmaps for heatmap-guided TSP search: SoftDist, kNN and uniform.

A heatmap is an ``(n, n)`` row-stochastic matrix ``H`` with ``H[i, i] = 0``: ``H[i, j]`` is the
belief that edge ``(i, j)`` is in a good tour. The search (:mod:`optarena.science.tsp.search`) reads
only ``H``: candidate cities of ``i`` are the support of row ``i`` (at most ``n_candidates`` largest
entries) and moves are sampled with probability proportional to ``H[i, j]``.

SoftDist (Xia et al., ICML 2024) is the parameter-free heatmap of the paper:

.. math::

    H_{ij} = \\frac{\\exp(-d_{ij}/\\tau)}{\\sum_{l \\ne i} \\exp(-d_{il}/\\tau)}, \\qquad d_{ii} = \\infty,

restricted to the ``k`` nearest neighbours of ``i`` and renormalized (the authors' MCTS keeps the
top-``k`` candidates of each row, so entries outside them are never used).
"""

from __future__ import annotations

import numpy as np

from optarena.science.tsp.instances import check_coords, distance_matrix

__all__ = ["OFFICIAL_TAU", "check_heatmap", "default_tau", "knn_heatmap", "softdist", "uniform_heatmap"]

#: Official temperatures of the authors' grid search (unit square): TSP-500, -1000, -10000.
OFFICIAL_TAU = {500: 0.0066, 1000: 0.0051, 10000: 0.0018}


def default_tau(n: int) -> float:
    """Temperature for TSP-``n``: the authors' value for n in :data:`OFFICIAL_TAU`, else ``0.0066 sqrt(500/n)``.

    Departure: the authors grid-search ``tau`` per size on training instances. The fallback scales the
    TSP-500 value like the typical nearest-neighbour distance (``~ n^-1/2``); it gives 0.0047 at n=1000
    and 0.0015 at n=10000, close to their 0.0051 and 0.0018.
    """
    if n < 3:
        raise ValueError(f"n must be >= 3, got {n}")
    return OFFICIAL_TAU.get(int(n), 0.0066 * float(np.sqrt(500.0 / n)))


def _knn_mask(d: np.ndarray, k: int) -> np.ndarray:
    n = d.shape[0]
    if int(k) != k or not 1 <= k <= n - 1:
        raise ValueError(f"k must be an integer in [1, n - 1] = [1, {n - 1}], got {k!r}")
    dd = d.copy()
    np.fill_diagonal(dd, np.inf)
    idx = np.argpartition(dd, int(k) - 1, axis=1)[:, : int(k)]
    mask = np.zeros_like(d, dtype=bool)
    np.put_along_axis(mask, idx, True, axis=1)
    return mask


def softdist(coords: np.ndarray, tau: float | None = None, k: int | None = 10) -> np.ndarray:
    """SoftDist heatmap: row softmax of ``-d_ij / tau`` over the ``k`` nearest neighbours (all if ``k=None``).

    Args:
        coords: ``(n, 2)`` city coordinates.
        tau: temperature ``> 0``; ``None`` uses :func:`default_tau`.
        k: keep the ``k`` nearest neighbours of each city (``None``: the full row, ``n - 1`` entries).
    """
    c = check_coords(coords)
    n = c.shape[0]
    tau = default_tau(n) if tau is None else tau
    if not np.isfinite(tau) or tau <= 0:
        raise ValueError(f"tau must be finite and > 0, got {tau!r}")
    d = distance_matrix(c)
    mask = _knn_mask(d, n - 1 if k is None else k)
    logits = np.where(mask, -d / tau, -np.inf)
    logits -= logits.max(axis=1, keepdims=True)  # stable: the row max is 0
    H = np.exp(logits)
    return H / H.sum(axis=1, keepdims=True)


def knn_heatmap(coords: np.ndarray, k: int = 10) -> np.ndarray:
    """``H[i, j] = 1/k`` on the ``k`` nearest neighbours of ``i``, else 0 (candidate set without ranking)."""
    c = check_coords(coords)
    mask = _knn_mask(distance_matrix(c), k)
    return mask / float(k)


def uniform_heatmap(coords: np.ndarray) -> np.ndarray:
    """``H[i, j] = 1/(n-1)`` for ``j != i``: a heatmap with no information."""
    n = check_coords(coords).shape[0]
    H = np.full((n, n), 1.0 / (n - 1))
    np.fill_diagonal(H, 0.0)
    return H


def check_heatmap(H: np.ndarray, n: int) -> np.ndarray:
    """Return ``H`` as float; ValueError unless ``(n, n)``, finite, ``>= 0``, zero diagonal, positive rows."""
    H = np.asarray(H, dtype=float)
    if H.shape != (n, n):
        raise ValueError(f"heatmap must have shape ({n}, {n}), got {H.shape}")
    if not np.isfinite(H).all() or (H < 0).any():
        raise ValueError("heatmap entries must be finite and >= 0")
    if np.any(np.diag(H) != 0):
        raise ValueError("heatmap diagonal must be 0 (no self-loops)")
    rows = H.sum(axis=1)
    if (rows <= 0).any():
        raise ValueError(f"every heatmap row needs a positive entry; row {int(np.argmin(rows))} is all zero")
    return H
