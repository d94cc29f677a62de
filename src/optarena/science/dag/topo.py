"""TOPO: optimizing the NOTEARS least-squares objective by topological swaps.

Paper: C. Deng, K. Bello, B. Aragam, P. Ravikumar, "Optimizing NOTEARS Objectives via Topological
Swaps", ICML 2023 (arXiv:2305.17277). Authors' code: github.com/duntrain/topo.

Bilevel problem: ``min_pi Q(W*(pi))`` with ``W*(pi) = argmin {Q(W) : W[i, j] = 0 unless i precedes j
in pi}`` and ``Q(W) = 1/(2n) ||X - X W||_F^2 (+ lambda1 ||W||_1)``. Each iteration:

1. ``W = W*(pi)``; ``G_h = ((I - |W|)^{-1})^T`` (gradient of the log-det acyclicity function
   ``h(W) = -log det(I - |W|)`` with s = 1, as the authors' ``h_logdet``): ``G_h[i, j] > 0`` iff there
   is a path ``j ~> i``, so adding the forbidden edge ``i -> j`` keeps the graph acyclic iff it is 0.
   ``G_loss = grad Q(W) = -X^T (X - X W) / n``.
2. Candidates ``(i, j)``: pairs with ``j`` before ``i`` in ``pi`` (forbidden edges ``i -> j``), ranked
   by ``G_h[i, j]`` ascending, ties broken by ``|G_loss[i, j]|`` descending (the paper's set
   ``Y(W, tau, xi) = {G_h <= tau, |G_loss| >= xi}`` with the thresholds chosen to give the requested
   sizes). Small set: the first ``s_small``; large set: the first ``s_large`` minus the small set.
3. For each candidate swap the positions of ``i`` and ``j``; only the nodes between the two positions
   change their predecessor sets, and only they are refitted. With ``lambda1 = 0`` a refit is exact
   least squares done in one block: with ``L`` the Cholesky factor of ``C = X^T X / n`` in order
   ``pi``, a node's residual variance given its predecessors is ``L_kk^2``, and a swap of positions
   ``a < b`` changes only rows ``a..b`` (Schur complement of the unchanged prefix).
4. Accept greedily the improving swaps, best first, whose position intervals are disjoint (the
   authors' ``create_new_topo_greedy``; disjoint swaps change disjoint sets of node scores, so the
   gains add). If the small set has no improving swap, search the large set (at most ``n_large``
   times over the run); stop when neither improves.

Defaults: ``s_small = 50``, ``s_large = 1000``, ``n_large = 1`` (the authors' README example; their
automatic size rule is not reproduced), both clipped to ``d(d-1)/2``; ``lambda1 = 0`` (the authors'
default ``reg='none'``; ``lambda1 > 0`` fits each node with sklearn's Lasso, whose objective equals
the node's share of ``Q``). Data are centered column-wise first (the authors' ``demean``).
Departures: candidate ranking by sort rather than the authors' threshold grid; optional random
restarts (keep the best) for standalone use.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.linalg as sla

from optarena.core.paper import PaperRef
from optarena.core.searchspace import Param, SearchSpace
from optarena.core.spec import MethodSpec
from optarena.science.dag.data import check_data, topological_order
from optarena.science.dag.score import check_order, fit_node, least_squares_score, order_refit

__all__ = ["TOPO_SPEC", "candidate_pairs", "fit", "make_topo", "refine"]


def candidate_pairs(W: np.ndarray, G_loss: np.ndarray, order: Sequence[int]) -> np.ndarray:
    """Forbidden pairs ``(i, j)`` (``j`` before ``i``) ranked by ``G_h`` ascending, ``|G_loss|`` descending."""
    d = W.shape[0]
    G_h = np.linalg.inv(np.eye(d) - np.abs(W)).T
    pos = np.empty(d, dtype=int)
    pos[list(order)] = np.arange(d)
    ii, jj = np.nonzero(pos[:, None] > pos[None, :])
    rank = np.lexsort((-np.abs(G_loss[ii, jj]), G_h[ii, jj]))
    return np.stack([ii[rank], jj[rank]], axis=1)


class _Search:
    """Order-constrained fits for one data set; exact block refits (lambda1 = 0) or lasso refits."""

    def __init__(self, X: np.ndarray, lambda1: float) -> None:
        self.X, self.lambda1 = X, lambda1
        self.n, self.d = X.shape
        self.C = X.T @ X / self.n
        if lambda1 == 0 and np.linalg.eigvalsh(self.C)[0] <= 1e-12 * max(np.trace(self.C), 1e-300):
            raise ValueError(
                f"X^T X is singular (n = {self.n}, d = {self.d}, or collinear columns): least squares "
                "is not unique; use lambda1 > 0"
            )

    def set_order(self, order: list[int]) -> None:
        self.order = order
        if self.lambda1 == 0:
            self.L = np.linalg.cholesky(self.C[np.ix_(order, order)])
            self.F = sla.solve_triangular(self.L, self.C[order, :], lower=True)
            self.node_loss = 0.5 * np.diag(self.L) ** 2
            W = np.zeros((self.d, self.d))
            for k in range(1, self.d):
                W[order[:k], order[k]] = sla.solve_triangular(
                    self.L[:k, :k].T, self.F[:k, order[k]], lower=False
                )
            self.W = W
        else:
            self.W = order_refit(self.X, order, self.lambda1)
            self.node_loss = np.array(
                [fit_node(self.X, y, order[:k], self.lambda1)[1] for k, y in enumerate(order)]
            )
        self.loss = float(self.node_loss.sum())

    def swap_loss(self, a: int, b: int) -> float:
        """Score after swapping positions ``a < b``, refitting only the nodes at positions a..b."""
        new = list(self.order)
        new[a], new[b] = new[b], new[a]
        R = new[a : b + 1]
        if self.lambda1 == 0:
            Fa = self.F[:a, R]
            S = self.C[np.ix_(R, R)] - Fa.T @ Fa
            try:
                touched = 0.5 * np.diag(np.linalg.cholesky(S)) ** 2
            except np.linalg.LinAlgError:
                return np.inf
        else:
            touched = np.array(
                [
                    fit_node(self.X, y, new[:k], self.lambda1)[1]
                    for k, y in zip(range(a, b + 1), R, strict=False)
                ]
            )
        return float(self.loss - self.node_loss[a : b + 1].sum() + touched.sum())

    def grad_loss(self) -> np.ndarray:
        return -(self.C - self.C @ self.W) + self.lambda1 * np.sign(self.W)


def _greedy_apply(
    order: list[int], pos: np.ndarray, pairs: np.ndarray, losses: np.ndarray, loss: float, tol: float
) -> list[int]:
    """Apply improving swaps best-first whose position intervals are disjoint (the authors' greedy rule)."""
    new = list(order)
    used = np.zeros(len(order), dtype=bool)
    for k in np.argsort(losses):
        if not losses[k] < loss - tol:
            break
        i, j = pairs[k]
        a, b = pos[j], pos[i]
        if not used[a : b + 1].any():
            used[a : b + 1] = True
            new[a], new[b] = new[b], new[a]
    return new


def _search(
    S: _Search,
    order: list[int],
    s_small: int,
    s_large: int,
    n_large: int,
    max_iter: int,
    callback: Callable[[list[int], float], Any] | None,
) -> None:
    S.set_order(order)
    large_used = 0
    for _ in range(max_iter):
        if callback is not None:
            callback(list(S.order), S.loss)
        pairs = candidate_pairs(S.W, S.grad_loss(), S.order)
        pos = np.empty(S.d, dtype=int)
        pos[S.order] = np.arange(S.d)
        tol = 1e-12 * max(1.0, abs(S.loss))
        new = None
        for lo, hi, large in ((0, s_small, False), (s_small, s_large, True)):
            if large and large_used >= n_large:
                break
            chunk = pairs[lo:hi]
            if len(chunk) == 0:
                continue
            losses = np.array([S.swap_loss(pos[j], pos[i]) for i, j in chunk])
            if losses.min() < S.loss - tol:
                new = _greedy_apply(S.order, pos, chunk, losses, S.loss, tol)
                large_used += int(large)
                break
        if new is None:
            return
        S.set_order(new)


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def fit(
    X: np.ndarray,
    init_order: Sequence[int] | None = None,
    init_W: np.ndarray | None = None,
    *,
    s_small: int = 50,
    s_large: int = 1000,
    n_large: int = 1,
    lambda1: float = 0.0,
    restarts: int = 1,
    seed: int = 0,
    center: bool = True,
    max_iter: int = 10_000,
    callback: Callable[[list[int], float], Any] | None = None,
) -> tuple[np.ndarray, list[int], float]:
    """Run TOPO; returns ``(W, order, score)`` with ``W = W*(order)`` (unthresholded) and ``score = Q(W)``.

    Start from ``init_order``, from a topological order of ``init_W``'s support (a DAG), or from
    ``restarts`` random orders drawn with ``seed`` (the best result is kept). ``score`` is computed on
    the centered data when ``center`` (the default). ``callback(order, score)`` sees every iterate.
    """
    X = check_data(X)
    d = X.shape[1]
    if init_order is not None and init_W is not None:
        raise ValueError("give init_order or init_W, not both")
    s_small = _check_int("s_small", s_small, 1)
    s_large = _check_int("s_large", s_large, 1)
    if s_large < s_small:
        raise ValueError(f"s_large must be >= s_small, got s_large={s_large}, s_small={s_small}")
    n_large = _check_int("n_large", n_large, 0)
    restarts = _check_int("restarts", restarts, 1)
    max_iter = _check_int("max_iter", max_iter, 1)
    if not (np.isfinite(lambda1) and lambda1 >= 0):
        raise ValueError(f"lambda1 must be a finite number >= 0, got {lambda1!r}")
    pairs_total = d * (d - 1) // 2
    s_small, s_large = min(s_small, pairs_total), min(s_large, pairs_total)
    if center:
        X = X - X.mean(axis=0)
    if init_W is not None:
        W0 = np.asarray(init_W, dtype=float)
        if W0.shape != (d, d):
            raise ValueError(f"init_W must have shape {(d, d)}, got {W0.shape}")
        if not np.all(np.isfinite(W0)):
            raise ValueError("init_W contains NaN or inf")
        order0 = topological_order(W0)
        if order0 is None:
            raise ValueError("init_W is not a DAG: its support has a directed cycle")
        starts = [order0]
    elif init_order is not None:
        starts = [check_order(init_order, d)]
    else:
        rng = np.random.default_rng(seed)
        starts = [rng.permutation(d).tolist() for _ in range(restarts)]
    S = _Search(X, float(lambda1))
    best: tuple[np.ndarray, list[int], float] | None = None
    for order in starts:
        _search(S, order, s_small, s_large, n_large, max_iter, callback)
        if best is None or S.loss < best[2]:
            best = (S.W.copy(), list(S.order), S.loss)
    assert best is not None
    W, order, _ = best
    return W, order, least_squares_score(X, W, lambda1)


def refine(X: np.ndarray, W_other: np.ndarray, **kwargs: Any) -> tuple[np.ndarray, list[int], float]:
    """TOPO as post-processing: start from the order of another method's DAG ``W_other``."""
    return fit(X, init_W=W_other, **kwargs)


def make_topo(hparams: dict[str, Any]) -> Callable[..., tuple[np.ndarray, list[int], float]]:
    """Factory of the "science" family: ``factory(hparams) -> fit(X, init_order=None, init_W=None, seed=0)``."""
    h = dict(hparams)

    def run(
        X: np.ndarray,
        init_order: Sequence[int] | None = None,
        init_W: np.ndarray | None = None,
        seed: int = 0,
    ):
        return fit(X, init_order, init_W, seed=seed, **h)

    return run


_TOPO_SPACE = SearchSpace(
    params=(
        Param("s_small", 5, 200, log=True, integer=True),
        Param("s_large", 50, 2000, log=True, integer=True),
        Param("n_large", 0, 5, integer=True),
    ),
)
_TOPO_DEFAULTS = {"s_small": 50, "s_large": 1000, "n_large": 1, "lambda1": 0.0, "restarts": 1}

TOPO_SPEC = MethodSpec(
    name="topo",
    family="science",
    factory="optarena.science.dag.topo:make_topo",
    summary="TOPO, bilevel search over topological orders by gradient-guided swaps for linear DAG learning",
    search_space=_TOPO_SPACE,
    defaults=_TOPO_DEFAULTS,
    paper=PaperRef(
        "C. Deng, K. Bello, B. Aragam, P. Ravikumar",
        "Optimizing NOTEARS Objectives via Topological Swaps",
        "ICML",
        2023,
        "2305.17277",
    ),
    capabilities=frozenset({"dag", "linear-sem"}),
    status="experimental",
)
