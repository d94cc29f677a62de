r"""Run candidate code in a resource-limited subprocess and score it ENAMEL-style against a reference.

:func:`run_code` executes one solution (source text defining ``entry_point``) on levels of test
inputs in a fresh ``python -I`` process with ``resource.setrlimit`` limits (address space, CPU
seconds, file size, no core dumps), a per-call wall-clock alarm, a kill of the whole process group at
the overall deadline, no inherited environment and a throw-away working directory. It returns each
test's output (sent back as JSON, never pickled) and repeated timings. :func:`reference_profile`
runs the reference solution to get the expected outputs and reference times; :func:`score_code`
compares a candidate with it and returns ENAMEL's efficiency score (:func:`~optarena.selection.
estimators.efficiency_score`).

This is isolation against mistakes (infinite loops, memory hogs, stray prints), not a security
boundary against hostile code: no seccomp, no network namespace. Run untrusted model output in a
container.

Reference: R. Qiu, W. W. Zeng, H. Tong, J. Ezick, C. Lott, "How Efficient is LLM-Generated Code? A
Rigorous & High-Standard Benchmark", ICLR 2025 (arXiv:2406.06647), Sec. 3 (levels, Hodges-Lehmann
timing, time limit alpha * max reference time, wrong output scores 0, a timed-out level scores 0
along with every later level). Departures: outputs are compared after a JSON round trip (tuples
become lists, floats compared with a tolerance); no per-machine time calibration.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from optarena.selection.estimators import efficiency_score, hodges_lehmann

__all__ = [
    "CodeProblem",
    "ReferenceProfile",
    "RunResult",
    "SampleScore",
    "TestOutcome",
    "outputs_equal",
    "reference_profile",
    "run_code",
    "score_code",
]

#: ENAMEL's defaults: hardness of the levels (level 0 checks correctness only) and timeout factor.
ENAMEL_HARDNESS = (0.0, 3.0, 3.0, 4.0)
ENAMEL_ALPHA = 2.0


@dataclass(frozen=True)
class CodeProblem:
    """A function-writing problem: the reference solution and test inputs in levels of growing size.

    ``levels[l]`` is a list of argument tuples; ``hardness[l]`` the level's weight in the
    efficiency score (0: correctness only). ``prompt`` is the task text shown to a model."""

    name: str
    entry_point: str
    reference: str
    levels: tuple[tuple[tuple[Any, ...], ...], ...]
    hardness: tuple[float, ...] = ENAMEL_HARDNESS
    prompt: str = ""

    def __post_init__(self) -> None:
        if not self.entry_point.isidentifier():
            raise ValueError(
                f"problem {self.name!r}: entry_point must be an identifier, got {self.entry_point!r}"
            )
        if len(self.levels) != len(self.hardness) or not self.levels:
            raise ValueError(
                f"problem {self.name!r}: {len(self.levels)} levels but {len(self.hardness)} hardness weights"
            )
        for i, lv in enumerate(self.levels):
            if not lv:
                raise ValueError(f"problem {self.name!r}: level {i} has no tests")
        if any(h < 0 for h in self.hardness) or sum(self.hardness) <= 0:
            raise ValueError(
                f"problem {self.name!r}: hardness must be >= 0 with a positive sum, got {self.hardness}"
            )


@dataclass(frozen=True)
class TestOutcome:
    """One test: ``status`` is ok | timeout | memory | error | missing; ``times`` in seconds."""

    level: int
    test: int
    status: str
    output: Any = None
    times: tuple[float, ...] = ()
    message: str = ""


@dataclass(frozen=True)
class RunResult:
    """Every test outcome in run order (the run stops at the first failure), how the process
    ended, and the wall time of the whole subprocess."""

    outcomes: list[TestOutcome]
    load_error: str | None
    returncode: int | None
    killed: bool
    wall_time: float

    def first_failure(self) -> TestOutcome | None:
        return next((o for o in self.outcomes if o.status != "ok"), None)


# The driver the child runs. It reads one JSON job from stdin, sets its own rlimits (no preexec_fn,
# which is unsafe in a threaded parent), silences the candidate's own
# prints, and writes one JSON line per test to the original stdout, flushed, so what was
# measured survives a kill at the deadline.
_DRIVER = r"""
import copy, json, os, resource, signal, sys, time
job = json.loads(sys.stdin.read())
mem, cpu = job["memory_bytes"], job["cpu_seconds"]
resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
out = os.fdopen(os.dup(1), "w")
sys.stdout = sys.stderr = open(os.devnull, "w")
sys.setrecursionlimit(max(sys.getrecursionlimit(), job["recursion_limit"]))

