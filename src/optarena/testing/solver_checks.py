"""The constrained-solver contract suite: generic checks over solver records, chosen by capabilities.

A record names a method of ``optarena.solvers.constrained`` and says which problem kinds it handles
(``equality``, ``inequality``, ``bounds``) and whether it is randomized; the checks that apply follow
from that, never from the name. A check the solver is known to fail is declared in
``known_failures`` with its reason and runs as a strict xfail.

Checks (test ids ``<record>::<check>``):

- ``reaches_optimum[P]``: on each small HS problem P the record handles, ``success`` is True,
  ``|f - f*| <= 1e-6`` and the recomputed KKT residual ``<= 1e-6``.
- ``respects_maxiter`` / ``respects_maxfev``: ``nit <= maxiter`` and ``nfev <= maxfev``; an unfinished
  run says so (``success=False``, status 1 / 2).
- ``respects_max_time``: on a problem whose objective sleeps 20 ms, ``max_time=0.1`` stops the run
  with status 3 and ``success=False`` within 1 s.
- ``reproducible``: two runs with the same seed (and a disturbed global RNG) give identical x and
  history; randomized solvers with another seed still solve the problem.
- ``malformed_<what>``: wrong gradient shape, NaN in x0, inconsistent bounds, a constraint that
  returns the wrong size: each raises ``ProblemError`` whose message names the problem.
- ``infeasible``: a problem with no feasible point gives ``success=False`` (never success).
- ``result_fields``: the result has scipy's fields plus ``kkt_residual``, ``constr_violation``,
  ``multipliers``, ``history`` and ``counters``, and a callback that raises StopIteration stops it.

The bilevel, black-box and sequential suites (``solver_checks_bilevel``, ``solver_checks_blackbox``,
``solver_checks_sequential``) share :func:`parametrize_records`, :func:`needs_available`,
:func:`spec_factory`, :func:`family_specs`, :func:`disturb_rngs` and :func:`expect_error` from here.

Usage::

    @parametrize_with_checks(solver_records())
    def test_solver(check):
        check()
"""

from __future__ import annotations

import functools
import importlib.util
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from optarena.core.spec import MethodSpec
from optarena.solvers.constrained import ConstrainedProblem, ConstraintBlock, ProblemError, solve
from optarena.solvers.constrained.api import METHODS

__all__ = [
    "SolverRecord", "check_names", "disturb_rngs", "expect_error", "family_specs", "needs_available",
    "parametrize_records", "parametrize_with_checks", "solver_records", "spec_factory",
]  # fmt: skip

#: small HS problems used by ``reaches_optimum``, by the kinds they need
OPTIMUM_PROBLEMS = {"HS28": {"equality"}, "HS40": {"equality"}, "HS48": {"equality"},
                    "HS35": {"inequality", "bounds"}, "HS71": {"equality", "inequality", "bounds"}}  # fmt: skip


@dataclass(frozen=True)
class SolverRecord:
    name: str
    kinds: frozenset[str]
    randomized: bool = False
    available: Callable[[], bool] = lambda: True
    known_failures: Mapping[str, str] = field(default_factory=dict)


def solver_records() -> list[SolverRecord]:
    """One record per shipped method, capabilities taken from its :class:`SolverInfo`."""
    known = {
        "trust-constr": {
            "reaches_optimum[HS35]": "interior point stops ~1e-4 from the bound; flagged status 6",
            "reaches_optimum[HS71]": "stops with KKT ~7e-5 ('gtol' met); flagged status 6",
        },
        "slsqp": {"reaches_optimum[HS71]": "'Positive directional derivative for linesearch' at KKT ~1e-8"},
    }
    return [SolverRecord(k, v.kinds, v.randomized, v.available, known.get(k, {})) for k, v in METHODS.items()]


def _hs(name: str) -> ConstrainedProblem:
    from optarena.solvers.constrained.problems.hs import hs_problem

    return hs_problem(name)


def _small(rec: SolverRecord) -> ConstrainedProblem:
    return _hs("HS6") if "inequality" not in rec.kinds else _hs("HS71")


def _run(rec: SolverRecord, p: ConstrainedProblem, tol: float | None = None, callback=None, **opts):
    return solve(p, rec.name, tol=tol, callback=callback, options=opts)


def check_reaches_optimum(rec: SolverRecord, problem: str) -> None:
    p = _hs(problem)
    r = _run(rec, p)
    assert r.success, f"{rec.name} on {problem}: {r.message}"
    assert abs(r.fun - p.f_star) <= 1e-6, f"{rec.name} on {problem}: f = {r.fun}, f* = {p.f_star}"
    assert r.kkt_residual <= 1e-6 and r.constr_violation <= 1e-6


