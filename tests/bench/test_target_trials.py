"""Target-based surrogates (SSO) through the harness: a workload that provides a TargetProblem, curves of
the loss gap against expensive gradients and time."""

from __future__ import annotations

import itertools
import time

import pytest

from optarena.bench.adapters import check_compatible
from optarena.bench.runner import run_suite
from optarena.bench.store import Store
from optarena.bench.suite import suite_from_mapping
from optarena.bench.trial import run_trial
from optarena.core.errors import IncompatibleError
from optarena.core.types import Budget, TrialSpec, TrialStatus
from optarena.registry import list_methods, resolve_method, resolve_workload
from optarena.solvers.surrogate import sso
from optarena.workloads.target import TargetTrialProblem


def _trial(method: str, workload: str, budget: Budget, hparams: dict | None = None) -> TrialSpec:
    m, w = resolve_method(method), resolve_workload(workload)
    hp = {**m.defaults, **(hparams or {})}
    return TrialSpec(workload, w.version, method, m.version, hp, seed=0, budget=budget)


def test_sso_is_registered_with_its_specs_summary():
    entry = next(e for e in list_methods() if e.name == "sso")
    spec = resolve_method("sso")
    assert (entry.family, entry.summary) == (spec.family, spec.summary) == ("minimizer", spec.summary)
    assert "target-space" in spec.capabilities


def test_sso_runs_end_to_end_through_the_store(tmp_path):
    suite = suite_from_mapping(
        {
            "name": "target-smoke",
            "workloads": ["logreg-target"],
            "methods": ["sso"],
            "rulesets": ["self-tuning"],
            "studies": 1,
            "max-steps": 60,
        }
    )
    assert run_suite(suite, store_path=tmp_path / "t.sqlite", quiet=True).ran == 1
    [(spec, result)] = Store.open_existing(tmp_path / "t.sqlite").trials()
    assert result.status == TrialStatus.DONE, result.error
    curve = result.curve
    assert [p.step for p in curve] == [0, 10, 20, 30, 40, 50, 60]  # SSO logs every 10 outer steps
    assert all(b.time >= a.time for a, b in itertools.pairwise(curve))
    for p in curve:  # step = expensive gradients (one dl/dz call of a 100-example batch per outer step)
        assert p.metrics["expensive_grads"] == p.step and p.metrics["examples"] == 100 * p.step
    assert curve[-1].metrics["gap"] < curve[0].metrics["gap"] / 2
    assert result.steps == 60 and result.timed_time <= spec.budget.max_time


def test_the_curve_is_the_methods_own_losses_against_the_optimum():
    hp = {"m": 5, "eta": 10.0, "inner_lr": 1.0}
    result = run_trial(_trial("sso", "logreg-target", Budget(30.0, 30), hp))
    assert result.status == TrialStatus.DONE, result.error
    problem = resolve_workload("logreg-target").build(0)
    direct = sso(problem, 30, batch_size=100, m=5, eta=10.0, inner_lr=1.0)
    losses = {int(h["step"]): h["loss"] for h in direct["history"]}
    assert {p.step: p.metrics["loss"] for p in result.curve} == losses  # same batches, same iterates
    assert all(p.metrics["gap"] == pytest.approx(p.metrics["loss"] - problem.f_star) for p in result.curve)
    assert all(p.metrics["gap"] > 0 for p in result.curve)  # f_star is the optimum


def test_full_loss_evaluations_stay_off_the_clock(monkeypatch):
    problem = resolve_workload("logreg-target").build(0)
    metrics = TargetTrialProblem._metrics

    def slow(self, theta):
        time.sleep(0.1)
        return metrics(self, theta)

    monkeypatch.setattr(TargetTrialProblem, "_metrics", slow)
    problem.start()
    for _ in range(3):
        problem.full_loss(problem.theta0)
    assert problem.elapsed() < 0.05 and all(t < 0.05 for _, t, _ in problem.log)
    assert problem.curve()[0][0] == 0 and len(problem.curve()) == 1  # one point per expensive-grad count


def test_budgets_are_respected():
    capped = run_trial(_trial("sso", "logreg-target", Budget(10.0, 25)))
    assert capped.status == TrialStatus.DONE, capped.error
    assert [p.step for p in capped.curve] == [0, 10, 20, 25] and capped.steps == 25
    quick = run_trial(_trial("sso", "logreg-target", Budget(0.005, 200)))  # 200 outer steps take longer
    assert quick.status == TrialStatus.DONE, quick.error
    assert all(p.time <= 0.005 for p in quick.curve) and quick.timed_time <= 0.005
    assert quick.curve[-1].step < 200


def test_lbfgs_runs_on_the_same_workload_and_counts_full_batch_expensive_gradients():
    result = run_trial(_trial("lbfgs", "logreg-target", Budget(10.0, 200)))
    assert result.status == TrialStatus.DONE, result.error
    last = result.curve[-1]
    assert last.metrics["gap"] <= 1e-3  # the target: L-BFGS gets there on this convex problem
    assert (
        last.metrics["expensive_grads"] >= last.step
        and last.metrics["examples"] == 1000 * last.metrics["expensive_grads"]
    )


def test_sso_is_refused_where_no_targets_are_provided():
    with pytest.raises(IncompatibleError, match="provides 'target-space'"):
        check_compatible(resolve_method("sso"), resolve_workload("logreg"))
    with pytest.raises(IncompatibleError, match="family minimizer"):
        check_compatible(resolve_method("sso"), resolve_workload("ridge-tuning"))
    result = run_trial(_trial("sso", "quad", Budget(10.0, 5)))
    assert result.status == TrialStatus.FAILED and "IncompatibleError" in (result.error or "")
    check_compatible(resolve_method("lbfgs"), resolve_workload("logreg-target"))  # no feature needed
