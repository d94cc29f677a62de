"""Shared machinery of the training-family claims (Lion, AdaBelief, EXAdam, COSMOS, FRUGAL).

A claim seed compares methods at an **equal tuning budget**: every method gets one *study* of the same
number of trials on the same workload, each trial a Halton point of the method's registered search
space (AlgoPerf's external ruleset), run in this process by :func:`optarena.bench.trial.run_trial`,
the harness's own trial loop. Seed ``s`` uses Halton indices ``s*k .. s*k+k-1`` (``k`` trials), so the
seeds are independent studies drawing disjoint blocks of the same low-discrepancy sequence, as
AlgoPerf's studies do. Trial ``t`` of every method gets the same data/initialisation seed (paired
comparisons).

Claims run scaled-down budgets, so a workload is usually run as a *variant* (:func:`variant`): the same
problem with its own step budget as ``step_hint`` (the warmup-cosine schedules of every method decay
over it), optionally another batch size, eval period or target. Variants are registered in this
process's registry (never in the driver's) under ids such as ``digits-mlp[batch_size=1024,...]``.

Study summaries (:class:`Study`): *steps to target* (first eval step whose metric reaches the target,
minimum over the study's trials; a miss counts as ``max_steps + eval_every``, the first eval after the
budget, and :attr:`Study.hit` says whether any trial reached it), *time to target* (harness clock,
:func:`optarena.bench.scoring.time_to_target`) and the *best final* value of a metric (the best trial's
last eval; diverged trials and non-finite values do not count).
"""

from __future__ import annotations

import hashlib
import math
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from optarena import registry
from optarena.bench.scoring import time_to_target
from optarena.bench.suite import trial_seed
from optarena.bench.trial import run_trial, seed_everything
from optarena.core.types import Budget, TrialResult, TrialSpec, TrialStatus
from optarena.workloads.base import Workload

__all__ = [
    "VARIANTS",
    "Study",
    "log_ratio",
    "optimizer_state_bytes",
    "register_method",
    "state_bytes",
    "tune",
    "variant",
]

#: Holder of the variant classes made by :func:`variant` (the registry imports ``module:VARIANTS.name``).
VARIANTS = types.SimpleNamespace()

#: Wall-clock cap of one tuning trial (s); studies are bounded by step caps, this only stops a hang.
TRIAL_MAX_TIME = 3600.0


# --------------------------------------------------------------------------------------------------
# workload variants


def variant(
    base: str | type[Workload],
    *,
    step_hint: int,
    batch_size: int | None = None,
    eval_every: int | None = None,
    target: float | None = None,
) -> str:
    """Register (in this process) a variant of workload ``base`` and return its registry id.

    ``step_hint``: the claim's step budget (schedules decay over it). ``batch_size``: for minibatch
    problems (those with a ``batch_size`` attribute), the rows per step. ``eval_every``: steps between
    evals. ``target``: another target value for the workload's metric. Calling it twice with the same
    arguments returns the same id.
    """
    cls = registry.resolve_workload(base).__class__ if isinstance(base, str) else base
    if not (isinstance(cls, type) and issubclass(cls, Workload)):
        raise TypeError(f"variant base must be a workload id or a Workload subclass, got {base!r}")
    for name, value in (("step_hint", step_hint), ("batch_size", batch_size), ("eval_every", eval_every)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"variant {name} must be a positive integer, got {value!r}")
    if target is not None and not math.isfinite(target):
        raise ValueError(f"variant target must be a finite number, got {target!r}")
    changes = {"step_hint": step_hint, "batch_size": batch_size, "eval_every": eval_every, "target": target}
    label = ",".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in changes.items() if v is not None
    )
    vid = f"{cls.id}[{label}]"
    attr = "v_" + hashlib.sha256(f"{cls.__module__}.{cls.__qualname__}/{vid}".encode()).hexdigest()[:16]
    if not hasattr(VARIANTS, attr):
        attrs: dict[str, Any] = {"id": vid, "step_hint": step_hint, "__module__": __name__}
        attrs["summary"] = f"{cls.id} with {label} (a claim's scaled-down variant)"
        if eval_every is not None:
            attrs["eval_every"] = eval_every
        if target is not None:
            attrs["target"] = float(target)
        if batch_size is not None:
            attrs["build"] = _build_with_batch(cls, batch_size)
        setattr(VARIANTS, attr, type(f"Variant_{attr}", (cls,), attrs))
    registry.register_workload(f"{__name__}:VARIANTS.{attr}", replace=True)
    return vid


