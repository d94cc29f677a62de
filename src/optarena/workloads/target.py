"""``logreg-target``: logistic regression exposed through its targets, for target-space methods (SSO).

Target-based methods (Lavington et al., ICML 2023) see a problem as ``l(f_theta(X), labels)``: a cheap
model ``f_theta`` whose outputs are the *targets*, and a loss on them whose gradient ``dl/dz`` is the
*expensive* oracle. A plain ``fun_grad`` objective hides that structure, so this workload builds a
:class:`~optarena.solvers.surrogate.TargetProblem` and declares ``provides = {"target-space"}``: the
harness runs a method with the ``target-space`` capability only on such a workload.

Problem: binary logistic regression, linear model with a bias, on
``make_classification(n_samples=1000, n_features=20, n_informative=10, random_state=seed)`` (the SSO
claim's data: the classes overlap, so the optimum is finite; two features are redundant, so theta* is
not unique but L* is), start theta = 0. Convex: ``L*`` comes from scipy's L-BFGS-B (gtol 1e-12)
polished by least-squares Newton steps, in numpy, independently of the torch model; a seed whose
gradient there is not below 1e-8 raises (none of 200 seeds tried did). Metric ``gap`` = L(theta) - L*; target 1e-3 by definition; ``step_hint`` 1000
expensive gradients (100 epochs at batch 100); ``max_runtime`` 10 s (SSO's defaults take about 3 s).

Cost unit: one call of ``dl/dz`` on a batch is one *expensive gradient* (``expensive_grads``; the
examples it covers are counted in ``examples``). A target-space trial is one run of ``max_steps``
expensive gradients (default ``step_hint``); the curve has a point at every full-loss evaluation the
method makes for its own history (SSO: every 10 outer steps, and the last), at step = expensive
gradients so far and time = the method's wall time with those evaluations taken out. The workload also
hosts the plain ``minimizer`` interface (``x0``, ``fun_grad``, ``evaluate_x``), where one ``fun_grad`` is
one full-batch expensive gradient, so L-BFGS runs here as a reference (its step is an iteration; every
point carries ``expensive_grads`` and ``examples``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import cache
from typing import ClassVar

import numpy as np
import scipy.optimize
import torch
from scipy.special import expit

from optarena.core.paper import PaperRef
from optarena.solvers.surrogate import TargetProblem, logistic_problem
from optarena.workloads.base import Workload
from optarena.workloads.logreg import objective

__all__ = ["LogRegTargetWorkload", "TargetTrialProblem", "solve_logistic"]

N_SAMPLES, N_FEATURES, N_INFORMATIVE = 1000, 20, 10


@cache
def _data(seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=N_SAMPLES, n_features=N_FEATURES, n_informative=N_INFORMATIVE, random_state=seed
    )
    X.flags.writeable = False
    y.flags.writeable = False
    return X, y


@cache
def solve_logistic(seed: int) -> tuple[np.ndarray, float]:
    """``(theta*, L*)`` of the unregularized problem: L-BFGS-B, then Newton steps (numpy, no torch)."""
    X, y = _data(seed)
    pm = np.where(y == 1, 1.0, -1.0)
    res = scipy.optimize.minimize(
        objective,
        np.zeros(X.shape[1] + 1),
        args=(X, pm, 0.0),
        jac=True,
        method="L-BFGS-B",
        options={"gtol": 1e-12, "ftol": 1e-16, "maxiter": 100_000, "maxcor": 30},
    )
    design = np.hstack([X, np.ones((len(y), 1))])
    theta = res.x
    for _ in range(5):
        _, g = objective(theta, X, pm, 0.0)
        p = expit(pm * (design @ theta))
        # least squares: make_classification's 2 redundant features make the Hessian singular (L* is
        # unique, theta* is not)
        theta = theta - np.linalg.lstsq((design.T * (p * (1 - p) / len(y))) @ design, g, rcond=None)[0]
    f_star, g = objective(theta, X, pm, 0.0)
    if not (math.isfinite(f_star) and np.linalg.norm(g) < 1e-8):
        raise RuntimeError(f"logreg-target seed {seed}: no finite optimum (|grad| {np.linalg.norm(g):.3g})")
    theta.flags.writeable = False
    return theta, float(f_star)


@dataclass
class TargetTrialProblem(TargetProblem):
    """A :class:`TargetProblem` that scores iterates against ``f_star`` and logs the method's full-loss
    evaluations, timed on a clock that leaves them out; plus the plain minimizer interface."""

    f_star: float = math.nan
    log: list[tuple[int, float, dict[str, float]]] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        x0 = self.theta0.numpy().copy()
        x0.flags.writeable = False
        self.x0 = x0
        self._t0: float | None = None
        self._eval_time = 0.0

    # -- metrics -------------------------------------------------------------------------------------
    def _metrics(self, theta: torch.Tensor) -> dict[str, float]:
        with torch.no_grad():
            z = self.model(theta, self.X)
            loss = float(self.loss(z, self.labels))
            acc = float(((z > 0).to(self.labels.dtype) == self.labels).double().mean())
        out = {"gap": loss - self.f_star, "loss": loss, "accuracy": acc}
        out.update({k: float(v) for k, v in self.counts.items()})
        return out

    def evaluate(self) -> dict[str, float]:
        """Metrics at ``theta0`` (no oracle call, nothing logged)."""
        return self._metrics(self.theta0)

    # -- the target-space run's log ------------------------------------------------------------------
    def start(self) -> None:
        """Start the run's clock and clear its log."""
        self.log.clear()
        self._eval_time = 0.0
        self._t0 = time.perf_counter()

    def elapsed(self) -> float:
        """The method's time since :meth:`start`, full-loss evaluations excluded."""
        if self._t0 is None:
            return 0.0
        return time.perf_counter() - self._t0 - self._eval_time

    def full_loss(self, theta: torch.Tensor) -> float:
        """The full training loss (an evaluation the method asks for its history): logged with the
        expensive gradients spent so far, and taken out of the run's clock."""
        t = time.perf_counter()
        metrics = self._metrics(theta)
        if self._t0 is not None:
            self.log.append((int(self.counts["expensive_grads"]), t - self._t0 - self._eval_time, metrics))
            self._eval_time += time.perf_counter() - t
        return metrics["loss"]

    def curve(self) -> list[tuple[int, float, dict[str, float]]]:
        """One point per distinct expensive-gradient count (the first evaluation at it), in order."""
        out: list[tuple[int, float, dict[str, float]]] = []
        for step, t, metrics in self.log:
            if not out or step > out[-1][0]:
                out.append((step, t, metrics))
        return out

    # -- the minimizer interface (full batch: one fun_grad = one expensive gradient of n examples) ----
    def fun_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        theta = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
        z = self.model(theta, self.X)
        value, G = self.target_grad(z.detach(), torch.arange(self.n))
        # (z * G).sum() rather than grad_outputs=G: same vector-Jacobian product, and torch's first
        # non-scalar backward imports sympy (about a second), which would land on the method's clock
        (grad,) = torch.autograd.grad((z * G).sum(), theta)
        return float(value), grad.numpy().astype(np.float64)

    def evaluate_x(self, x: np.ndarray) -> dict[str, float]:
        return self._metrics(torch.tensor(np.asarray(x, dtype=np.float64)))


