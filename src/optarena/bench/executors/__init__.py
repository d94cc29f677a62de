"""Executors run trials and hand results back to the driver, which alone writes the store.

Each executor has ``run(specs, on_start, on_result)``: ``on_start(spec)`` when a trial starts,
``on_result(spec, result)`` when it ends (done, diverged, failed or timed out).
"""

from __future__ import annotations

from typing import Any

__all__ = ["make_executor", "trial_timeout"]


def trial_timeout(max_time: float, override: float | None) -> float:
    """Seconds of wall time before a trial is killed: the budget covers only timed work, so allow
    for evaluation and set-up (3 x budget + 60 s unless the suite says otherwise)."""
    return float(override) if override is not None else 3.0 * max_time + 60.0


def make_executor(
    name: str, *, jobs: int = 1, address: str | None = None, trial_timeout: float | None = None
) -> Any:
    if name == "local":
        from optarena.bench.executors.local import LocalExecutor

        return LocalExecutor(jobs=jobs, trial_timeout=trial_timeout)
    if name == "ray":
        from optarena.bench.executors.ray import RayExecutor

        return RayExecutor(address=address, trial_timeout=trial_timeout)
    raise ValueError(f"unknown executor {name!r}; known: local, ray")
