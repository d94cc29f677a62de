"""Claim experiment: SoftDist vs kNN vs uniform heatmaps under one search, and LKH-3 (Xia et al., ICML 2024).

One seed = one uniform instance per size (``random_uniform(n, seed)``, sizes 200 and 500). Every
heatmap drives the same search (:func:`optarena.science.tsp.solve`, defaults) for the size's time
budget with search seed ``seed``; LKH-3 (``elkai``, RUNS = 1, TIME_LIMIT = budget) runs on the same
instance. Gaps are relative to the best length any method found on the instance, in percent;
``soft_minus_*`` are paired gap differences (percentage points, negative = SoftDist better).
``lkh_beats_search_n`` is true when LKH's tour is strictly shorter than each search's.
Without ``elkai`` the LKH metrics are NaN (its rules then cannot pass).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from optarena.science.tsp import (
    elkai_available,
    knn_heatmap,
    lkh_solve,
    random_uniform,
    softdist,
    solve,
    uniform_heatmap,
)


def measure(
    seed: int,
    quick: bool,
    sizes: Sequence[int] = (200, 500),
    budgets: Sequence[float] = (2.0, 3.0),
    k: int = 10,
) -> dict[str, float]:
    if quick:
        sizes, budgets = (30, 60), (0.2, 0.2)
    if len(sizes) != len(budgets):
        raise ValueError(f"sizes and budgets must have equal lengths, got {len(sizes)} and {len(budgets)}")
    out: dict[str, float] = {}
    ratios = []
    for n, budget in zip(sizes, budgets, strict=True):
        # rules name sizes 200 / 500: the quick sizes report under those names too
        tag = {0: 200, 1: 500}[list(sizes).index(n)] if quick else n
        c = random_uniform(n, seed=seed)
        heatmaps = {"softdist": softdist(c, None, k), "knn": knn_heatmap(c, k), "uniform": uniform_heatmap(c)}
        lengths, moves = {}, {}
        for name, H in heatmaps.items():
            r = solve(c, H, budget, seed=seed)
            lengths[name], moves[name] = r.length, r.moves_per_second
        if elkai_available():
            _, lengths["lkh"], t_lkh = lkh_solve(c, 1, seed=seed + 1, time_limit=budget)
        else:
            lengths["lkh"], t_lkh = math.nan, math.nan
        best = min(v for v in lengths.values() if not math.isnan(v))
        gaps = {name: 100.0 * (v / best - 1.0) for name, v in lengths.items()}
        for name, g in gaps.items():
            out[f"gap_{name}_{tag}"] = g
            out[f"length_{name}_{tag}"] = lengths[name]
        # rounded: equal tours summed in another order differ by ~1e-14
        out[f"soft_minus_uniform_{tag}"] = round(gaps["softdist"] - gaps["uniform"], 9)
        out[f"soft_minus_knn_{tag}"] = round(gaps["softdist"] - gaps["knn"], 9)
        searches = min(lengths["softdist"], lengths["knn"], lengths["uniform"])
        out[f"lkh_beats_search_{tag}"] = math.nan if math.isnan(t_lkh) else float(lengths["lkh"] < searches)
        out[f"lkh_time_s_{tag}"] = t_lkh
        out[f"search_budget_s_{tag}"] = float(budget)
        out[f"moves_per_s_softdist_{tag}"] = moves["softdist"]
        ratios.append(t_lkh / budget)
    out["lkh_time_ratio_max"] = max(ratios)
    return out
