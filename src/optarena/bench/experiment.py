"""Experiment trials: one seed of a measurement function, run by the same executors and stored in the
same results store as training trials (so claim experiments are resumable and run locally or on Ray).

An experiment trial is a :class:`~optarena.core.types.TrialSpec` whose ``workload`` is
:data:`EXPERIMENT` and whose ``method`` is the import string of a function
``measure(seed: int, quick: bool, **options) -> Mapping[str, float]``; ``hparams`` holds
``{"quick": bool, "options": {...}}``. Its result has one evaluation point (step 0, the wall time of
the call) whose metrics are the returned numbers. A function that raises gives a FAILED trial with its
traceback; a result that is not a mapping of numbers is a FAILED trial too, naming the bad entry.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Mapping
from typing import Any

from optarena.core.spec import load_object
from optarena.core.types import Budget, EvalPoint, TrialResult, TrialSpec, TrialStatus

__all__ = ["EXPERIMENT", "experiment_spec", "run_experiment"]

#: The ``workload`` field of an experiment trial.
EXPERIMENT = "experiment"


def experiment_spec(
    target: str,
    seed: int,
    *,
    quick: bool,
    options: Mapping[str, Any],
    timeout: float,
    ruleset: str,
    version: str = "1",
    threads: int = 1,
) -> TrialSpec:
    """The trial that runs ``target(seed, quick, **options)``; ``timeout`` (s) bounds its wall time."""
    return TrialSpec(
        workload=EXPERIMENT,
        workload_version="1",
        method=target,
        method_version=version,
        hparams={"quick": bool(quick), "options": dict(options)},
        seed=int(seed),
        budget=Budget(max_time=float(timeout)),
        ruleset=ruleset,
        threads=threads,
        stop_at_target=False,
    )


def _numbers(out: Any, target: str) -> dict[str, float]:
    if not isinstance(out, Mapping):
        raise TypeError(f"{target} returned {type(out).__name__}, expected a mapping of metric -> number")
    clean: dict[str, float] = {}
    for k, v in out.items():
        if isinstance(v, bool):
            v = float(v)
        if not isinstance(k, str) or not isinstance(v, int | float):
            raise TypeError(f"{target} returned {k!r}: {v!r}; metrics must be str -> number")
        clean[k] = float(v)
    return clean


def run_experiment(spec: TrialSpec) -> TrialResult:
    """Run one experiment trial in this process. Never raises: failures become FAILED results."""
    from optarena.bench.trial import seed_everything

    t0 = time.perf_counter()
    result = TrialResult(key=spec.key, status=TrialStatus.RUNNING, metric=None, mode="min")
    try:
        fn = load_object(spec.method)
        seed_everything(spec.seed, spec.threads)
        hp = dict(spec.hparams)
        metrics = _numbers(
            fn(spec.seed, bool(hp.get("quick", False)), **dict(hp.get("options", {}))), spec.method
        )
        wall = time.perf_counter() - t0
        result.curve = [EvalPoint(0, wall, metrics)]
        result.status = TrialStatus.DONE
        if any(not math.isfinite(v) for v in metrics.values()):
            result.error = "non-finite metrics: " + ", ".join(
                k for k, v in metrics.items() if not math.isfinite(v)
            )
    except Exception:
        result.status = TrialStatus.FAILED
        result.error = traceback.format_exc()
    result.wall_time = result.timed_time = time.perf_counter() - t0
    return result
