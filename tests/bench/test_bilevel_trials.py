"""Bilevel methods through the harness: the curve is the solver's history, scored against a known solution."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from optarena import registry
from optarena.bench.adapters import check_compatible
from optarena.bench.runner import run_suite
from optarena.bench.store import Store
from optarena.bench.suite import suite_from_mapping
from optarena.bench.trial import run_trial
from optarena.core.errors import IncompatibleError
from optarena.core.types import Budget, TrialSpec, TrialStatus
from optarena.registry import resolve_method, resolve_workload
from optarena.solvers.bilevel import BilevelProblem
from optarena.solvers.bilevel.api import solve_bilevel
from optarena.workloads.bilevel import BilevelWorkload


def _trial(
    method: str, workload: str, budget: Budget, hparams: dict | None = None, seed: int = 0
) -> TrialSpec:
    m, w = resolve_method(method), resolve_workload(workload)
    hp = {**m.defaults, **(hparams or {})}
    return TrialSpec(workload, w.version, method, m.version, hp, seed=seed, budget=budget)


def _monotone(curve) -> bool:
    steps, times = [p.step for p in curve], [p.time for p in curve]
    return all(b > a for a, b in itertools.pairwise(steps)) and all(
        b >= a for a, b in itertools.pairwise(times)
    )


def test_lvhba_on_the_toy_runs_end_to_end_through_the_store(tmp_path):
    suite = suite_from_mapping(
        {
            "name": "bilevel-smoke",
            "workloads": ["lvhba-toy"],
            "methods": ["lv-hba"],
            "rulesets": ["self-tuning"],
            "studies": 1,
            "max-steps": 200,
        }
    )
    summary = run_suite(suite, store_path=tmp_path / "b.sqlite", quiet=True)
    assert summary.ran == 1
    [(spec, result)] = Store.open_existing(tmp_path / "b.sqlite").trials()
    assert result.status == TrialStatus.DONE, result.error
    curve = result.curve
    assert _monotone(curve) and [p.step for p in curve] == list(range(201))  # start + every iteration
    # the start point: x0 = 10 * 1 (plus seed noise) against x* = -0.3 * 1, so about 10.3 / 0.3
    assert curve[0].time == 0.0 and 30 < curve[0].metrics["x_error"] < 40
    for p in curve:  # LV-HBA: three lower-level gradients and one upper-level gradient per iteration
        assert p.metrics["ngrad_f"] == 3 * p.step and p.metrics["ngrad_F"] == p.step
        assert math.isclose(p.metrics["x_dist"], p.metrics["x_error"] * 3.0, rel_tol=1e-12)  # ||x*|| = 3
    assert result.steps == 200 and result.timed_time <= spec.budget.max_time


def test_the_curve_is_the_solvers_history_scored_against_the_known_solution():
    hp = {"sigma": 0.01, "alpha": 1.0, "gamma": 0.3, "inner_steps": 20}
    result = run_trial(_trial("bilevel-penalty", "ridge-tuning", Budget(30.0, 40), hp))
    assert result.status == TrialStatus.DONE, result.error
    problem = resolve_workload("ridge-tuning").build(0).problem
    direct = solve_bilevel(problem, "penalty", max_iter=40, options=hp)
    x_star = float(problem.x_star[0])
    last = result.curve[-1]
    assert last.step == 40 == result.steps
    assert last.metrics["x_dist"] == pytest.approx(abs(float(direct.x[0]) - x_star), rel=1e-9)
    assert last.metrics["ngrad_f"] == direct.ngrad_f == 40 * (2 * 20 + 2)  # 2T + 2 per outer iteration
    assert last.metrics["x_dist"] < result.curve[0].metrics["x_dist"]


def test_implicit_cg_reaches_the_ridge_target_and_the_trial_stops_there():
    hp = {"alpha": 1.0, "gamma": 0.3, "inner_steps": 30, "cg_iters": 20}
    result = run_trial(_trial("implicit-cg", "ridge-tuning", Budget(60.0, 300), hp))
    assert result.status == TrialStatus.DONE, result.error
    last = result.curve[-1]
    assert last.metrics["x_dist"] <= 1e-2 < result.curve[-2].metrics["x_dist"]  # stopped at the first hit
    assert last.step < 300 and _monotone(result.curve)


def test_step_and_time_budgets_are_respected():
    capped = run_trial(_trial("lv-hba", "ridge-tuning", Budget(10.0, 7)))
    assert capped.status == TrialStatus.DONE, capped.error
    assert capped.steps == 7 and [p.step for p in capped.curve] == list(range(8))
    quick = run_trial(_trial("lv-hba", "lvhba-toy", Budget(0.01, 400)))  # 400 iterations take longer
    assert quick.status == TrialStatus.DONE, quick.error
    assert all(p.time <= 0.01 for p in quick.curve) and quick.timed_time <= 0.01
    assert quick.curve[-1].step < 400


def test_the_solver_itself_stops_at_the_time_limit():
    from optarena.registry import resolve_method, resolve_workload

    solve = resolve_method("lv-hba").load_factory()(dict(resolve_method("lv-hba").defaults))
    problem = resolve_workload("lvhba-toy").build(0).problem
    res = solve(problem, 100_000, max_time=0.2)
    assert res.nit < 100_000 and "max_time" in res.message and res.time < 5.0


@pytest.mark.parametrize("method", ["bilevel-penalty", "implicit-cg"])
def test_methods_without_lower_constraints_are_refused_on_the_toy(method):
    spec, toy = resolve_method(method), resolve_workload("lvhba-toy")
    with pytest.raises(
        IncompatibleError, match=r"'lvhba-toy' needs a method with capabilities \['lower-constraints'\]"
    ):
        check_compatible(spec, toy)
    result = run_trial(_trial(method, "lvhba-toy", Budget(10.0, 5)))
    assert result.status == TrialStatus.FAILED and "IncompatibleError" in (result.error or "")
    assert not result.curve


def test_family_mismatch_is_refused():
    with pytest.raises(IncompatibleError, match="family bilevel"):
        check_compatible(resolve_method("lv-hba"), resolve_workload("hs6"))
    with pytest.raises(IncompatibleError, match="hosts only: bilevel"):
        check_compatible(resolve_method("slsqp"), resolve_workload("ridge-tuning"))


def _blowup(seed: int) -> BilevelProblem:
    """Upper level -x^4 (unbounded below): LV-HBA's x-step runs off to inf within a few iterations."""
    return BilevelProblem(
        F=lambda x, y: -(x**4).sum() + 0 * y.sum(),
        f=lambda x, y: ((y - x) ** 2).sum(),
        x0=np.array([2.0]),
        y0=np.array([2.0]),
        x_star=torch.zeros(1, dtype=torch.float64),
        y_star=torch.zeros(1, dtype=torch.float64),
        name="blowup",
    )