def check_respects_maxiter(rec: SolverRecord) -> None:
    r = _run(rec, _small(rec), maxiter=2)
    assert r.nit <= 2, f"{rec.name}: nit = {r.nit} > maxiter = 2"
    assert r.success or r.status == 1, (r.status, r.message)


def check_respects_maxfev(rec: SolverRecord) -> None:
    r = _run(rec, _small(rec), maxfev=4)
    assert r.nfev <= 4, f"{rec.name}: nfev = {r.nfev} > maxfev = 4"
    assert not r.success and r.status == 2, (r.status, r.message)


def check_respects_max_time(rec: SolverRecord) -> None:
    p = _small(rec)

    def slow(x: np.ndarray, f=p.fun) -> float:
        time.sleep(0.02)
        return f(x)

    t0 = time.perf_counter()
    r = _run(rec, replace(p, fun=slow), max_time=0.1)
    assert time.perf_counter() - t0 < 1.0, "run ignored max_time"
    assert not r.success and r.status == 3, (r.status, r.message)


def check_reproducible(rec: SolverRecord) -> None:
    p = _hs("HS28") if "equality" in rec.kinds else _hs("HS35")
    np.random.seed(1)
    a = _run(rec, p, seed=3)
    np.random.seed(2)
    b = _run(rec, p, seed=3)
    assert np.array_equal(a.x, b.x), "same seed, different x"
    assert [h.get("fun") for h in a.history] == [h.get("fun") for h in b.history]
    if rec.randomized:
        c = _run(rec, p, seed=4)
        assert c.success and abs(c.fun - p.f_star) <= 1e-6


def _bad(rec: SolverRecord, what: str) -> ConstrainedProblem:
    p = _hs("HS28") if "equality" in rec.kinds else _hs("HS35")
    name = f"bad-{what}"
    if what == "grad_shape":
        return replace(p, name=name, grad=lambda x, g=p.grad: np.r_[g(x), 0.0])
    if what == "nan_x0":
        return replace(p, name=name, x0=np.r_[np.nan, p.x0[1:]])
    if what == "bounds":
        lb = np.zeros(p.n)
        return replace(p, name=name, lb=lb, ub=lb - 1.0)
    block = p.eq if p.eq is not None else p.ineq
    wrong = ConstraintBlock(block.m + 1, block.fun, block.jac, block.hess)  # declares one row too many
    return replace(p, name=name, **({"eq": wrong} if p.eq is not None else {"ineq": wrong}))


def _check_malformed(rec: SolverRecord, what: str) -> None:
    p = _bad(rec, what)
    try:
        _run(rec, p)
    except ProblemError as exc:
        assert p.name in str(exc), f"error does not name the problem: {exc}"
        return
    raise AssertionError(f"{rec.name}: malformed problem ({what}) was accepted")


def check_infeasible(rec: SolverRecord) -> None:
    # x1^2 + x2^2 + 1 = 0 has no real solution
    sq = ConstraintBlock(1, lambda x: np.array([x @ x + 1.0]), lambda x: 2 * x[None, :],
                         lambda x, v: 2 * v[0] * np.eye(x.size))  # fmt: skip
    p = ConstrainedProblem("infeasible", np.array([1.0, 0.5]), lambda x: float(x @ x), lambda x: 2 * x,
                           lambda x: 2 * np.eye(2), eq=sq)  # fmt: skip
    r = _run(rec, p, maxiter=200)
    assert not r.success, f"{rec.name} reported success on an infeasible problem: {r.message}"
    assert r.constr_violation >= 1.0 - 1e-9


def check_result_fields(rec: SolverRecord) -> None:
    p = _hs("HS28") if "equality" in rec.kinds else _hs("HS35")
    r = _run(rec, p)
    for key in ("x", "fun", "success", "status", "message", "nit", "nfev", "kkt_residual", "constr_violation",
                "multipliers", "history", "counters", "solver_success", "time"):  # fmt: skip
        assert key in r, f"result lacks {key!r}"
    assert r.history and {"nit", "time", "fun", "kkt_residual"} <= set(r.history[-1])
    calls = []

    def cb(intermediate_result) -> None:
        calls.append(intermediate_result.nit)
        raise StopIteration

    s = _run(rec, _small(rec), callback=cb)
    assert len(calls) == 1 and not s.success and s.status == 5, (calls, s.status, s.message)


