r"""Transductive few-shot inference by clustering: the bound optimizer of Ziko et al., and baselines.

Paper: I. M. Ziko, M. Boudiaf, J. Dolz, E. Granger, I. Ben Ayed, "Transductive Few-Shot Learning:
Clustering is All You Need?", arXiv:2106.09516, 2021. Authors' code: github.com/imtiazziko/SLK-few-shot
(and LaplacianShot, ICML 2020, github.com/imtiazziko/LaplacianShot, the fixed-prototype case).

Points ``p`` are the support and query features ``f_p`` of one episode, ``K`` classes, soft assignments
``z_p`` in the simplex (support rows fixed to their one-hot labels), prototypes ``m_k``. Objective
(relaxed, entropy weight ``tau``; ``tau = 1`` is the paper's)

.. math::

    E(Z, m) = \sum_p \sum_k z_{pk} \|f_p - m_k\|^2
              - \frac{\lambda}{2} \sum_{p,q} \hat w_{pq} z_p^\top z_q
              + \tau \sum_{q \in Q} z_q^\top \log z_q .

Block-coordinate descent, each block never increasing ``E``:

* Z-step (bound optimizer): with ``\hat W_{QQ}`` positive semi-definite the pairwise term is concave in
  ``Z_Q``, so its tangent at the current ``Z^i`` is an upper bound (auxiliary function) of ``E``; the
  bound separates over query points and its minimizer is, in parallel for every query ``q``,

  .. math:: z_q^{i+1} = \mathrm{softmax}\big((-a_q + \lambda [\hat W Z^i]_q) / \tau\big),
            \qquad a_{qk} = \|f_q - m_k\|^2

  (``tau = 0``: the one-hot arg-max, the hard limit). ``E(Z^{i+1}) <= B(Z^{i+1}) <= B(Z^i) = E(Z^i)``.
* m-step (K-means): ``m_k = sum_p z_pk f_p / sum_p z_pk`` over support and query, the exact minimizer
  of the first term (every class keeps its support points, so no cluster empties).

``lam = 0`` is soft K-means seeded by the support (``tau = 0``: hard K-means); ``update_prototypes=False``
keeps the support means fixed (LaplacianShot). Prototypes start at the support means and ``Z_Q`` at the
``lam = 0`` assignment for them.

Affinity: ``W`` is the symmetrized binary kNN graph over support and query, ``(A + A^T) / 2`` with
``A_pq = 1`` when ``q`` is one of the ``knn`` nearest neighbours of ``p`` (self excluded). A kNN graph is
not PSD in general; the bound then need not be an upper bound and the objective may rise. We add
``delta I`` with ``delta = max(0, -lambda_min(W_QQ))`` (``psd_shift=True``, the default): for one-hot
assignments ``z^T z = 1``, so this changes the discrete problem only by a constant, and it makes the
monotone decrease a theorem for the relaxed one. ``psd_shift=False`` runs the plain update on ``W`` (the
authors' code), whose trace can rise.

Departures from the authors' code: support rows stay fixed one-hot (their code re-estimates them);
``knn`` counts neighbours without the point itself (theirs counts it); no query "domain shift"
(their ``query + mean(support) - mean(query)``); plain accuracy (no Hungarian matching of clusters to
classes); the PSD shift above; the factor ``lambda / 2`` makes the update the exact bound minimizer
(their energy omits the 1/2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import xlogy

__all__ = [
    "FewShotResult",
    "check_episode",
    "fit_predict",
    "knn_affinity",
    "nearest_prototype",
    "objective",
]


@dataclass(frozen=True)
class FewShotResult:
    """Query labels and the optimizer's record.

    ``labels``: predicted query labels (values of ``support_y``); ``probs``: query assignments ``Z_Q``
    (rows in the simplex, columns ordered as ``classes``); ``prototypes``: final ``m``; ``trace``: the
    objective after the initialization and after every Z-step and m-step; ``n_iter``: outer iterations
    run; ``delta``: the PSD shift used.
    """

    labels: np.ndarray
    probs: np.ndarray
    prototypes: np.ndarray
    classes: np.ndarray
    trace: np.ndarray
    n_iter: int
    converged: bool
    delta: float


def _as_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _as_float(name: str, value: Any, low: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{name} must be a number >= {low}, got {value!r}")
    if not (np.isfinite(value) and value >= low):
        raise ValueError(f"{name} must be a finite number >= {low}, got {value!r}")
    return float(value)


def check_episode(
    support_x: Any, support_y: Any, query_x: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validate an episode; returns ``(S, y, Q, classes)`` with ``y`` as indices into ``classes``."""
    S = np.asarray(support_x, dtype=float)
    Q = np.asarray(query_x, dtype=float)
    y = np.asarray(support_y)
    if S.ndim != 2:
        raise ValueError(f"support_x must be 2-D (n_support, dim), got shape {S.shape}")
    if Q.ndim != 2:
        raise ValueError(f"query_x must be 2-D (n_query, dim), got shape {Q.shape}")
    if S.shape[0] < 1:
        raise ValueError(f"support_x needs at least one row (K >= 1 shots), got shape {S.shape}")
    if Q.shape[0] < 1:
        raise ValueError(f"query_x needs at least one row, got shape {Q.shape}")
    if Q.shape[1] != S.shape[1]:
        raise ValueError(f"query_x has dim {Q.shape[1]} but support_x has dim {S.shape[1]}")
    if y.shape != (S.shape[0],):
        raise ValueError(f"support_y must have shape ({S.shape[0]},), got {y.shape}")
    if not (np.all(np.isfinite(S)) and np.all(np.isfinite(Q))):
        raise ValueError("support_x or query_x contains NaN or inf")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError("support_y contains NaN or inf")
    classes, idx = np.unique(y, return_inverse=True)
    return S, idx.reshape(-1), Q, classes


