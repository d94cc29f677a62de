"""TOPO, NOTEARS, SEM data and SHD (small d, fast)."""

from __future__ import annotations

import numpy as np
import pytest

from optarena.science.dag import (
    TOPO_SPEC,
    fit,
    is_dag,
    least_squares_score,
    notears_linear,
    order_refit,
    refine,
    shd,
    simulate_dag,
    simulate_linear_sem,
    topological_order,
)
from optarena.science.dag.topo import _Search, candidate_pairs


def _data(d: int = 8, graph: str = "ER2", n: int = 500, seed: int = 0):
    W = simulate_dag(d, graph, seed)
    X = simulate_linear_sem(W, n, seed=seed)
    return W, X - X.mean(axis=0)


def _consistent(W: np.ndarray, order: list[int]) -> bool:
    pos = np.empty(len(order), dtype=int)
    pos[order] = np.arange(len(order))
    i, j = np.nonzero(W)
    return bool(np.all(pos[i] < pos[j]))


@pytest.mark.parametrize("graph", ["ER2", "ER4", "SF2", "SF4"])
def test_simulated_graphs_are_dags_with_about_k_d_edges(graph: str) -> None:
    d, k = 30, int(graph[2:])
    counts = [np.count_nonzero(simulate_dag(d, graph, s)) for s in range(5)]
    assert all(is_dag(simulate_dag(d, graph, s)) for s in range(5))
    assert 0.6 * k * d <= np.mean(counts) <= 1.3 * k * d
    w = np.abs(simulate_dag(d, graph, 0))
    assert np.all((w == 0) | ((w >= 0.5) & (w <= 2.0)))


def test_sem_data_follows_the_structural_equations() -> None:
    W = simulate_dag(6, "ER2", 1)
    X = simulate_linear_sem(W, 20000, seed=1)
    # residuals X - XW are the independent unit-variance noise
    E = X - X @ W
    assert np.allclose(np.cov(E.T), np.eye(6), atol=0.05)


def test_shd_on_known_graphs() -> None:
    A = np.zeros((4, 4))
    A[0, 1] = A[1, 2] = A[2, 3] = 1.0
    assert shd(A, A) == 0
    B = A.copy()
    B[1, 2], B[2, 1] = 0.0, 1.0  # one reversal
    assert shd(A, B) == 1
    B[0, 3] = 1.0  # one extra edge
    B[2, 3] = 0.0  # one missing edge
    assert shd(A, B) == 3
    assert shd(A, np.zeros((4, 4))) == 3
    assert shd(A, 0.2 * A, threshold=0.3) == 3


def test_refit_equals_order_constrained_ols() -> None:
    _, X = _data(7, "ER2", 300, 3)
    order = [3, 1, 6, 0, 2, 5, 4]
    W = order_refit(X, order)
    for k, y in enumerate(order):
        P = order[:k]
        expect = np.linalg.lstsq(X[:, P], X[:, y], rcond=None)[0] if P else np.zeros(0)
        assert np.allclose(W[P, y], expect, atol=1e-10)
        assert np.all(W[order[k:], y] == 0)
    S = _Search(X, 0.0)
    S.set_order(order)  # the Cholesky path gives the same W and score
    assert np.allclose(S.W, W, atol=1e-9)
    assert np.isclose(S.loss, least_squares_score(X, W))


def test_swap_score_equals_a_full_refit_of_the_swapped_order() -> None:
    _, X = _data(9, "ER4", 400, 5)
    order = list(np.random.default_rng(0).permutation(9))
    S = _Search(X, 0.0)
    S.set_order(order)
    for a, b in [(0, 8), (2, 3), (1, 6), (4, 8)]:
        new = list(order)
        new[a], new[b] = new[b], new[a]
        assert np.isclose(S.swap_loss(a, b), least_squares_score(X, order_refit(X, new)), rtol=1e-10)


