"""ChebCB (Khodak et al., ICLR 2024): features, inverse-gap weights, the regression, learning, errors."""

from __future__ import annotations

import numpy as np
import pytest

from optarena.solvers.relax import (
    CHEB_CB_SPEC,
    DEFAULT_GRID,
    ChebCB,
    TsallisINF,
    cost_table,
    generate_sequence,
    run_sequence,
)
from optarena.solvers.relax.chebcb import _box_ridge

GRID = np.linspace(1.0, 1.9, 10)


def _mean_cost(c: float) -> np.ndarray:
    """A smooth contextual problem: the best omega moves from 1.2 to 1.8 as c goes from 0 to 1."""
    return 20.0 + 400.0 * (GRID - (1.2 + 0.6 * c)) ** 2


def _play(bandit, T: int, contextual: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Per-round regret against the per-context best arm, and the chosen omegas."""
    rng = np.random.default_rng(777)  # the environment's stream, independent of the bandit's
    regret, chosen = np.empty(T), np.empty(T)
    for t in range(T):
        c = rng.uniform()
        w = bandit.select(c if contextual else None)
        mc = _mean_cost(c)
        k = int(np.argmin(np.abs(GRID - w)))
        bandit.update(max(1.0, mc[k] + 2.0 * rng.standard_normal()))
        regret[t], chosen[t] = mc[k] - mc.min(), w
    return regret, chosen


def test_features_are_chebyshev_polynomials_of_the_rescaled_context():
    b = ChebCB(degree=5, low=-0.15, high=0.45)
    for c in (-0.15, 0.0, 0.2, 0.45):
        x = 2 * (c + 0.15) / 0.6 - 1
        np.testing.assert_allclose(b.features(c), np.polynomial.chebyshev.chebvander(x, 5)[0], atol=1e-12)
    np.testing.assert_allclose(b.features(3.0), np.ones(6))  # clipped to x = 1
    assert ChebCB(degree=0).features(0.1).tolist() == [1.0]


def test_inverse_gap_weights():
    b = ChebCB([1.0, 1.3, 1.6, 1.9], degree=1, low=0.0, high=1.0)
    np.testing.assert_allclose(b.probabilities(0.3), np.full(4, 0.25))  # eta_0 = 0: uniform
    b.theta[:] = [[5.0, 0.0], [2.0, 0.0], [3.0, 0.0], [9.0, 0.0]]
    b.eta = 10.0
    p = b.probabilities(0.3)
    expect = 1 / (4 + 10 * np.array([3.0, 0.0, 1.0, 7.0]))
    expect[1] = 1 - expect[[0, 2, 3]].sum()
    np.testing.assert_allclose(p, expect, rtol=1e-12)
    b.eta = np.inf  # all weight on the greedy arm, no nan
    np.testing.assert_array_equal(b.probabilities(0.3), [0.0, 1.0, 0.0, 0.0])


def test_regression_recovers_polynomial_costs():
    # noiseless costs that are degree-3 polynomials in x: with lambda = 0 each arm's fit is exact
    coef = np.array([[20.0, 8.0, 3.0, 0.0], [25.0, -8.0, 0.0, 2.0]])
    b = ChebCB([1.2, 1.7], degree=3, regularization=0.0, low=0.0, high=1.0, seed=0)
    rng = np.random.default_rng(5)
    for _ in range(300):
        c = rng.uniform()
        w = b.select(c)
        b.update(1.0 + coef[int(w > 1.5)] @ b.features(c))
    assert b.counts.min() >= 4
    np.testing.assert_allclose(b.theta, coef, atol=1e-8)
    c = 0.37
    np.testing.assert_allclose(b.predict(c), 1.0 + coef @ b.features(c), atol=1e-8)


def test_box_constrained_fit_satisfies_kkt():
    rng = np.random.default_rng(0)
    F = rng.uniform(-1, 1, size=(12, 5))
    y = F @ np.array([10.0, -7.0, 4.0, 0.5, -3.0]) + rng.standard_normal(12)
    G, h, lam = F.T @ F, F.T @ y, 0.1
    bound = np.array([20.0, 2.0, 1.0, 5.0, 1.5])
    theta = _box_ridge(G, h, lam, bound)
    assert np.all(np.abs(theta) <= bound + 1e-12)
    grad = (G + lam * np.eye(5)) @ theta - h
    upper, lower = theta >= bound - 1e-9, theta <= -bound + 1e-9
    free = ~(upper | lower)
    assert upper.any() or lower.any()  # the box binds in this example
    np.testing.assert_allclose(grad[free], 0.0, atol=1e-6)
    assert np.all(grad[upper] <= 1e-6) and np.all(grad[lower] >= -1e-6)
    # inside the box it is plain ridge regression
    np.testing.assert_allclose(
        _box_ridge(G, h, lam, np.full(5, 1e6)), np.linalg.solve(G + lam * np.eye(5), h), rtol=1e-9
    )


def test_learns_a_smooth_contextual_policy_and_beats_tsallis_inf():
    T = 2000
    q = T // 4
    regret, _ = _play(ChebCB(GRID, low=0.0, high=1.0, seed=1), T)
    base, _ = _play(TsallisINF(GRID, seed=1), T, contextual=False)
    assert regret[-q:].mean() < 0.25 * regret[:q].mean()  # regret per round falls
    assert regret[-q:].mean() < 1.0  # against a gap of >= 3.6 between neighbouring arms
    assert regret.sum() < 0.5 * base.sum()  # the context pays: the best fixed arm is far from optimal


def test_reproducible_from_seed():
    a = _play(ChebCB(GRID, low=0.0, high=1.0, seed=3), 300)[1]
    b = _play(ChebCB(GRID, low=0.0, high=1.0, seed=3), 300)[1]
    c = _play(ChebCB(GRID, low=0.0, high=1.0, seed=4), 300)[1]
    np.testing.assert_array_equal(a, b)
    assert np.any(a != c)


def test_runs_on_the_paper_family_and_its_spec_builds():
    seq = generate_sequence(12, "high", seed=0)
    tab = cost_table(seq, DEFAULT_GRID)
    res = run_sequence(ChebCB(seed=0), seq, tab, contextual=True)
    assert res.costs.shape == (12,) and np.all(np.isin(res.omegas, DEFAULT_GRID))
    assert CHEB_CB_SPEC.family == "science" and CHEB_CB_SPEC.paper is not None
    assert "contextual" in CHEB_CB_SPEC.capabilities
    run = CHEB_CB_SPEC.load_factory()(CHEB_CB_SPEC.resolve_hparams())
    np.testing.assert_array_equal(run(seq, tab, seed=0).costs, res.costs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"degree": -1}, r"degree.*-1"),
        ({"degree": 2.5}, r"degree.*2.5"),
        ({"degree": True}, r"degree.*True"),
        ({"regularization": -0.1}, r"regularization.*-0.1"),
        ({"regularization": float("nan")}, r"regularization.*nan"),
        ({"regularization": float("inf")}, r"regularization.*inf"),
        ({"regularization": "1e-3"}, r"regularization.*1e-3"),
        ({"low": 0.5, "high": 0.5}, r"interval.*0.5"),
        ({"grid": [1.0, 2.0]}, "grid"),
    ],
)
def test_bad_hyperparameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ChebCB(**kwargs)


def test_bad_context_cost_and_protocol_misuse_raise():
    b = ChebCB()
    with pytest.raises(ValueError, match=r"context.*None"):
        b.select(None)
    with pytest.raises(ValueError, match=r"context.*nan"):
        b.select(float("nan"))
    with pytest.raises(RuntimeError):
        b.update(10)
    b.select(0.1)
    with pytest.raises(RuntimeError):
        b.select(0.1)
    with pytest.raises(ValueError, match="cost"):
        b.update(0.5)
