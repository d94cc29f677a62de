"""The least-squares NOTEARS score and order-constrained refits.

``Q(W) = 1/(2n) ||X - X W||_F^2 + lambda1 ||W||_1``. For an order ``pi``, the order-constrained fit
regresses each node on all of its predecessors in ``pi`` (ordinary least squares when
``lambda1 = 0``, the lasso ``1/(2n)||y - X_P w||^2 + lambda1 |w|_1`` otherwise; both separate by node).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from optarena.science.dag.data import check_data

__all__ = ["check_order", "fit_node", "least_squares_score", "order_refit"]


def least_squares_score(X: np.ndarray, W: np.ndarray, lambda1: float = 0.0) -> float:
    """``1/(2n) ||X - X W||_F^2 + lambda1 ||W||_1``."""
    X = check_data(X)
    W = np.asarray(W, dtype=float)
    if W.shape != (X.shape[1], X.shape[1]):
        raise ValueError(f"W must have shape {(X.shape[1], X.shape[1])}, got {W.shape}")
    R = X - X @ W
    return float(0.5 / X.shape[0] * np.sum(R * R) + lambda1 * np.abs(W).sum())


def check_order(order: Sequence[int], d: int) -> list[int]:
    """``order`` as a list if it is a permutation of ``range(d)``, else a clear error."""
    try:
        out = [int(v) for v in order]
    except (TypeError, ValueError) as exc:
        raise TypeError(f"order must be a sequence of integers, got {order!r}") from exc
    if sorted(out) != list(range(d)):
        raise ValueError(f"order must be a permutation of 0..{d - 1}, got {out}")
    return out


def fit_node(X: np.ndarray, y: int, parents: Sequence[int], lambda1: float = 0.0) -> tuple[np.ndarray, float]:
    """Coefficients of node ``y`` on ``parents`` and the node's score contribution."""
    n = X.shape[0]
    parents = list(parents)
    if not parents:
        return np.zeros(0), float(0.5 / n * X[:, y] @ X[:, y])
    A = X[:, parents]
    if lambda1 > 0:
        from sklearn.linear_model import Lasso

        w = Lasso(alpha=lambda1, fit_intercept=False, max_iter=10000, tol=1e-8).fit(A, X[:, y]).coef_
    else:
        w = np.linalg.lstsq(A, X[:, y], rcond=None)[0]
    r = X[:, y] - A @ w
    return w, float(0.5 / n * r @ r + lambda1 * np.abs(w).sum())


def order_refit(X: np.ndarray, order: Sequence[int], lambda1: float = 0.0) -> np.ndarray:
    """``argmin_W Q(W)`` subject to ``W[i, j] = 0`` unless ``i`` precedes ``j`` in ``order``."""
    X = check_data(X)
    d = X.shape[1]
    order = check_order(order, d)
    W = np.zeros((d, d))
    for k, y in enumerate(order):
        if k:
            W[order[:k], y] = fit_node(X, y, order[:k], lambda1)[0]
    return W