def _build_with_batch(cls: type[Workload], batch_size: int) -> Any:
    def build(self: Workload, seed: int) -> Any:
        problem = cls.build(self, seed)
        if not hasattr(problem, "batch_size"):
            raise TypeError(f"workload {cls.id!r} builds {type(problem).__name__}, which has no batch_size")
        problem.batch_size = batch_size
        return problem

    return build


def register_method(target: str) -> str:
    """Register a MethodSpec given as ``"module:SPEC"`` in this process (idempotent); return its name."""
    return registry.register_method(target, replace=True).name


# --------------------------------------------------------------------------------------------------
# tuning studies


@dataclass
class Study:
    """One method's tuning study on one workload: its trials and their results, in trial order."""

    method: str
    workload: str
    metric: str
    mode: str
    target: float
    max_steps: int
    eval_every: int
    trials: list[tuple[TrialSpec, TrialResult]] = field(default_factory=list)

    def _steps_of(self, result: TrialResult) -> float:
        for p in result.curve:
            v = p.metrics.get(self.metric, math.nan)
            if math.isfinite(v) and (v <= self.target if self.mode == "min" else v >= self.target):
                return float(p.step)
        return math.inf

    @property
    def hit(self) -> bool:
        """Whether any trial reached the target within the budget."""
        return math.isfinite(min((self._steps_of(r) for _, r in self.trials), default=math.inf))

    def steps_to_target(self) -> float:
        """Fewest steps any trial needed to reach the target; a miss counts ``max_steps + eval_every``."""
        best = min((self._steps_of(r) for _, r in self.trials), default=math.inf)
        return best if math.isfinite(best) else float(self.max_steps + self.eval_every)

    def time_to_target(self) -> float:
        """Shortest harness-clock time (s) to the target over the trials; ``inf`` when none reached it."""
        return min(
            (time_to_target(r.curve, self.target, self.mode, math.inf, self.metric) for _, r in self.trials),
            default=math.inf,
        )

    def final(self, index: int, metric: str | None = None) -> float:
        """Last finite value of ``metric`` in trial ``index``'s curve (NaN if the trial diverged)."""
        _, result = self.trials[index]
        if result.status is not TrialStatus.DONE or not result.curve:
            return math.nan
        v = result.curve[-1].metrics.get(metric or self.metric, math.nan)
        return float(v) if math.isfinite(v) else math.nan

    def best_index(self, metric: str | None = None, mode: str | None = None) -> int:
        """The trial whose final ``metric`` is best (``mode`` defaults to the workload's); -1 if none."""
        mode = mode or self.mode
        vals = [self.final(i, metric) for i in range(len(self.trials))]
        ok = [i for i, v in enumerate(vals) if not math.isnan(v)]
        if not ok:
            return -1
        return min(ok, key=vals.__getitem__) if mode == "min" else max(ok, key=vals.__getitem__)

    def best_final(self, metric: str | None = None, mode: str | None = None) -> float:
        """Best final value of ``metric`` over the trials. When every trial diverged: the step-0 value
        (no progress), so a study never reports NaN."""
        i = self.best_index(metric, mode)
        if i >= 0:
            return self.final(i, metric)
        first = self.trials[0][1].curve
        return float(first[0].metrics.get(metric or self.metric, math.nan)) if first else math.nan

    @property
    def diverged(self) -> int:
        return sum(r.status is TrialStatus.DIVERGED for _, r in self.trials)

    @property
    def failed(self) -> list[str]:
        return [r.error or "" for _, r in self.trials if r.status is TrialStatus.FAILED]


