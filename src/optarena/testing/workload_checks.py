"""The workload contract suite, in the spirit of scikit-learn's ``check_estimator``: one list of
checks that every workload (built-in or plugin) must pass. The interfaces a workload declares choose
the checks that apply; nothing here special-cases a workload by name.

    from optarena.testing.workload_checks import workload_checks

    @pytest.mark.parametrize("check", workload_checks(MyWorkload()), ids=lambda c: c.name)
    def test_my_workload(check):
        check()
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from optarena.core.spec import FAMILIES
from optarena.workloads.base import ObjectiveProblem, TorchProblem, Workload

__all__ = ["WorkloadCheck", "workload_checks"]


@dataclass(frozen=True)
class WorkloadCheck:
    """One named check bound to one workload; calling it raises AssertionError on failure."""

    name: str
    workload: Workload
    fn: Callable[[Workload], None]

    def __call__(self) -> None:
        self.fn(self.workload)

    def __repr__(self) -> str:
        return f"{self.workload.id}::{self.name}"


def _params(problem: Any) -> list[tuple[str, Any]]:
    return [(n, p.detach().clone()) for n, p in problem.named_parameters()]


def _same(a: Any, b: Any) -> bool:
    import torch

    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, tuple | list):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def check_attributes(w: Workload) -> None:
    assert isinstance(w.id, str) and w.id, "id must be a non-empty string"
    assert isinstance(w.version, str), f"version must be a string, got {w.version!r}"
    assert w.mode in ("min", "max"), f"mode must be 'min' or 'max', got {w.mode!r}"
    assert math.isfinite(w.target), f"target must be finite, got {w.target!r}"
    assert w.target_source in ("fixed", "calibrated"), f"target_source: {w.target_source!r}"
    assert 10 <= w.max_runtime <= 120, f"max_runtime {w.max_runtime} s is outside [10, 120] s"
    assert w.eval_every >= 1 and w.step_hint >= 1, (w.eval_every, w.step_hint)
    assert w.interfaces and set(w.interfaces) <= set(FAMILIES), (
        f"interfaces {set(w.interfaces)} vs {FAMILIES}"
    )


def check_variant_points_to_a_workload(w: Workload) -> None:
    from optarena.registry import resolve_workload

    base = resolve_workload(w.variant_of)  # type: ignore[arg-type]
    assert base.metric == w.metric and base.mode == w.mode, "a variant keeps its base workload's metric"


def check_build_is_deterministic(w: Workload) -> None:
    a, b, c = w.build(3), w.build(3), w.build(4)
    pa, pb, pc = _params(a), _params(b), _params(c)
    assert _same(pa, pb), "the same seed must give the same initial parameters"
    batches_a = [a.next_batch() for _ in range(3)]
    batches_b = [b.next_batch() for _ in range(3)]
    assert _same(batches_a, batches_b), "the same seed must give the same batches"
    batches_c = [c.next_batch() for _ in range(3)]
    # full-batch problems hold their data inside: the first loss tells two data sets apart
    la, lc = float(a.loss(batches_a[0]).detach()), float(c.loss(batches_c[0]).detach())
    assert not (_same(pa, pc) and _same(batches_a, batches_c) and la == lc), (
        "another seed must change init or data"
    )


def check_leaves_global_rng_alone(w: Workload) -> None:
    import numpy as np
    import torch

    states = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
    problem = w.build(5)
    problem.next_batch()
    problem.evaluate()
    assert torch.equal(torch.get_rng_state(), states[0]), "build/next_batch/evaluate used torch's global RNG"
    assert (np.random.get_state()[1] == states[1]).all(), "build/next_batch/evaluate used numpy's global RNG"
    assert random.getstate() == states[2], "build/next_batch/evaluate used Python's global RNG"


def check_evaluate(w: Workload) -> None:
    problem = w.build(0)
    first, second = problem.evaluate(), problem.evaluate()
    assert w.metric in first, f"evaluate() must report {w.metric!r}, got {sorted(first)}"
    assert all(isinstance(v, float) for v in first.values()), "evaluate() returns python floats"
    assert first == second, "evaluate() must be deterministic and must not change the problem"
    assert math.isfinite(first[w.metric])
    assert not w.reached(first[w.metric]), (
        "the initial point already meets the target: the workload is trivial"
    )


def check_torch_interface(w: Workload) -> None:
    problem = w.build(0)
    assert isinstance(problem, TorchProblem), "a torch-optimizer workload builds a TorchProblem"
    loss = problem.loss(problem.next_batch())
    assert loss.ndim == 0 and math.isfinite(float(loss)), "loss(batch) must be a finite scalar tensor"
    loss.backward()
    for name, p in problem.named_parameters():
        assert p.grad is not None, f"parameter {name} gets no gradient from the loss"


def check_minimizer_interface(w: Workload) -> None:
    import numpy as np

    problem = w.build(0)
    assert isinstance(problem, ObjectiveProblem), "a minimizer workload builds an ObjectiveProblem"
    x0 = np.array(problem.x0, dtype=np.float64)
    f0, g0 = problem.fun_grad(x0)
    assert isinstance(f0, float) and g0.shape == x0.shape and g0.dtype == np.float64
    direction = np.random.default_rng(0).standard_normal(x0.shape)
    eps = 1e-6
    fd = (problem.fun_grad(x0 + eps * direction)[0] - problem.fun_grad(x0 - eps * direction)[0]) / (2 * eps)
    assert abs(fd - g0 @ direction) <= 1e-5 * max(1.0, abs(fd)), (
        f"gradient != finite differences ({fd}, {g0 @ direction})"
    )
    assert problem.evaluate_x(x0)[w.metric] == problem.evaluate_x(x0.copy())[w.metric]
    if isinstance(problem, TorchProblem):
        assert math.isclose(float(problem.loss(problem.next_batch())), f0, rel_tol=1e-9), (
            "torch loss != fun(x0)"
        )
        a, b = problem.evaluate()[w.metric], problem.evaluate_x(x0)[w.metric]
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), f"evaluate() {a} != evaluate_x(x0) {b}"


def check_constrained_interface(w: Workload) -> None:
    """A constrained workload builds a valid problem (``check_problem``), the same one for the same
    seed, and reports its metrics for a logged iterate."""
    import numpy as np

    from optarena.solvers.constrained.problem import check_problem

    a, b = w.build(3), w.build(3)
    check_problem(a.problem)
    x0 = np.asarray(a.problem.x0, dtype=float)
    assert np.array_equal(x0, np.asarray(b.problem.x0, dtype=float)), "the same seed must give the same x0"
    assert a.problem.fun(x0) == b.problem.fun(x0), "the same seed must give the same objective"
    metrics = a.metrics({"nit": 0, "time": 0.0, "nfev": 1, "kkt_residual": 1.0, "fun": 0.0})
    assert w.metric in metrics and all(isinstance(v, float) for v in metrics.values())


def check_blackbox_interface(w: Workload) -> None:
    """A black-box workload builds a function with a box and a seed, logs every evaluation, and turns
    the log into a curve of best-so-far regret (non-increasing)."""
    import numpy as np

    problem = w.build(3)
    assert problem.seed == 3 and problem.bounds.ndim == 2 and problem.bounds.shape[1] == 2
    problem.start()
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = problem.bounds[:, 0] + rng.random(len(problem.bounds)) * np.ptp(problem.bounds, axis=1)
        assert isinstance(problem(x), float)
    curve = problem.curve()
    regrets = [m[w.metric] for _, _, m in curve]
    assert [s for s, _, _ in curve] == [1, 2, 3, 4, 5] and all(r >= 0 for r in regrets)
    assert all(b <= a for a, b in itertools.pairwise(regrets)), "best-so-far must not rise"


def check_bilevel_interface(w: Workload) -> None:
    """A bilevel workload builds a valid problem with a known solution, the same one for the same seed;
    the known y* solves the lower level at x* (gap recomputed by an accurate solve); a logged row
    becomes metrics with the workload's metric and the oracle counters; its ``requires`` is a set of
    capability names."""
    import torch

    from optarena.solvers.bilevel._lower import lower_gap
    from optarena.solvers.bilevel._problem import BilevelProblem

    a, b = w.build(3), w.build(3)
    p = a.problem
    assert isinstance(p, BilevelProblem), (
        f"a bilevel workload builds a BilevelProblem, got {type(p).__name__}"
    )
    assert p.x_star is not None and p.y_star is not None, "a bilevel workload needs a known solution (x*, y*)"
    assert torch.equal(p.x0, b.problem.x0) and torch.equal(p.y0, b.problem.y0), "same seed, same start"
    assert torch.equal(p.x_star, b.problem.x_star), "the same seed must give the same solution"
    with torch.no_grad():
        assert float(p.call("F", p.x0, p.y0, None)) == float(b.problem.call("F", p.x0, p.y0, None))
    gap, lower_fun, viol = lower_gap(p, p.x_star, p.y_star)
    assert abs(gap) <= 1e-6 * max(1.0, abs(lower_fun)) and viol <= 1e-6, (
        f"y* is not a lower-level solution at x*: gap {gap:.3g}, violation {viol:.3g}"
    )
    row = {"nit": 1.0, "time": 0.0, "fun": 1.0, "x_error": 0.5, "y_error": 0.5, "ngrad_f": 3.0}
    metrics = a.metrics(row)
    assert w.metric in metrics and all(isinstance(v, float) for v in metrics.values())
    assert metrics["ngrad_f"] == 3.0, "the lower-level gradient count (the cost unit) goes into the metrics"
    requires = getattr(w, "requires", frozenset())
    assert isinstance(requires, frozenset) and all(isinstance(c, str) for c in requires), requires


def check_target_interface(w: Workload) -> None:
    """A target-space workload builds a TargetProblem from the seed (same seed, same data and start;
    another seed, other data) without the global RNGs; its log records a full-loss evaluation at the
    expensive gradients spent so far, with the workload's metric, and leaves evaluations off its clock."""
    import numpy as np
    import torch

    from optarena.solvers.surrogate import TargetProblem

    states = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
    a, b, c = w.build(3), w.build(3), w.build(4)
    assert isinstance(a, TargetProblem), f"a target-space workload builds a TargetProblem, got {type(a)}"
    assert torch.equal(a.X, b.X) and torch.equal(a.labels, b.labels) and torch.equal(a.theta0, b.theta0)
    assert not (torch.equal(a.X, c.X) and torch.equal(a.theta0, c.theta0)), (
        "another seed must change the data"
    )
    a.start()
    idx = torch.arange(5)
    a.target_grad(a.model(a.theta0, a.X[idx]), idx)
    a.full_loss(a.theta0)
    a.full_loss(a.theta0)
    curve = a.curve()
    assert [step for step, _, _ in curve] == [1], f"one point per expensive-gradient count, got {curve}"
    assert (
        w.metric in curve[0][2] and curve[0][2]["expensive_grads"] == 1.0 and curve[0][2]["examples"] == 5.0
    )
    assert 0.0 <= curve[0][1] <= a.elapsed()
    assert torch.equal(torch.get_rng_state(), states[0]), "build/run used torch's global RNG"
    assert (np.random.get_state()[1] == states[1]).all(), "build/run used numpy's global RNG"
    assert random.getstate() == states[2], "build/run used Python's global RNG"


