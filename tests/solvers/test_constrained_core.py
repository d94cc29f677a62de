"""KKT recomputation, result honesty, exact-AL cost counters."""

import numpy as np

from optarena.solvers.constrained._run import Evaluator, RawResult, finalize
from optarena.solvers.constrained.api import solve
from optarena.solvers.constrained.kkt import kkt_report
from optarena.solvers.constrained.problems.hs import hs_problem


def test_kkt_at_known_solutions():
    # HS28 is a linear-equality QP: at x* the least-squares multiplier gives a zero residual
    p = hs_problem("HS28")
    rep = kkt_report(p, p.x_star)
    assert rep.kkt_residual <= 1e-12 and rep.constr_violation <= 1e-12
    # HS35: one active inequality, multiplier 2/9 * ... must be >= 0 and stationarity exact
    p = hs_problem("HS35")
    rep = kkt_report(p, p.x_star)
    assert rep.kkt_residual <= 1e-9 and rep.mu_ineq[0] > 0
    # away from the solution the residual is large
    assert kkt_report(p, p.x0).kkt_residual > 0.1


def test_kkt_infeasible_point_counts_violation():
    p = hs_problem("HS71")
    x = np.array([0.5, 5.5, 1.0, 1.0])  # violates both bounds and both constraints
    rep = kkt_report(p, x)
    assert rep.constr_violation >= 0.5 and rep.kkt_residual >= rep.constr_violation


def test_solver_claim_is_never_trusted():
    p = hs_problem("HS6")
    ev = Evaluator(p, {}, None)
    res = finalize(p, ev, RawResult(p.x0, True, 0, "I converged", 3), "fake", 1e-6, 1e-6)
    assert not res.success and res.status == 6 and res.solver_success
    assert "I converged" in res.message and res.kkt_residual > 1


def test_exact_al_variants_agree_and_count_costs():
    p = hs_problem("HS48")
    ex = solve(p, "exact-al")
    rk = solve(p, "exact-al-kaczmarz", options={"seed": 0})
    gs = solve(p, "exact-al-gaussian", options={"seed": 0})
    for r in (ex, rk, gs):
        assert r.success and np.allclose(r.x, 1.0, atol=1e-6)
    assert ex.counters["row_ops"] == 0 and ex.counters["flops"] > 0
    assert rk.counters["row_ops"] == rk.counters["inner_steps"] > 0
    n = p.n + p.m_eq
    assert gs.counters["row_ops"] == n * gs.counters["inner_steps"]
    # the exact solve on a linearly constrained QP takes one unit step per Newton iteration
    assert ex.history[1]["alpha"] == 1.0


def test_exact_al_history_monotone_time_and_multipliers():
    p = hs_problem("HS40")
    r = solve(p, "exact-al")
    t = [h["time"] for h in r.history]
    assert t == sorted(t) and r.history[-1]["kkt_residual"] <= 1e-6
    # the method's own multipliers (L = f + lam^T c) equal minus our least-squares ones (L = f - lam^T c)
    assert np.allclose(r.solver_multipliers["eq"], -r.multipliers["eq"], atol=1e-5)
