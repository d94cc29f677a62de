"""One adapter per method family: the loop that drives a method on a workload's problem.

A method never imports the harness; the harness reaches methods only through the registry and these
adapters. Later families (constrained, bilevel, black-box solvers) add an adapter here.
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
    "check_compatible",
    "run_blackbox",
    "run_constrained",
    "run_minimizer",
    "run_torch_optimizer",
]


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
    """
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


ADAPTERS: dict[str, Callable[..., None]] = {
    "torch-optimizer": run_torch_optimizer,
    "minimizer": run_minimizer,
    "constrained": run_constrained,
    "blackbox": run_blackbox,
}


def check_compatible(spec: MethodSpec, workload: Workload) -> None:
    if spec.family not in workload.interfaces:
        raise IncompatibleError(
            f"method {spec.name!r} (family {spec.family}) cannot run on workload {workload.id!r}, "
            f"which hosts only: {', '.join(sorted(workload.interfaces))}"
        )