def emit(d):
    out.write(json.dumps(d) + "\n")
    out.flush()

def jsonable(x):
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if x is None or isinstance(x, (bool, int, str)):
        return x
    if isinstance(x, float):
        return x if x == x and abs(x) != float("inf") else repr(x)
    return repr(x)

class _Alarm(BaseException):
    pass

armed = False

def _alarm(signum, frame):
    # Raise only while a call is running: a late signal after the timer is disarmed is ignored.
    global armed
    if armed:
        armed = False
        raise _Alarm()

def call(fn, args, limit):
    global armed
    try:
        try:
            armed = True
            signal.setitimer(signal.ITIMER_REAL, limit)
            t0 = time.perf_counter()
            res = fn(*args)
            t1 = time.perf_counter()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            armed = False
    except _Alarm:
        return "timeout", None, 0.0, ""
    except MemoryError:
        return "memory", None, 0.0, ""
    except BaseException as e:
        return "error", None, 0.0, type(e).__name__ + ": " + str(e)[:300]
    return "ok", res, t1 - t0, ""

signal.signal(signal.SIGALRM, _alarm)
ns = {"__name__": "__candidate__"}
try:
    exec(compile(job["code"], "<candidate>", "exec"), ns)
    fn = ns[job["entry_point"]]
except BaseException as e:
    emit({"load_error": type(e).__name__ + ": " + str(e)[:300]})
    sys.exit(0)
limit = job["call_limit"]
for l, tests in enumerate(job["levels"]):
    for k, args in enumerate(tests):
        times, status, msg, res = [], "ok", "", None
        for r in range(job["reps"]):
            status, res, dt, msg = call(fn, copy.deepcopy(args), limit)
            if status != "ok":
                break
            times.append(dt)
        if status == "ok":
            try:
                payload = jsonable(res)
                json.dumps(payload)
            except BaseException as e:
                status, msg, payload = "error", "unserializable output: " + type(e).__name__, None
        else:
            payload = None
        emit({"level": l, "test": k, "status": status, "output": payload, "times": times, "message": msg})
        if status != "ok":
            sys.exit(0)
