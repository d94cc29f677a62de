"""One adapter per method family: the loop that drives a method on a workload's problem.

A method never imports the harness; the harness reaches methods only through the registry and these
adapters. Which method may run on which workload: the method's family must be one of the workload's
``interfaces``; a workload may also list in ``requires`` capabilities a method must have (the bilevel toy
needs ``lower-constraints``), and a method capability in :data:`WORKLOAD_FEATURES` (``target-space``)
needs a workload that lists it in ``provides``. :func:`check_compatible` raises IncompatibleError otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from optarena.bench.recorder import Recorder
from optarena.core.errors import IncompatibleError
from optarena.core.spec import MethodSpec
from optarena.workloads.base import Workload

__all__ = [
    "ADAPTERS",
    "WORKLOAD_FEATURES",
    "check_compatible",
    "run_bilevel",
    "run_blackbox",
    "run_constrained",
    "run_minimizer",
    "run_target",
    "run_torch_optimizer",
]

#: Method capabilities that need more from a workload than its family's interface: the workload must
#: list the capability in its ``provides`` (feature -> what the workload's problem must offer).
WORKLOAD_FEATURES: dict[str, str] = {
    "target-space": "a TargetProblem (model outputs and a loss on them, optarena.solvers.surrogate)",
}


def run_torch_optimizer(
    problem: Any, spec: MethodSpec, hparams: Mapping[str, Any], workload: Workload, rec: Recorder
) -> None:
    """Training loop for ``torch.optim`` optimizers. Timed: data selection, forward, backward, step."""
    optimizer, scheduler = spec.load_factory()(problem.named_parameters(), hparams, workload.step_hint)
    rec.set_evaluator(problem.evaluate)
    needs_closure = "closure" in spec.capabilities
    rec.evaluate()
    while not rec.stopped:
        rec.clock.start()
        batch = problem.next_batch()
        if needs_closure:

            def closure(batch: Any = batch) -> Any:
                optimizer.zero_grad(set_to_none=True)
                loss = problem.loss(batch)
                loss.backward()
                return loss

            loss = optimizer.step(closure)
        else:
            optimizer.zero_grad(set_to_none=True)
            loss = problem.loss(batch)
            loss.backward()
            optimizer.step()
        if scheduler is not None:
            scheduler.step()
        value = float(loss.detach())
        rec.clock.pause()
        rec.after_step(value)


def run_minimizer(
    problem: Any, spec: MethodSpec, hparams: Mapping[str, Any], workload: Workload, rec: Recorder
) -> None:
    """Full-batch minimizers (scipy style): one harness step = one solver iteration (callback call).

    The clock runs for the whole solver call and pauses inside the callback (eval and bookkeeping).
    Methods with the ``target-space`` capability go to :func:`run_target`.
    """
    if "target-space" in spec.capabilities:
        run_target(problem, spec, hparams, workload, rec)
        return
    run = spec.load_factory()(hparams)
    x_now = [problem.x0]
    rec.set_evaluator(lambda: problem.evaluate_x(x_now[0]))

    def callback(x: Any, fun: float) -> bool:
        rec.clock.pause()
        x_now[0] = x
        go_on = rec.after_step(float(fun))
        rec.clock.start()
        return not go_on

    rec.evaluate()
    max_steps = rec.budget.max_steps
    rec.clock.start()
    run(problem, callback, int(max_steps) if max_steps is not None else 10**9)
    rec.clock.pause()
    if not rec.stopped:  # the solver stopped by itself (converged, or its line search failed)
        rec.evaluate()


def run_constrained(
    problem: Any, spec: MethodSpec, hparams: Mapping[str, Any], workload: Workload, rec: Recorder
) -> None:
    """Constrained solvers run to completion in one call under the trial's budget (time on their own
    clock, iterations as steps) and log every iteration; the curve is that history replayed: KKT
    residual, objective gap and infeasibility against the solver's time, plus its cost counters."""
    solve = spec.load_factory()(hparams)
    max_steps = rec.budget.max_steps
    budget = {"max_time": rec.budget.max_time, "maxiter": int(max_steps) if max_steps else None}
    result = solve(problem.problem, budget)
    for row in result.history:
        rec.replay(int(row["nit"]), float(row["time"]), problem.metrics(row))
    rec.clock.total = min(float(result.time), rec.budget.max_time)


