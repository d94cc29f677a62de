"""Small shared records: a trial's specification, its budget, its curve and its result."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["Budget", "EvalPoint", "TrialResult", "TrialSpec", "TrialStatus", "canonical_json"]


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no spaces: the form every content hash is taken of."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


class TrialStatus(StrEnum):
    PENDING = "pending"  # queued in the store, not started
    RUNNING = "running"  # started; a store that holds this after a crash reruns it
    DONE = "done"  # ran to its budget or its target
    DIVERGED = "diverged"  # loss became NaN or inf: stopped early
    FAILED = "failed"  # raised; the traceback is kept
    TIMED_OUT = "timed_out"  # killed by the executor's per-trial timeout

    @property
    def finished(self) -> bool:
        return self in (TrialStatus.DONE, TrialStatus.DIVERGED, TrialStatus.FAILED, TrialStatus.TIMED_OUT)


@dataclass(frozen=True)
class Budget:
    """Timed seconds (only data selection and update steps count) and an optional step cap."""

    max_time: float
    max_steps: int | None = None

    def __post_init__(self) -> None:
        if not (self.max_time > 0 and math.isfinite(self.max_time)):
            raise ValueError(f"budget max_time must be a positive number of seconds, got {self.max_time!r}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"budget max_steps must be >= 1, got {self.max_steps!r}")

    def scaled(self, factor: float) -> Budget:
        return Budget(self.max_time * factor, self.max_steps)


@dataclass(frozen=True)
class EvalPoint:
    """One (untimed) evaluation: the step, the timed clock at that step, and the metrics."""

    step: int
    time: float
    metrics: Mapping[str, float]


@dataclass(frozen=True)
class TrialSpec:
    """Everything that determines a trial's outcome. ``key`` hashes it; equal keys mean the same trial."""

    workload: str
    workload_version: str
    method: str
    method_version: str
    hparams: Mapping[str, Any]
    seed: int
    budget: Budget
    ruleset: str = "adhoc"
    study: int = 0
    trial: int = 0
    threads: int = 1
    stop_at_target: bool = True

    @property
    def key(self) -> str:
        return hashlib.sha256(canonical_json(self.to_dict()).encode()).hexdigest()[:20]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hparams"] = dict(self.hparams)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrialSpec:
        d = dict(d)
        d["budget"] = Budget(**d["budget"])
        return cls(**d)


@dataclass
class TrialResult:
    """What a trial produced. ``curve`` holds the evaluations in step order."""

    key: str
    status: TrialStatus
    curve: list[EvalPoint] = field(default_factory=list)
    steps: int = 0
    timed_time: float = 0.0  # seconds on the harness clock (data selection + update steps)
    eval_time: float = 0.0  # seconds spent in untimed evaluation
    setup_time: float = 0.0  # building data, model and optimizer, before the clock starts
    wall_time: float = 0.0  # whole trial, seen from inside the worker
    error: str | None = None
    target: float | None = None
    metric: str | None = None
    mode: str = "min"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = str(self.status)
        d["curve"] = [{"step": p.step, "time": p.time, "metrics": dict(p.metrics)} for p in self.curve]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrialResult:
        d = dict(d)
        d["status"] = TrialStatus(d["status"])
        d["curve"] = [EvalPoint(p["step"], p["time"], p["metrics"]) for p in d.get("curve", [])]
        return cls(**d)
