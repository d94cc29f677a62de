"""Local executor: each trial in its own worker process, forked from a server that has torch loaded.

A crash (even a segfault or ``os._exit``) or a hang stays inside the worker: the driver records the
trial as failed or timed out and goes on. ``jobs=1`` (the default) runs one trial at a time, for
timing-grade results; ``jobs=N`` trades timing quality for throughput.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any

from optarena import registry
from optarena.bench.executors import trial_timeout
from optarena.core.types import EvalPoint, TrialResult, TrialSpec, TrialStatus

__all__ = ["LocalExecutor"]

_CTX: Any = None


def _context() -> Any:
    global _CTX
    if _CTX is None:
        _CTX = mp.get_context("forkserver")
        _CTX.set_forkserver_preload(["optarena.bench.worker"])
    return _CTX


def _child(conn: Connection, spec_dict: dict[str, Any], entries: list[dict[str, Any]]) -> None:
    from optarena.bench.worker import execute

    try:
        result = execute(spec_dict, entries, send=conn.send)
        conn.send(("result", result))
    finally:
        conn.close()


class _Running:
    def __init__(self, spec: TrialSpec, proc: Any, conn: Connection, deadline: float) -> None:
        self.spec, self.proc, self.conn, self.deadline = spec, proc, conn, deadline
        self.curve: list[EvalPoint] = []
        self.result: dict[str, Any] | None = None
        self.started = time.perf_counter()

    def drain(self) -> None:
        try:
            while self.conn.poll():
                kind, payload = self.conn.recv()
                if kind == "eval":
                    self.curve.append(EvalPoint(payload["step"], payload["time"], payload["metrics"]))
                else:
                    self.result = payload
        except (EOFError, OSError):
            pass


class LocalExecutor:
    name = "local"

    def __init__(self, jobs: int = 1, trial_timeout: float | None = None) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be >= 1, got {jobs}")
        self.jobs, self.timeout_override = jobs, trial_timeout

    def run(
        self,
        specs: list[TrialSpec],
        on_start: Callable[[TrialSpec], None],
        on_result: Callable[[TrialSpec, TrialResult], None],
    ) -> None:
        ctx, entries = _context(), registry.runtime_entries()
        queue, running = list(specs), []
        try:
            while queue or running:
                while queue and len(running) < self.jobs:
                    spec = queue.pop(0)
                    on_start(spec)
                    recv, send = ctx.Pipe(duplex=False)
                    proc = ctx.Process(target=_child, args=(send, spec.to_dict(), entries), daemon=True)
                    proc.start()
                    send.close()
                    timeout = trial_timeout(spec.budget.max_time, self.timeout_override)
                    running.append(_Running(spec, proc, recv, time.perf_counter() + timeout))
                soonest = min(r.deadline for r in running)
                wait(
                    [r.conn for r in running] + [r.proc.sentinel for r in running],
                    timeout=min(1.0, max(0.0, soonest - time.perf_counter())),
                )
                for r in list(running):
                    r.drain()
                    finished = r.result is not None or not r.proc.is_alive()
                    if not finished and time.perf_counter() < r.deadline:
                        continue
                    if not finished:
                        r.proc.kill()
                    r.proc.join()
                    r.drain()
                    running.remove(r)
                    on_result(r.spec, self._result(r, timed_out=not finished))
        finally:
            for r in running:
                r.proc.kill()
                r.proc.join()

    @staticmethod
    def _result(r: _Running, timed_out: bool) -> TrialResult:
        if r.result is not None:
            return TrialResult.from_dict(r.result)
        wall = time.perf_counter() - r.started
        if timed_out:
            status, error = TrialStatus.TIMED_OUT, f"killed after {wall:.1f} s (per-trial timeout)"
        else:
            status, error = TrialStatus.FAILED, f"worker process died with exit code {r.proc.exitcode}"
        last = r.curve[-1] if r.curve else None
        return TrialResult(
            key=r.spec.key,
            status=status,
            curve=r.curve,
            steps=last.step if last else 0,
            timed_time=last.time if last else 0.0,
            wall_time=wall,
            error=error,
        )
