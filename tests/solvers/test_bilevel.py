"""Bilevel solvers: known solutions, the recomputed gap, the CG hypergradient against a dense IFT one,
LV-HBA's update against a transcription of the authors' toy code, and clear errors on bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from optarena.core.errors import IncompatibleError, UnknownNameError
from optarena.solvers.bilevel import BilevelProblemError, minimize_bilevel, solve_bilevel
from optarena.solvers.bilevel._lower import solve_lower
from optarena.solvers.bilevel._problem import BilevelProblem, Oracle
from optarena.solvers.bilevel.implicit import cg_hypergradient
from optarena.solvers.bilevel.problems import lvhba_toy, ridge_solution, ridge_tuning
from optarena.solvers.bilevel.specs import IMPLICIT_CG_SPEC, LVHBA_SPEC, PENALTY_SPEC

rng = np.random.default_rng(0)
_M = rng.normal(size=(4, 4))
A = torch.as_tensor(_M @ _M.T + 4 * np.eye(4))  # lower Hessian in y (SPD)
B = torch.as_tensor(rng.normal(size=(4, 3)))  # coupling y-x
C = torch.as_tensor(rng.normal(size=(3, 3)))
c = torch.as_tensor(rng.normal(size=4))


def quad_F(x, y):
    return 0.5 * ((y - 1) ** 2).sum() + 0.5 * ((C @ x) ** 2).sum() + x.sum() * y[0]


def quad_f(x, y):
    return 0.5 * y @ (A @ y) + y @ (B @ x) + c @ y


def test_cg_hypergradient_matches_dense_implicit_function_theorem():
    x = torch.as_tensor(rng.normal(size=3))
    y_star = -torch.linalg.solve(A, B @ x + c)
    problem = BilevelProblem(F=quad_F, f=quad_f, x0=x, y0=y_star)
    hg, _ = cg_hypergradient(Oracle(problem), x, y_star, cg_iters=50, cg_tol=1e-14)
    # dense: dy*/dx = -A^{-1} B, grad = F_x + (dy*/dx)^T F_y, by autograd on the closed form
    xr = x.clone().requires_grad_(True)
    dense = torch.autograd.grad(quad_F(xr, -torch.linalg.solve(A, B @ xr + c)), xr)[0]
    assert torch.allclose(hg, dense, atol=1e-10, rtol=0)


def test_implicit_cg_reaches_ridge_solution_and_gap_is_recomputed():
    p = ridge_tuning(0)
    r = solve_bilevel(p, "implicit-cg", max_iter=80, options={"alpha": 3.0, "gamma": 0.3})
    assert r.x_error < 1e-3
    assert r.success and 0 <= r.lower_gap < 1e-10
    assert r.nhvp > 0 and r.ngrad_f == 80 * 20 and len(r.history) > 0


def test_ridge_solution_is_a_stationary_point_of_the_validation_loss():
    p = ridge_tuning(1)
    t = float(p.x_star[0])

    def V(tt):
        w = p.lower_solution(torch.tensor([tt], dtype=torch.float64))
        return float(p.F(torch.tensor([tt]), w))

    assert -8 < t < 4
    assert V(t) <= min(V(t - 1e-3), V(t + 1e-3))


def test_gap_is_recomputed_not_trusted():
    p = ridge_tuning(0)
    x = torch.tensor([0.3], dtype=torch.float64)
    y_bad = torch.ones(10, dtype=torch.float64)
    from optarena.solvers.bilevel._lower import lower_gap

    gap, _, viol = lower_gap(p, x, y_bad)
    exact = float(p.f(x, y_bad) - p.f(x, p.lower_solution(x)))
    assert gap == pytest.approx(exact, rel=1e-9) and gap > 0.1 and viol == 0.0


def test_numeric_lower_solve_matches_closed_form_on_the_constrained_toy():
    p = lvhba_toy(5)
    x = torch.linspace(-1, 1, 5, dtype=torch.float64)
    exact = p.lower_solution(x)
    p.lower_solution = None  # force the SLSQP path
    y = solve_lower(p, x)
    assert float(p.f(x, y)) == pytest.approx(float(p.f(x, exact)), abs=1e-8)
    assert abs(float(p.h(x, y)[0])) < 1e-8


def test_toy_known_solution_is_bilevel_optimal():
    p = lvhba_toy(100)
    assert torch.allclose(p.lower_solution(p.x_star), p.y_star)
    # along the lower-level solution map, x* is stationary for F(x, y*(x))
    xr = p.x_star.clone().requires_grad_(True)
    g = torch.autograd.grad(p.F(xr, p.lower_solution(xr)), xr)[0]
    assert g.abs().max() < 1e-12


def _authors_toy(n: int, iters: int):
    """Transcription of SUSTech-Optimization/LV-HBA Toy-example/LLC/LV-HBA.py (numpy, defaults), started
    from the projection of (10 * 1, 10 * 1) onto the hyperplane (the code's own start differs slightly)."""
    w = 10 * np.ones(3 * n) + np.arange(3 * n) / (3 * n)
    w -= w.mean()
    x, y = w[:n], w[n:]
    th = np.ones(2 * n)
    lam, z = 1.0, -1.0
    for k in range(iters):
        ck = 0.025 * (k + 1) ** 0.3
        d40 = np.concatenate([th[:n] - x, np.ones(n)]) + lam + (th - y) / 10
        d41 = -(x.sum() + th.sum()) + (lam - z) / 10
        th, lam = th - 0.01 * d40, float(np.clip(lam - 0.01 * d41, -1e3, 1e3))
        d1 = (x - y[n:]) / ck - y[:n] + th[:n] - lam
        d2 = (
            np.concatenate([y[:n] - 1, y[n:] - x]) / ck
            + np.concatenate([y[:n] - x, np.ones(n)])
            - (y - th) / 10
        )
        w = np.concatenate([x - 0.008 * d1, y - 0.008 * d2])
        w -= w.mean()
        x, y = w[:n], w[n:]
        z = float(np.clip(z + 0.02 * (lam - z) / 10, -1e3, 1e3))
    return x, y


def test_lvhba_update_matches_the_authors_toy_code():
    n, iters = 10, 25
    w0 = 10 * np.ones(3 * n) + np.arange(3 * n) / (3 * n)
    p = lvhba_toy(n, x0=w0[:n], y0=w0[n:])
    ref_x, ref_y = _authors_toy(n, iters)
    # our start equals theirs once lambda0=1, z0=-1 and theta0=1 are given
    r = solve_bilevel(
        p, "lv-hba", max_iter=iters, options={"lam0": 1.0, "z0": -1.0, "theta0": np.ones(2 * n)}
    )
    np.testing.assert_allclose(r.x, ref_x, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(r.y, ref_y, rtol=1e-12, atol=1e-12)


def test_penalty_error_is_order_sigma_on_ridge():
    p = ridge_tuning(1)
    errs = []
    for s in (0.1, 0.02):
        r = solve_bilevel(p, "penalty", max_iter=80, options={"sigma": s, "alpha": 3.0, "gamma": 0.3})
        errs.append(abs(r.x[0] - float(p.x_star[0])))
    assert errs[1] < errs[0] / 3  # 5x smaller sigma, at least 3x smaller error


@pytest.mark.slow
def test_stochastic_penalty_gets_near_the_solution():
    p = ridge_tuning(1)
    r = solve_bilevel(
        p,
        "penalty",
        max_iter=400,
        seed=3,
        options={
            "sigma": 0.1,
            "alpha": 0.2,
            "gamma": 0.2,
            "stochastic": True,
            "batch_size": 20,
            "inner_steps": 10,
        },
    )
    assert abs(r.x[0] - float(p.x_star[0])) < 0.3


def test_stochastic_penalty_is_reproducible_from_a_seed():
    p = ridge_tuning(2)
    opts = {"sigma": 0.1, "stochastic": True, "batch_size": 8, "inner_steps": 3}
    a = solve_bilevel(p, "penalty", max_iter=5, options=opts, seed=7)
    b = solve_bilevel(p, "penalty", max_iter=5, options=opts, seed=7)
    d = solve_bilevel(p, "penalty", max_iter=5, options=opts, seed=8)
    assert np.array_equal(a.x, b.x) and not np.array_equal(a.x, d.x)


def test_minimize_bilevel_accepts_plain_callables_and_numpy_starts():
    r = minimize_bilevel(quad_F, quad_f, np.zeros(3), np.zeros(4), method="implicit-cg", max_iter=3)
    assert r.x.shape == (3,) and r.y.shape == (4,) and r.nit == 3 and np.isfinite(r.lower_gap)


def test_callback_stops_the_run():
    r = minimize_bilevel(
        quad_F,
        quad_f,
        np.zeros(3),
        np.zeros(4),
        method="lv-hba",
        max_iter=50,
        record_every=1,
        callback=lambda res: res.nit >= 4,
    )
    assert r.nit == 4 and "callback" in r.message


def test_divergence_is_reported_not_success():
    r = minimize_bilevel(
        quad_F,
        quad_f,
        np.zeros(3),
        np.zeros(4),
        method="implicit-cg",
        max_iter=200,
        options={"alpha": 50.0, "gamma": 5.0},
    )
    assert not r.success and r.status == 3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"x0": np.array([np.nan, 0, 0])}, "x0 contains NaN"),
        ({"y0": np.zeros((2, 2))}, "y0 must be a non-empty 1-D"),
        ({"F": lambda x, y: torch.ones(2)}, "F\\(x, y\\) must return a scalar"),
        ({"g": lambda x, y: x.sum()}, "g\\(x, y\\) must return a 1-D"),
        ({"f": "not callable"}, "f must be callable"),
    ],
)
def test_malformed_problem_raises_clear_error(kwargs, match):
    base = {"F": quad_F, "f": quad_f, "x0": np.zeros(3), "y0": np.zeros(4)}
    with pytest.raises(BilevelProblemError, match=match):
        minimize_bilevel(**{**base, **kwargs})


