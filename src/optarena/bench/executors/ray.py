"""Ray executor: each trial is a Ray task, on a local Ray instance or on a cluster.

Against a running cluster (``ray start --head`` on one machine, ``ray start --address HOST:PORT`` on
the others; every node needs ``optarena`` and the same torch installed; a driver that runs optarena
from a source tree, not installed, puts that tree on the workers' ``PYTHONPATH`` through Ray's
``runtime_env``)::

    optarena run SUITE --executor ray --address HOST:PORT

Without ``--address`` (and without ``RAY_ADDRESS`` set) a local Ray instance is started, bound to
127.0.0.1, with one CPU slot per core; if the calling process has already called ``ray.init``, that
connection is used as it is. The driver (the process running ``optarena run``) is the only
writer of the results store: tasks return their result, and evaluations are streamed back to the
driver through a small actor so that a trial cancelled at its per-trial timeout keeps its curve.

Each task asks Ray for ``threads`` CPUs (the suite's torch threads per trial) and runs exactly what
the local executor's worker runs (:func:`optarena.bench.worker.execute`), so for equal seeds the
curves (steps and metrics) equal the local executor's. Times do not: a time-to-target is only
comparable between trials that ran on equal hardware, one trial per set of cores, so a timing-grade
comparison needs a homogeneous cluster (or one node), ``threads`` CPUs per trial and no other load.

The per-trial timeout (3 x budget + 60 s unless the suite's ``trial-timeout`` says otherwise) counts
from the moment the trial starts in its worker (torch imported), not from the task's submission; a
task past it is cancelled (its worker killed) and recorded as timed out. A worker that dies (a segfault,
``os._exit``, the out-of-memory killer) makes the trial failed; the run goes on.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from optarena import registry
from optarena.bench.executors import trial_timeout
from optarena.core.types import EvalPoint, TrialResult, TrialSpec, TrialStatus

__all__ = ["RayExecutor"]

_POLL_S = 0.25  # how often the driver looks at streamed evals and deadlines
_START_GRACE_S = 600.0  # a task that never starts (no node can host it) times out after timeout + this


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ImportError("the ray executor needs the `ray` extra: pip install 'optarena[ray]'") from exc
    return ray


class _Inbox:
    """Actor that collects ``(key, kind, payload)`` messages from running tasks for the driver."""

    def __init__(self) -> None:
        self._msgs: list[tuple[str, str, Any]] = []

    def put(self, key: str, kind: str, payload: Any) -> None:
        self._msgs.append((key, kind, payload))

    def take(self) -> list[tuple[str, str, Any]]:
        msgs, self._msgs = self._msgs, []
        return msgs


def _task(key: str, spec_dict: dict[str, Any], entries: list[dict[str, Any]], inbox: Any) -> dict[str, Any]:
    """Body of a trial's Ray task: tell the driver it started, run the trial, stream its evals.

    The start is sent once torch is imported (a cold worker can take seconds): the per-trial timeout
    covers the trial, as with the local executor, whose forkserver has torch loaded already."""
    from optarena.bench.worker import execute

    inbox.put.remote(key, "start", None)

    def send(msg: tuple[str, Any]) -> None:
        inbox.put.remote(key, *msg)

    return execute(spec_dict, entries, send=send)


def _runtime_env() -> dict[str, Any] | None:
    """Workers must import optarena. When it is not installed (run from a source tree through
    ``PYTHONPATH``), put its source folder on the workers' ``PYTHONPATH``."""
    try:
        metadata.distribution("optarena")
        return None
    except metadata.PackageNotFoundError:
        import optarena

        src = str(Path(optarena.__file__).resolve().parents[1])
        return {"env_vars": {"PYTHONPATH": src + os.pathsep + "${PYTHONPATH}"}}


class _Running:
    def __init__(self, spec: TrialSpec, ref: Any, timeout: float) -> None:
        self.spec, self.ref, self.timeout = spec, ref, timeout
        self.submitted = time.perf_counter()
        self.started: float | None = None
        self.deadline = self.submitted + timeout + _START_GRACE_S
        self.curve: list[EvalPoint] = []

    def start(self, now: float) -> None:
        if self.started is None:
            self.started, self.deadline = now, now + self.timeout

    def lost(self, status: TrialStatus, error: str) -> TrialResult:
        """The result of a trial whose task returned nothing: the curve it streamed, and ``error``."""
        last = self.curve[-1] if self.curve else None
        return TrialResult(
            key=self.spec.key,
            status=status,
            curve=list(self.curve),
            steps=last.step if last else 0,
            timed_time=last.time if last else 0.0,
            wall_time=time.perf_counter() - (self.started or self.submitted),
            error=error,
        )


