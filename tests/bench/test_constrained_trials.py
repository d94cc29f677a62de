"""Constrained solvers through the harness: the curve is the solver's history, re-measured by us."""

from __future__ import annotations

from optarena.bench.trial import run_trial
from optarena.core.types import Budget, TrialSpec, TrialStatus
from optarena.registry import resolve_method, resolve_workload


def _trial(method: str, workload: str, budget: Budget) -> TrialSpec:
    m, w = resolve_method(method), resolve_workload(workload)
    return TrialSpec(workload, w.version, method, m.version, dict(m.defaults), seed=0, budget=budget)


def test_exact_al_reaches_the_kkt_target_on_hs40():
    result = run_trial(_trial("exact-al", "hs40", Budget(10.0, 100)))
    assert result.status == TrialStatus.DONE, result.error
    last = result.curve[-1]
    assert last.metrics["kkt_residual"] <= 1e-6 and last.metrics["fun_gap"] <= 1e-6
    assert [p.step for p in result.curve] == sorted({p.step for p in result.curve})  # one point per iteration
    assert all(b.time >= a.time for a, b in zip(result.curve, result.curve[1:], strict=False))
    assert result.timed_time <= 10.0


def test_iteration_cap_is_respected():
    result = run_trial(_trial("slsqp", "hs71", Budget(10.0, 2)))
    assert result.status == TrialStatus.DONE, result.error
    assert result.steps <= 2 and all(p.step <= 2 for p in result.curve)


def test_a_solver_that_refuses_the_problem_fails_the_trial_with_its_reason():
    result = run_trial(_trial("exact-al", "hs71", Budget(10.0, 20)))  # inequalities: not supported
    assert result.status == TrialStatus.FAILED and "inequalit" in (result.error or "").lower()