def test_bad_method_and_options_raise():
    args = (quad_F, quad_f, np.zeros(3), np.zeros(4))
    with pytest.raises(UnknownNameError, match="nope"):
        minimize_bilevel(*args, method="nope")
    with pytest.raises(BilevelProblemError, match="alpha"):
        minimize_bilevel(*args, method="lv-hba", options={"alpha": -1.0})
    with pytest.raises(BilevelProblemError, match="unknown option"):
        minimize_bilevel(*args, method="penalty", options={"sigmaa": 0.1})
    with pytest.raises(BilevelProblemError, match="max_iter"):
        minimize_bilevel(*args, max_iter=0)
    with pytest.raises(IncompatibleError, match="coupled constraints"):
        solve_bilevel(lvhba_toy(3), "penalty", max_iter=1)
    with pytest.raises(IncompatibleError, match="unconstrained lower level"):
        solve_bilevel(lvhba_toy(3), "implicit-cg", max_iter=1)
    with pytest.raises(IncompatibleError, match="finite-sum"):
        minimize_bilevel(*args, method="penalty", options={"stochastic": True})


def test_specs_build_and_solve():
    for spec in (LVHBA_SPEC, PENALTY_SPEC, IMPLICIT_CG_SPEC):
        assert spec.family == "bilevel" and spec.paper is not None
        solve = spec.load_factory()(spec.resolve_hparams())
        r = solve(ridge_tuning(0), 2)
        assert r.nit == 2


def test_ridge_solution_raises_without_interior_minimum():
    data = type("D", (), {})()
    data.A, data.b = np.eye(3), np.ones(3)
    data.Av, data.bv = np.eye(3), np.ones(3)  # validation = training: V decreases as lambda -> 0
    with pytest.raises(BilevelProblemError, match="no interior minimizer"):
        ridge_solution(data)