"""


def run_code(
    code: str,
    entry_point: str,
    levels: Sequence[Sequence[Sequence[Any]]],
    *,
    reps: int = 3,
    call_limit: float = 1.0,
    memory_mb: int = 512,
    deadline: float | None = None,
    recursion_limit: int = 10_000,
) -> RunResult:
    """Execute ``code`` in a sandboxed subprocess and call ``entry_point(*args)`` on every test.

    Arguments travel as JSON (tuples arrive as lists). Each call is repeated ``reps`` times on a
    deep copy of its arguments and timed with
    ``time.perf_counter``; a call running past ``call_limit`` seconds is interrupted (status
    ``timeout``), one exhausting the ``memory_mb`` address-space limit reports ``memory``, any
    other exception ``error``; the run stops at the first such test. The whole process is killed
    (its process group, SIGKILL) at ``deadline`` seconds (default: enough for every call at its
    limit plus 5 s of start-up); tests it never reached are reported ``missing``. The CPU-time
    rlimit is the same deadline, so a loop in C that ignores the alarm dies too.

    Raises:
        ValueError: ``reps < 1``, a non-positive limit, an argument that is not JSON-serializable.
    """
    if isinstance(reps, bool) or not isinstance(reps, int) or reps < 1:
        raise ValueError(f"reps must be an integer >= 1, got {reps!r}")
    if not (math.isfinite(call_limit) and call_limit > 0):
        raise ValueError(f"call_limit must be > 0 seconds, got {call_limit!r}")
    if isinstance(memory_mb, bool) or not isinstance(memory_mb, int) or memory_mb < 64:
        raise ValueError(f"memory_mb must be an integer >= 64, got {memory_mb!r}")
    n_calls = sum(len(lv) for lv in levels) * reps
    if deadline is None:
        deadline = 5.0 + n_calls * call_limit
    if not (math.isfinite(deadline) and deadline > 0):
        raise ValueError(f"deadline must be > 0 seconds, got {deadline!r}")
    try:
        job = json.dumps(
            {
                "code": code,
                "entry_point": entry_point,
                "levels": [[list(args) for args in lv] for lv in levels],
                "reps": reps,
                "call_limit": call_limit,
                "recursion_limit": recursion_limit,
                "memory_bytes": memory_mb << 20,
                "cpu_seconds": math.ceil(deadline) + 1,
            }
        )
    except TypeError as exc:
        raise ValueError(f"test arguments must be JSON-serializable: {exc}") from None

    killed = False
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="optarena-sandbox-") as cwd:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _DRIVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=cwd,
            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"},
            start_new_session=True,
        )
        try:
            stdout, _ = proc.communicate(job.encode(), timeout=deadline)
        except subprocess.TimeoutExpired:
            killed = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            stdout, _ = proc.communicate()
    wall = time.perf_counter() - t0
    outcomes: list[TestOutcome] = []
    load_error = None
    for line in stdout.decode(errors="replace").splitlines():
        try:
            d = json.loads(line)
        except json.JSONDecodeError:
            continue  # the candidate wrote to fd 1 directly: not ours
        if not isinstance(d, dict):
            continue
        if "load_error" in d:
            load_error = str(d["load_error"])
            continue
        if {"level", "test", "status"} <= set(d):
            outcomes.append(
                TestOutcome(
                    int(d["level"]),
                    int(d["test"]),
                    str(d["status"]),
                    d.get("output"),
                    tuple(float(t) for t in d.get("times", [])),
                    str(d.get("message", "")),
                )
            )
    # Tests never reported: the process died (killed at the deadline, CPU rlimit, crash).
    done = {(o.level, o.test) for o in outcomes}
    if load_error is None and not any(o.status != "ok" for o in outcomes):
        why = "killed at the deadline" if killed else f"process ended with code {proc.returncode}"
        for li, lv in enumerate(levels):
            for ti in range(len(lv)):
                if (li, ti) not in done:
                    outcomes.append(TestOutcome(li, ti, "missing", message=why))
                    break
            else:
                continue
            break
    return RunResult(outcomes, load_error, proc.returncode, killed, wall)


def outputs_equal(a: Any, b: Any, rel_tol: float = 1e-6, abs_tol: float = 1e-9) -> bool:
    """Structural equality of JSON-like values, floats within ``rel_tol`` / ``abs_tol``
    (``True`` and 1 differ: bools are compared as bools)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        if isinstance(a, int) and isinstance(b, int):
            return a == b
        return math.isclose(float(a), float(b), rel_tol=rel_tol, abs_tol=abs_tol)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(
            outputs_equal(x, y, rel_tol, abs_tol) for x, y in zip(a, b, strict=True)
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(outputs_equal(a[k], b[k], rel_tol, abs_tol) for k in a)
    return bool(a == b)


@dataclass(frozen=True)
class ReferenceProfile:
    """Expected outputs (per level, per test) and the reference's level times (max over the
    level's tests of each test's Hodges-Lehmann time)."""

    problem: CodeProblem
    expected: list[list[Any]]
    level_times: list[float]
    alpha: float = ENAMEL_ALPHA

    @property
    def timeout(self) -> float:
        """ENAMEL's time limit T = alpha * max over scored levels of the reference level time."""
        hard = [t for t, h in zip(self.level_times, self.problem.hardness, strict=True) if h > 0]
        return self.alpha * max(hard)


def reference_profile(
    problem: CodeProblem,
    *,
    reps: int = 3,
    alpha: float = ENAMEL_ALPHA,
    call_limit: float = 10.0,
    memory_mb: int = 1024,
    min_time: float = 1e-6,
) -> ReferenceProfile:
    """Run the reference solution on every test: expected outputs and reference level times
    (floored at ``min_time`` seconds so a trivially fast level cannot make T zero).

    Raises:
        RuntimeError: the reference fails a test (times out, errors, or its process dies).
        ValueError: ``alpha <= 1``.
    """
    if not (math.isfinite(alpha) and alpha > 1):
        raise ValueError(f"alpha (timeout factor) must be > 1, got {alpha!r}")
    run = run_code(
        problem.reference,
        problem.entry_point,
        problem.levels,
        reps=reps,
        call_limit=call_limit,
        memory_mb=memory_mb,
    )
    bad = run.load_error or run.first_failure()
    if bad is not None:
        raise RuntimeError(f"problem {problem.name!r}: the reference solution failed: {bad}")
    expected: list[list[Any]] = [[None] * len(lv) for lv in problem.levels]
    per_level: list[list[float]] = [[] for _ in problem.levels]
    for o in run.outcomes:
        expected[o.level][o.test] = o.output
        per_level[o.level].append(hodges_lehmann(o.times))
    times = [max(max(ts), min_time) for ts in per_level]
    return ReferenceProfile(problem, expected, times, alpha)


@dataclass(frozen=True)
class SampleScore:
    """A candidate's ENAMEL efficiency score, whether it passed (correct, level 0 in time),
    its level times (inf from the first level that timed out or ran out of memory), and why it
    failed if it did."""

    score: float
    passed: bool
    level_times: list[float]
    status: str
    detail: str = ""
    outcomes: list[TestOutcome] = field(default_factory=list)


def _out_of_time(run: RunResult) -> bool:
    """A run that stopped reporting because it ran out of time: killed at the deadline, or by the
    CPU rlimit (SIGXCPU, then SIGKILL). Any other silent death is a crash, scored as an error."""
    return run.killed or run.returncode in (-signal.SIGXCPU, -signal.SIGKILL)


def score_code(
    code: str,
    profile: ReferenceProfile,
    *,
    reps: int = 3,
    tolerance: float = 0.05,
    memory_mb: int = 512,
) -> SampleScore:
    r"""ENAMEL's efficiency score of one candidate against a :class:`ReferenceProfile`.

    Every call runs under the time limit :math:`T + \text{tolerance}` (T = alpha x the slowest
    scored reference level). Wrong output or an exception on any test gives 0 (not passed); a
    timeout, a memory error, or a kill for time at level l sets :math:`t_{l'} = \infty` for :math:`l' \ge l` (those
    levels score 0; at level 0 the sample fails). Otherwise
    :math:`t_l = \max_{\text{tests}} \mathrm{HL}(\text{times})` and the score is
    :func:`~optarena.selection.estimators.efficiency_score`.

    Reference: Qiu et al., ICLR 2025 (arXiv:2406.06647), Sec. 3.1; ``enam.evaluate.Evaluator.evaluate1``.
    """
    p = profile.problem
    timeout = profile.timeout
    run = run_code(
        code, p.entry_point, p.levels, reps=reps, call_limit=timeout + tolerance, memory_mb=memory_mb
    )
    n_levels = len(p.levels)
    inf = [math.inf] * n_levels
    if run.load_error is not None:
        return SampleScore(0.0, False, inf, "error", run.load_error, run.outcomes)
    per_level: list[list[float]] = [[] for _ in range(n_levels)]
    stopped_at: int | None = None
    status = "ok"
    for o in run.outcomes:
        if o.status == "ok":
            if not outputs_equal(o.output, profile.expected[o.level][o.test]):
                return SampleScore(0.0, False, inf, "wrong", f"level {o.level} test {o.test}", run.outcomes)
            per_level[o.level].append(hodges_lehmann(o.times))
        elif o.status in ("timeout", "memory") or (o.status == "missing" and _out_of_time(run)):
            stopped_at, status = o.level, o.status
            break
        else:
            return SampleScore(0.0, False, inf, "error", o.message, run.outcomes)
    times = []
    for li in range(n_levels):
        if stopped_at is not None and li >= stopped_at:
            times.append(math.inf)
        else:
            times.append(max(per_level[li]))
    passed = stopped_at is None or stopped_at > 0
    score = efficiency_score(times, profile.level_times, p.hardness, profile.alpha, passed=passed)
    return SampleScore(score, passed, times, status, "", run.outcomes)
