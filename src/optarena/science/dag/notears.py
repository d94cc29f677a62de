"""NOTEARS (linear, least squares) as a baseline for TOPO.

Paper: X. Zheng, B. Aragam, P. Ravikumar, E. P. Xing, "DAGs with NO TEARS: Continuous Optimization for
Structure Learning", NeurIPS 2018. Follows the authors' ``notears_linear`` (github.com/xunzheng/notears):

``min_W 1/(2n)||X - XW||_F^2 + lambda1 ||W||_1  s.t.  h(W) = tr(exp(W o W)) - d = 0`` by the augmented
Lagrangian ``F + rho/2 h^2 + alpha h``; ``W = W+ - W-`` with ``W+-  >= 0`` (smooth l1, bounds, zero
diagonal) solved by L-BFGS-B; ``rho *= 10`` until ``h`` falls below a quarter of its previous value,
then ``alpha += rho h``; stop at ``h <= h_tol`` or ``rho >= rho_max``; finally zero ``|w| < w_threshold``.
Defaults as the authors': lambda1 = 0.1, max_iter = 100, h_tol = 1e-8, rho_max = 1e16, w_threshold = 0.3.
Departure: the loss and gradient use the Gram matrix ``C = X^T X / n`` (same values, faster).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
import scipy.optimize as sopt

from optarena.science.dag.data import check_data

__all__ = ["notears_linear"]


def notears_linear(
    X: np.ndarray,
    lambda1: float = 0.1,
    max_iter: int = 100,
    h_tol: float = 1e-8,
    rho_max: float = 1e16,
    w_threshold: float = 0.3,
) -> np.ndarray:
    """Thresholded NOTEARS estimate ``W`` (``W[i, j]``: edge i -> j) from data ``X`` (centered here)."""
    X = check_data(X)
    if not lambda1 >= 0 or not w_threshold >= 0 or not h_tol > 0 or not rho_max > 0:
        raise ValueError(
            f"need lambda1 >= 0, w_threshold >= 0, h_tol > 0, rho_max > 0; got {lambda1}, {w_threshold}, "
            f"{h_tol}, {rho_max}"
        )
    n, d = X.shape
    X = X - X.mean(axis=0)
    C = X.T @ X / n
    eye = np.eye(d)

    def adj(w: np.ndarray) -> np.ndarray:
        return (w[: d * d] - w[d * d :]).reshape(d, d)

    def func(w: np.ndarray, rho: float, alpha: float) -> tuple[float, np.ndarray]:
        W = adj(w)
        M = eye - W
        CM = C @ M
        loss = 0.5 * np.sum(M * CM)
        G_loss = -CM
        E = sla.expm(W * W)
        h = np.trace(E) - d
        G_h = E.T * W * 2
        obj = loss + 0.5 * rho * h * h + alpha * h + lambda1 * w.sum()
        G = G_loss + (rho * h + alpha) * G_h
        return obj, np.concatenate([G + lambda1, -G + lambda1], axis=None)

    def h_of(w: np.ndarray) -> float:
        W = adj(w)
        return float(np.trace(sla.expm(W * W)) - d)

    w_est, rho, alpha, h = np.zeros(2 * d * d), 1.0, 0.0, np.inf
    bounds = [(0, 0) if i == j else (0, None) for _ in range(2) for i in range(d) for j in range(d)]
    for _ in range(max_iter):
        w_new, h_new = None, None
        while rho < rho_max:
            sol = sopt.minimize(func, w_est, args=(rho, alpha), method="L-BFGS-B", jac=True, bounds=bounds)
            w_new, h_new = sol.x, h_of(sol.x)
            if h_new > 0.25 * h:
                rho *= 10
            else:
                break
        if w_new is None:
            break
        w_est, h = w_new, h_new
        alpha += rho * h
        if h <= h_tol or rho >= rho_max:
            break
    W = adj(w_est)
    W[np.abs(W) < w_threshold] = 0
    return W