def _sqdist(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    d = (A * A).sum(1)[:, None] - 2.0 * A @ B.T + (B * B).sum(1)[None, :]
    return np.maximum(d, 0.0)


def knn_affinity(X: np.ndarray, knn: int) -> np.ndarray:
    """Symmetrized binary kNN affinity ``(A + A^T) / 2`` (``A_pq = 1``: q among p's knn nearest, q != p)."""
    X = np.asarray(X, dtype=float)
    n = X.shape[0]
    knn = _as_int("knn", knn, 1)
    if knn > n - 1:
        raise ValueError(f"knn must be <= n_points - 1 = {n - 1}, got {knn}")
    D = _sqdist(X, X)
    np.fill_diagonal(D, np.inf)
    nn = np.argpartition(D, knn - 1, axis=1)[:, :knn]
    A = np.zeros((n, n))
    A[np.repeat(np.arange(n), knn), nn.ravel()] = 1.0
    return 0.5 * (A + A.T)


def objective(
    F: np.ndarray, Z: np.ndarray, m: np.ndarray, W: np.ndarray | None, lam: float, tau: float, n_support: int
) -> float:
    """``E(Z, m)`` of the module docstring (``F``, ``Z``: support rows first)."""
    E = float((Z * _sqdist(F, m)).sum())
    if W is not None and lam > 0:
        E -= 0.5 * lam * float((Z * (W @ Z)).sum())
    if tau > 0:
        E += tau * float(xlogy(Z[n_support:], Z[n_support:]).sum())
    return E


def _assign(G: np.ndarray, tau: float) -> np.ndarray:
    """Minimizer over the simplex of ``-<z, g> + tau <z, log z>`` row by row."""
    if tau > 0:
        E = np.exp((G - G.max(1, keepdims=True)) / tau)
        return E / E.sum(1, keepdims=True)
    Z = np.zeros_like(G)
    Z[np.arange(len(G)), G.argmax(1)] = 1.0
    return Z


def fit_predict(
    support_x: Any,
    support_y: Any,
    query_x: Any,
    *,
    lam: float = 0.0,
    knn: int = 3,
    iters: int = 50,
    inner_iters: int = 50,
    tau: float = 1.0,
    update_prototypes: bool = True,
    psd_shift: bool = True,
    tol: float = 1e-10,
) -> FewShotResult:
    """Transductive labels of ``query_x`` by the bound optimizer (module docstring).

    Args:
        support_x, support_y, query_x: the episode, ``(n_s, d)``, ``(n_s,)``, ``(n_q, d)``.
        lam: Laplacian weight ``lambda >= 0`` (0: K-means, no graph is built).
        knn: neighbours per point in the affinity graph.
        iters: outer iterations (Z-step then m-step); ``inner_iters``: bound updates per Z-step.
        tau: entropy weight (1: the paper's relaxation; 0: hard assignments).
        update_prototypes: False keeps the support means (LaplacianShot).
        psd_shift: make ``W_QQ`` PSD by a diagonal shift so each bound step provably decreases ``E``.
        tol: stop a loop when ``E`` changes by less than ``tol * max(1, |E|)``.
    """
    S, y, Q, classes = check_episode(support_x, support_y, query_x)
    lam = _as_float("lam", lam)
    tau = _as_float("tau", tau)
    tol = _as_float("tol", tol)
    iters = _as_int("iters", iters, 1)
    inner_iters = _as_int("inner_iters", inner_iters, 1)
    K, ns = len(classes), len(S)
    F = np.vstack([S, Q])
    W, delta = None, 0.0
    if lam > 0:
        W = knn_affinity(F, knn)
        if psd_shift:
            delta = max(0.0, -float(np.linalg.eigvalsh(W[ns:, ns:])[0]))
            W[np.arange(ns, len(F)), np.arange(ns, len(F))] += delta
    Z = np.zeros((len(F), K))
    Z[np.arange(ns), y] = 1.0
    m = (Z[:ns].T @ S) / Z[:ns].sum(0)[:, None]
    D = _sqdist(F, m)
    Z[ns:] = _assign(-D[ns:], tau)

    def energy() -> tuple[float, np.ndarray | None]:
        # E and (W Z)_Q, which the next bound update reuses
        E = float((Z * D).sum())
        WZ = None
        if W is not None:
            WZall = W @ Z
            E -= 0.5 * lam * float((Z * WZall).sum())
            WZ = WZall[ns:]
        if tau > 0:
            E += tau * float(xlogy(Z[ns:], Z[ns:]).sum())
        return E, WZ

    E, WZ = energy()
    trace = [E]
    converged, it = False, 0
    for it in range(1, iters + 1):  # noqa: B007 (it is reported)
        E_outer = E
        for _ in range(inner_iters if W is not None else 1):
            Z[ns:] = _assign(-D[ns:] if WZ is None else -D[ns:] + lam * WZ, tau)
            E_new, WZ = energy()
            trace.append(E_new)
            done = abs(E - E_new) <= tol * max(1.0, abs(E))
            E = E_new
            if done:
                break
        if update_prototypes:
            m = (Z.T @ F) / Z.sum(0)[:, None]
            D = _sqdist(F, m)
            E, WZ = energy()
            trace.append(E)
        if abs(E_outer - E) <= tol * max(1.0, abs(E_outer)):
            converged = True
            break
    probs = Z[ns:].copy()
    return FewShotResult(
        labels=classes[probs.argmax(1)],
        probs=probs,
        prototypes=m,
        classes=classes,
        trace=np.asarray(trace),
        n_iter=it,
        converged=converged,
        delta=delta,
    )


def nearest_prototype(support_x: Any, support_y: Any, query_x: Any) -> np.ndarray:
    """Inductive baseline (SimpleShot / ProtoNet rule): each query takes the class of the nearest support mean."""
    S, y, Q, classes = check_episode(support_x, support_y, query_x)
    m = np.stack([S[y == k].mean(0) for k in range(len(classes))])
    return classes[_sqdist(Q, m).argmin(1)]
