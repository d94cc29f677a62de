"""Run one trial in the current process: seed, build, train under the harness clock, evaluate.

Executors call :func:`run_trial` inside a worker (a forked process locally, a task on Ray); tests
and the calibrate command may call it directly.
"""

from __future__ import annotations

import random
import time
import traceback
from collections.abc import Callable

from optarena import registry
from optarena.bench.adapters import ADAPTERS, check_compatible
from optarena.bench.experiment import EXPERIMENT, run_experiment
from optarena.bench.recorder import Recorder
from optarena.core.types import EvalPoint, TrialResult, TrialSpec, TrialStatus

__all__ = ["run_trial", "seed_everything"]


def seed_everything(seed: int, threads: int) -> None:
    """Seed Python, numpy and torch, and pin torch's intra-op threads (results depend on them)."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def run_trial(spec: TrialSpec, on_eval: Callable[[EvalPoint], None] | None = None) -> TrialResult:
    """Run ``spec`` to its budget or target. Never raises for a failing method or workload: the
    traceback goes into a FAILED result (with the curve so far). Experiment trials (claim
    measurements, :mod:`optarena.bench.experiment`) run their function instead."""
    if spec.workload == EXPERIMENT:
        return run_experiment(spec)
    t_start = time.perf_counter()
    result = TrialResult(key=spec.key, status=TrialStatus.RUNNING)
    rec: Recorder | None = None
    try:
        workload = registry.resolve_workload(spec.workload)
        method = registry.resolve_method(spec.method)
        result.metric, result.mode, result.target = workload.metric, workload.mode, float(workload.target)
        if workload.version != spec.workload_version or method.version != spec.method_version:
            raise RuntimeError(
                f"version mismatch: spec wants {spec.workload} v{spec.workload_version} / {spec.method} "
                f"v{spec.method_version}, installed v{workload.version} / v{method.version}"
            )
        check_compatible(method, workload)
        hparams = method.resolve_hparams(spec.hparams)
        seed_everything(spec.seed, spec.threads)
        problem = workload.build(spec.seed)
        rec = Recorder(
            budget=spec.budget,
            eval_every=workload.eval_every,
            metric=workload.metric,
            reached=workload.reached,
            stop_at_target=spec.stop_at_target,
            on_eval=on_eval,
        )
        result.setup_time = time.perf_counter() - t_start
        ADAPTERS[method.family](problem, method, hparams, workload, rec)
        result.status = TrialStatus.DIVERGED if rec.diverged else TrialStatus.DONE
    except Exception:
        result.status = TrialStatus.FAILED
        result.error = traceback.format_exc()
    if rec is not None:
        rec.clock.pause()
        result.curve, result.steps = rec.curve, rec.step
        result.timed_time, result.eval_time = rec.clock.total, rec.eval_time
    result.wall_time = time.perf_counter() - t_start
    return result
