"""Every bandit-over-a-sequence and policy-gradient method passes the contract suite in
optarena.testing.solver_checks_sequential, and each check fails on a method broken in the way it guards
against."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest
from scipy.optimize import OptimizeResult

from optarena.solvers.policy_gradient import REINFORCE_SPEC
from optarena.solvers.relax import TSALLIS_INF_SPEC, SequenceResult
from optarena.testing import solver_checks_sequential as sc
from optarena.testing.solver_checks_sequential import (
    SequentialRecord,
    parametrize_with_checks,
    record_from_spec,
    sequential_records,
    sequential_specs,
)


@parametrize_with_checks(sequential_records())
def test_sequential_method(check):
    check()


def test_every_sequential_method_has_a_record():
    names = {r.name for r in sequential_records()}
    assert names == {s.name for s in sequential_specs()}
    kinds = {r.kind for r in sequential_records()}
    assert kinds == {"bandit", "policy-gradient"} and len(names) >= 8
    assert set(sc.SETTINGS) <= names  # no settings for a method that is gone


def test_capabilities_choose_the_checks():
    for rec in sequential_records():
        checks = set(sc.check_names(rec))
        bandit = "sequence" in rec.capabilities
        assert ("malformed_table_rows" in checks) == bandit and ("malformed_env_name" in checks) != bandit
        assert {"result_fields", "respects_budget", "reproducible", "known_answer"} <= checks


def test_a_missing_package_skips_the_record_and_no_kind_is_an_error():
    caps = frozenset({"sequence", "bandit", "needs-nosuchpkg"})
    rec = record_from_spec(dataclasses.replace(TSALLIS_INF_SPEC, name="plugin", capabilities=caps))
    assert not rec.available() and rec.kind == "bandit"
    bare = record_from_spec(dataclasses.replace(TSALLIS_INF_SPEC, name="bare", capabilities=frozenset()))
    with pytest.raises(ValueError, match="no single kind"):
        _ = bare.kind


def test_results_are_optimize_results_and_keep_their_old_attributes():
    r = SequenceResult(costs=np.array([3, 4]), omegas=np.array([1.0, 1.5]))
    assert isinstance(r, OptimizeResult) and r.total == r.fun == 7 and r.nfev == 2 and "x" in r
    rec = record_from_spec(REINFORCE_SPEC, options={"lr": 0.5})
    p = sc._pg(rec, sc._TwoStepEnv(), 3)
    assert isinstance(p, OptimizeResult) and p.trajectories == p.nfev == 3 and len(p.running_mean()) == 3


# -- broken methods: each check must be able to fail ---------------------------------------------------
def _rec(name: str) -> SequentialRecord:
    return next(r for r in sequential_records() if r.name == name)


def _broken(base: SequentialRecord, run: Callable[..., Any]) -> SequentialRecord:
    """``base`` with its factory's run replaced by ``run(real_run, *args, **kwargs)``."""

    def factory(hparams: Mapping[str, Any]) -> Callable[..., Any]:
        real = base.factory(hparams)
        return lambda *args, **kwargs: run(real, *args, **kwargs)

    return dataclasses.replace(base, name=f"broken-{base.name}", factory=factory)


def _fails(check: Callable[[], None]) -> str:
    with pytest.raises(AssertionError) as info:
        check()
    return str(info.value)


class _PeekingTable:
    """Looks every instance up twice: a bandit that peeks at a second arm's cost each round."""

    def __init__(self, table: Any) -> None:
        self.table, self.costs = table, table.costs

    def lookup(self, t: int, omega: float) -> int:
        self.table.lookup(t, float(self.table.omegas[0]))
        return self.table.lookup(t, omega)


def test_budget_check_fails_on_a_bandit_that_overspends():
    rec = _broken(
        _rec("l2r-tsallis-inf"), lambda real, seq, table, seed=0: real(seq, _PeekingTable(table), seed)
    )
    assert "> T" in _fails(lambda: sc.check_bandit_respects_budget(rec))


def test_reproducible_check_fails_on_a_bandit_that_ignores_the_seed():
    global_rng = _broken(
        _rec("l2r-chebcb"), lambda real, seq, table, seed=0: real(seq, table, int(np.random.randint(99)))
    )
    fixed = _broken(_rec("l2r-chebcb"), lambda real, seq, table, seed=0: real(seq, table, 0))
    assert "same seed" in _fails(lambda: sc.check_bandit_reproducible(global_rng))
    assert "equal runs" in _fails(lambda: sc.check_bandit_reproducible(fixed))


