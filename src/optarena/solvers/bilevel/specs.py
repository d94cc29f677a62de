"""Registry entries of the bilevel methods (family ``"bilevel"``).

The factory answers ``factory(hparams) -> solve(problem, budget, max_time=None, seed=0) -> OptimizeResult``,
where ``problem`` is a :class:`~optarena.solvers.bilevel.BilevelProblem`, ``budget`` the number of outer
iterations, ``max_time`` a wall-clock limit in seconds (checked after every outer iteration) and ``seed``
the seed of the stochastic forms.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from optarena.core.paper import PaperRef
from optarena.core.searchspace import Param, SearchSpace
from optarena.core.spec import MethodSpec

__all__ = ["IMPLICIT_CG_SPEC", "LVHBA_SPEC", "PENALTY_SPEC", "make_bilevel"]


def make_bilevel(method: str) -> Callable[[Mapping[str, Any]], Callable[..., Any]]:
    def factory(hparams: Mapping[str, Any]) -> Callable[..., Any]:
        from optarena.solvers.bilevel.api import solve_bilevel

        def solve(problem: Any, budget: int, max_time: float | None = None, seed: int = 0) -> Any:
            """``budget`` outer iterations; stop once ``max_time`` seconds have passed; ``seed`` seeds the
            stochastic forms (minibatches)."""
            return solve_bilevel(
                problem, method, max_iter=int(budget), options=dict(hparams), max_time=max_time, seed=seed
            )

        return solve

    return factory


make_lvhba = make_bilevel("lv-hba")
make_penalty = make_bilevel("penalty")
make_implicit_cg = make_bilevel("implicit-cg")

LVHBA_SPEC = MethodSpec(
    name="lv-hba",
    family="bilevel",
    factory="optarena.solvers.bilevel.specs:make_lvhba",
    summary="LV-HBA: single-loop Hessian-free bilevel method with lower-level constraints",
    search_space=SearchSpace(
        (
            Param("alpha", 1e-4, 1e-1, log=True),
            Param("eta", 1e-4, 1e-1, log=True),
            Param("gamma1", 0.1, 100.0, log=True),
            Param("c0", 1e-3, 1.0, log=True),
        )
    ),
    defaults={"alpha": 0.008, "eta": 0.01, "gamma1": 10.0, "c0": 0.025},
    paper=PaperRef(
        "W. Yao, C. Yu, S. Zeng, J. Zhang",
        "Constrained Bi-Level Optimization: Proximal Lagrangian Value function Approach and Hessian-free "
        "Algorithm",
        "ICLR",
        2024,
        "2401.16164",
    ),
    capabilities=frozenset({"lower-constraints", "hessian-free", "single-loop"}),
)

PENALTY_SPEC = MethodSpec(
    name="bilevel-penalty",
    family="bilevel",
    factory="optarena.solvers.bilevel.specs:make_penalty",
    summary="Penalty method for bilevel problems (sigma F + f), deterministic or stochastic",
    search_space=SearchSpace(
        (
            Param("sigma", 1e-4, 1.0, log=True),
            Param("alpha", 1e-4, 1.0, log=True),
            Param("gamma", 1e-3, 1.0, log=True),
            Param("inner_steps", 1, 200, integer=True),
        )
    ),
    defaults={"sigma": 0.01, "alpha": 0.05, "gamma": 0.1, "inner_steps": 20},
    paper=PaperRef(
        "J. Kwon, D. Kwon, S. Wright, R. Nowak",
        "On Penalty Methods for Nonconvex Bilevel Optimization and First-Order Stochastic Approximation",
        "ICLR",
        2024,
        "2309.01753",
    ),
    capabilities=frozenset({"first-order", "stochastic", "lower-convex-set"}),
)

IMPLICIT_CG_SPEC = MethodSpec(
    name="implicit-cg",
    family="bilevel",
    factory="optarena.solvers.bilevel.specs:make_implicit_cg",
    summary="Implicit-gradient bilevel baseline (CG hypergradient with Hessian-vector products)",
    search_space=SearchSpace(
        (
            Param("alpha", 1e-4, 1.0, log=True),
            Param("gamma", 1e-3, 1.0, log=True),
            Param("inner_steps", 1, 200, integer=True),
            Param("cg_iters", 1, 200, integer=True),
        )
    ),
    defaults={"alpha": 0.05, "gamma": 0.1, "inner_steps": 20, "cg_iters": 20},
    paper=PaperRef(
        "F. Pedregosa",
        "Hyperparameter optimization with approximate gradient",
        "ICML",
        2016,
        "1602.02355",
    ),
    capabilities=frozenset({"hessian-vector-products"}),
)