def workload_checks(workload: Workload) -> list[WorkloadCheck]:
    """The checks that apply to ``workload``, chosen by the interfaces it declares (and the features it
    ``provides``). Training problems (torch-optimizer, minimizer) draw data and initial points from the
    seed; constrained and bilevel test problems may be fixed, and target-space problems are not torch
    training problems, so they get their own determinism checks."""
    provides = frozenset(getattr(workload, "provides", frozenset()))
    training = "torch-optimizer" in workload.interfaces or (
        "minimizer" in workload.interfaces and "target-space" not in provides
    )
    fns: list[Callable[[Workload], None]] = [check_attributes]
    if training:
        fns += [check_build_is_deterministic, check_leaves_global_rng_alone]
    fns.append(check_evaluate)
    if workload.variant_of is not None:
        fns.append(check_variant_points_to_a_workload)
    if "torch-optimizer" in workload.interfaces:
        fns.append(check_torch_interface)
    if "minimizer" in workload.interfaces:
        fns.append(check_minimizer_interface)
    if "constrained" in workload.interfaces:
        fns.append(check_constrained_interface)
    if "blackbox" in workload.interfaces:
        fns.append(check_blackbox_interface)
    if "bilevel" in workload.interfaces:
        fns.append(check_bilevel_interface)
    if "target-space" in provides:
        fns.append(check_target_interface)
    return [WorkloadCheck(fn.__name__.removeprefix("check_"), workload, fn) for fn in fns]
