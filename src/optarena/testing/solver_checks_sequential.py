"""The sequential-decision contract suite: generic checks over bandit and policy-gradient records.

A record wraps one registered method through its factory over the spec's defaults, so a plugin's method
is checked the same way. Which checks apply follows from the :class:`~optarena.core.MethodSpec`'s
capabilities, never from the name:

- ``sequence`` (a bandit over a sequence of instances, :mod:`optarena.solvers.relax`):
  ``factory(hparams) -> run(seq, table=None, seed=0) -> result``; each round selects an arm (an omega of
  the grid ``linspace(1, omega_max, arms)``: the hyperparameters ``arms`` and ``omega_max`` are the
  family's convention) and pays ``table.lookup(t, omega)``. ``contextual`` methods see the shift c.
- ``reinforcement-learning`` (:mod:`optarena.solvers.policy_gradient`):
  ``factory(hparams) -> run(env, policy, budget, seed=0, horizon=500, target=None) -> result`` on a
  gymnasium-style env; ``budget`` counts trajectories. The hyperparameters ``lr`` and ``gamma`` are the
  family's convention.
- ``needs-<module>``: the record is skipped when the module is missing.

A record carries per-method ``options`` (hyperparameters over the defaults, from :data:`SETTINGS`) that
make the known-answer check reachable within a small budget. A check the method is known to fail is
declared in ``known_failures`` with its reason and runs as a strict xfail; ``slow`` checks are marked.

Checks (test ids ``<record>::<check>``):

- ``result_fields``: the result is scipy-like (an ``OptimizeResult``, or an object with its fields):
  ``x``, ``fun``, ``nfev``, ``nit``, ``success``, ``status``, ``message``, ``method``, ``seed`` and the
  family's own fields. Bandit: ``x`` = ``omegas`` (T,) in the grid, ``costs[t]`` the table's cost of
  ``omegas[t]``, ``fun`` = total cost, ``nfev = nit = T``. PG: ``x`` = ``theta`` (n_params,), ``nfev`` =
  ``trajectories`` = ``len(returns)``, ``fun`` within the range of the returns.
- ``respects_budget``: bandit: for T in 1, 2, 7 the table is asked exactly T times, once per instance
  in order; PG: for budgets 1, 2, 5, 8 the env is reset at most ``budget`` times and ``nfev`` counts them.
- ``reproducible``: equal seeds (and disturbed global numpy/random/torch RNGs) give identical runs;
  another seed gives another run.
- ``malformed_<what>``: bad inputs (:data:`BANDIT_MALFORMED`, :data:`PG_MALFORMED`) raise a
  ValueError/TypeError (KeyError for an omega outside the table) whose message names the bad value,
  before any cost is looked up or any env is reset.
- ``known_answer``: bandit: on a synthetic cost table where one arm costs 100 and the others 200 (noise
  +-10), over T = :attr:`SequentialRecord.rounds` rounds, that arm is the most pulled, it gets at least
  half of the second half's pulls, and the second half's mean regret is below the first half's.
  PG: on a 2-step deterministic env (reward 1 for action 1, else 0; constant observation) with a linear
  softmax policy from theta = 0, after :attr:`SequentialRecord.budget` trajectories the exact return
  ``J = 2 p(action 1)`` has closed at least half of the gap from ``J(0) = 1`` to the optimum 2.
- ``gymnasium_cartpole`` (PG, skipped without gymnasium): a 3-trajectory run on CartPole-v1 gives
  returns in [1, 500].

Usage::

    @parametrize_with_checks(sequential_records())
    def test_sequential_method(check):
        check()
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from optarena.core.spec import MethodSpec
from optarena.solvers.relax import CostTable, LinearSystemSequence
from optarena.testing.solver_checks import (
    disturb_rngs,
    expect_error,
    family_specs,
    needs_available,
    parametrize_records,
    spec_factory,
)

__all__ = [
    "BANDIT_MALFORMED",
    "KINDS",
    "PG_MALFORMED",
    "SETTINGS",
    "SequentialRecord",
    "check_names",
    "parametrize_with_checks",
    "record_from_spec",
    "sequential_records",
    "sequential_specs",
]

Factory = Callable[[Mapping[str, Any]], Callable[..., Any]]

#: capability -> record kind
KINDS = {"sequence": "bandit", "reinforcement-learning": "policy-gradient"}


@dataclass(frozen=True)
class SequentialRecord:
    """A sequential-decision method under test: its factory, capabilities and the settings the checks use.

    ``rounds``: T of the bandit known-answer check; ``budget``: trajectories of the PG known-answer check.
    """

    name: str
    factory: Factory
    capabilities: frozenset[str] = frozenset()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    rounds: int = 600
    budget: int = 60
    known_failures: Mapping[str, str] = field(default_factory=dict)
    slow: frozenset[str] = frozenset()
    available: Callable[[], bool] = lambda: True

    @property
    def kind(self) -> str:
        kinds = {KINDS[c] for c in self.capabilities if c in KINDS}
        if len(kinds) != 1:
            raise ValueError(f"{self.name}: capabilities {sorted(self.capabilities)} name no single kind")
        return kinds.pop()

    def method(self, **extra: Any) -> Callable[..., Any]:
        return self.factory({**self.options, **extra})

    def grid(self) -> np.ndarray:
        """The bandit's arms: ``linspace(1, omega_max, arms)`` over the defaults and options."""
        h = {**self.defaults, **self.options}
        return np.linspace(1.0, float(h["omega_max"]), int(h["arms"]))


