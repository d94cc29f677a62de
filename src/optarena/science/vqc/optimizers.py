r"""Local optimizers for the VQC at a budget of objective evaluations: AQGD, COBYLA, SPSA, Adam.

Every optimizer takes a :class:`~optarena.science.vqc.model.VQCObjective` (which counts evaluations),
a start ``x0`` and a ``budget`` in evaluations, never exceeds it, and returns a :class:`VQCOptResult`.

**AQGD** (analytic quantum gradient descent, qiskit-aqua 0.8's ``AQGD``, the version the paper used),
coordinate by coordinate in each iteration ``t``, for ``k = 1..P``:

.. math::

    g_k = \tfrac12 \big(L(\theta + \tfrac{\pi}{2} e_k) - L(\theta - \tfrac{\pi}{2} e_k)\big), \quad
    m_k \leftarrow \eta \big((1 - \mu) g_k + \mu m_k\big), \quad \theta_k \leftarrow \theta_k - m_k,

then ``L(theta)`` once (``2P + 1`` evaluations per iteration); stop when ``|L_t - L_{t-s}| < tol`` for
the last two values (aqua's rule) or when the budget cannot pay another iteration. Defaults as aqua:
``eta = 3``, ``mu = 0.25``, ``tol = 1e-6``. The shift is applied to the whole cross-entropy, so ``g_k``
is biased even with exact probabilities (see :mod:`optarena.science.vqc.model`). ``sequential=False``
is the later qiskit version (all ``g_k`` at the same ``theta``, ``m <- (1 - mu) g + mu m``,
``theta <- theta - eta m``); ``chain_rule=True`` (implies ``sequential=False``) uses the exact
chain-rule parameter-shift gradient instead, for comparison.

Departures from aqua: the returned point is the last iterate (aqua meant to return the best, but its
``minparams`` aliases the updated array, so it returned the last one too); the budget stop.

**COBYLA**: scipy's (``rhobeg = 1``, ``maxiter = budget``), as qiskit wraps it. **SPSA**: Spall's
simultaneous perturbation with qiskit-aqua's calibration (25 steps: ``a = 2 pi / 10 * 2 c /
mean |L(theta + c D) - L(theta - c D)|``, ``c = 0.1``; gains ``a / (k + 1)^0.602``,
``c / (k + 1)^0.101``). **Adam** (Kingma & Ba, ICLR 2015; ``lr = 0.1``, betas ``(0.9, 0.999)``) on the
exact chain-rule parameter-shift gradient (``2P + 1`` evaluations per step).

References: N. Joshi, P. Katyayan, S. A. Ahmed, "Evaluating the Performance of Some Local Optimizers for
Variational Quantum Classifiers", arXiv:2102.08949, 2021 (AQGD vs COBYLA); K. Mitarai et al., "Quantum
circuit learning", Phys. Rev. A 98, 2018 and M. Schuld et al., "Evaluating analytic gradients on quantum
hardware", Phys. Rev. A 99, 2019 (parameter shift); J. C. Spall, IEEE TAC 37, 1992 (SPSA); M. J. D.
Powell, 1994 (COBYLA).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize

from optarena.science.vqc.model import BudgetExhausted, VQCObjective

__all__ = ["OPTIMIZERS", "VQCOptResult", "adam", "aqgd", "cobyla", "spsa"]


@dataclass
class VQCOptResult:
    """``x``: returned parameters; ``fun``: last loss seen by the optimizer; ``nfev``: evaluations
    used; ``nit``: iterations; ``trace``: ``(nfev, loss)`` after each iteration."""

    x: np.ndarray
    fun: float
    nfev: int
    nit: int
    trace: list[tuple[int, float]] = field(default_factory=list)


def _check(obj: VQCObjective, x0: Any, budget: Any) -> np.ndarray:
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1:
        raise ValueError(f"budget must be an integer >= 1, got {budget!r}")
    x = np.array(x0, dtype=float)
    if x.shape != (obj.n_params,):
        raise ValueError(f"x0 must have shape ({obj.n_params},), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x0 contains NaN or inf")
    obj.budget = obj.nfev + int(budget)
    return x


def _pos(name: str, v: Any, strict: bool = True) -> float:
    ok = isinstance(v, (int, float, np.floating)) and not isinstance(v, bool) and np.isfinite(v)
    if not ok or (v <= 0 if strict else v < 0):
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} 0, got {v!r}")
    return float(v)


def aqgd(
    obj: VQCObjective,
    x0: Any,
    budget: int,
    *,
    eta: float = 3.0,
    momentum: float = 0.25,
    tol: float = 1e-6,
    sequential: bool = True,
    chain_rule: bool = False,
) -> VQCOptResult:
    """AQGD (module docstring); ``2P + 1`` evaluations per iteration."""
    x = _check(obj, x0, budget)
    eta, tol = _pos("eta", eta), _pos("tol", tol, strict=False)
    if not (isinstance(momentum, (int, float)) and 0 <= momentum < 1):
        raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
    P, start = obj.n_params, obj.nfev
    m = np.zeros(P)
    shift = np.eye(P) * np.pi / 2
    prev: list[float] | None = None
    trace: list[tuple[int, float]] = []
    nit = 0

    def converged(f: float) -> bool:  # aqua: |f - f_prev| < tol for the last two values
        nonlocal prev
        if prev is None:
            prev = [f + 2 * tol] * 2
        if all(abs(f - q) < tol for q in prev):
            return True
        prev = [*prev[1:], f]
        return False

    if chain_rule:
        fun = np.nan
        while obj.nfev + 2 * P + 1 <= obj.budget:
            fun, g = obj.grad(x)  # L(theta) and the exact gradient: 2P + 1 evaluations
            trace.append((obj.nfev - start, fun))
            if converged(fun):
                break
            m = (1 - momentum) * g + momentum * m
            x = x - eta * m
            nit += 1
        return VQCOptResult(x, float(fun), obj.nfev - start, nit, trace)
    fun = obj(x)
    trace.append((obj.nfev - start, fun))
    while obj.nfev + 2 * P + 1 <= obj.budget and not converged(fun):
        if sequential:
            for k in range(P):
                g_k = 0.5 * (obj(x + shift[k]) - obj(x - shift[k]))
                m[k] = eta * ((1 - momentum) * g_k + momentum * m[k])
                x[k] -= m[k]
        else:
            g = np.array([0.5 * (obj(x + shift[k]) - obj(x - shift[k])) for k in range(P)])
            m = (1 - momentum) * g + momentum * m
            x = x - eta * m
        fun = obj(x)
        nit += 1
        trace.append((obj.nfev - start, fun))
    return VQCOptResult(x, fun, obj.nfev - start, nit, trace)


def cobyla(obj: VQCObjective, x0: Any, budget: int, *, rhobeg: float = 1.0) -> VQCOptResult:
    """scipy COBYLA with ``maxiter = budget`` (function evaluations); the budget is also enforced."""
    x = _check(obj, x0, budget)
    rhobeg = _pos("rhobeg", rhobeg)
    start = obj.nfev
    trace: list[tuple[int, float]] = []
    best = [np.inf, x.copy()]

    def f(z: np.ndarray) -> float:
        v = obj(z)
        trace.append((obj.nfev - start, v))
        if v < best[0]:
            best[:] = [v, np.array(z, dtype=float)]
        return v

    try:
        res = minimize(f, x, method="COBYLA", options={"maxiter": int(budget), "rhobeg": rhobeg})
        xr, fun = np.asarray(res.x, dtype=float), float(res.fun)
    except BudgetExhausted:
        xr, fun = best[1], float(best[0])
    return VQCOptResult(xr, fun, obj.nfev - start, len(trace), trace)


def spsa(
    obj: VQCObjective,
    x0: Any,
    budget: int,
    *,
    c: float = 0.1,
    alpha: float = 0.602,
    gamma: float = 0.101,
    target: float = 2 * np.pi / 10,
    calibration_steps: int = 25,
    seed: int = 0,
) -> VQCOptResult:
    """SPSA with qiskit-aqua's calibration of the step size; 2 evaluations per iteration."""
    x = _check(obj, x0, budget)
    c = _pos("c", c)
    rng = np.random.default_rng(seed)
    start, P = obj.nfev, obj.n_params
    steps = min(int(calibration_steps), max(0, (int(budget) - 1) // 2))
    diff = 0.0
    for _ in range(steps):
        D = rng.choice([-1.0, 1.0], P)
        diff += abs(obj(x + c * D) - obj(x - c * D)) / steps
    a = target * 2 * c / diff if diff > 0 else target
    trace, nit, fun = [], 0, np.nan
    while obj.nfev + 2 <= obj.budget:
        ak, ck = a / (nit + 1) ** alpha, c / (nit + 1) ** gamma
        D = rng.choice([-1.0, 1.0], P)
        fp, fm = obj(x + ck * D), obj(x - ck * D)
        x = x - ak * (fp - fm) / (2 * ck) * D
        fun = 0.5 * (fp + fm)
        nit += 1
        trace.append((obj.nfev - start, fun))
    return VQCOptResult(x, float(fun), obj.nfev - start, nit, trace)


def adam(
    obj: VQCObjective,
    x0: Any,
    budget: int,
    *,
    lr: float = 0.1,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
) -> VQCOptResult:
    """Adam on the chain-rule parameter-shift gradient; ``2P + 1`` evaluations per step."""
    x = _check(obj, x0, budget)
    lr = _pos("lr", lr)
    start, P = obj.nfev, obj.n_params
    m, v = np.zeros(P), np.zeros(P)
    trace, nit, fun = [], 0, np.nan
    while obj.nfev + 2 * P + 1 <= obj.budget:
        fun, g = obj.grad(x)
        nit += 1
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        x = x - lr * (m / (1 - beta1**nit)) / (np.sqrt(v / (1 - beta2**nit)) + eps)
        trace.append((obj.nfev - start, fun))
    return VQCOptResult(x, float(fun), obj.nfev - start, nit, trace)


OPTIMIZERS: dict[str, Callable[..., VQCOptResult]] = {
    "aqgd": aqgd,
    "cobyla": cobyla,
    "spsa": spsa,
    "adam": adam,
}