def tune(
    method: str,
    workload: str,
    seed: int,
    trials: int,
    *,
    max_steps: int,
    stop_at_target: bool = True,
    fixed: Mapping[str, Any] | None = None,
    seed_key: str | None = None,
    threads: int = 1,
) -> Study:
    """Run one equal-budget tuning study of ``method`` on ``workload`` in this process.

    Trial ``t`` uses Halton point ``seed * trials + t`` of the method's search space (with ``fixed``
    values laid over it, checked against the space) and data seed ``trial_seed(seed, seed_key, 0, t)``
    (``seed_key`` defaults to ``workload``; give the base workload's id to pair variants). Each trial
    runs at most ``max_steps`` steps; ``stop_at_target`` ends it at the first eval that reaches the
    target. A trial that fails raises here with its traceback: a claim never silently drops a trial.
    """
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ValueError(f"trials must be a positive integer, got {trials!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    spec_m = registry.resolve_method(method)
    w = registry.resolve_workload(workload)
    study = Study(method, workload, w.metric, w.mode, float(w.target), max_steps, w.eval_every)
    for t in range(trials):
        hp = spec_m.search_space.sample(seed * trials + t)
        hp.update(fixed or {})
        spec = TrialSpec(
            workload=workload,
            workload_version=w.version,
            method=method,
            method_version=spec_m.version,
            hparams=hp,
            seed=trial_seed(seed, seed_key or workload, 0, t),
            budget=Budget(TRIAL_MAX_TIME, max_steps),
            ruleset="claim-study",
            study=seed,
            trial=t,
            threads=threads,
            stop_at_target=stop_at_target,
        )
        result = run_trial(spec)
        if result.status is TrialStatus.FAILED:
            raise RuntimeError(f"trial {t} of {method} on {workload} failed:\n{result.error}")
        study.trials.append((spec, result))
    return study


def log_ratio(a: float, b: float) -> float:
    """``log(a / b)`` for positive ``a, b`` (negative: ``a`` is smaller)."""
    if not (a > 0 and b > 0):
        raise ValueError(f"log_ratio needs positive numbers, got {a!r} and {b!r}")
    return math.log(a / b)


# --------------------------------------------------------------------------------------------------
# optimizer state, measured


def state_bytes(obj: Any) -> int:
    """Bytes of every tensor in ``obj`` (an optimizer's ``state`` or any nesting of dicts, lists and
    tuples); a tensor reached twice counts once."""
    seen: set[int] = set()

    def walk(x: Any) -> int:
        if isinstance(x, torch.Tensor):
            if id(x) in seen:
                return 0
            seen.add(id(x))
            return x.numel() * x.element_size()
        if isinstance(x, Mapping):
            return sum(walk(v) for v in x.values())
        if isinstance(x, list | tuple | set):
            return sum(walk(v) for v in x)
        return 0

    return walk(obj)


def optimizer_state_bytes(
    method: str, workload: str, seed: int = 0, steps: int = 2, hparams: Mapping[str, Any] | None = None
) -> tuple[int, int]:
    """Build ``method`` (its defaults, overlaid with ``hparams``) on ``workload``'s model through the
    method's registered factory, take ``steps`` training steps, and return ``(bytes of the tensors in
    optimizer.state, bytes of the model's parameters)``: state measured, not computed from a formula."""
    spec = registry.resolve_method(method)
    w = registry.resolve_workload(workload)
    seed_everything(seed, 1)
    problem = w.build(seed)
    named: Sequence[tuple[str, torch.Tensor]] = problem.named_parameters()
    optimizer, scheduler = spec.load_factory()(named, spec.resolve_hparams(hparams), w.step_hint)
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        problem.loss(problem.next_batch()).backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    params = sum(p.numel() * p.element_size() for _, p in named)
    return state_bytes(optimizer.state), params