#: per-method settings (keyed by spec name); a method without an entry gets the record's defaults
SETTINGS: dict[str, dict[str, Any]] = {
    "l2r-tsallis-inf": {"options": {"arms": 5}},
    "l2r-tsallis-inf-cb": {"options": {"arms": 5, "bins": 2}, "rounds": 1200},  # 600 rounds per bin
    "l2r-chebcb": {"options": {"arms": 5, "degree": 2}},
    "reinforce": {"options": {"lr": 0.5}},
    "gpomdp": {"options": {"lr": 0.5}},
    "harpg": {"options": {"lr": 0.5}},
}


def record_from_spec(spec: MethodSpec, **settings: Any) -> SequentialRecord:
    """A record of a registered sequential method: its factory over the spec's defaults, its capabilities."""
    caps = frozenset(spec.capabilities)
    return SequentialRecord(
        spec.name, spec_factory(spec), caps, dict(spec.defaults), available=needs_available(caps), **settings
    )


def sequential_specs() -> list[MethodSpec]:
    """Every MethodSpec with a :data:`KINDS` capability: the registry's (plugins included) and the specs
    exported by :mod:`optarena.solvers.relax` and :mod:`optarena.solvers.policy_gradient` (a science
    method whose optional dependency is missing is passed over)."""
    specs = family_specs(
        "science", "optarena.solvers.relax", "optarena.solvers.policy_gradient", skip_unimportable=True
    )
    return [s for s in specs if set(s.capabilities) & set(KINDS)]


def sequential_records() -> list[SequentialRecord]:
    """One record per sequential method, settings from :data:`SETTINGS` (defaults for a method without)."""
    return [record_from_spec(s, **SETTINGS.get(s.name, {})) for s in sequential_specs()]


# -- helpers -------------------------------------------------------------------------------------------
def _assert_fields(rec: SequentialRecord, r: Any, keys: Iterable[str]) -> None:
    """``r`` has scipy's fields as attributes (an ``OptimizeResult`` or a dataclass exposing them)."""
    missing = [k for k in keys if not hasattr(r, k)]
    assert not missing, f"{rec.name}: result ({type(r).__name__}) lacks {missing}"
    assert isinstance(r.success, bool | np.bool_), f"{rec.name}: success = {r.success!r} is not a bool"
    assert isinstance(r.status, int | np.integer), f"{rec.name}: status = {r.status!r} is not an int"
    assert isinstance(r.message, str) and isinstance(r.method, str) and r.method, (r.message, r.method)
    assert isinstance(r.nfev, int | np.integer) and isinstance(r.nit, int | np.integer), (r.nfev, r.nit)


SCIPY_FIELDS = ("x", "fun", "nfev", "nit", "success", "status", "message", "method", "seed")


# -- bandits over a sequence ---------------------------------------------------------------------------
def _sequence(T: int, seed: int = 0) -> LinearSystemSequence:
    """T instances with shifts drawn uniformly from the paper's range (no right-hand side is needed:
    every cost comes from the table)."""
    shifts = np.random.default_rng(seed).uniform(-0.15, 0.45, T)
    return LinearSystemSequence(shifts=shifts, rhs=np.zeros((T, 4)), m=2, setting="synthetic")


@dataclass(frozen=True)
class _CountingTable(CostTable):
    """A cost table that records the instance of every lookup."""

    asked: list[int] = field(default_factory=list)

    def lookup(self, t: int, omega: float) -> int:
        self.asked.append(int(t))
        return super().lookup(t, omega)