class RayExecutor:
    name = "ray"

    def __init__(self, address: str | None = None, trial_timeout: float | None = None) -> None:
        _import_ray()  # fail before the run starts (and is recorded) when ray is missing
        self.address, self.timeout_override = address, trial_timeout

    def _connect(self, ray: Any) -> None:
        if ray.is_initialized():
            return
        address = self.address or os.environ.get("RAY_ADDRESS")
        if address:
            try:
                ray.init(address=address)
            except Exception as exc:
                if "auth" not in str(exc).lower():
                    raise
                raise ConnectionError(
                    f"could not connect to the Ray cluster at {address}: it asks for a token. Set "
                    "RAY_AUTH_MODE=token and give this machine the cluster's token (RAY_AUTH_TOKEN, or the "
                    "file ~/.ray/auth_token)"
                ) from exc
        else:
            # A private instance on loopback: no usage reports, and no token authentication (which would
            # also write ~/.ray/auth_token, after which `ray start --head` on this machine asks every
            # driver that connects by address for that token). Both can be set in the environment.
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")
            ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, _node_ip_address="127.0.0.1")

    def run(
        self,
        specs: list[TrialSpec],
        on_start: Callable[[TrialSpec], None],
        on_result: Callable[[TrialSpec, TrialResult], None],
    ) -> None:
        if not specs:
            return
        ray = _import_ray()
        self._connect(ray)
        entries = registry.runtime_entries()
        env = _runtime_env()
        opts: dict[str, Any] = {"runtime_env": env} if env else {}
        task = ray.remote(max_retries=0)(_task)
        inbox = ray.remote(num_cpus=0, max_restarts=0)(_Inbox).options(**opts).remote()
        queue: list[TrialSpec] = list(specs)
        running: dict[str, _Running] = {}  # by trial key
        try:
            while queue or running:
                if queue:
                    capacity = max(1.0, float(ray.cluster_resources().get("CPU", 1.0)))
                    used = sum(r.spec.threads for r in running.values())
                    while queue and (not running or used + queue[0].threads <= capacity):
                        spec = queue.pop(0)
                        on_start(spec)
                        ref = task.options(
                            num_cpus=spec.threads, name=f"optarena {spec.method} on {spec.workload}", **opts
                        ).remote(spec.key, spec.to_dict(), entries, inbox)
                        timeout = trial_timeout(spec.budget.max_time, self.timeout_override)
                        running[spec.key] = _Running(spec, ref, timeout)
                        used += spec.threads
                refs = [r.ref for r in running.values()]
                ready, _ = ray.wait(refs, num_returns=1, timeout=_POLL_S)
                if ready:
                    ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
                self._drain(ray, inbox, running)
                done = set(ready)
                now = time.perf_counter()
                for key, r in list(running.items()):
                    if r.ref in done:
                        del running[key]
                        on_result(r.spec, self._collect(ray, r))
                    elif now >= r.deadline:
                        ray.cancel(r.ref, force=True)
                        del running[key]
                        if r.started is None:
                            error = (
                                f"timed out: never started within {r.timeout + _START_GRACE_S:.0f} s "
                                f"(does any node have {r.spec.threads} CPUs?)"
                            )
                        else:
                            error = (
                                f"timed out: cancelled after {now - r.started:.1f} s "
                                f"(per-trial timeout {r.timeout:g} s)"
                            )
                        on_result(r.spec, r.lost(TrialStatus.TIMED_OUT, error))
        finally:
            for r in running.values():
                ray.cancel(r.ref, force=True)
            ray.kill(inbox)

    @staticmethod
    def _drain(ray: Any, inbox: Any, running: dict[str, _Running]) -> None:
        """Apply the messages tasks sent since the last look: starts (deadlines) and evals (curves)."""
        try:
            msgs = ray.get(inbox.take.remote(), timeout=30.0)
        except Exception:  # the inbox is gone: deadlines keep counting from submission
            return
        now = time.perf_counter()
        for key, kind, payload in msgs:
            r = running.get(key)
            if r is None:
                continue
            if kind == "start":
                r.start(now)
            elif kind == "eval":
                r.curve.append(EvalPoint(payload["step"], payload["time"], payload["metrics"]))

    @staticmethod
    def _collect(ray: Any, r: _Running) -> TrialResult:
        try:
            return TrialResult.from_dict(ray.get(r.ref))
        except ray.exceptions.RayTaskError as exc:  # raised outside run_trial's own error handling
            return r.lost(TrialStatus.FAILED, f"trial task raised: {exc}")
        except ray.exceptions.RayError as exc:  # the worker died (os._exit, a signal, out of memory ...)
            return r.lost(TrialStatus.FAILED, f"ray worker died ({type(exc).__name__}): {exc}")
