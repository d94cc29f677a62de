"""Every bilevel method passes the contract suite in optarena.testing.solver_checks_bilevel, and each
check fails on a solver broken in the way it guards against."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest

from optarena.solvers.bilevel import METHODS
from optarena.solvers.bilevel.specs import PENALTY_SPEC
from optarena.testing import solver_checks_bilevel as sc
from optarena.testing.solver_checks_bilevel import (
    BilevelRecord,
    bilevel_records,
    bilevel_specs,
    parametrize_with_checks,
    record_from_spec,
)


@parametrize_with_checks(bilevel_records())
def test_bilevel_solver(check):
    check()


def test_every_bilevel_method_has_a_record_with_its_settings():
    names = {r.name for r in bilevel_records()}
    assert names == {s.name for s in bilevel_specs()} and len(names) >= len(METHODS)
    assert set(sc.SETTINGS) <= names  # no settings for a method that is gone


def test_capabilities_choose_the_checks():
    by_name = {r.name: r for r in bilevel_records()}
    for rec in by_name.values():
        checks = set(sc.check_names(rec))
        constrained = "lower-constraints" in rec.capabilities
        assert ("infeasible_lower" in checks) == constrained
        assert ("malformed_constraint_size" in checks) == constrained
        assert ("rejects_lower_constraints" in checks) != constrained


# -- broken solvers: each check must be able to fail ---------------------------------------------------
def _broken(base: BilevelRecord, solve: Callable[..., Any], **changes: Any) -> BilevelRecord:
    """``base`` with its factory replaced by ``solve(real_solve, problem, budget, **kw)``."""

    def factory(hparams: Mapping[str, Any]) -> Callable[..., Any]:
        real = base.factory(hparams)
        return lambda problem, budget, **kw: solve(real, problem, budget, **kw)

    return dataclasses.replace(base, name=f"broken-{base.name}", factory=factory, **changes)


def _rec(name: str) -> BilevelRecord:
    return next(r for r in bilevel_records() if r.name == name)


def _fails(check: Callable[[], None]) -> str:
    with pytest.raises(AssertionError) as info:
        check()
    return str(info.value)


def test_max_iter_check_fails_on_a_solver_that_overspends():
    rec = _broken(_rec("implicit-cg"), lambda real, p, budget, **kw: real(p, budget + 1, **kw))
    assert "budget = 3" in _fails(lambda: sc.check_respects_max_iter(rec))


def test_max_time_check_fails_on_a_solver_that_ignores_it():
    def no_time(real, p, budget, max_time=None, **kw):
        return real(p, 5, **kw)  # ignores max_time (and, to stay quick, the huge budget)

    rec = _broken(_rec("implicit-cg"), no_time)
    assert "max_time" in _fails(lambda: sc.check_respects_max_time(rec))


def test_reproducible_check_fails_on_a_solver_that_ignores_the_seed():
    def global_seed(real, p, budget, seed=0, **kw):
        return real(p, budget, seed=int(np.random.randint(1000)), **kw)

    def fixed_seed(real, p, budget, seed=0, **kw):
        return real(p, budget, **kw)

    rec = _rec("bilevel-penalty")
    assert "same seed" in _fails(lambda: sc.check_reproducible(_broken(rec, global_seed)))
    assert "seed is ignored" in _fails(lambda: sc.check_reproducible(_broken(rec, fixed_seed)))


def test_infeasible_check_fails_on_a_solver_that_claims_success():
    def claims(real, p, budget, **kw):
        r = real(p, budget, **kw)
        r.success = True
        return r

    assert "infeasible" in _fails(lambda: sc.check_infeasible_lower(_broken(_rec("lv-hba"), claims)))


def test_reaches_solution_check_fails_on_a_solver_that_stops_early():
    def early(real, p, budget, **kw):
        r = real(p, 2, **kw)
        r.success = True  # so that the error of x is what fails
        return r

    assert "relative error of x" in _fails(
        lambda: sc.check_reaches_solution(_broken(_rec("implicit-cg"), early), "ridge")
    )


def test_malformed_checks_fail_when_errors_are_swallowed_or_validation_is_missing(monkeypatch):
    def swallow(real, p, budget, **kw):
        try:
            return real(p, budget, **kw)
        except Exception as exc:
            raise RuntimeError("solver failed") from exc

    rec = _broken(_rec("lv-hba"), swallow)
    assert "not a BilevelProblemError" in _fails(lambda: sc._check_malformed(rec, "constraint_size"))
    # without the shape check of the start point, an (n, 1) x0 reaches the solver unnoticed
    from optarena.solvers.bilevel import _problem

    monkeypatch.setattr(_problem, "as_vector", lambda v, name: _problem.torch.as_tensor(np.asarray(v, float)))
    assert "accepted" in _fails(lambda: sc._check_malformed(_rec("implicit-cg"), "x0_shape"))


def test_rejects_constraints_check_fails_on_a_solver_that_ignores_them():
    def drop_g(real, p, budget, **kw):
        kw_p = {f.name: getattr(p, f.name) for f in dataclasses.fields(p) if f.init}
        return real(sc.BilevelProblem(**{**kw_p, "g": None, "h": None}), budget, **kw)

    rec = _broken(_rec("implicit-cg"), drop_g)
    assert "accepted" in _fails(lambda: sc.check_rejects_lower_constraints(rec))


def test_result_fields_check_fails_on_an_untrusted_gap():
    def trusts(real, p, budget, **kw):
        r = real(p, budget, **kw)
        r.lower_gap = 0.0  # the method's own claim instead of the recomputed gap
        return r

    rec = _broken(_rec("implicit-cg"), trusts)
    assert "lower_gap" in _fails(lambda: sc.check_result_fields(rec))


def test_a_plugin_spec_gets_a_record_with_default_settings():
    spec = dataclasses.replace(
        PENALTY_SPEC, name="plugin-penalty", capabilities=frozenset({"needs-nosuchpkg"})
    )
    rec = record_from_spec(spec)
    assert rec.problem == "ridge" and not rec.available()
    r = rec.solver()(sc.SOLUTION_PROBLEMS["ridge"](), 2, seed=1)
    assert r.nit == 2 and r.method == "penalty"


@pytest.mark.parametrize("bad", [0, -1.0, "1", True])
def test_max_time_is_validated(bad):
    from optarena.solvers.bilevel import BilevelProblemError, solve_bilevel

    with pytest.raises(BilevelProblemError, match="max_time"):
        solve_bilevel(sc.coupled_toy(), "lv-hba", max_iter=2, max_time=bad)