def test_candidates_are_forbidden_pairs_ranked_by_h_gradient() -> None:
    _, X = _data(8, "ER2", 300, 2)
    order = list(range(8))
    W = order_refit(X, order)
    pairs = candidate_pairs(W, -(X.T @ (X - X @ W)) / len(X), order)
    assert len(pairs) == 28 and np.all(pairs[:, 0] > pairs[:, 1])  # j before i
    G_h = np.linalg.inv(np.eye(8) - np.abs(W)).T
    assert np.all(np.diff(G_h[pairs[:, 0], pairs[:, 1]]) >= 0)


@pytest.mark.parametrize("graph", ["ER2", "SF2"])
def test_swaps_never_increase_the_score_and_outputs_are_consistent_dags(graph: str) -> None:
    _, X = _data(10, graph, 500, 7)
    trace: list[float] = []
    W, order, score = fit(X, seed=1, s_small=10, s_large=45, callback=lambda o, s: trace.append(s))
    assert len(trace) >= 2 and np.all(np.diff(trace) < 0)
    assert is_dag(W) and _consistent(W, order)
    assert np.isclose(score, least_squares_score(X, W)) and np.isclose(score, trace[-1])
    assert np.allclose(W, order_refit(X, order))


def test_topo_recovers_a_small_graph_from_a_random_order() -> None:
    Wt, X = _data(8, "ER2", 2000, 11)
    W, _order, score = fit(X, restarts=3, seed=0)
    true_score = least_squares_score(X, order_refit(X, topological_order(Wt)))
    assert score <= true_score + 1e-3
    assert shd(Wt, W, threshold=0.3) <= 1


def test_refine_never_raises_the_score_of_the_initial_order() -> None:
    _Wt, X = _data(10, "ER4", 500, 4)
    W_bad = order_refit(X, list(range(10))[::-1])
    _W, _order, score = refine(X, np.triu(np.ones((10, 10)), 1))  # order 0..9
    assert score <= least_squares_score(X, order_refit(X, list(range(10)))) + 1e-12
    assert score <= least_squares_score(X, W_bad)


def test_lasso_variant_scores_with_the_penalty() -> None:
    _, X = _data(6, "ER2", 300, 8)
    W, order, score = fit(X, init_order=list(range(6)), lambda1=0.05)
    assert is_dag(W) and _consistent(W, order)
    assert np.isclose(score, least_squares_score(X, W, 0.05), rtol=1e-6)


def test_notears_returns_a_dag_close_to_the_truth() -> None:
    Wt, X = _data(6, "ER2", 1000, 0)
    W = notears_linear(X)
    assert is_dag(W)
    assert shd(Wt, W) <= 2


def test_bad_inputs_raise_clear_errors() -> None:
    _, X = _data(5, "ER2", 100, 0)
    cyc = np.zeros((5, 5))
    cyc[0, 1] = cyc[1, 2] = cyc[2, 0] = 1.0
    with pytest.raises(ValueError, match="cycle"):
        refine(X, cyc)
    with pytest.raises(ValueError, match="permutation"):
        fit(X, init_order=[0, 1, 2, 3, 3])
    with pytest.raises(ValueError, match="shape"):
        fit(X, init_W=np.zeros((4, 4)))
    Xn = X.copy()
    Xn[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit(Xn)
    with pytest.raises(ValueError, match="2-D"):
        fit(X[:, 0])
    with pytest.raises(ValueError, match="s_small"):
        fit(X, s_small=0)
    with pytest.raises(ValueError, match="lambda1"):
        fit(X, lambda1=-1.0)
    with pytest.raises(ValueError, match="singular"):
        fit(X[:3])
    with pytest.raises(ValueError, match="ER2"):
        simulate_dag(5, "XY3")
    with pytest.raises(ValueError, match="DAG"):
        simulate_linear_sem(cyc, 10)
    with pytest.raises(ValueError, match="noise"):
        simulate_linear_sem(np.zeros((3, 3)), 10, noise="cauchy")


def test_spec_builds_a_runner() -> None:
    assert TOPO_SPEC.family == "science"
    run = TOPO_SPEC.load_factory()(TOPO_SPEC.resolve_hparams({"s_small": 10}))
    _, X = _data(6, "ER2", 200, 1)
    W, _order, score = run(X, seed=0)
    assert is_dag(W) and np.isfinite(score)
