"""Claim experiment: learning to relax (Khodak, Chow, Balcan, Talwalkar, ICLR 2024).

One seed draws a high-variance and a low-variance sequence of T shifted-Laplacian systems, caches the SOR
iteration counts on the 20-value omega grid (plus Young's per-instance omega), and plays Tsallis-INF and
contextual Tsallis-INF (context = the shift) through the cached table, and (claim version 2) ChebCB, the
paper's contextual bandit (SquareCB over per-arm Chebyshev regressions of the cost on the shift).
"""

from __future__ import annotations

import time

import numpy as np

from optarena.solvers.relax import (
    DEFAULT_GRID,
    ChebCB,
    TsallisINF,
    TsallisINFCB,
    cost_table,
    generate_sequence,
    run_sequence,
)

TARGET_OMEGA = {"high": 1.8, "low": 1.6}


def measure(
    seed: int, quick: bool, T: int = 5000, settings: tuple[str, ...] = ("high", "low")
) -> dict[str, float]:
    if quick:
        T = 200
    out: dict[str, float] = {"T": float(T)}
    for setting in settings:
        start = time.perf_counter()
        seq = generate_sequence(T, setting, seed=seed)
        table = cost_table(seq, DEFAULT_GRID)
        out[f"{setting}_table_seconds"] = time.perf_counter() - start
        totals = table.costs.sum(axis=0)
        best_k = int(np.argmin(totals))
        best = table.costs[:, best_k]
        gs = table.costs[:, int(np.argmin(np.abs(DEFAULT_GRID - 1.0)))]  # Gauss-Seidel
        tinf = run_sequence(TsallisINF(DEFAULT_GRID, seed=seed), seq, table).costs
        cb = run_sequence(TsallisINFCB(DEFAULT_GRID, seed=seed), seq, table, contextual=True).costs
        start = time.perf_counter()
        cheb = run_sequence(ChebCB(DEFAULT_GRID, seed=seed), seq, table, contextual=True).costs
        out[f"{setting}_chebcb_seconds"] = time.perf_counter() - start
        oracle = table.opt_costs  # SOR at Young's omega_opt(c_t): the paper's instance-optimal policy
        last, first = slice(3 * T // 4, T), slice(0, T // 4)
        w = float(DEFAULT_GRID[best_k])
        out[f"{setting}_best_fixed_omega"] = w
        out[f"{setting}_best_fixed_omega_error"] = abs(w - TARGET_OMEGA[setting])
        out[f"{setting}_gs_total"] = float(gs.sum())
        out[f"{setting}_best_fixed_total"] = float(best.sum())
        out[f"{setting}_bandit_total"] = float(tinf.sum())
        out[f"{setting}_bandit_over_gs"] = float(tinf.sum() / gs.sum())
        out[f"{setting}_bandit_lastq_over_best"] = float(tinf[last].mean() / best[last].mean())
        out[f"{setting}_cb_total"] = float(cb.sum())
        out[f"{setting}_oracle_total"] = float(oracle.sum())
        out[f"{setting}_cb_lastq_over_oracle"] = float(cb[last].mean() / oracle[last].mean())
        out[f"{setting}_cb_lastq_over_best"] = float(cb[last].mean() / best[last].mean())
        excess_first = cb[first].mean() - oracle[first].mean()
        excess_last = cb[last].mean() - oracle[last].mean()
        out[f"{setting}_cb_excess_last_over_first"] = (
            float(excess_last / excess_first) if excess_first > 0 else 0.0
        )
        out[f"{setting}_chebcb_total"] = float(cheb.sum())
        out[f"{setting}_chebcb_lastq_over_oracle"] = float(cheb[last].mean() / oracle[last].mean())
        out[f"{setting}_chebcb_lastq_over_best"] = float(cheb[last].mean() / best[last].mean())
        cheb_first = cheb[first].mean() - oracle[first].mean()
        cheb_last = cheb[last].mean() - oracle[last].mean()
        out[f"{setting}_chebcb_excess_last_over_first"] = (
            float(cheb_last / cheb_first) if cheb_first > 0 else 0.0
        )
    return out
