"""Learning to relax: bandits that set SOR's relaxation parameter across a sequence of linear systems.

Khodak, Chow, Balcan, Talwalkar, "Learning to Relax: Setting Solver Parameters Across a Sequence of
Linear System Instances", ICLR 2024 (arXiv:2310.02246).

- ``generate_sequence(T, setting, seed)``: the paper's family (shifted 10x10 Laplacian, truncated-Gaussian b).
- ``sor(A, b, omega, tol, max_iter) -> (x, iterations)`` and ``ssor_pcg(...)`` (reference solvers);
  ``sor_costs(shifts, rhs, omegas)``: the batched SOR for the family (T x K iteration counts).
- ``TsallisINF`` / ``TsallisINFCB`` / ``ChebCB`` / ``FixedOmega``: ``select(context) -> omega``,
  ``update(cost)`` (``ChebCB``: SquareCB over per-arm Chebyshev regressions of the cost on the shift).
- ``cost_table(seq, omegas, solver="sor"|"ssor-pcg")`` caches counts; ``run_sequence(bandit, seq, table)``
  plays the sequence (the SSOR-PCG table gives the paper's CG extension).

MethodSpecs (family "science"): ``factory(hparams) -> run(seq, table, seed) -> SequenceResult`` (a scipy
``OptimizeResult``: ``x`` the omegas played, ``fun`` the total cost, ``nfev`` = T; ``method``, ``seed``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from optarena.core.paper import PaperRef
from optarena.core.searchspace import Param, SearchSpace
from optarena.core.spec import MethodSpec
from optarena.solvers.relax.bandits import DEFAULT_GRID, FixedOmega, TsallisINF, TsallisINFCB
from optarena.solvers.relax.chebcb import ChebCB
from optarena.solvers.relax.instances import (
    LinearSystemSequence,
    generate_sequence,
    laplacian_2d,
    omega_opt,
    shifted_laplacian,
)
from optarena.solvers.relax.sequence import CostTable, SequenceResult, cost_table, run_sequence
from optarena.solvers.relax.sor import sor, sor_costs, sor_costs_paired, ssor_pcg

__all__ = [
    "CHEB_CB_SPEC",
    "DEFAULT_GRID",
    "TSALLIS_INF_CB_SPEC",
    "TSALLIS_INF_SPEC",
    "ChebCB",
    "CostTable",
    "FixedOmega",
    "LinearSystemSequence",
    "SequenceResult",
    "TsallisINF",
    "TsallisINFCB",
    "cheb_cb",
    "cost_table",
    "generate_sequence",
    "laplacian_2d",
    "omega_opt",
    "run_sequence",
    "shifted_laplacian",
    "sor",
    "sor_costs",
    "sor_costs_paired",
    "ssor_pcg",
    "tsallis_inf",
    "tsallis_inf_cb",
]

PAPER = PaperRef(
    "M. Khodak, E. Chow, M.-F. Balcan, A. Talwalkar",
    "Learning to Relax: Setting Solver Parameters Across a Sequence of Linear System Instances",
    "ICLR",
    2024,
    arxiv="2310.02246",
)


def _grid(hparams: Mapping[str, Any]) -> Any:
    import numpy as np

    arms, omega_max = hparams["arms"], hparams["omega_max"]
    if isinstance(arms, bool) or not isinstance(arms, int | np.integer) or arms < 1:
        raise ValueError(f"arms must be a positive integer, got {arms!r}")
    if isinstance(omega_max, bool) or not isinstance(omega_max, int | float | np.number):
        raise ValueError(f"omega_max must be a number in [1, 2), got {omega_max!r}")
    if not 1.0 <= float(omega_max) < 2.0:  # also rejects nan
        raise ValueError(f"omega_max must lie in [1, 2), got {omega_max!r}")
    return np.linspace(1.0, float(omega_max), int(arms))


def _named(res: SequenceResult, method: str, seed: int) -> SequenceResult:
    res.update(method=method, seed=seed)
    return res


def tsallis_inf(hparams: Mapping[str, Any]) -> Callable[..., SequenceResult]:
    """Factory: ``run(seq, table=None, seed=0) -> SequenceResult`` for Tsallis-INF over omega."""

    def run(seq: LinearSystemSequence, table: CostTable | None = None, seed: int = 0) -> SequenceResult:
        return _named(
            run_sequence(TsallisINF(_grid(hparams), seed=seed), seq, table), "l2r-tsallis-inf", seed
        )

    return run


def tsallis_inf_cb(hparams: Mapping[str, Any]) -> Callable[..., SequenceResult]:
    """Factory: ``run(seq, table=None, seed=0)`` for contextual Tsallis-INF (context = the shift c)."""

    def run(seq: LinearSystemSequence, table: CostTable | None = None, seed: int = 0) -> SequenceResult:
        bandit = TsallisINFCB(_grid(hparams), bins=int(hparams["bins"]), seed=seed)
        return _named(run_sequence(bandit, seq, table, contextual=True), "l2r-tsallis-inf-cb", seed)

    return run


def cheb_cb(hparams: Mapping[str, Any]) -> Callable[..., SequenceResult]:
    """Factory: ``run(seq, table=None, seed=0)`` for ChebCB (context = the shift c)."""

    def run(seq: LinearSystemSequence, table: CostTable | None = None, seed: int = 0) -> SequenceResult:
        bandit = ChebCB(
            _grid(hparams),
            degree=int(hparams["degree"]),
            regularization=float(hparams["regularization"]),
            seed=seed,
        )
        return _named(run_sequence(bandit, seq, table, contextual=True), "l2r-chebcb", seed)

    return run


_SPACE = (Param("arms", 5, 40, integer=True), Param("omega_max", 1.5, 1.99))

TSALLIS_INF_SPEC = MethodSpec(
    name="l2r-tsallis-inf",
    family="science",
    factory="optarena.solvers.relax:tsallis_inf",
    summary="Tsallis-INF bandit over SOR's omega across a sequence of linear systems",
    search_space=SearchSpace(_SPACE),
    defaults={"arms": 20, "omega_max": 1.95},
    paper=PAPER,
    capabilities=frozenset({"sequence", "bandit"}),
)

TSALLIS_INF_CB_SPEC = MethodSpec(
    name="l2r-tsallis-inf-cb",
    family="science",
    factory="optarena.solvers.relax:tsallis_inf_cb",
    summary="contextual Tsallis-INF (binned diagonal shift) over SOR's omega",
    search_space=SearchSpace((*_SPACE, Param("bins", 1, 20, integer=True))),
    defaults={"arms": 20, "omega_max": 1.95, "bins": 5},
    paper=PAPER,
    capabilities=frozenset({"sequence", "bandit", "contextual"}),
)

CHEB_CB_SPEC = MethodSpec(
    name="l2r-chebcb",
    family="science",
    factory="optarena.solvers.relax:cheb_cb",
    summary="ChebCB: SquareCB with per-arm Chebyshev regression on the diagonal shift, over SOR's omega",
    search_space=SearchSpace(
        (
            *_SPACE,
            Param("degree", 0, 8, integer=True),
            Param("regularization", 1e-6, 1.0, log=True),
        )
    ),
    defaults={"arms": 20, "omega_max": 1.95, "degree": 5, "regularization": 1e-3},
    paper=PAPER,
    capabilities=frozenset({"sequence", "bandit", "contextual"}),
)
