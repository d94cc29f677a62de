"""Every black-box method passes the contract suite in optarena.testing.solver_checks_blackbox, and each
check fails on a solver broken in the way it guards against."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest
from scipy.optimize import OptimizeResult

from optarena.solvers.blackbox import METHODS
from optarena.solvers.blackbox.specs import RANDOM_SEARCH_SPEC
from optarena.testing import solver_checks_blackbox as sc
from optarena.testing.solver_checks_blackbox import (
    BlackBoxRecord,
    blackbox_records,
    blackbox_specs,
    parametrize_with_checks,
    record_from_spec,
)


@parametrize_with_checks(blackbox_records())
def test_blackbox_solver(check):
    check()


def test_every_blackbox_method_has_a_record():
    names = {r.name for r in blackbox_records()}
    assert names == {s.name for s in blackbox_specs()} and len(names) >= len(METHODS)
    assert set(sc.SETTINGS) <= names  # no settings for a method that is gone


def test_capabilities_choose_the_checks():
    for rec in blackbox_records():
        checks = set(sc.check_names(rec))
        ranking = "ranking-oracle" in rec.capabilities
        assert ("ranking_budget" in checks) == ranking and ("rejects_rank" in checks) != ranking
        needs = [c for c in rec.capabilities if c.startswith("needs-")]
        assert bool(needs) or rec.available()


def test_a_missing_package_skips_the_record():
    spec = dataclasses.replace(RANDOM_SEARCH_SPEC, name="plugin", capabilities=frozenset({"needs-nosuchpkg"}))
    rec = record_from_spec(spec)
    assert not rec.available() and rec.problem == "quadratic2"


# -- broken solvers: each check must be able to fail ---------------------------------------------------
def _rec(name: str) -> BlackBoxRecord:
    return next(r for r in blackbox_records() if r.name == name)


def _broken(base: BlackBoxRecord, solve: Callable[..., Any]) -> BlackBoxRecord:
    """``base`` with its factory replaced by ``solve(real_solve, fun, bounds, budget, seed)``."""

    def factory(hparams: Mapping[str, Any]) -> Callable[..., Any]:
        real = base.factory(hparams)
        return lambda fun, bounds, budget, seed: solve(real, fun, bounds, budget, seed)

    return dataclasses.replace(base, name=f"broken-{base.name}", factory=factory)


def _fails(check: Callable[[], None]) -> str:
    with pytest.raises(AssertionError) as info:
        check()
    return str(info.value)


def test_budget_check_fails_on_a_solver_that_overspends():
    rec = _broken(_rec("random-search"), lambda real, f, b, budget, seed: real(f, b, budget + 1, seed))
    assert "> budget" in _fails(lambda: sc.check_respects_budget(rec))


def test_budget_check_fails_on_a_batch_solver_that_underspends():
    rec = _broken(_rec("sobol-search"), lambda real, f, b, budget, seed: real(f, b, max(1, budget - 1), seed))
    assert "calls of a budget" in _fails(lambda: sc.check_respects_budget(rec))


def test_reproducible_check_fails_on_a_solver_that_ignores_the_seed():
    global_rng = _broken(
        _rec("random-search"), lambda real, f, b, n, s: real(f, b, n, int(np.random.randint(99)))
    )
    fixed = _broken(_rec("random-search"), lambda real, f, b, n, s: real(f, b, n, 0))
    assert "same seed" in _fails(lambda: sc.check_reproducible(global_rng))
    assert "equal runs" in _fails(lambda: sc.check_reproducible(fixed))


def test_reaches_optimum_check_fails_on_a_solver_that_stops_early():
    rec = _broken(_rec("bo-ei"), lambda real, f, b, budget, seed: real(f, b, 3, seed))
    assert "regret" in _fails(lambda: sc.check_reaches_optimum(rec, "branin"))


def _naive_factory(hparams: Mapping[str, Any]) -> Callable[..., Any]:
    """Random search with no input checks at all."""

    def solve(fun, bounds, budget, seed):
        b = np.asarray(bounds, dtype=float)
        rng = np.random.default_rng(seed)
        xs = [b[:, 0] + rng.random(len(b)) * (b[:, 1] - b[:, 0]) for _ in range(int(budget))]
        ys = np.array([fun(x) for x in xs], dtype=object)
        return OptimizeResult(x=xs[0] if xs else None, fun=ys[0] if xs else np.nan, nfev=len(xs))

    return solve


@pytest.mark.parametrize("what", sorted(sc.MALFORMED))
def test_malformed_checks_fail_on_a_solver_without_input_checks(what):
    rec = dataclasses.replace(_rec("random-search"), name="naive", factory=_naive_factory)
    assert "accepted" in _fails(lambda: sc._check_malformed(rec, what))


def test_malformed_check_fails_on_an_error_that_does_not_name_the_value():
    def vague(real, f, b, budget, seed):
        try:
            return real(f, b, budget, seed)
        except ValueError as exc:
            raise ValueError("bad input") from exc

    assert "does not name" in _fails(
        lambda: sc._check_malformed(_broken(_rec("random-search"), vague), "bounds_nan")
    )


def test_result_fields_check_fails_on_a_point_outside_the_box():
    def outside(real, f, b, budget, seed):
        r = real(f, b, budget, seed)
        r.x = r.x + 100.0
        return r

    assert "outside the box" in _fails(
        lambda: sc.check_result_fields(_broken(_rec("random-search"), outside))
    )


def test_ranking_checks_fail_on_a_ranking_solver_that_overspends_or_sanitizes_the_order():
    base = _rec("zo-ranksgd")
    over = _broken(base, lambda real, f, b, budget, seed: real(f, b, budget + 10, seed))
    assert "points ranked > budget" in _fails(lambda: sc.check_ranking_budget(over))

    def sanitizing(hparams: Mapping[str, Any]) -> Callable[..., Any]:
        rank = hparams["rank"]

        def clean(points):
            order = [int(i) for i in dict.fromkeys(rank(points)) if 0 <= int(i) < len(points)]
            return order or [0]

        return base.factory({**hparams, "rank": clean})

    rec = dataclasses.replace(base, name="sanitizing", factory=sanitizing)
    assert "accepted" in _fails(lambda: sc.check_ranking_malformed_order(rec))


def test_rejects_rank_check_fails_on_a_value_solver_that_ignores_the_oracle():
    base = _rec("random-search")

    def drops_rank(hparams: Mapping[str, Any]) -> Callable[..., Any]:
        return base.factory({k: v for k, v in hparams.items() if k != "rank"})

    rec = dataclasses.replace(base, name="drops-rank", factory=drops_rank)
    assert "accepted a ranking oracle" in _fails(lambda: sc.check_rejects_rank(rec))