def _table(costs: np.ndarray, omegas: np.ndarray) -> _CountingTable:
    return _CountingTable(omegas=np.asarray(omegas, float), costs=costs, opt_costs=costs.min(axis=1))


def _synthetic_costs(T: int, K: int, best: int | None, seed: int = 0) -> np.ndarray:
    """Costs 200 +- 10 on every arm, 100 +- 10 on ``best`` (None: no best arm)."""
    rng = np.random.default_rng(seed)
    costs = 200 + rng.integers(-10, 11, size=(T, K))
    if best is not None:
        costs[:, best] -= 100
    return costs.astype(np.int64)


def check_bandit_result_fields(rec: SequentialRecord) -> None:
    grid, T = rec.grid(), 9
    tab = _table(_synthetic_costs(T, len(grid), best=1), grid)
    r = rec.method()(_sequence(T), tab, seed=5)
    _assert_fields(rec, r, (*SCIPY_FIELDS, "costs", "omegas"))
    x, costs = np.asarray(r.x), np.asarray(r.costs)
    assert x.shape == (T,) and costs.shape == (T,), f"{rec.name}: x {x.shape}, costs {costs.shape}, T = {T}"
    np.testing.assert_array_equal(x, np.asarray(r.omegas), err_msg=f"{rec.name}: x != omegas")
    k = [int(np.argmin(np.abs(grid - w))) for w in x]
    np.testing.assert_allclose(grid[k], x, rtol=0, atol=1e-12, err_msg=f"{rec.name}: an omega off the grid")
    np.testing.assert_array_equal(costs, tab.costs[np.arange(T), k], err_msg=f"{rec.name}: costs != table")
    assert r.fun == costs.sum(), f"{rec.name}: fun = {r.fun} != total cost {costs.sum()}"
    assert r.nfev == r.nit == T and r.seed == 5, f"{rec.name}: nfev {r.nfev}, nit {r.nit}, seed {r.seed}"


def check_bandit_respects_budget(rec: SequentialRecord) -> None:
    grid = rec.grid()
    for T in (1, 2, 7):
        tab = _table(_synthetic_costs(T, len(grid), best=0), grid)
        r = rec.method()(_sequence(T), tab, seed=0)
        assert len(tab.asked) <= T, f"{rec.name}: {len(tab.asked)} costs looked up > T = {T}"
        assert tab.asked == list(range(T)), f"{rec.name}: instances looked up {tab.asked}, T = {T}"
        assert r.nfev == len(r.costs) == T, f"{rec.name}: nfev {r.nfev}, {len(r.costs)} costs, T = {T}"


def check_bandit_reproducible(rec: SequentialRecord) -> None:
    grid, T = rec.grid(), 30
    costs = _synthetic_costs(T, len(grid), best=None)  # near-tied arms: choices are the bandit's coin flips
    seq = _sequence(T)
    runs = {}
    for k, seed in ((1, 3), (2, 3), (3, 4)):
        disturb_rngs(k)
        runs[k] = rec.method()(seq, _table(costs, grid), seed=seed)
    a, b, c = runs[1], runs[2], runs[3]
    same = np.array_equal(a.omegas, b.omegas) and np.array_equal(a.costs, b.costs)
    assert same, f"{rec.name}: same seed, different choices"
    assert not np.array_equal(a.omegas, c.omegas), f"{rec.name}: seeds 3 and 4 give equal runs"


#: malformed input -> (hparams, T, table change, accepted exceptions, words the message must hold)
BANDIT_MALFORMED: dict[str, tuple[dict[str, Any], int, str, tuple[type[Exception], ...], tuple[str, ...]]] = {
    "arms_zero": ({"arms": 0}, 5, "", (ValueError,), ("arms", "0")),
    "arms_float": ({"arms": 2.5}, 5, "", (TypeError, ValueError), ("arms", "2.5")),
    "omega_max_above_2": ({"omega_max": 2.5}, 5, "", (ValueError,), ("omega", "2.5")),
    "omega_max_nan": ({"omega_max": float("nan")}, 5, "", (ValueError,), ("omega", "nan")),
    "T_zero": ({}, 0, "", (ValueError,), ("0",)),
    "table_rows": ({}, 5, "rows", (ValueError,), ("6", "5")),
    "table_grid": ({}, 5, "grid", (KeyError, ValueError), ("omega",)),
}


