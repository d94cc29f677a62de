"""Bookkeeping inside one trial: step count, clock, eval schedule, stop rules and the curve."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from optarena.bench.clock import TrialClock
from optarena.core.types import Budget, EvalPoint

__all__ = ["Recorder"]


class Recorder:
    """Decides when to evaluate and when to stop, and keeps the curve.

    Stop rules, checked after every step: a non-finite loss (diverged); the step cap; the time budget
    on the harness clock; the target reached at an eval (when ``stop_at_target``). Evaluation runs
    with the clock paused, every ``eval_every`` steps, at step 0 and once more at the end.
    """

    def __init__(
        self,
        *,
        budget: Budget,
        eval_every: int,
        metric: str,
        reached: Callable[[float], bool],
        stop_at_target: bool,
        on_eval: Callable[[EvalPoint], None] | None = None,
    ) -> None:
        if eval_every < 1:
            raise ValueError(f"eval_every must be >= 1, got {eval_every}")
        self.clock = TrialClock()
        self.curve: list[EvalPoint] = []
        self.step = 0
        self.eval_time = 0.0
        self.diverged = False
        self.stopped = False
        self.hit = False
        self.budget = budget
        self._evaluate: Callable[[], dict[str, float]] | None = None
        self._every = eval_every
        self._metric, self._reached, self._stop_at_target = metric, reached, stop_at_target
        self._on_eval = on_eval

    def set_evaluator(self, evaluate: Callable[[], dict[str, float]]) -> None:
        """The adapter tells how to evaluate the current iterate (untimed)."""
        self._evaluate = evaluate

    def evaluate(self) -> None:
        """Run one untimed evaluation at the current step and apply the target rule."""
        if self.curve and self.curve[-1].step == self.step:
            return
        was_running = self.clock.running
        self.clock.pause()
        t0 = time.perf_counter()
        if self._evaluate is None:
            raise RuntimeError("Recorder.evaluate called before set_evaluator")
        metrics = {k: float(v) for k, v in self._evaluate().items()}
        self.eval_time += time.perf_counter() - t0
        point = EvalPoint(self.step, self.clock.total, metrics)
        self.curve.append(point)
        if self._on_eval is not None:
            self._on_eval(point)
        value = metrics.get(self._metric, math.nan)
        if not math.isfinite(value):
            self.diverged = self.diverged or math.isnan(value) or math.isinf(value)
            self.stopped = self.stopped or self.diverged
        elif self._reached(value):
            self.hit = True
            if self._stop_at_target:
                self.stopped = True
        if was_running:
            self.clock.start()

    def replay(self, step: int, time_s: float, metrics: dict[str, float]) -> None:
        """Record an iterate a solver logged itself (step, its solver-clock time, its metrics): for
        methods that run to completion in one call and keep their own per-iteration history. Applies
        the same target and divergence rules as :meth:`evaluate`; points past the budget are dropped."""
        over_time = time_s > self.budget.max_time
        over_steps = self.budget.max_steps is not None and step > self.budget.max_steps
        if self.stopped or over_time or over_steps:
            return
        self.step = max(self.step, step)
        point = EvalPoint(step, time_s, {k: float(v) for k, v in metrics.items()})
        self.curve.append(point)
        if self._on_eval is not None:
            self._on_eval(point)
        value = point.metrics.get(self._metric, math.nan)
        if math.isnan(value):
            self.diverged = self.stopped = True
        elif self._reached(value):
            self.hit = True
            self.stopped = self._stop_at_target

    def after_step(self, loss: float) -> bool:
        """Record one finished step (clock already paused). Returns True while the run should go on."""
        self.step += 1
        if not math.isfinite(loss):
            self.diverged = True
            self.stopped = True
            return False
        out_of_budget = self.clock.total >= self.budget.max_time or (
            self.budget.max_steps is not None and self.step >= self.budget.max_steps
        )
        if self.step % self._every == 0 or out_of_budget:
            self.evaluate()
        if out_of_budget:
            self.stopped = True
        return not self.stopped