def _checks_for(rec: SolverRecord) -> dict[str, Callable[[], None]]:
    out: dict[str, Callable[[], None]] = {}
    for prob, needs in OPTIMUM_PROBLEMS.items():
        if needs <= rec.kinds:
            out[f"reaches_optimum[{prob}]"] = functools.partial(check_reaches_optimum, rec, prob)
    for fn in (check_respects_maxiter, check_respects_maxfev, check_respects_max_time, check_reproducible,
               check_infeasible, check_result_fields):  # fmt: skip
        out[fn.__name__.removeprefix("check_")] = functools.partial(fn, rec)
    for what in ("grad_shape", "nan_x0", "bounds", "constraint_size"):
        out[f"malformed_{what}"] = functools.partial(_check_malformed, rec, what)
    return out


def check_names(rec: SolverRecord) -> list[str]:
    return list(_checks_for(rec))


def parametrize_with_checks(records: Iterable[SolverRecord]):
    """pytest parametrization over (record, check); known failures become strict xfails."""
    return parametrize_records(records, _checks_for)


def needs_available(capabilities: Iterable[str]) -> Callable[[], bool]:
    """Availability from ``needs-<module>`` capabilities: every named module must be importable."""
    modules = [c.removeprefix("needs-") for c in capabilities if c.startswith("needs-")]
    return lambda: all(importlib.util.find_spec(m) is not None for m in modules)


def parametrize_records(
    records: Iterable[Any], checks_for: Callable[[Any], Mapping[str, Callable[[], None]]]
):
    """pytest parametrization over (record, check) for any family's records.

    A record has ``name``, ``available()`` and ``known_failures`` (check name -> reason: a strict
    xfail); an optional ``slow`` set of check names marks those ``@pytest.mark.slow``. An unavailable
    record gives one skipped case.
    """
    import pytest

    params = []
    for rec in records:
        if not rec.available():
            params.append(pytest.param(None, id=f"{rec.name}::unavailable",
                                       marks=pytest.mark.skip(reason=f"{rec.name} is not installed")))  # fmt: skip
            continue
        for name, fn in checks_for(rec).items():
            marks = []
            if name in rec.known_failures:
                marks.append(pytest.mark.xfail(strict=True, reason=rec.known_failures[name]))
            if name in getattr(rec, "slow", ()):
                marks.append(pytest.mark.slow)
            params.append(pytest.param(fn, id=f"{rec.name}::{name}", marks=marks))
    return pytest.mark.parametrize("check", params)


# -- shared by the family suites -----------------------------------------------------------------------
def spec_factory(spec: MethodSpec) -> Callable[[Mapping[str, Any]], Callable[..., Any]]:
    """The spec's registry factory over its defaults: ``factory(hparams)`` overrides them."""

    def factory(hparams: Mapping[str, Any]) -> Callable[..., Any]:
        return spec.load_factory()({**spec.defaults, **hparams})

    return factory


def family_specs(family: str, *modules: str, skip_unimportable: bool = False) -> list[MethodSpec]:
    """Every MethodSpec of a registry ``family`` (plugins included) and those in the ``modules``'
    ``__all__`` (a registry entry wins a name), sorted by name. ``skip_unimportable``: a registry
    entry whose module fails to import is passed over instead of raising."""
    from optarena.registry import list_methods, resolve_method

    found: dict[str, MethodSpec] = {}
    for e in list_methods():
        if e.family != family:
            continue
        try:
            spec = resolve_method(e.name)
        except ImportError:
            if not skip_unimportable:
                raise
            continue
        found[spec.name] = spec
    for module in modules:
        mod = importlib.import_module(module)
        for attr in mod.__all__:
            obj = getattr(mod, attr)
            if isinstance(obj, MethodSpec):
                found.setdefault(obj.name, obj)
    return [found[k] for k in sorted(found)]


def disturb_rngs(k: int) -> None:
    """Seed the global numpy, Python ``random`` and torch RNGs with k (a run seeded by its own seed
    must not notice)."""
    np.random.seed(k)
    random.seed(k)
    try:
        import torch

        torch.manual_seed(k)
    except ImportError:  # pragma: no cover - torch is a core dependency
        pass


def expect_error(
    name: str, what: str, call: Callable[[], Any], errors: tuple[type[Exception], ...], words: Iterable[str]
) -> Exception:
    """Run ``call``; it must raise one of ``errors`` whose message holds every word (any case).

    Returns the exception; any other exception, or none, fails naming the record ``name`` and the
    malformed input ``what``.
    """
    try:
        call()
    except errors as exc:
        msg = str(exc).lower()
        missing = [w for w in words if w.lower() not in msg]
        assert not missing, f"{name}: the error does not name the bad value ({missing}): {exc}"
        return exc
    except Exception as exc:
        raise AssertionError(f"{name}: {what} raised {exc!r}, not {[e.__name__ for e in errors]}") from exc
    raise AssertionError(f"{name}: malformed input ({what}) was accepted")