def run_blackbox(
    problem: Any, spec: MethodSpec, hparams: Mapping[str, Any], workload: Workload, rec: Recorder
) -> None:
    """Black-box methods: one run of ``max_steps`` evaluations (default ``step_hint``); the curve is the
    regret of the best value after every evaluation, against the evaluation count and the wall time
    since the run started (the method's own work included). The trial's seed seeds the method."""
    solve = spec.load_factory()(hparams)
    evaluations = int(rec.budget.max_steps or workload.step_hint)
    problem.start()
    solve(problem, problem.bounds, evaluations, problem.seed)
    for step, t, metrics in problem.curve():
        rec.replay(step, t, metrics)
    rec.clock.total = min(problem.log[-1][0] if problem.log else 0.0, rec.budget.max_time)


def run_target(
    problem: Any, spec: MethodSpec, hparams: Mapping[str, Any], workload: Workload, rec: Recorder
) -> None:
    """Target-space minimizers (SSO, Lavington et al. 2023): one run of ``max_steps`` expensive
    gradients (``dl/dz`` calls; default ``step_hint``) on the workload's TargetProblem, which logs every
    full-loss evaluation the method makes for its history. The curve: the start point, then that log
    replayed, at step = expensive gradients so far and time = the method's wall time with those
    evaluations taken out (the problem's clock). The run takes no time limit: points past
    ``max_time`` are dropped."""
    run = spec.load_factory()(hparams)
    steps = int(rec.budget.max_steps or workload.step_hint)
    rec.replay(0, 0.0, problem.evaluate())
    problem.start()
    run(problem, None, steps)
    elapsed = problem.elapsed()
    for step, t, metrics in problem.curve():
        if step > 0:
            rec.replay(step, t, metrics)
    rec.clock.total = min(elapsed, rec.budget.max_time)


def run_bilevel(
    problem: Any, spec: MethodSpec, hparams: Mapping[str, Any], workload: Workload, rec: Recorder
) -> None:
    """Bilevel methods: one call of ``max_steps`` outer iterations (default ``step_hint``) that logs its
    own history; the curve is the start point, then that history replayed: the workload's error against
    its known solution, against the outer iteration (the harness step) and the solver's clock, with the
    oracle counters in every point (``ngrad_f``, lower-level gradient evaluations, is the family's cost
    unit). The solver stops once ``max_time`` has passed (points past it are dropped). Iterates that turn NaN
    or inf end the run (the solver stops) and mark the trial diverged."""
    solve = spec.load_factory()(hparams)
    iterations = int(rec.budget.max_steps or workload.step_hint)
    rec.replay(0, 0.0, problem.evaluate())
    result = solve(problem.problem, iterations, max_time=rec.budget.max_time, seed=problem.seed)
    for row in result.history:
        rec.replay(int(row["nit"]), float(row["time"]), problem.metrics(row))
    if result.get("status") == 3 and not rec.stopped:  # solve_bilevel: iterates became NaN or inf
        rec.diverged = rec.stopped = True
    rec.clock.total = min(float(result.time), rec.budget.max_time)


ADAPTERS: dict[str, Callable[..., None]] = {
    "torch-optimizer": run_torch_optimizer,
    "minimizer": run_minimizer,
    "constrained": run_constrained,
    "blackbox": run_blackbox,
    "bilevel": run_bilevel,
}


def check_compatible(spec: MethodSpec, workload: Workload) -> None:
    """Raise IncompatibleError, naming what is missing, when ``spec`` cannot run on ``workload``."""
    if spec.family not in workload.interfaces:
        raise IncompatibleError(
            f"method {spec.name!r} (family {spec.family}) cannot run on workload {workload.id!r}, "
            f"which hosts only: {', '.join(sorted(workload.interfaces))}"
        )
    provides = frozenset(getattr(workload, "provides", frozenset()))
    lacking = sorted((spec.capabilities & WORKLOAD_FEATURES.keys()) - provides)
    if lacking:
        needs = "; ".join(f"{f!r} ({WORKLOAD_FEATURES[f]})" for f in lacking)
        raise IncompatibleError(
            f"method {spec.name!r} needs a workload that provides {needs}; workload {workload.id!r} does not"
        )
    missing = frozenset(getattr(workload, "requires", frozenset())) - spec.capabilities
    if missing:
        raise IncompatibleError(
            f"workload {workload.id!r} needs a method with capabilities {sorted(missing)}; method "
            f"{spec.name!r} has {sorted(spec.capabilities) or 'none'}"
        )
