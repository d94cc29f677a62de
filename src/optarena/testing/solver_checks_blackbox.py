"""The black-box-solver contract suite: generic checks over solver records, chosen by capabilities.

A record wraps one black-box method through its registry factory,
``factory(hparams) -> solve(fun, bounds, budget, seed) -> OptimizeResult``
(:mod:`optarena.solvers.blackbox.specs`), so a plugin's method is checked the same way. Its capabilities
come from the method's :class:`~optarena.core.MethodSpec`: ``ranking-oracle`` (the method sees only
rankings; it takes a user oracle ``rank(points) -> order`` as the ``rank`` option and ``fun=None``),
``batch`` (it asks for any number of points, so it spends the budget exactly), ``deterministic`` (the
seed changes nothing) and ``needs-<module>`` (skipped when the module is missing). The record also
carries the settings that make the method reach the optimum of its small problem (``options``,
``budget``, ``tol``). A check the method is known to fail is declared in ``known_failures`` with its
reason and runs as a strict xfail; checks named in ``slow`` are marked ``@pytest.mark.slow``.

Checks (test ids ``<record>::<check>``):

- ``reaches_optimum[P]``: on P (``quadratic2``: a 2-D quadratic on [-3, 3]^2; ``branin``) with the
  record's budget and seed 0, the regret ``f(x) - f*`` of the returned x is ``<= tol``.
- ``respects_budget``: for budgets 1, 2, 5 and ``short_budget + 1``, fun is called at most ``budget``
  times, ``nfev`` and the history count exactly those calls; a ``batch`` method uses all of them.
- ``reproducible``: equal seeds (and disturbed global numpy/random/torch RNGs) give identical evaluated
  points and x; unless ``deterministic``, another seed gives other points.
- ``malformed_<what>``: bounds with low >= high or NaN, a budget of 0 or 2.5, fun returning NaN or a
  vector: each raises ValueError/TypeError whose message names the bad value (bounds and budget before
  fun is called).
- ``result_fields``: x (shape (d,), in the box), fun (nan or f(x)), nfev, nit, success, message,
  method, seed and a history (x, y, best = running minimum of y) of every evaluated point.
- ``ranking_*`` (``ranking-oracle`` records, fun=None and a user ``rank``): points shown to the oracle
  stay within the budget and are counted, runs are reproducible from the seed, the optimum is reached
  from rankings alone, and an invalid order (a repeated or out-of-range index) raises a ValueError
  naming ``order``. ``rejects_rank`` (value methods): a ``rank`` option raises a ValueError.

Usage::

    @parametrize_with_checks(blackbox_records())
    def test_blackbox_solver(check):
        check()
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from optarena.core.spec import MethodSpec
from optarena.solvers.blackbox.functions import BRANIN, TestFunction, quadratic
from optarena.testing.solver_checks import (
    disturb_rngs,
    expect_error,
    family_specs,
    needs_available,
    parametrize_records,
    spec_factory,
)

__all__ = [
    "OPTIMUM_PROBLEMS",
    "BlackBoxRecord",
    "blackbox_records",
    "blackbox_specs",
    "check_names",
    "parametrize_with_checks",
    "record_from_spec",
]

Factory = Callable[[Mapping[str, Any]], Callable[..., Any]]

#: small problems with known optima, by name
OPTIMUM_PROBLEMS: dict[str, Callable[[], TestFunction]] = {
    "quadratic2": lambda: quadratic(2, seed=0),
    "branin": lambda: BRANIN,
}


@dataclass(frozen=True)
class BlackBoxRecord:
    """A black-box method under test: its factory, capabilities and the settings the checks use.

    ``reaches_optimum`` runs ``problem`` with ``budget`` evaluations and expects regret ``<= tol``;
    the other checks use ``short_budget`` evaluations (at least two of the method's batches).
    """

    name: str
    factory: Factory
    capabilities: frozenset[str] = frozenset()
    options: Mapping[str, Any] = field(default_factory=dict)
    problem: str = "quadratic2"
    budget: int = 40
    tol: float = 0.1
    short_budget: int = 12
    known_failures: Mapping[str, str] = field(default_factory=dict)
    slow: frozenset[str] = frozenset()
    available: Callable[[], bool] = lambda: True

    def solver(self, **extra: Any) -> Callable[..., Any]:
        return self.factory({**self.options, **extra})

    @property
    def randomized(self) -> bool:
        return "deterministic" not in self.capabilities


#: per-method settings (keyed by spec name) that reach the optimum of the record's problem; a method
#: without an entry gets the record's defaults
SETTINGS: dict[str, dict[str, Any]] = {
    "bo-ei": {"problem": "branin", "budget": 30, "tol": 1e-2},
    "bo-kg": {"budget": 25, "tol": 0.2},
    "random-search": {"budget": 200, "tol": 0.1},
    "sobol-search": {"budget": 256, "tol": 0.05},
    "optuna-tpe": {"budget": 60, "tol": 0.05},
    "optuna-gp": {"budget": 20, "tol": 0.05, "short_budget": 11, "slow": frozenset({"reaches_optimum[quadratic2]"})},
    "cma-es": {"budget": 60, "tol": 0.05},
    "zo-ranksgd": {"options": {"adapt_step": True}, "budget": 200, "tol": 0.05, "short_budget": 24},
    "zo-sgd": {"options": {"line_search": True, "adapt_step": True}, "budget": 200, "tol": 0.05,
               "short_budget": 24},
    "botorch-logei": {"budget": 15, "tol": 0.05, "short_budget": 8},
}  # fmt: skip


def record_from_spec(spec: MethodSpec, **settings: Any) -> BlackBoxRecord:
    """A record of a registered black-box method: its factory over the spec's defaults, its capabilities."""
    caps = frozenset(spec.capabilities)
    return BlackBoxRecord(spec.name, spec_factory(spec), caps, available=needs_available(caps), **settings)


def blackbox_specs() -> list[MethodSpec]:
    """Every black-box MethodSpec: the registry's (plugins included) and :mod:`...blackbox.specs`'s."""
    return family_specs("blackbox", "optarena.solvers.blackbox.specs")


def blackbox_records() -> list[BlackBoxRecord]:
    """One record per black-box method, settings from :data:`SETTINGS` (defaults for a method without)."""
    return [record_from_spec(s, **SETTINGS.get(s.name, {})) for s in blackbox_specs()]


# -- helpers -------------------------------------------------------------------------------------------
class _Counted:
    """``fun`` counting its calls (the points it saw)."""

    def __init__(self, fun: Callable[[np.ndarray], Any]) -> None:
        self.fun, self.calls = fun, 0

    def __call__(self, x: np.ndarray) -> Any:
        self.calls += 1
        return self.fun(x)


class _Ranker:
    """The exact ranking oracle of ``fun`` (indices best first), counting the points shown to it."""

    def __init__(self, fun: Callable[[np.ndarray], Any]) -> None:
        self.fun, self.shown = fun, 0

    def __call__(self, points: np.ndarray) -> np.ndarray:
        self.shown += len(points)
        return np.argsort([float(self.fun(p)) for p in points], kind="stable")


def _regret(fn: TestFunction, x: np.ndarray) -> float:
    return float(fn(np.asarray(x, dtype=np.float64))) - fn.fmin


# -- checks --------------------------------------------------------------------------------------------
def check_reaches_optimum(rec: BlackBoxRecord, problem: str) -> None:
    fn = OPTIMUM_PROBLEMS[problem]()
    r = rec.solver()(fn.f, fn.bounds, rec.budget, 0)
    regret = _regret(fn, r.x)
    assert regret <= rec.tol, (
        f"{rec.name} on {fn.name}, {rec.budget} evaluations: regret {regret:.3g} > {rec.tol:g}"
    )


def check_respects_budget(rec: BlackBoxRecord) -> None:
    fn = OPTIMUM_PROBLEMS["quadratic2"]()
    for budget in (1, 2, 5, rec.short_budget + 1):
        fun = _Counted(fn.f)
        r = rec.solver()(fun, fn.bounds, budget, 0)
        assert fun.calls <= budget, f"{rec.name}: {fun.calls} calls of fun > budget = {budget}"
        assert r.nfev == fun.calls == len(r.history["y"]), f"{rec.name}: nfev {r.nfev}, calls {fun.calls}"
        if "batch" in rec.capabilities:
            assert fun.calls == budget, f"{rec.name} ('batch'): {fun.calls} calls of a budget of {budget}"


def _assert_same(rec: BlackBoxRecord, a: Any, b: Any) -> None:
    assert a.nfev > 0, f"{rec.name}: no evaluation in {rec.short_budget}; raise short_budget"
    assert np.array_equal(a.history["x"], b.history["x"]), f"{rec.name}: same seed, different points"
    assert np.array_equal(a.x, b.x, equal_nan=True), f"{rec.name}: same seed, different x"


def check_reproducible(rec: BlackBoxRecord) -> None:
    fn = OPTIMUM_PROBLEMS["quadratic2"]()
    disturb_rngs(1)
    a = rec.solver()(fn.f, fn.bounds, rec.short_budget, 3)
    disturb_rngs(2)
    b = rec.solver()(fn.f, fn.bounds, rec.short_budget, 3)
    _assert_same(rec, a, b)
    if rec.randomized:
        c = rec.solver()(fn.f, fn.bounds, rec.short_budget, 4)
        assert not np.array_equal(a.history["x"], c.history["x"]), (
            f"{rec.name}: seeds 3 and 4 give equal runs"
        )


def check_result_fields(rec: BlackBoxRecord) -> None:
    fn = OPTIMUM_PROBLEMS["quadratic2"]()
    r = rec.solver()(fn.f, fn.bounds, rec.short_budget, 5)
    for key in ("x", "fun", "nfev", "nit", "success", "status", "message", "history", "method", "seed"):
        assert key in r, f"{rec.name}: result lacks {key!r}"
    assert isinstance(r.x, np.ndarray) and r.x.shape == (fn.dim,), f"x has shape {np.shape(r.x)}"
    assert np.all(fn.bounds[:, 0] <= r.x) and np.all(r.x <= fn.bounds[:, 1]), f"x = {r.x} outside the box"
    assert np.isnan(r.fun) or np.isclose(r.fun, fn(r.x), rtol=1e-12), f"fun = {r.fun} != f(x) = {fn(r.x)}"
    assert isinstance(r.success, bool) and isinstance(r.message, str) and isinstance(r.method, str)
    assert isinstance(r.nit, int) and r.nit >= 0 and r.seed == 5
    h = r.history
    assert h["x"].shape == (r.nfev, fn.dim) and h["y"].shape == h["best"].shape == (r.nfev,)
    assert np.all(fn.bounds[:, 0] <= h["x"]) and np.all(h["x"] <= fn.bounds[:, 1]), "a point outside the box"
    np.testing.assert_allclose(h["y"], fn.f(h["x"]), rtol=1e-12, err_msg="history y != f(history x)")
    np.testing.assert_array_equal(
        h["best"], np.fmin.accumulate(h["y"]), err_msg="best is not the running min"
    )


#: malformed input -> (the call's keyword changes, accepted exception types, words the message must hold)
MALFORMED: dict[str, tuple[dict[str, Any], tuple[type[Exception], ...], tuple[str, ...]]] = {
    "bounds_order": ({"bounds": np.array([[-3.0, 3.0], [2.0, 2.0]])}, (ValueError,), ("bounds", "2.0")),
    "bounds_nan": ({"bounds": np.array([[np.nan, 3.0], [-3.0, 3.0]])}, (ValueError,), ("bounds", "nan")),
    "budget_zero": ({"budget": 0}, (ValueError,), ("budget", "0")),
    "budget_float": ({"budget": 2.5}, (TypeError, ValueError), ("budget", "2.5")),
    "fun_nan": ({"fun": lambda x: float("nan")}, (ValueError,), ("nan",)),
    "fun_vector": ({"fun": lambda x: np.array([1.0, 2.0])}, (TypeError, ValueError), ("fun", "array")),
}


def _check_malformed(rec: BlackBoxRecord, what: str) -> None:
    fn = OPTIMUM_PROBLEMS["quadratic2"]()
    change, errors, words = MALFORMED[what]
    fun = _Counted(change.get("fun", fn.f))
    args = {"bounds": fn.bounds, "budget": rec.short_budget, **change, "fun": fun}
    expect_error(
        rec.name, what, lambda: rec.solver()(args["fun"], args["bounds"], args["budget"], 0), errors, words
    )
    if not what.startswith("fun"):
        assert fun.calls == 0, f"{rec.name}: fun was called {fun.calls} times before the error"


def check_ranking_budget(rec: BlackBoxRecord) -> None:
    fn = OPTIMUM_PROBLEMS["quadratic2"]()
    for budget in (1, 5, rec.short_budget + 1):
        rank = _Ranker(fn.f)
        r = rec.solver(rank=rank)(None, fn.bounds, budget, 0)
        assert rank.shown <= budget, f"{rec.name}: {rank.shown} points ranked > budget = {budget}"
        assert r.nfev == rank.shown, f"{rec.name}: nfev {r.nfev} but {rank.shown} points ranked"
        assert np.all(np.isnan(r.history["y"])), f"{rec.name}: values in the history of a ranking-only run"


def check_ranking_reproducible(rec: BlackBoxRecord) -> None:
    fn = OPTIMUM_PROBLEMS["quadratic2"]()
    disturb_rngs(1)
    a = rec.solver(rank=_Ranker(fn.f))(None, fn.bounds, rec.short_budget, 3)
    disturb_rngs(2)
    b = rec.solver(rank=_Ranker(fn.f))(None, fn.bounds, rec.short_budget, 3)
    _assert_same(rec, a, b)
    if rec.randomized:
        c = rec.solver(rank=_Ranker(fn.f))(None, fn.bounds, rec.short_budget, 4)
        assert not np.array_equal(a.history["x"], c.history["x"]), (
            f"{rec.name}: seeds 3 and 4 give equal runs"
        )


def check_ranking_reaches_optimum(rec: BlackBoxRecord, problem: str) -> None:
    fn = OPTIMUM_PROBLEMS[problem]()
    r = rec.solver(rank=_Ranker(fn.f))(None, fn.bounds, rec.budget, 0)
    regret = _regret(fn, r.x)
    assert regret <= rec.tol, f"{rec.name} on {fn.name} from rankings: regret {regret:.3g} > {rec.tol:g}"


def check_ranking_malformed_order(rec: BlackBoxRecord) -> None:
    fn = OPTIMUM_PROBLEMS["quadratic2"]()
    for bad in (lambda p: [0, 0], lambda p: [len(p)], lambda p: []):
        try:
            rec.solver(rank=bad)(None, fn.bounds, rec.short_budget, 0)
        except ValueError as exc:
            assert "order" in str(exc), f"{rec.name}: the error does not name the order: {exc}"
            continue
        except Exception as exc:
            raise AssertionError(f"{rec.name}: an invalid order raised {exc!r}, not a ValueError") from exc
        raise AssertionError(f"{rec.name}: an invalid order from rank was accepted")


def check_rejects_rank(rec: BlackBoxRecord) -> None:
    fn = OPTIMUM_PROBLEMS["quadratic2"]()
    try:
        rec.solver(rank=_Ranker(fn.f))(fn.f, fn.bounds, rec.short_budget, 0)
    except ValueError as exc:
        assert "rank" in str(exc), f"{rec.name}: the error does not name rank: {exc}"
        return
    raise AssertionError(f"{rec.name}: a value method accepted a ranking oracle")


def _checks_for(rec: BlackBoxRecord) -> dict[str, Callable[[], None]]:
    out: dict[str, Callable[[], None]] = {
        f"reaches_optimum[{rec.problem}]": functools.partial(check_reaches_optimum, rec, rec.problem)
    }
    for fn in (check_respects_budget, check_reproducible, check_result_fields):
        out[fn.__name__.removeprefix("check_")] = functools.partial(fn, rec)
    for what in MALFORMED:
        out[f"malformed_{what}"] = functools.partial(_check_malformed, rec, what)
    if "ranking-oracle" in rec.capabilities:
        out[f"ranking_reaches_optimum[{rec.problem}]"] = functools.partial(
            check_ranking_reaches_optimum, rec, rec.problem
        )
        for fn in (check_ranking_budget, check_ranking_reproducible, check_ranking_malformed_order):
            out[fn.__name__.removeprefix("check_")] = functools.partial(fn, rec)
    else:
        out["rejects_rank"] = functools.partial(check_rejects_rank, rec)
    return out


def check_names(rec: BlackBoxRecord) -> list[str]:
    return list(_checks_for(rec))


def parametrize_with_checks(records: Iterable[BlackBoxRecord]) -> Any:
    """pytest parametrization over (record, check); known failures are strict xfails, ``slow`` ones slow."""
    return parametrize_records(records, _checks_for)
