"""The bilevel-solver contract suite: generic checks over solver records, chosen by capabilities.

A record wraps one bilevel method through its registry factory,
``factory(hparams) -> solve(problem, budget, max_time=None, seed=0) -> OptimizeResult``
(:mod:`optarena.solvers.bilevel.specs`), so a plugin's method is checked the same way. Its
capabilities come from the method's :class:`~optarena.core.MethodSpec`: ``lower-constraints`` (a lower
level with constraints g/h) and ``stochastic`` (minibatch forms, driven by the seed) choose checks; the
record also carries the settings that make the method converge on its small problem (``options``,
``max_iter``, ``tol``). A check the method is known to fail is declared in ``known_failures`` with its
reason and runs as a strict xfail.

Problems with known solutions (:data:`SOLUTION_PROBLEMS`): ``ridge`` (ridge-penalty tuning,
:func:`~optarena.solvers.bilevel.problems.ridge_tuning`) for every method, and ``coupled`` (below) for
methods with ``lower-constraints``:

.. math::
    \\min_x \\tfrac12\\|x - 3\\|^2 + \\tfrac12\\|y\\|^2 \\quad\\text{s.t.}\\quad
    y \\in \\arg\\min_y \\{\\tfrac12\\|y - x\\|^2 : x + y \\le 2\\},

so ``y*(x) = min(x, 2 - x)`` and ``x* = 2.5 * 1``, ``y* = -0.5 * 1`` (the constraint is active).

Checks (test ids ``<record>::<check>``):

- ``reaches_solution[P]``: on problem P, ``success`` and the relative errors of x and y ``<= tol``.
- ``respects_max_iter``: ``budget = 3`` gives ``nit <= 3`` and history rows with ``nit <= 3``.
- ``respects_max_time``: on a problem whose F sleeps 1 ms, ``max_time=0.1`` with a budget of 10**7
  iterations returns within 1 s, before the budget, and says so in ``message``.
- ``reproducible``: two runs with the same seed (and disturbed global torch/numpy RNGs) give identical
  x, y and history; a ``stochastic`` record's ``seed_options`` run differs under another seed.
- ``malformed_<what>``: x0 of the wrong shape, y0 of the wrong length, NaN in x0, a constraint of the
  wrong shape or one whose size changes during the run: each raises ``BilevelProblemError`` whose
  message names the problem and the bad value.
- ``rejects_lower_constraints`` (records without ``lower-constraints``): a constrained lower level
  raises ``IncompatibleError`` naming the problem. ``infeasible_lower`` (records with it): a lower
  level with no feasible point gives ``success=False``, never success.
- ``result_fields``: x, y (numpy, the start's shapes), fun, ``lower_gap`` (recomputed: it equals
  ``f(x, y) - f(x, y*(x))``), history rows and the oracle counters.

Usage::

    @parametrize_with_checks(bilevel_records())
    def test_bilevel_solver(check):
        check()
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from optarena.core.errors import IncompatibleError
from optarena.core.spec import MethodSpec
from optarena.solvers.bilevel import BilevelProblem, BilevelProblemError
from optarena.testing.solver_checks import (
    disturb_rngs,
    family_specs,
    needs_available,
    parametrize_records,
    spec_factory,
)

__all__ = [
    "SOLUTION_PROBLEMS",
    "BilevelRecord",
    "bilevel_records",
    "bilevel_specs",
    "check_names",
    "coupled_toy",
    "parametrize_with_checks",
    "record_from_spec",
]

Factory = Callable[[Mapping[str, Any]], Callable[..., Any]]


def coupled_toy(n: int = 2) -> BilevelProblem:
    """The coupled-constraint problem above, x, y in R^n, started at 0; (x, y) is projected onto
    ``{x + y <= 2}`` (LV-HBA's feasible set C), and y*(x) is given in closed form."""

    def F(x: Tensor, y: Tensor) -> Tensor:
        return 0.5 * ((x - 3) ** 2).sum() + 0.5 * (y**2).sum()

    def f(x: Tensor, y: Tensor) -> Tensor:
        return 0.5 * ((y - x) ** 2).sum()

    def g(x: Tensor, y: Tensor) -> Tensor:
        return x + y - 2

    def project_xy(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        shift = torch.clamp(x + y - 2, min=0) / 2  # onto the half-planes x_i + y_i <= 2
        return x - shift, y - shift

    return BilevelProblem(
        F=F, f=f, g=g, x0=np.zeros(n), y0=np.zeros(n), project_xy=project_xy,
        lower_solution=lambda x: torch.minimum(x, 2 - x), x_star=np.full(n, 2.5), y_star=np.full(n, -0.5),
        name=f"coupled-toy(n={n})",
    )  # fmt: skip


def _ridge() -> BilevelProblem:
    from optarena.solvers.bilevel.problems import ridge_tuning

    return ridge_tuning(0)


#: small problems with known solutions, by name (``coupled`` needs the ``lower-constraints`` capability)
SOLUTION_PROBLEMS: dict[str, Callable[[], BilevelProblem]] = {"ridge": _ridge, "coupled": coupled_toy}


@dataclass(frozen=True)
class BilevelRecord:
    """A bilevel method under test: its factory, capabilities and the settings the checks use.

    ``problem`` names the :data:`SOLUTION_PROBLEMS` entry of ``reaches_solution``, reached with
    ``options`` in ``max_iter`` outer iterations to relative errors ``tol`` (x) and ``y_tol`` (y).
    ``seed_options`` / ``seed_problem``: the randomized form the ``reproducible`` check runs.
    """

    name: str
    factory: Factory
    capabilities: frozenset[str] = frozenset()
    problem: str = "ridge"
    options: Mapping[str, Any] = field(default_factory=dict)
    max_iter: int = 100
    tol: float = 1e-2
    y_tol: float = 5e-2
    seed_options: Mapping[str, Any] | None = None
    seed_problem: str = "ridge"
    known_failures: Mapping[str, str] = field(default_factory=dict)
    slow: frozenset[str] = frozenset()
    available: Callable[[], bool] = lambda: True

    def solver(self, **extra: Any) -> Callable[..., Any]:
        return self.factory({**self.options, **extra})


#: per-method settings (keyed by spec name) that make it converge on its contract problem, and the
#: randomized form checked by ``reproducible``
SETTINGS: dict[str, dict[str, Any]] = {
    "lv-hba": {"problem": "coupled", "options": {"alpha": 0.05, "eta": 0.05}, "max_iter": 600,
               "tol": 1e-2, "y_tol": 5e-2},
    "bilevel-penalty": {"options": {"sigma": 0.005, "alpha": 3.0, "gamma": 0.3}, "max_iter": 60,
                        "tol": 2e-2, "y_tol": 1e-2,
                        "seed_options": {"sigma": 0.1, "stochastic": True, "batch_size": 8, "inner_steps": 3}},
    "implicit-cg": {"options": {"alpha": 3.0, "gamma": 0.3}, "max_iter": 60, "tol": 1e-3, "y_tol": 1e-3},
}  # fmt: skip


def record_from_spec(spec: MethodSpec, **settings: Any) -> BilevelRecord:
    """A record of a registered bilevel method: its factory over the spec's defaults, its capabilities."""
    caps = frozenset(spec.capabilities)
    settings.setdefault("problem", "coupled" if "lower-constraints" in caps else "ridge")
    return BilevelRecord(spec.name, spec_factory(spec), caps, available=needs_available(caps), **settings)


def bilevel_specs() -> list[MethodSpec]:
    """Every bilevel MethodSpec: the registry's (plugins included) and :mod:`...bilevel.specs`'s."""
    return family_specs("bilevel", "optarena.solvers.bilevel.specs")


def bilevel_records() -> list[BilevelRecord]:
    """One record per bilevel method, settings from :data:`SETTINGS` (defaults for a method without)."""
    return [record_from_spec(s, **SETTINGS.get(s.name, {})) for s in bilevel_specs()]


# -- helpers -------------------------------------------------------------------------------------------
def _problem(name: str) -> BilevelProblem:
    return SOLUTION_PROBLEMS[name]()


def _rebuild(p: BilevelProblem, **changes: Any) -> BilevelProblem:
    """``p`` with some fields changed (validated again)."""
    kw = {f.name: getattr(p, f.name) for f in dataclasses.fields(p) if f.init}
    return BilevelProblem(**{**kw, **changes})


def _rel(a: np.ndarray, b: Tensor) -> float:
    ref = b.numpy()
    return float(np.linalg.norm(a - ref) / max(np.linalg.norm(ref), 1e-300))


# -- checks --------------------------------------------------------------------------------------------
def check_reaches_solution(rec: BilevelRecord, problem: str) -> None:
    p = _problem(problem)
    r = rec.solver()(p, rec.max_iter)
    ex, ey = _rel(r.x, p.x_star), _rel(r.y, p.y_star)
    assert r.success, f"{rec.name} on {p.name}: {r.message}"
    assert ex <= rec.tol, f"{rec.name} on {p.name}: relative error of x {ex:.3g} > {rec.tol:g}"
    assert ey <= rec.y_tol, f"{rec.name} on {p.name}: relative error of y {ey:.3g} > {rec.y_tol:g}"


def check_respects_max_iter(rec: BilevelRecord) -> None:
    r = rec.solver()(_problem(rec.problem), 3)
    assert r.nit <= 3, f"{rec.name}: nit = {r.nit} > budget = 3"
    assert r.history and max(h["nit"] for h in r.history) <= 3, f"{rec.name}: history past the budget"


def check_respects_max_time(rec: BilevelRecord) -> None:
    p = _problem(rec.problem)

    def slow(*args: Any, F: Callable[..., Tensor] = p.F) -> Tensor:
        time.sleep(0.001)
        return F(*args)

    budget = 10**7
    t0 = time.perf_counter()
    r = rec.solver()(_rebuild(p, F=slow), budget, max_time=0.1)
    elapsed = time.perf_counter() - t0
    assert elapsed < 1.0, f"{rec.name}: max_time=0.1 s but the run took {elapsed:.2f} s"
    assert r.nit < budget and "max_time" in r.message, (
        f"{rec.name}: max_time stop not reported: {r.message!r}"
    )


def _same_run(a: Any, b: Any) -> bool:
    rows = [[{k: v for k, v in h.items() if k != "time"} for h in r.history] for r in (a, b)]
    return np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y) and rows[0] == rows[1]


def check_reproducible(rec: BilevelRecord) -> None:
    solve, p = rec.solver(), _problem(rec.problem)
    disturb_rngs(1)
    a = solve(p, 5, seed=3)
    disturb_rngs(2)
    b = solve(p, 5, seed=3)
    assert _same_run(a, b), f"{rec.name}: same seed, different runs"
    if "stochastic" in rec.capabilities and rec.seed_options is not None:
        solve, p = rec.solver(**rec.seed_options), _problem(rec.seed_problem)
        disturb_rngs(1)
        a = solve(p, 5, seed=3)
        disturb_rngs(2)
        b = solve(p, 5, seed=3)
        c = solve(p, 5, seed=4)
        assert _same_run(a, b), f"{rec.name} {dict(rec.seed_options)}: same seed, different runs"
        assert not np.array_equal(a.x, c.x), f"{rec.name} {dict(rec.seed_options)}: the seed is ignored"


def _growing(g: Callable[[Tensor, Tensor], Tensor], x0: Tensor) -> Callable[[Tensor, Tensor], Tensor]:
    """``g`` with one value more once x has left x0: its size changes during the run."""

    def grown(x: Tensor, y: Tensor) -> Tensor:
        c = g(x, y)
        return c if torch.equal(x, x0) else torch.cat([c, c[:1]])

    return grown


def _bad(rec: BilevelRecord, what: str) -> tuple[Callable[[], BilevelProblem], str]:
    """A builder of a malformed problem (it may raise itself) and a word the error must contain."""
    p = coupled_toy() if what.startswith("constraint") else _problem(rec.problem)
    name = f"bad-{what}"
    if what == "x0_shape":
        return lambda: _rebuild(p, name=name, x0=p.x0.numpy()[:, None]), "x0"
    if what == "y0_length":
        return lambda: _rebuild(p, name=name, y0=p.y0.numpy()[1:]), "y0"
    if what == "nan_x0":
        return lambda: _rebuild(p, name=name, x0=np.r_[np.nan, p.x0.numpy()[1:]]), "nan"
    if what == "constraint_shape":
        return lambda: _rebuild(p, name=name, g=lambda x, y, g=p.g: g(x, y)[:, None]), "g(x, y)"
    return lambda: _rebuild(p, name=name, g=_growing(p.g, p.x0)), "g(x, y)"


def _check_malformed(rec: BilevelRecord, what: str) -> None:
    build, word = _bad(rec, what)
    try:
        rec.solver()(build(), 5)
    except BilevelProblemError as exc:
        msg = str(exc)
        assert f"bad-{what}" in msg, f"error does not name the problem: {msg}"
        assert word.lower() in msg.lower(), f"error does not name the bad value ({word}): {msg}"
        return
    except Exception as exc:
        raise AssertionError(f"{rec.name}: {what} raised {exc!r}, not a BilevelProblemError") from exc
    raise AssertionError(f"{rec.name}: malformed problem ({what}) was accepted")


def check_rejects_lower_constraints(rec: BilevelRecord) -> None:
    p = coupled_toy()
    try:
        rec.solver()(p, 5)
    except IncompatibleError as exc:
        assert p.name in str(exc), f"error does not name the problem: {exc}"
        return
    except Exception as exc:
        raise AssertionError(f"{rec.name}: constraints raised {exc!r}, not an IncompatibleError") from exc
    raise AssertionError(f"{rec.name}: a lower level with constraints was accepted")


def check_infeasible_lower(rec: BilevelRecord) -> None:
    # y_i^2 + 1 <= 0 has no solution: the lower level is infeasible for every x
    p = BilevelProblem(
        F=lambda x, y: 0.5 * (x @ x + y @ y), f=lambda x, y: 0.5 * ((y - x) ** 2).sum(),
        g=lambda x, y: y**2 + 1, x0=np.ones(2), y0=np.ones(2), name="infeasible-lower",
    )  # fmt: skip
    r = rec.solver()(p, 50)
    assert not r.success, f"{rec.name} reported success on an infeasible lower level: {r.message}"
    assert r.lower_constr_violation >= 1.0 - 1e-9, r.lower_constr_violation


COUNTERS = ("ngrad_F", "ngrad_f", "ngrad_g", "nhvp")


def check_result_fields(rec: BilevelRecord) -> None:
    p = _problem(rec.problem)
    r = rec.solver()(p, 4)
    for key in ("x", "y", "fun", "lower_gap", "lower_fun", "lower_constr_violation", "success", "status",
                "message", "nit", "history", "method", "time", *COUNTERS):  # fmt: skip
        assert key in r, f"{rec.name}: result lacks {key!r}"
    assert isinstance(r.x, np.ndarray) and r.x.shape == tuple(p.x0.shape), (
        "x: not a numpy array of x0's shape"
    )
    assert isinstance(r.y, np.ndarray) and r.y.shape == tuple(p.y0.shape), (
        "y: not a numpy array of y0's shape"
    )
    assert isinstance(r.success, bool) and r.nit == 4
    x, y = torch.as_tensor(r.x), torch.as_tensor(r.y)
    with torch.no_grad():
        assert np.isclose(r.fun, float(p.call("F", x, y)), rtol=1e-10, atol=1e-12), "fun != F(x, y)"
        gap = float(p.call("f", x, y) - p.call("f", x, p.lower_solution(x)))
    assert np.isclose(r.lower_gap, gap, rtol=1e-6, atol=1e-9), f"lower_gap {r.lower_gap} != recomputed {gap}"
    assert all(isinstance(r[k], int) and r[k] >= 0 for k in COUNTERS), {k: r[k] for k in COUNTERS}
    assert r.ngrad_f > 0, f"{rec.name}: no lower-level gradient counted"
    nits = [h["nit"] for h in r.history]
    assert nits == sorted(nits) and nits[-1] == r.nit, f"history nit {nits} vs nit {r.nit}"
    last = r.history[-1]
    assert {"nit", "time", "fun"} <= set(last) and all(last[k] == r[k] for k in COUNTERS)


def _checks_for(rec: BilevelRecord) -> dict[str, Callable[[], None]]:
    out: dict[str, Callable[[], None]] = {
        f"reaches_solution[{rec.problem}]": functools.partial(check_reaches_solution, rec, rec.problem)
    }
    fns: list[Callable[[BilevelRecord], None]] = [check_respects_max_iter, check_respects_max_time,
                                                   check_reproducible, check_result_fields]  # fmt: skip
    malformed = ["x0_shape", "y0_length", "nan_x0"]
    if "lower-constraints" in rec.capabilities:
        fns.append(check_infeasible_lower)
        malformed += ["constraint_shape", "constraint_size"]
    else:
        fns.append(check_rejects_lower_constraints)
    for fn in fns:
        out[fn.__name__.removeprefix("check_")] = functools.partial(fn, rec)
    for what in malformed:
        out[f"malformed_{what}"] = functools.partial(_check_malformed, rec, what)
    return out


def check_names(rec: BilevelRecord) -> list[str]:
    return list(_checks_for(rec))


def parametrize_with_checks(records: Iterable[BilevelRecord]) -> Any:
    """pytest parametrization over (record, check); known failures are strict xfails, ``slow`` ones slow."""
    return parametrize_records(records, _checks_for)
