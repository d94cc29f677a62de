"""Run a bandit over a sequence of linear systems, with SOR costs cached per (instance, omega)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.optimize import OptimizeResult

from optarena.solvers.relax.instances import LinearSystemSequence, omega_opt
from optarena.solvers.relax.sor import sor_costs, sor_costs_paired, ssor_pcg

__all__ = ["CostTable", "SequenceResult", "cost_table", "run_sequence"]


class Bandit(Protocol):
    def select(self, context: float | None = None) -> float: ...
    def update(self, cost: float) -> None: ...


@dataclass(frozen=True)
class CostTable:
    """SOR iteration counts ``costs[t, k]`` of instance t at ``omegas[k]``, plus Young's omega per instance."""

    omegas: np.ndarray  # (K,)
    costs: np.ndarray  # (T, K) int
    opt_costs: np.ndarray  # (T,) int: SOR at omega_opt(c_t) (the paper's "instance-optimal")

    def lookup(self, t: int, omega: float) -> int:
        k = np.flatnonzero(np.isclose(self.omegas, omega, rtol=0, atol=1e-12))
        if k.size == 0:
            raise KeyError(f"omega={omega!r} is not in the cached grid {self.omegas.tolist()}")
        return int(self.costs[t, k[0]])

    def best_fixed(self) -> tuple[float, int]:
        """The grid omega with the least total cost, and that total."""
        totals = self.costs.sum(axis=0)
        k = int(np.argmin(totals))
        return float(self.omegas[k]), int(totals[k])


def cost_table(
    seq: LinearSystemSequence,
    omegas: object,
    tol: float = 1e-8,
    max_iter: int = 10_000,
    solver: str = "sor",
) -> CostTable:
    """Run the solver once per (instance, omega) and cache the iteration counts.

    ``solver="sor"`` uses the batched SOR (``opt_costs``: SOR at Young's omega_opt(c_t)).
    ``solver="ssor-pcg"`` (the paper's CG extension) runs the reference SSOR-PCG per pair, which is
    slow (one sparse triangular solve pair per iteration); its ``opt_costs`` is the best grid omega.
    """
    omegas = np.asarray(omegas, dtype=float).reshape(-1)
    if solver == "sor":
        costs = sor_costs(seq.shifts, seq.rhs, omegas, m=seq.m, tol=tol, max_iter=max_iter)
        young = np.asarray(omega_opt(seq.shifts, seq.m))
        opt = sor_costs_paired(seq.shifts, seq.rhs, young, m=seq.m, tol=tol, max_iter=max_iter)
    elif solver == "ssor-pcg":
        costs = np.array(
            [
                [ssor_pcg(seq.matrix(t), seq.rhs[t], float(w), tol, max_iter)[1] for w in omegas]
                for t in range(len(seq))
            ],
            dtype=np.int64,
        )
        opt = costs.min(axis=1)
    else:
        raise ValueError(f"solver must be 'sor' or 'ssor-pcg', got {solver!r}")
    return CostTable(omegas=omegas, costs=costs, opt_costs=opt)


class SequenceResult(OptimizeResult):
    """Per-round costs and choices of one pass of a bandit over a sequence (a scipy ``OptimizeResult``).

    Fields: ``costs`` (T,) the iteration count paid each round and ``omegas`` (T,) the omega played,
    plus scipy's ``x`` (= ``omegas``), ``fun`` (the total cost, the quantity minimized), ``nfev`` (costs
    observed, = T), ``nit`` (rounds, = T), ``success``, ``status`` (0) and ``message``. The factories
    of the MethodSpecs add ``method`` and ``seed``.
    """

    def __init__(self, costs: object, omegas: object, **extra: object) -> None:
        costs, omegas = np.asarray(costs), np.asarray(omegas, dtype=float)
        T = len(costs)
        super().__init__(
            costs=costs,
            omegas=omegas,
            x=omegas,
            fun=int(costs.sum()) if costs.dtype.kind in "iu" else float(costs.sum()),
            nfev=T,
            nit=T,
            success=True,
            status=0,
            message=f"played all {T} instances",
        )
        self.update(extra)

    @property
    def total(self) -> int:
        return int(self.costs.sum())


def run_sequence(
    bandit: Bandit, seq: LinearSystemSequence, table: CostTable | None = None, contextual: bool = False
) -> SequenceResult:
    """Feed the instances of ``seq`` to ``bandit`` in order: select omega, pay SOR's iteration count.

    ``table`` supplies cached counts (every selected omega must be in its grid); without it each round
    runs the batched SOR on that one instance. ``contextual=True`` passes the shift c as the context.
    """
    if len(seq) < 1:
        raise ValueError(f"the sequence must hold at least one instance, got T = {len(seq)}")
    if table is not None and table.costs.shape[0] != len(seq):
        raise ValueError(f"cost table has {table.costs.shape[0]} instances, sequence has {len(seq)}")
    T = len(seq)
    costs = np.empty(T, dtype=np.int64)
    chosen = np.empty(T)
    for t in range(T):
        omega = bandit.select(float(seq.shifts[t]) if contextual else None)
        if table is not None:
            cost = table.lookup(t, omega)
        else:
            cost = int(sor_costs(seq.shifts[t : t + 1], seq.rhs[t : t + 1], [omega], m=seq.m)[0, 0])
        bandit.update(cost)
        costs[t], chosen[t] = cost, omega
    return SequenceResult(costs=costs, omegas=chosen)
