"""Failure isolation, timing rules and determinism of the local executor."""

from __future__ import annotations

from optarena.bench.executors.local import LocalExecutor
from optarena.bench.runner import run_suite
from optarena.bench.scoring import time_to_target
from optarena.bench.store import Store
from optarena.bench.suite import suite_from_mapping
from optarena.bench.trial import run_trial
from optarena.core.types import Budget, TrialSpec, TrialStatus


def _run(specs, jobs=1, timeout=None):
    out = {}
    LocalExecutor(jobs=jobs, trial_timeout=timeout).run(
        specs, lambda s: None, lambda s, r: out.__setitem__(s.key, r)
    )
    return out


def _spec(method, workload="toy-quad", lr=0.5, seed=0, budget=5.0, steps=None):
    return TrialSpec(workload, "1", method, "1", {"lr": lr}, seed=seed, budget=Budget(budget, steps))


def test_raise_diverge_hang_crash_are_recorded_and_the_run_finishes():
    specs = [_spec("toy-raise"), _spec("toy-nan"), _spec("toy-hang"), _spec("toy-crash"), _spec("toy-sgd")]
    out = _run(specs, jobs=2, timeout=4.0)
    status = {s.method: out[s.key].status for s in specs}
    assert status == {
        "toy-raise": TrialStatus.FAILED,
        "toy-nan": TrialStatus.DIVERGED,
        "toy-hang": TrialStatus.TIMED_OUT,
        "toy-crash": TrialStatus.FAILED,
        "toy-sgd": TrialStatus.DONE,
    }
    assert "toy method failure" in out[specs[0].key].error
    assert "exit code 13" in out[specs[3].key].error
    assert out[specs[2].key].curve, "a timed-out trial keeps the evals it streamed"


def test_suite_with_failures_finishes_and_stores_every_trial(tmp_path):
    suite = suite_from_mapping(
        {
            "name": "f",
            "workloads": ["toy-quad"],
            "methods": ["toy-sgd", "toy-raise", "toy-nan", "toy-hang"],
            "rulesets": ["self-tuning"],
            "studies": 1,
            "trial-timeout": 4.0,
            "jobs": 2,
        }
    )
    summary = run_suite(suite, store_path=tmp_path / "f.sqlite", quiet=True)
    assert summary.ran == 4
    statuses = {s.method: r.status for s, r in Store.open_existing(tmp_path / "f.sqlite").trials()}
    assert statuses == {
        "toy-sgd": "done",
        "toy-raise": "failed",
        "toy-nan": "diverged",
        "toy-hang": "timed_out",
    }


def test_same_seed_same_curve_in_process_and_in_workers():
    a = run_trial(_spec("toy-sgd", seed=7, steps=40))
    out = _run([_spec("toy-sgd", seed=7, steps=40)])
    b = next(iter(out.values()))
    assert [(p.step, p.metrics) for p in a.curve] == [(p.step, p.metrics) for p in b.curve]
    c = run_trial(_spec("toy-sgd", seed=8, steps=40))
    assert [p.metrics for p in a.curve] != [p.metrics for p in c.curve]


def _ttt(result):
    return time_to_target(result.curve, result.target, result.mode, 1e9, metric=result.metric)


def test_sleep_in_eval_does_not_count_sleep_in_step_does():
    fast = run_trial(_spec("toy-sgd", lr=0.3, seed=1))
    slow_eval = run_trial(_spec("toy-sgd", workload="toy-quad-slow-eval", lr=0.3, seed=1))
    slow_step = run_trial(_spec("toy-sgd-slow", lr=0.3, seed=1))
    assert fast.status == slow_eval.status == slow_step.status == TrialStatus.DONE
    assert fast.steps == slow_eval.steps == slow_step.steps > 10
    n_evals = len(slow_eval.curve)
    assert slow_eval.eval_time >= 0.05 * n_evals  # the sleeps did happen ...
    assert _ttt(slow_eval) < 0.05, "... but none of them is on the clock"
    assert _ttt(slow_step) >= 0.01 * slow_step.steps  # a 10 ms sleep per step is