def test_known_answer_check_fails_on_a_bandit_that_never_learns():
    def uniform(real, seq, table, seed=0):
        rng = np.random.default_rng(seed)
        omegas = rng.choice(table.omegas, size=len(seq))
        costs = np.array([table.lookup(t, w) for t, w in enumerate(omegas)])
        return SequenceResult(costs, omegas, method="uniform", seed=seed)

    msg = _fails(lambda: sc.check_bandit_known_answer(_broken(_rec("l2r-tsallis-inf"), uniform)))
    assert "pulls per arm" in msg or "share" in msg or "regret" in msg


def test_result_fields_check_fails_on_a_bare_dataclass_result():
    @dataclasses.dataclass
    class OldResult:  # the pre-OptimizeResult SequenceResult
        costs: np.ndarray
        omegas: np.ndarray

    def old(real, seq, table, seed=0):
        r = real(seq, table, seed)
        return OldResult(r.costs, r.omegas)

    assert "lacks" in _fails(lambda: sc.check_bandit_result_fields(_broken(_rec("l2r-tsallis-inf"), old)))


@pytest.mark.parametrize("what", ["arms_float", "T_zero", "table_rows"])
def test_bandit_malformed_checks_fail_without_input_checks(what):
    def naive(real, seq, table, seed=0):  # plays arm 0 of the table for as many rounds as it has rows
        omegas = np.full(len(table.costs), float(table.omegas[0]))
        return SequenceResult(table.costs[:, 0].copy(), omegas, method="naive", seed=seed)

    def factory(hparams: Mapping[str, Any]) -> Callable[..., Any]:
        return lambda seq, table, seed=0: naive(None, seq, table, seed)

    rec = dataclasses.replace(_rec("l2r-tsallis-inf"), name="naive", factory=factory)
    assert "accepted" in _fails(lambda: sc._check_bandit_malformed(rec, what))


def test_pg_budget_check_fails_on_a_method_that_overspends():
    rec = _broken(_rec("gpomdp"), lambda real, env, policy, budget, **kw: real(env, policy, budget + 1, **kw))
    assert "> budget" in _fails(lambda: sc.check_pg_respects_budget(rec))


def test_pg_reproducible_check_fails_on_a_method_that_ignores_the_seed():
    def global_seed(real, env, policy, budget, seed=0, **kw):
        return real(env, policy, budget, seed=int(np.random.randint(10**6)), **kw)

    def fixed_seed(real, env, policy, budget, seed=0, **kw):
        return real(env, policy, budget, seed=0, **kw)

    assert "same seed" in _fails(lambda: sc.check_pg_reproducible(_broken(_rec("n-pg-igt"), global_seed)))
    assert "equal runs" in _fails(lambda: sc.check_pg_reproducible(_broken(_rec("n-pg-igt"), fixed_seed)))


def test_pg_known_answer_check_fails_on_a_method_that_does_not_learn():
    rec = dataclasses.replace(_rec("reinforce"), options={"lr": 1e-4})
    assert "J =" in _fails(lambda: sc.check_pg_known_answer(rec))


def _naive_pg_factory(hparams: Mapping[str, Any]) -> Callable[..., Any]:
    """Samples ``int(budget)`` trajectories with theta = 0 and checks nothing."""

    def run(env, policy, budget, seed=0, horizon=500, target=None):
        rng = np.random.default_rng(seed)
        theta = np.zeros(policy.n_params)
        returns = []
        for _ in range(int(budget)):
            obs, _ = env.reset(seed=int(rng.integers(2**31)))
            total = 0.0
            for _ in range(horizon):
                obs, r, term, trunc, _ = env.step(policy.act(theta, np.asarray(obs, float), rng))
                total += r
                if term or trunc:
                    break
            returns.append(total)
        return OptimizeResult(x=theta, theta=theta, returns=returns, nfev=len(returns))

    return run


@pytest.mark.parametrize("what", sorted(sc.PG_MALFORMED))
def test_pg_malformed_checks_fail_without_input_checks(what):
    rec = dataclasses.replace(_rec("reinforce"), name="naive", factory=_naive_pg_factory)
    msg = _fails(lambda: sc._check_pg_malformed(rec, what))
    assert "accepted" in msg or "raised" in msg  # no check: accepted, or crashed with an unrelated error


def test_pg_malformed_check_fails_on_an_error_that_does_not_name_the_value():
    def vague(real, *args, **kw):
        try:
            return real(*args, **kw)
        except ValueError as exc:
            raise ValueError("bad input") from exc

    assert "does not name" in _fails(
        lambda: sc._check_pg_malformed(_broken(_rec("gpomdp"), vague), "gamma_above_1")
    )


def test_pg_result_fields_check_fails_when_nfev_miscounts():
    def miscount(real, *args, **kw):
        r = real(*args, **kw)
        r.nfev += 1
        return r

    assert "nfev" in _fails(lambda: sc.check_pg_result_fields(_broken(_rec("gpomdp"), miscount)))