class BlowUpWorkload(BilevelWorkload):
    id = "test-bilevel-blowup"
    summary = "test only: an upper level unbounded below"
    make = staticmethod(_blowup)
    target = 1e-3
    step_hint = 50


def test_iterates_that_blow_up_mark_the_trial_diverged():
    registry.register_workload(f"{__name__}:BlowUpWorkload")
    try:
        hp = {"alpha": 0.1, "c0": 1e-3}
        result = run_trial(_trial("lv-hba", BlowUpWorkload.id, Budget(10.0), hp))
    finally:
        registry.unregister("workload", BlowUpWorkload.id)
    assert result.status == TrialStatus.DIVERGED, result.error
    assert result.curve and result.curve[-1].step < 50


def test_the_trial_seed_reaches_the_solver(monkeypatch):
    seen = {}
    real_load = type(resolve_method("bilevel-penalty")).load_factory

    def load_factory(spec):
        inner = real_load(spec)

        def factory(hparams):
            solve = inner(hparams)

            def spy(problem, budget, max_time=None, seed=0):
                seen.update(budget=budget, max_time=max_time, seed=seed)
                return solve(problem, budget, max_time=max_time, seed=seed)

            return spy

        return factory

    monkeypatch.setattr(type(resolve_method("bilevel-penalty")), "load_factory", load_factory)
    result = run_trial(_trial("bilevel-penalty", "ridge-tuning", Budget(7.0, 3), seed=11))
    assert result.status == TrialStatus.DONE, result.error
    assert seen == {"budget": 3, "max_time": 7.0, "seed": 11}
