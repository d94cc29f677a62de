"""TSP instances (uniform random in the unit square), distances, tour checks and tour length."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["check_coords", "check_tour", "distance_matrix", "random_uniform", "tour_length"]


def check_coords(coords: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """Return ``coords`` as a float ``(n, 2)`` array; ValueError on a bad shape, ``n < 3`` or non-finite values."""
    c = np.asarray(coords, dtype=float)
    if c.ndim != 2 or c.shape[1] != 2:
        raise ValueError(f"coords must have shape (n, 2), got {c.shape}")
    if c.shape[0] < 3:
        raise ValueError(f"a TSP needs n >= 3 cities, got n = {c.shape[0]}")
    if not np.isfinite(c).all():
        bad = np.argwhere(~np.isfinite(c))[0]
        raise ValueError(f"coords must be finite, got {c[bad[0], bad[1]]} at city {bad[0]}")
    return c


def random_uniform(n: int, seed: int = 0) -> np.ndarray:
    """``n`` cities drawn uniformly in the unit square with ``numpy.random.default_rng(seed)``."""
    if int(n) != n or n < 3:
        raise ValueError(f"n must be an integer >= 3, got {n!r}")
    return np.random.default_rng(seed).random((int(n), 2))


def distance_matrix(coords: np.ndarray) -> np.ndarray:
    """Euclidean distances ``d[i, j] = ||x_i - x_j||`` (``(n, n)``, zero diagonal)."""
    c = check_coords(coords)
    diff = c[:, None, :] - c[None, :, :]
    return np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))


def check_tour(tour: np.ndarray | Sequence[int], n: int) -> np.ndarray:
    """Return ``tour`` as an int array; ValueError unless it is a permutation of ``0..n-1`` (no return city)."""
    t = np.asarray(tour)
    if t.ndim != 1 or t.shape[0] != n:
        raise ValueError(f"a tour of {n} cities must be a 1-d array of length {n}, got shape {t.shape}")
    if not np.issubdtype(t.dtype, np.integer):
        raise ValueError(f"tour must hold integers, got dtype {t.dtype}")
    if not np.array_equal(np.sort(t), np.arange(n)):
        raise ValueError("tour must visit every city 0..n-1 exactly once")
    return t.astype(np.int64)


def tour_length(coords: np.ndarray, tour: np.ndarray | Sequence[int]) -> float:
    """Length of the closed tour ``tour[0] -> tour[1] -> ... -> tour[-1] -> tour[0]``."""
    c = check_coords(coords)
    t = check_tour(tour, c.shape[0])
    p = c[t]
    return float(np.sum(np.linalg.norm(p - np.roll(p, -1, axis=0), axis=1)))
