"""MethodSpecs (family ``"constrained"``) of the constrained solvers.

Factory call: ``factory(hparams) -> solve(problem, budget) -> OptimizeResult`` where ``problem`` is a
:class:`ConstrainedProblem` and ``budget`` a mapping with any of ``maxiter``, ``maxfev``,
``max_time`` (seconds) and ``tol``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from optarena.core.paper import PaperRef
from optarena.core.searchspace import Param, SearchSpace
from optarena.core.spec import MethodSpec

__all__ = [
    "EXACT_AL_GAUSSIAN_SPEC", "EXACT_AL_KACZMARZ_SPEC", "EXACT_AL_SPEC", "IPOPT_SPEC", "SLSQP_SPEC",
    "TRUST_CONSTR_SPEC", "make_solver",
]  # fmt: skip

_BUDGET_KEYS = ("maxiter", "maxfev", "max_time")


def make_solver(method: str) -> Callable[[Mapping[str, Any]], Callable[..., Any]]:
    """Factory for ``method``: hyperparameters become options; the budget sets limits and tol."""

    def factory(hparams: Mapping[str, Any]) -> Callable[..., Any]:
        from optarena.solvers.constrained.api import solve

        def run(problem: Any, budget: Mapping[str, Any] | None = None) -> Any:
            b = dict(budget or {})
            opts = {**dict(hparams), **{k: b[k] for k in _BUDGET_KEYS if b.get(k) is not None}}
            for k in ("max_inner", "maxiter", "maxfev"):
                if k in opts:
                    opts[k] = int(opts[k])
            return solve(problem, method, tol=b.get("tol"), options=opts)

        return run

    return factory


exact_al = make_solver("exact-al")
exact_al_kaczmarz = make_solver("exact-al-kaczmarz")
exact_al_gaussian = make_solver("exact-al-gaussian")
slsqp = make_solver("slsqp")
trust_constr = make_solver("trust-constr")
ipopt = make_solver("ipopt")

_HONG = PaperRef(
    "I. Hong, S. Na, M. W. Mahoney, M. Kolar",
    "Constrained Optimization via Exact Augmented Lagrangian and Randomized Iterative Sketching",
    "ICML",
    2023,
    arxiv="2305.18379",
)
_AL_SPACE = SearchSpace(
    (
        Param("eta1", 0.1, 10.0, log=True),
        Param("eta2", 0.01, 1.0, log=True),
        Param("delta", 0.01, 0.9, log=True),
    )
)
_AL_DEFAULTS = {"eta1": 1.0, "eta2": 0.1, "delta": 0.1}
_AL_SKETCH_SPACE = SearchSpace((*_AL_SPACE.params, Param("seed", 0, 2**31 - 1, integer=True)))
_EQ = frozenset({"equality", "exact-hessian"})

EXACT_AL_SPEC = MethodSpec(
    name="exact-al", family="constrained", factory="optarena.solvers.constrained.specs:exact_al",
    summary="adaptive Newton on the exact augmented Lagrangian, exact linear solve (Hong et al. 2023)",
    search_space=_AL_SPACE, defaults=_AL_DEFAULTS, paper=_HONG, capabilities=_EQ,
)  # fmt: skip
EXACT_AL_KACZMARZ_SPEC = MethodSpec(
    name="exact-al-kaczmarz", family="constrained",
    factory="optarena.solvers.constrained.specs:exact_al_kaczmarz",
    summary="AdaSketch-Newton: exact augmented Lagrangian, Newton system by randomized Kaczmarz",
    search_space=_AL_SKETCH_SPACE, defaults={**_AL_DEFAULTS, "seed": 0}, paper=_HONG,
    capabilities=_EQ | {"randomized"},
)  # fmt: skip
EXACT_AL_GAUSSIAN_SPEC = MethodSpec(
    name="exact-al-gaussian", family="constrained",
    factory="optarena.solvers.constrained.specs:exact_al_gaussian",
    summary="AdaSketch-Newton: exact augmented Lagrangian, Newton system by Gaussian sketching",
    search_space=_AL_SKETCH_SPACE, defaults={**_AL_DEFAULTS, "seed": 0}, paper=_HONG,
    capabilities=_EQ | {"randomized"},
)  # fmt: skip
_ALL = frozenset({"equality", "inequality", "bounds", "baseline"})
SLSQP_SPEC = MethodSpec(
    name="slsqp", family="constrained", factory="optarena.solvers.constrained.specs:slsqp",
    summary="scipy SLSQP (sequential least squares QP)", search_space=SearchSpace(()), defaults={},
    paper=PaperRef("D. Kraft", "A software package for sequential quadratic programming", "DFVLR-FB 88-28", 1988),
    capabilities=_ALL, status="stable",
)  # fmt: skip
TRUST_CONSTR_SPEC = MethodSpec(
    name="trust-constr", family="constrained", factory="optarena.solvers.constrained.specs:trust_constr",
    summary="scipy trust-constr (Byrd-Omojokun SQP / interior point)", search_space=SearchSpace(()),
    defaults={},
    paper=PaperRef("R. H. Byrd, M. E. Hribar, J. Nocedal",
                   "An interior point algorithm for large-scale nonlinear programming", "SIAM J. Optim.", 1999),
    capabilities=_ALL, status="stable",
)  # fmt: skip
IPOPT_SPEC = MethodSpec(
    name="ipopt", family="constrained", factory="optarena.solvers.constrained.specs:ipopt",
    summary="IPOPT interior point via cyipopt (optional extra)", search_space=SearchSpace(()), defaults={},
    paper=PaperRef("A. Wächter, L. T. Biegler",
                   "On the implementation of an interior-point filter line-search algorithm for "
                   "large-scale nonlinear programming", "Mathematical Programming", 2006),
    capabilities=_ALL | {"optional"}, status="stable",
)  # fmt: skip
