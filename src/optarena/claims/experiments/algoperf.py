"""Claim experiment: Benchmarking Neural Network Training Algorithms (Dahl et al., 2023) at CPU scale.

The paper's findings that a benchmark harness should reproduce: under equal tuning, training
algorithms differ by non-trivial factors in time-to-target, and rankings measured on one workload
change on a held-out variant of it (so a benchmark must score variants too).

One seed is one AlgoPerf study (external tuning, scaled down: ``trials`` Halton points of each
method's registered search space, the study's time is its best trial's) of every registered training
optimizer on ``quad``, ``logreg``, ``teacher``, ``digits-mlp`` and the held-out ``digits-mlp-tanh``
(each at its calibrated target and ``max_runtime``; the harness clock counts data selection and steps
only). Seed ``s`` uses Halton indices ``s*trials ..``, as study ``s`` of a suite would, and the trial
seeds of ``trial_seed(0, workload, s, t)`` (shared by all methods: paired).

Metrics: ``t_<workload>_<method>`` (seconds, ``inf`` for a miss), ``gap_workloads`` (workloads where
the median method's time is at least 2x the best method's; misses count as infinitely slow),
``variant_tau`` (Kendall's tau-b between the methods' times on digits-mlp and on digits-mlp-tanh,
misses tied last), ``top_changes`` (1 when the fastest method differs between the two). The score
table and the performance profiles of the same comparison come from the shipped suite
``all-optimizers`` (``optarena run all-optimizers && optarena report all-optimizers``).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.stats

from optarena import registry
from optarena.bench.scoring import time_to_target
from optarena.bench.suite import trial_seed
from optarena.bench.trial import run_trial
from optarena.core.types import Budget, TrialSpec

__all__ = ["METHODS", "WORKLOADS", "measure"]

WORKLOADS = ("quad", "logreg", "teacher", "digits-mlp", "digits-mlp-tanh")
#: Every registered torch optimizer (hesso needs a model's groups and is not in the harness).
METHODS = (
    "adamw",
    "nadamw",
    "sgd-heavyball",
    "sgd-nesterov",
    "lion",
    "adabelief",
    "exadam",
    "soap",
    "muon",
    "mfac",
    "cosmos",
    "frugal",
)


def study_time(method: str, workload: str, seed: int, trials: int, budget_scale: float) -> float:
    """Best time-to-target over one study's trials (``inf`` when no trial reaches the target)."""
    m, w = registry.resolve_method(method), registry.resolve_workload(workload)
    budget = w.max_runtime * budget_scale
    best = math.inf
    for t in range(trials):
        spec = TrialSpec(
            workload=workload,
            workload_version=w.version,
            method=method,
            method_version=m.version,
            hparams=m.search_space.sample(seed * trials + t),
            seed=trial_seed(0, workload, seed, t),
            budget=Budget(budget),
            ruleset="claim-algoperf",
            study=seed,
            trial=t,
        )
        result = run_trial(spec)
        if result.status.value == "failed":
            raise RuntimeError(f"{method} on {workload} failed:\n{result.error}")
        best = min(best, time_to_target(result.curve, w.target, w.mode, budget, w.metric))
    return best


def measure(
    seed: int,
    quick: bool,
    trials: int = 2,
    budget_scale: float = 1.0,
    methods: list[str] | None = None,
) -> dict[str, float]:
    methods = list(methods or METHODS)
    workloads = WORKLOADS
    if quick:
        trials, budget_scale, methods = 1, 0.05, methods[:3]
        workloads = ("quad", "digits-mlp", "digits-mlp-tanh")
    times = {(w, m): study_time(m, w, seed, trials, budget_scale) for w in workloads for m in methods}
    out = {f"t_{w}_{m}": t for (w, m), t in times.items()}
    gaps = 0
    for w in workloads:
        ts = np.array([times[(w, m)] for m in methods])
        best, median = ts.min(), np.median(ts)
        gaps += int(math.isfinite(best) and (median >= 2 * best))
    out["gap_workloads"] = float(gaps)
    big = 1e9  # misses tie last
    a = [min(times[("digits-mlp", m)], big) for m in methods]
    b = [min(times[("digits-mlp-tanh", m)], big) for m in methods]
    tau = scipy.stats.kendalltau(a, b).statistic
    out["variant_tau"] = float(tau) if math.isfinite(tau) else 1.0  # all tied: no change observed
    out["top_changes"] = float(int(np.argmin(a)) != int(np.argmin(b)))
    out["hits"] = float(sum(math.isfinite(t) for t in times.values()))
    return out
