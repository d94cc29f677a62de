"""Random DAGs, linear SEM data and the structural Hamming distance.

Conventions follow NOTEARS (Zheng et al., NeurIPS 2018) and TOPO (Deng et al., ICML 2023):
``W[i, j] != 0`` is an edge ``i -> j`` and a linear SEM reads ``X = X W + E``.
"""

from __future__ import annotations

import re

import numpy as np

__all__ = ["check_data", "is_dag", "shd", "simulate_dag", "simulate_linear_sem", "topological_order"]

_NOISES = ("gauss", "exp", "gumbel", "uniform")


def _check_square(W: np.ndarray, name: str = "W") -> np.ndarray:
    W = np.asarray(W, dtype=float)
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise ValueError(f"{name} must be a square matrix, got shape {W.shape}")
    if not np.all(np.isfinite(W)):
        raise ValueError(f"{name} contains NaN or inf")
    return W


def check_data(X: np.ndarray) -> np.ndarray:
    """``X`` as a finite float (n, d) array with n >= 2 and d >= 2, or a clear error."""
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D (n, d) array, got shape {X.shape}")
    n, d = X.shape
    if n < 2 or d < 2:
        raise ValueError(f"X needs at least 2 samples and 2 variables, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        bad = np.argwhere(~np.isfinite(X))[0]
        raise ValueError(f"X contains NaN or inf (first at row {bad[0]}, column {bad[1]})")
    return X


def topological_order(W: np.ndarray) -> list[int] | None:
    """A topological order of the support of ``W`` (Kahn, smallest index first), or None if cyclic."""
    B = _check_square(W) != 0
    indeg = B.sum(axis=0).astype(int)
    ready = sorted(np.flatnonzero(indeg == 0).tolist())
    order: list[int] = []
    while ready:
        v = ready.pop(0)
        order.append(v)
        for c in np.flatnonzero(B[v]):
            indeg[c] -= 1
            if indeg[c] == 0:
                ready.append(int(c))
        ready.sort()
    return order if len(order) == B.shape[0] else None


def is_dag(W: np.ndarray) -> bool:
    """True when the support of ``W`` has no directed cycle (self-loops count as cycles)."""
    return topological_order(W) is not None


def _graph_spec(graph: str) -> tuple[str, int]:
    m = re.fullmatch(r"(ER|SF)(\d+)", str(graph).upper())
    if m is None or int(m.group(2)) < 1:
        raise ValueError(f"graph must look like 'ER2', 'ER4', 'SF2' or 'SF4', got {graph!r}")
    return m.group(1), int(m.group(2))


def simulate_dag(
    d: int, graph: str = "ER2", seed: int = 0, w_range: tuple[float, float] = (0.5, 2.0)
) -> np.ndarray:
    """A random weighted DAG ``W`` (d x d) with about ``k d`` edges for ``graph = 'ERk' | 'SFk'``.

    ER: Erdos-Renyi skeleton with edge probability ``2k/(d-1)``, oriented along a random order.
    SF: Barabasi-Albert, each new node attaches ``k`` edges to earlier nodes with probability
    proportional to degree + 1, oriented from the new node to the older one (as igraph's directed
    ``Barabasi`` in the NOTEARS utilities); node labels randomly permuted. Weights ``U(+-w_range)``.
    """
    if not isinstance(d, (int, np.integer)) or d < 2:
        raise ValueError(f"d must be an integer >= 2, got {d!r}")
    lo, hi = w_range
    if not 0 <= lo <= hi:
        raise ValueError(f"w_range must satisfy 0 <= low <= high, got {w_range!r}")
    kind, k = _graph_spec(graph)
    rng = np.random.default_rng(seed)
    B = np.zeros((d, d), dtype=bool)  # B[i, j]: edge i -> j
    if kind == "ER":
        p = min(1.0, 2.0 * k / (d - 1))
        B = np.triu(rng.random((d, d)) < p, k=1)
    else:
        deg = np.zeros(d)
        for v in range(1, d):
            m = min(k, v)
            prob = (deg[:v] + 1.0) / (deg[:v] + 1.0).sum()
            targets = rng.choice(v, size=m, replace=False, p=prob)
            B[v, targets] = True  # new -> old: edges point to smaller indices, so acyclic
            deg[targets] += 1
            deg[v] += m
    perm = rng.permutation(d)
    B = B[np.ix_(perm, perm)]
    signs = rng.choice([-1.0, 1.0], size=(d, d))
    W = B * signs * rng.uniform(lo, hi, size=(d, d))
    return W


def simulate_linear_sem(
    W: np.ndarray, n: int, noise: str = "gauss", seed: int = 0, scale: float = 1.0
) -> np.ndarray:
    """``n`` samples of ``X = X W + E`` with i.i.d. equal-variance noise ``E`` of type ``noise``.

    ``noise``: 'gauss' N(0, scale^2), 'exp' Exp(scale), 'gumbel' Gumbel(0, scale), 'uniform' U(-scale, scale).
    """
    W = _check_square(W)
    if not is_dag(W):
        raise ValueError("W must be a DAG (its support has a directed cycle)")
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if noise not in _NOISES:
        raise ValueError(f"noise must be one of {_NOISES}, got {noise!r}")
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale!r}")
    d = W.shape[0]
    rng = np.random.default_rng(seed)
    if noise == "gauss":
        E = rng.normal(scale=scale, size=(n, d))
    elif noise == "exp":
        E = rng.exponential(scale=scale, size=(n, d))
    elif noise == "gumbel":
        E = rng.gumbel(scale=scale, size=(n, d))
    else:
        E = rng.uniform(-scale, scale, size=(n, d))
    return np.linalg.solve((np.eye(d) - W).T, E.T).T  # X (I - W) = E


def shd(W_true: np.ndarray, W_est: np.ndarray, threshold: float = 0.0) -> int:
    """Structural Hamming distance: node pairs whose edge state differs (missing + extra + reversed).

    Entries with ``|w| <= threshold`` count as absent. A reversed edge counts once, as in NOTEARS'
    ``count_accuracy``.
    """
    A = _check_square(W_true, "W_true")
    B = _check_square(W_est, "W_est")
    if A.shape != B.shape:
        raise ValueError(f"W_true and W_est shapes differ: {A.shape} vs {B.shape}")
    a, b = np.abs(A) > threshold, np.abs(B) > threshold
    iu = np.triu_indices(A.shape[0], k=1)
    state_a = a[iu].astype(int) + 2 * a.T[iu].astype(int)
    state_b = b[iu].astype(int) + 2 * b.T[iu].astype(int)
    return int(np.count_nonzero(state_a != state_b))
