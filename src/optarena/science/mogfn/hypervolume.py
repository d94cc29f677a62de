"""Pareto dominance and the exact hypervolume of a point set (objectives maximised).

``hypervolume(Y, ref)`` is the Lebesgue measure of ``union_y [ref, y]`` over the points ``y`` that
exceed ``ref`` in every coordinate. Exact: a sweep in 2-D (``O(n log n)``) and, in ``d >= 3``,
slicing along the last objective (Zitzler's HSO), each slab measured by the ``(d-1)``-dimensional
algorithm; fine for the fronts of a few hundred points met here.
"""

from __future__ import annotations

import numpy as np

__all__ = ["hypervolume", "pareto_mask"]


def _points(Y: np.ndarray) -> np.ndarray:
    Y = np.asarray(Y, dtype=float)
    if Y.ndim != 2 or Y.shape[1] < 1:
        raise ValueError(f"points must have shape (n, k) with k >= 1, got {Y.shape}")
    if not np.all(np.isfinite(Y)):
        raise ValueError("points contain NaN or inf")
    return Y


def pareto_mask(Y: np.ndarray, chunk: int = 512) -> np.ndarray:
    """``(n,)`` bool: rows of ``Y`` (maximised) that no other row dominates (>= everywhere, > somewhere).

    Equal rows do not dominate each other, so duplicates of a Pareto-optimal point are all kept.
    """
    Y = _points(Y)
    keep = np.ones(len(Y), dtype=bool)
    for a in range(0, len(Y), chunk):
        block = Y[a : a + chunk]
        ge = np.all(Y[None, :, :] >= block[:, None, :], axis=2)
        gt = np.any(Y[None, :, :] > block[:, None, :], axis=2)
        keep[a : a + chunk] = ~np.any(ge & gt, axis=1)
    return keep


def _hv2(Y: np.ndarray) -> float:
    """2-D hypervolume w.r.t. the origin, points > 0."""
    order = np.argsort(-Y[:, 0], kind="stable")
    y0, y1 = Y[order, 0], Y[order, 1]
    best = np.maximum.accumulate(y1)  # highest y1 among points with larger y0
    prev = np.concatenate([[0.0], best[:-1]])
    return float(np.sum(y0 * np.clip(best - prev, 0.0, None)))


def _hv(Y: np.ndarray) -> float:
    n, d = Y.shape
    if n == 0:
        return 0.0
    if d == 1:
        return float(Y[:, 0].max())
    if d == 2:
        return _hv2(Y)
    z = Y[:, -1]
    levels = np.unique(z)[::-1]  # descending
    total = 0.0
    for j, top in enumerate(levels):
        below = levels[j + 1] if j + 1 < len(levels) else 0.0
        sub = Y[z >= top, :-1]
        sub = sub[pareto_mask(sub)] if len(sub) > 1 else sub
        total += (top - below) * _hv(sub)
    return total


def hypervolume(Y: np.ndarray, ref: np.ndarray | None = None) -> float:
    """Exact hypervolume dominated by the rows of ``Y`` (maximised) above ``ref`` (default: zeros).

    Points not strictly above ``ref`` in every objective contribute nothing.
    """
    Y = _points(Y)
    ref = np.zeros(Y.shape[1]) if ref is None else np.asarray(ref, dtype=float)
    if ref.shape != (Y.shape[1],) or not np.all(np.isfinite(ref)):
        raise ValueError(f"ref must be {Y.shape[1]} finite numbers, got {ref!r}")
    Y = Y[np.all(ref < Y, axis=1)] - ref
    if len(Y) == 0:
        return 0.0
    Y = np.unique(Y, axis=0)
    return _hv(Y[pareto_mask(Y)])
