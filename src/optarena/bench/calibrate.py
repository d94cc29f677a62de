"""AlgoPerf's target setting, scaled down (Dahl et al. 2023, section 4.3; v0.5 rules).

1. Tune each baseline (AdamW, NAdamW, SGD heavy-ball, SGD Nesterov) with ``trials`` Halton draws
   for the full calibration budget, without stopping at a target.
2. Take the configuration with the best validation metric over all baselines (for a target fixed by
   definition: the one that reaches it first) and rerun it with ``reruns`` fresh seeds.
3. Target = median over the reruns of each run's best metric (AlgoPerf: 20 reruns; workloads whose
   target is fixed by definition keep it). Time = median over the reruns of the first time a run
   reaches the target (a run that never does counts its whole time). ``max_runtime`` = 4/3 x that
   time, and ``step_hint`` = the reruns' median steps per second x ``max_runtime``.
Trials go through the normal store and executors, so a calibration is resumable.
"""

from __future__ import annotations

import hashlib
import json
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from optarena import registry
from optarena.bench.executors import make_executor
from optarena.bench.runner import run_specs
from optarena.bench.store import Store
from optarena.bench.suite import trial_seed
from optarena.core.types import Budget, TrialResult, TrialSpec, TrialStatus, canonical_json

__all__ = ["BASELINES", "CalibrationResult", "calibrate"]

BASELINES = ("adamw", "nadamw", "sgd-heavyball", "sgd-nesterov")
MIN_RUNTIME, MAX_RUNTIME = 10.0, 120.0


@dataclass
class CalibrationResult:
    workload: str
    version: str
    best_method: str
    best_hparams: dict[str, Any]
    target: float
    target_fixed: bool
    rerun_best: list[float]
    rerun_times: list[float]
    time_to_target: float
    raw_runtime: float
    max_runtime: float
    step_hint: int
    calibration_budget: float
    trials: int
    reruns: int

    def describe(self) -> str:
        kind = "fixed by definition" if self.target_fixed else "median best of the reruns"
        return (
            f"{self.workload} v{self.version}: best baseline {self.best_method} {self.best_hparams}\n"
            f"  target {self.target:.6g} ({kind}); reruns' best: {[round(v, 6) for v in self.rerun_best]}\n"
            f"  time to target (median of {self.reruns}): {self.time_to_target:.2f} s; 4/3 x = "
            f"{self.raw_runtime:.2f} s -> max_runtime = {self.max_runtime:.1f} s (range [{MIN_RUNTIME:g}, "
            f"{MAX_RUNTIME:g}] s), step_hint = {self.step_hint}"
        )


def _best(result: TrialResult, metric: str, mode: str) -> float:
    values = [p.metrics.get(metric, float("nan")) for p in result.curve]
    values = [v for v in values if v == v]
    if not values:
        return float("inf") if mode == "min" else float("-inf")
    return min(values) if mode == "min" else max(values)


def _first_time(result: TrialResult, metric: str, reached: Any) -> float:
    for p in result.curve:
        v = p.metrics.get(metric, float("nan"))
        if v == v and reached(v):
            return p.time
    return result.timed_time


def _rank(result: TrialResult, workload: Any) -> tuple[float, float]:
    """Order tuning trials: by best metric, ties broken by the earlier time. With a target fixed by
    definition, the configuration that reaches it first is best (ties: better metric)."""
    sign = 1.0 if workload.mode == "min" else -1.0
    best = _best(result, workload.metric, workload.mode)
    if workload.target_source == "fixed":
        hit = _first_time(result, workload.metric, workload.reached)
        return (hit if workload.reached(best) else float("inf"), sign * best)
    t_best = next((p.time for p in result.curve if p.metrics.get(workload.metric) == best), float("inf"))
    return (sign * best, t_best)


def calibrate(
    workload_id: str,
    *,
    methods: tuple[str, ...] = BASELINES,
    trials: int = 8,
    reruns: int = 5,
    budget: float | None = None,
    seed: int = 0,
    store_path: str | Path | None = None,
    executor: str = "local",
    jobs: int = 1,
    address: str | None = None,
    quiet: bool = False,
) -> CalibrationResult:
    workload = registry.resolve_workload(workload_id)
    specs_by_method = {m: registry.resolve_method(m) for m in methods}
    cal_budget = Budget(float(budget if budget is not None else workload.max_runtime))
    ident = canonical_json(
        [workload_id, workload.version, methods, trials, reruns, cal_budget.max_time, seed]
    )
    fingerprint = hashlib.sha256(ident.encode()).hexdigest()[:16]
    path = Path(store_path) if store_path else Path("results") / f"calibrate-{workload_id}.sqlite"
    store = Store.open(path, f"calibrate-{workload_id}", fingerprint)
    ex = make_executor(executor, jobs=jobs, address=address)
    info = {"executor": executor, "jobs": jobs, "calibrate": workload_id}
    try:
        tune = [
            TrialSpec(
                workload_id,
                workload.version,
                m,
                spec.version,
                spec.search_space.sample(t),
                trial_seed(seed, workload_id, 0, t),
                cal_budget,
                "calibrate-tune",
                0,
                t,
                stop_at_target=False,
            )
            for m, spec in specs_by_method.items()
            for t in range(trials)
        ]
        run_specs(tune, store, ex, info, quiet=quiet)
        results = {s.key: r for s, r in store.trials()}
        ok = [(s, results[s.key]) for s in tune if results[s.key].status == TrialStatus.DONE]
        if not ok:
            raise RuntimeError(f"calibrate {workload_id}: no tuning trial finished; see the store {path}")
        best_spec, _ = min(ok, key=lambda sr: _rank(sr[1], workload))
        rerun_specs = [
            TrialSpec(
                workload_id,
                workload.version,
                best_spec.method,
                best_spec.method_version,
                dict(best_spec.hparams),
                trial_seed(seed + 1, workload_id, i, 0),
                cal_budget,
                "calibrate-rerun",
                i,
                0,
                stop_at_target=False,
            )
            for i in range(reruns)
        ]
        run_specs(rerun_specs, store, ex, info, quiet=quiet)
        results = {s.key: r for s, r in store.trials()}
        rr = [results[s.key] for s in rerun_specs if results[s.key].status == TrialStatus.DONE]
        if not rr:
            raise RuntimeError(f"calibrate {workload_id}: every rerun of the best configuration failed")
        bests = [_best(r, workload.metric, workload.mode) for r in rr]
        fixed = workload.target_source == "fixed"
        target = float(workload.target) if fixed else float(statistics.median(bests))

        def reached(v: float) -> bool:
            return v <= target if workload.mode == "min" else v >= target

        times = [_first_time(r, workload.metric, reached) for r in rr]
        ttt = float(statistics.median(times))
        # The foundation's range for a workload budget is [10, 120] s: a faster time-to-target is
        # floored (and reported as such), so tiny budgets do not turn scheduling noise into scores.
        raw_runtime = 4.0 / 3.0 * ttt
        max_runtime = min(max(raw_runtime, MIN_RUNTIME), MAX_RUNTIME)
        steps_per_s = statistics.median(r.steps / r.timed_time for r in rr if r.timed_time > 0)
        result = CalibrationResult(
            workload_id,
            workload.version,
            best_spec.method,
            dict(best_spec.hparams),
            target,
            fixed,
            bests,
            times,
            ttt,
            raw_runtime,
            max_runtime,
            round(steps_per_s * max_runtime),
            cal_budget.max_time,
            trials,
            reruns,
        )
        out = path.with_suffix(".json")
        out.write_text(json.dumps(asdict(result), indent=2))
        return result
    finally:
        store.close()