class LogRegTargetWorkload(Workload):
    id: ClassVar[str] = "logreg-target"
    version = "1"
    summary: ClassVar[str] = (
        "logistic regression on make_classification (n=1000, d=20) through its targets (for SSO), "
        "loss gap vs expensive gradients"
    )
    metric: ClassVar[str] = "gap"
    mode = "min"
    target: ClassVar[float] = 1e-3
    target_source = "fixed"
    max_runtime: ClassVar[float] = 10.0
    eval_every: ClassVar[int] = 1
    step_hint: ClassVar[int] = 1000
    interfaces: ClassVar[frozenset[str]] = frozenset({"minimizer"})
    provides: ClassVar[frozenset[str]] = frozenset({"target-space"})
    paper: ClassVar[PaperRef | None] = PaperRef(
        "W. Lavington, S. Vaswani, R. Babanezhad, M. Schmidt, N. Le Roux",
        "Target-based Surrogates for Stochastic Optimization",
        "ICML",
        2023,
        "2302.02607",
    )

    def build(self, seed: int) -> TargetTrialProblem:
        X, y = _data(seed)
        _, f_star = solve_logistic(seed)
        base = logistic_problem(X.copy(), y.copy(), name=f"{self.id}(seed={seed})")
        return TargetTrialProblem(
            base.X, base.labels, base.model, base.loss, base.theta0, name=base.name, f_star=f_star
        )