def _check_bandit_malformed(rec: SequentialRecord, what: str) -> None:
    hparams, T, change, errors, words = BANDIT_MALFORMED[what]
    grid = rec.grid()
    rows = T + 1 if change == "rows" else max(T, 1)
    omegas = grid + 1e-3 if change == "grid" else grid  # no played omega is in this table
    tab = _table(_synthetic_costs(rows, len(grid), best=0), omegas)
    expect_error(rec.name, what, lambda: rec.method(**hparams)(_sequence(T), tab, seed=0), errors, words)
    if change != "grid":
        assert not tab.asked, f"{rec.name}: {len(tab.asked)} costs looked up before the error"


def check_bandit_known_answer(rec: SequentialRecord) -> None:
    grid, T = rec.grid(), rec.rounds
    best = len(grid) // 2
    tab = _table(_synthetic_costs(T, len(grid), best=best, seed=1), grid)
    r = rec.method()(_sequence(T, seed=2), tab, seed=0)
    k = np.array([int(np.argmin(np.abs(grid - w))) for w in r.omegas])
    pulls = np.bincount(k, minlength=len(grid))
    assert int(np.argmax(pulls)) == best, f"{rec.name}: pulls per arm {pulls.tolist()}, best arm {best}"
    late = float(np.mean(k[T // 2 :] == best))
    assert late >= 0.5, f"{rec.name}: best arm share in the second half {late:.2f} < 0.5"
    regret = np.asarray(r.costs, float) - tab.costs.min(axis=1)
    first, second = regret[: T // 2].mean(), regret[T // 2 :].mean()
    assert second < first, f"{rec.name}: mean regret per round grew: {first:.1f} then {second:.1f}"


# -- policy gradients ----------------------------------------------------------------------------------
class _TwoStepEnv:
    """A deterministic 2-step env: constant observation [1], reward 1 for action 1 and 0 for action 0.

    ``resets`` counts the trajectories started."""

    H = 2

    def __init__(self) -> None:
        self.resets, self.t = 0, 0

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, dict]:
        self.resets += 1
        self.t = 0
        return np.ones(1), {}

    def step(self, a: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.t += 1
        return np.ones(1), float(int(a) == 1), False, self.t >= self.H, {}


def _policy() -> Any:
    from optarena.solvers.policy_gradient import SoftmaxLinear

    return SoftmaxLinear(1, 2, bias=False)


def _exact_return(theta: np.ndarray) -> float:
    """``J(theta) = H p(action 1)`` for the linear softmax policy on :class:`_TwoStepEnv`."""
    z = np.asarray(theta, float).reshape(2)
    p1 = 1.0 / (1.0 + np.exp(z[0] - z[1]))
    return _TwoStepEnv.H * float(p1)


def _pg(rec: SequentialRecord, env: Any, budget: int, seed: int = 0, **extra: Any) -> Any:
    return rec.method(**extra)(env, _policy(), budget, seed=seed, horizon=_TwoStepEnv.H)


def check_pg_result_fields(rec: SequentialRecord) -> None:
    env = _TwoStepEnv()
    r = _pg(rec, env, 6, seed=5)
    _assert_fields(rec, r, (*SCIPY_FIELDS, "theta", "returns", "trajectories", "iterations"))
    n = _policy().n_params
    x = np.asarray(r.x)
    assert x.shape == (n,) and np.all(np.isfinite(x)), f"{rec.name}: x has shape {x.shape}"
    np.testing.assert_array_equal(x, np.asarray(r.theta), err_msg=f"{rec.name}: x != theta")
    assert r.nfev == r.trajectories == len(r.returns) == env.resets, (
        f"{rec.name}: nfev {r.nfev}, trajectories {r.trajectories}, {len(r.returns)} returns, "
        f"{env.resets} resets"
    )
    assert r.nit >= 1 and r.seed == 5, f"{rec.name}: nit {r.nit}, seed {r.seed}"
    assert all(0.0 <= g <= _TwoStepEnv.H for g in r.returns), f"{rec.name}: returns {r.returns}"
    assert np.isfinite(r.fun) and min(r.returns) <= r.fun <= max(r.returns), (
        f"{rec.name}: fun = {r.fun} outside the returns' range"
    )


def check_pg_respects_budget(rec: SequentialRecord) -> None:
    for budget in (1, 2, 5, 8):
        env = _TwoStepEnv()
        r = _pg(rec, env, budget)
        assert env.resets <= budget, f"{rec.name}: {env.resets} trajectories > budget = {budget}"
        assert r.nfev == env.resets == len(r.returns), (
            f"{rec.name}: nfev {r.nfev}, {env.resets} trajectories, {len(r.returns)} returns"
        )


def check_pg_reproducible(rec: SequentialRecord) -> None:
    runs = {}
    for k, seed in ((1, 3), (2, 3), (3, 4)):
        disturb_rngs(k)
        runs[k] = _pg(rec, _TwoStepEnv(), 20, seed=seed)
    a, b, c = runs[1], runs[2], runs[3]
    same = list(a.returns) == list(b.returns) and np.array_equal(a.x, b.x)
    assert same, f"{rec.name}: same seed, different runs"
    assert list(a.returns) != list(c.returns), f"{rec.name}: seeds 3 and 4 give equal runs"


#: malformed input -> (hparams, run keyword changes, accepted exceptions, words the message must hold)
PG_MALFORMED: dict[
    str, tuple[dict[str, Any], dict[str, Any], tuple[type[Exception], ...], tuple[str, ...]]
] = {
    "gamma_above_1": ({"gamma": 1.5}, {}, (ValueError,), ("gamma", "1.5")),
    "gamma_negative": ({"gamma": -0.1}, {}, (ValueError,), ("gamma", "-0.1")),
    "lr_zero": ({"lr": 0.0}, {}, (ValueError,), ("lr", "0")),
    "lr_negative": ({"lr": -1.0}, {}, (ValueError,), ("lr", "-1")),
    "budget_zero": ({}, {"budget": 0}, (ValueError,), ("budget", "0")),
    "budget_float": ({}, {"budget": 2.5}, (TypeError, ValueError), ("budget", "2.5")),
    "env_name": ({}, {"env": "NoSuchEnv-v0"}, (TypeError, ValueError), ("env", "NoSuchEnv-v0")),
    "env_object": ({}, {"env": object()}, (TypeError, ValueError), ("env", "object")),
}


def _check_pg_malformed(rec: SequentialRecord, what: str) -> None:
    hparams, change, errors, words = PG_MALFORMED[what]
    env = _TwoStepEnv()
    args = {"env": env, "budget": 4, **change}

    def call() -> Any:
        return rec.method(**hparams)(args["env"], _policy(), args["budget"], seed=0, horizon=_TwoStepEnv.H)

    expect_error(rec.name, what, call, errors, words)
    assert env.resets == 0, f"{rec.name}: {env.resets} trajectories run before the error"


def check_pg_known_answer(rec: SequentialRecord) -> None:
    r = _pg(rec, _TwoStepEnv(), rec.budget, seed=0)
    j0, j1, best = _exact_return(np.zeros(2)), _exact_return(np.asarray(r.x)), float(_TwoStepEnv.H)
    assert j1 >= j0 + 0.5 * (best - j0), (
        f"{rec.name}: J = {j1:.3f} after {rec.budget} trajectories; start {j0:.3f}, optimum {best:.3f}"
    )


def check_pg_gymnasium_cartpole(rec: SequentialRecord) -> None:
    import pytest

    gym = pytest.importorskip("gymnasium")
    from optarena.solvers.policy_gradient import SoftmaxLinear

    env = gym.make("CartPole-v1")
    r = rec.method()(env, SoftmaxLinear(4, 2), 3, seed=0)
    assert len(r.returns) >= 1 and all(1 <= g <= 500 for g in r.returns), f"{rec.name}: returns {r.returns}"


# -- assembly ------------------------------------------------------------------------------------------
_CHECKS = {
    "bandit": (
        check_bandit_result_fields,
        check_bandit_respects_budget,
        check_bandit_reproducible,
        check_bandit_known_answer,
    ),
    "policy-gradient": (
        check_pg_result_fields,
        check_pg_respects_budget,
        check_pg_reproducible,
        check_pg_known_answer,
        check_pg_gymnasium_cartpole,
    ),
}


def _checks_for(rec: SequentialRecord) -> dict[str, Callable[[], None]]:
    kind = rec.kind
    prefix = "check_bandit_" if kind == "bandit" else "check_pg_"
    out = {fn.__name__.removeprefix(prefix): functools.partial(fn, rec) for fn in _CHECKS[kind]}
    malformed, check = (
        (BANDIT_MALFORMED, _check_bandit_malformed)
        if kind == "bandit"
        else (PG_MALFORMED, _check_pg_malformed)
    )
    for what in malformed:
        out[f"malformed_{what}"] = functools.partial(check, rec, what)
    return out


def check_names(rec: SequentialRecord) -> list[str]:
    return list(_checks_for(rec))


def parametrize_with_checks(records: Iterable[SequentialRecord]) -> Any:
    """pytest parametrization over (record, check); known failures are strict xfails, ``slow`` ones slow."""
    return parametrize_records(records, _checks_for)
