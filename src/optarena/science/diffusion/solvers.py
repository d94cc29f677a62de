"""Exponential-integrator ODE samplers for diffusion models: DDIM, DPM-Solver++(2M) and the unified sampler.

All samplers solve the probability-flow ODE of a VP model from :math:`t_0 = 1` down to :math:`t_N`
along a decreasing grid :math:`t_0 > t_1 > \\dots > t_N`, one model evaluation per step (NFE = N).
With :math:`h_i = \\lambda_{t_{i+1}} - \\lambda_{t_i}` and the data prediction
:math:`\\hat x_0 = (x - \\sigma_t \\hat\\epsilon)/\\alpha_t`, the exact solution is (Lu et al. 2022a, b)

.. math::
    x_{t} = \\frac{\\sigma_t}{\\sigma_s} x_s + \\sigma_t \\int_{\\lambda_s}^{\\lambda_t} e^{\\lambda}
            \\hat x_0(\\lambda)\\, d\\lambda
          = \\frac{\\alpha_t}{\\alpha_s} x_s - \\alpha_t \\int_{\\lambda_s}^{\\lambda_t} e^{-\\lambda}
            \\hat\\epsilon(\\lambda)\\, d\\lambda .

Replacing :math:`\\hat x_0` (or :math:`\\hat\\epsilon`) by a polynomial :math:`P(\\tau)`,
:math:`\\tau = \\lambda - \\lambda_s`, through stored model outputs gives, for
:math:`P(\\tau) = \\sum_k b_k (\\tau / h)^k`,

.. math::
    x_t = \\tfrac{\\sigma_t}{\\sigma_s} x_s + \\alpha_t \\textstyle\\sum_k b_k\\, k!\\, h\\, \\varphi_{k+1}(-h)
    \\quad\\text{(data)},\\qquad
    x_t = \\tfrac{\\alpha_t}{\\alpha_s} x_s - \\sigma_t \\textstyle\\sum_k b_k\\, k!\\, h\\, \\varphi_{k+1}(h)
    \\quad\\text{(noise)},

with :math:`\\varphi_1(z) = (e^z - 1)/z`, :math:`\\varphi_{k+1}(z) = (\\varphi_k(z) - 1/k!)/z`.

* **DDIM** (Song et al., ICLR 2021) is the order-1 step (one node), identical in both predictions.
* **DPM-Solver++(2M)** (Lu et al., "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion
  Probabilistic Models", arXiv:2211.01095, 2022) uses data prediction and the two last outputs with
  the approximation :math:`h^2\\varphi_2 \\approx h\\varphi_1 / 2`:
  :math:`x_t = \\frac{\\sigma_t}{\\sigma_s}x_s - \\alpha_t(e^{-h}-1)\\,m_0
  - \\tfrac12\\alpha_t(e^{-h}-1)\\,\\frac{h}{h_{-1}}(m_0 - m_{-1})`; the first step is order 1 and, as
  in the reference implementations, so is the last when there are fewer than 15 steps
  (``lower_order_final``).
* **The unified sampler** (Liu, Ning, Yang, Wang, "A Unified Sampling Framework for Solver Searching of
  Diffusion Probabilistic Models", ICLR 2024) lets every step choose its prediction type (data or
  noise), its order (1, 2 or 3, multistep: the polynomial goes through the last ``order`` outputs), the
  order-2 coefficient (DPM-Solver++(2M)'s :math:`h\\varphi_1/2` or the exact Taylor :math:`h^2\\varphi_2`)
  and a corrector. The corrector (UniC-style, Zhao et al., "UniPC", NeurIPS 2023) re-does the step with
  one more node, the model output at the predicted point, which the next step reuses, so it costs no
  extra evaluation; it is therefore not allowed on the last step. Departures from the paper: no
  "analytical first step", no per-step derivative scaling factor beyond the 2M/Taylor choice, and the
  corrector uses the exact polynomial integral (not UniC's ``B(h)`` variants).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from optarena.science.diffusion.model import VPSchedule

__all__ = [
    "SCHEDULE_KINDS",
    "SolverSchedule",
    "StepChoice",
    "baseline_schedule",
    "check_timesteps",
    "ddim",
    "dpm_solver_pp_2m",
    "phi",
    "reference_solve",
    "timesteps",
    "unified_sample",
]

SCHEDULE_KINDS = ("logSNR", "time_uniform", "time_quadratic")


def timesteps(sched: VPSchedule, nfe: int, kind: str = "logSNR") -> torch.Tensor:
    """``nfe + 1`` decreasing times from ``sched.t_start`` to ``sched.t_end`` (float64).

    ``"logSNR"``: uniform in :math:`\\lambda` (DPM-Solver's default); ``"time_uniform"``: uniform in
    ``t``; ``"time_quadratic"``: uniform in :math:`\\sqrt t` (DPM-Solver's ``time_quadratic``).
    """
    if isinstance(nfe, bool) or not isinstance(nfe, int) or nfe < 1:
        raise ValueError(f"need an integer nfe >= 1, got nfe = {nfe!r}")
    if kind not in SCHEDULE_KINDS:
        raise ValueError(f"unknown timestep schedule {kind!r}; known: {SCHEDULE_KINDS}")
    t0 = torch.tensor(sched.t_start, dtype=torch.float64)
    t1 = torch.tensor(sched.t_end, dtype=torch.float64)
    u = torch.linspace(0.0, 1.0, nfe + 1, dtype=torch.float64)
    if kind == "logSNR":
        lam = sched.lam(t0) + u * (sched.lam(t1) - sched.lam(t0))
        ts = sched.t_of_lam(lam)
        ts[0], ts[-1] = t0, t1
    elif kind == "time_uniform":
        ts = t0 + u * (t1 - t0)
    else:
        ts = (t0.sqrt() + u * (t1.sqrt() - t0.sqrt())) ** 2
    return ts


def check_timesteps(ts: Sequence[float] | torch.Tensor) -> torch.Tensor:
    """``ts`` as a float64 tensor; raises unless it has >= 2 finite entries in (0, 1], strictly decreasing."""
    t = torch.as_tensor(ts, dtype=torch.float64).reshape(-1)
    if t.numel() < 2:
        raise ValueError(f"need at least 2 timesteps (NFE >= 1), got {t.tolist()}")
    if not torch.isfinite(t).all() or (t <= 0).any() or (t > 1).any():
        raise ValueError(f"timesteps must lie in (0, 1], got {t.tolist()}")
    bad = torch.nonzero(t[1:] >= t[:-1]).reshape(-1)
    if bad.numel():
        i = int(bad[0])
        raise ValueError(
            f"timesteps must be strictly decreasing: t[{i}] = {t[i].item()} <= t[{i + 1}] = {t[i + 1].item()}"
        )
    return t


def phi(k: int, z: float) -> float:
    """:math:`\\varphi_k(z) = \\sum_{m \\ge 0} z^m / (m + k)!` (``k >= 1``), by series near 0 and recursion otherwise."""
    if k < 1:
        raise ValueError(f"phi_k needs k >= 1, got k = {k}")
    if abs(z) < 0.5:
        return sum(z**m / math.factorial(m + k) for m in range(20))
    val = math.expm1(z) / z
    for j in range(1, k):
        val = (val - 1.0 / math.factorial(j)) / z
    return val


@dataclass(frozen=True)
class StepChoice:
    """One step of the unified sampler: prediction ``"data"``/``"noise"``, ``order`` 1-3, ``taylor``
    (order >= 2: exact :math:`\\varphi_2` instead of 2M's :math:`\\varphi_1/2`; order 3 is always exact)
    and ``corrector``."""

    prediction: str = "data"
    order: int = 2
    taylor: bool = False
    corrector: bool = False

    def __post_init__(self) -> None:
        if self.prediction not in ("data", "noise"):
            raise ValueError(f"prediction must be 'data' or 'noise', got {self.prediction!r}")
        if self.order not in (1, 2, 3):
            raise ValueError(f"order must be 1, 2 or 3, got {self.order!r}")


@dataclass(frozen=True)
class SolverSchedule:
    """A full solver: the time grid ``ts`` (``len(steps) + 1`` decreasing times) and one choice per step."""

    ts: tuple[float, ...]
    steps: tuple[StepChoice, ...]

    def __post_init__(self) -> None:
        check_timesteps(self.ts)
        if len(self.ts) != len(self.steps) + 1:
            raise ValueError(
                f"need len(ts) = len(steps) + 1, got {len(self.ts)} times for {len(self.steps)} steps"
            )
        for i, c in enumerate(self.steps):
            if c.order > i + 1:
                raise ValueError(f"step {i} has order {c.order} but only {i + 1} model outputs are available")
        if self.steps[-1].corrector:
            raise ValueError("the last step cannot use the corrector (it would cost an extra evaluation)")

    @property
    def nfe(self) -> int:
        return len(self.steps)


def baseline_schedule(
    sched: VPSchedule, nfe: int, kind: str = "logSNR", lower_order_final: bool = True
) -> SolverSchedule:
    """DPM-Solver++(2M) written as a :class:`SolverSchedule` (data prediction, orders 1, 2, ..., 2, 1)."""
    ts = timesteps(sched, nfe, kind)
    orders = [min(2, i + 1) for i in range(nfe)]
    if lower_order_final and nfe < 15:
        orders[-1] = 1
    return SolverSchedule(tuple(ts.tolist()), tuple(StepChoice("data", o) for o in orders))


class _Eval:
    """Model call at one time: stores :math:`\\lambda`, the data and the noise prediction."""

    __slots__ = ("eps", "lam", "x0")

    def __init__(self, model: nn.Module, sched: VPSchedule, x: torch.Tensor, t: torch.Tensor) -> None:
        eps = model(x, t.reshape(1))
        self.lam = float(sched.lam(t))
        self.eps = eps
        self.x0 = (x - sched.sigma(t) * eps) / sched.alpha(t)

    def value(self, prediction: str) -> torch.Tensor:
        return self.x0 if prediction == "data" else self.eps


def _check_noise(x: torch.Tensor) -> torch.Tensor:
    if x.ndim != 2 or not torch.isfinite(x).all():
        raise ValueError(f"x_T must be a finite (n, dim) tensor, got shape {tuple(x.shape)}")
    return x.to(torch.float64)


@torch.no_grad()
def ddim(
    model: nn.Module, sched: VPSchedule, x_T: torch.Tensor, ts: Sequence[float] | torch.Tensor
) -> torch.Tensor:
    """DDIM (= DPM-Solver-1): :math:`x_t = \\frac{\\sigma_t}{\\sigma_s}x_s - \\alpha_t(e^{-h}-1)\\hat x_0(x_s, s)`."""
    t, x = check_timesteps(ts), _check_noise(x_T)
    for i in range(t.numel() - 1):
        s, tt = t[i], t[i + 1]
        e = _Eval(model, sched, x, s)
        h = float(sched.lam(tt)) - e.lam
        x = (sched.sigma(tt) / sched.sigma(s)) * x - (sched.alpha(tt) * math.expm1(-h)) * e.x0
    return x


@torch.no_grad()
def dpm_solver_pp_2m(
    model: nn.Module,
    sched: VPSchedule,
    x_T: torch.Tensor,
    ts: Sequence[float] | torch.Tensor,
    lower_order_final: bool = True,
) -> torch.Tensor:
    """DPM-Solver++(2M), multistep, data prediction (Lu et al. 2022b, Algorithm 2; ``solver_type='dpmsolver'``)."""
    t, x = check_timesteps(ts), _check_noise(x_T)
    n = t.numel() - 1
    prev: _Eval | None = None
    for i in range(n):
        s, tt = t[i], t[i + 1]
        cur = _Eval(model, sched, x, s)
        h = float(sched.lam(tt)) - cur.lam
        phi_1 = math.expm1(-h)
        first_order = prev is None or (lower_order_final and n < 15 and i == n - 1)
        if first_order:
            x = (sched.sigma(tt) / sched.sigma(s)) * x - (sched.alpha(tt) * phi_1) * cur.x0
        else:
            r0 = (cur.lam - prev.lam) / h
            d1 = (1.0 / r0) * (cur.x0 - prev.x0)
            x = (
                (sched.sigma(tt) / sched.sigma(s)) * x
                - (sched.alpha(tt) * phi_1) * cur.x0
                - 0.5 * (sched.alpha(tt) * phi_1) * d1
            )
        prev = cur
    return x


def _poly_step(
    sched: VPSchedule,
    x: torch.Tensor,
    s: torch.Tensor,
    tt: torch.Tensor,
    h: float,
    nodes: list[_Eval],
    prediction: str,
) -> torch.Tensor:
    """Exponential-integrator step with the polynomial through ``nodes`` (``nodes[0]`` at ``lambda_s``)."""
    lam_s = nodes[0].lam
    u = torch.tensor([(e.lam - lam_s) / h for e in nodes], dtype=torch.float64)
    k = len(nodes)
    V = u[:, None] ** torch.arange(k, dtype=torch.float64)[None, :]
    vals = torch.stack([e.value(prediction) for e in nodes]).reshape(k, -1)
    b = torch.linalg.solve(V, vals).reshape(k, *x.shape)
    sign = -1.0 if prediction == "data" else 1.0
    acc = sum(b[j] * (math.factorial(j) * h * phi(j + 1, sign * h)) for j in range(k))
    if prediction == "data":
        return (sched.sigma(tt) / sched.sigma(s)) * x + sched.alpha(tt) * acc
    return (sched.alpha(tt) / sched.alpha(s)) * x - sched.sigma(tt) * acc


def _predict(
    sched: VPSchedule, x: torch.Tensor, s: torch.Tensor, tt: torch.Tensor, hist: list[_Eval], c: StepChoice
) -> torch.Tensor:
    cur = hist[-1]
    h = float(sched.lam(tt)) - cur.lam
    m0 = cur.value(c.prediction)
    if c.prediction == "data":
        ratio, coef, phi_1 = sched.sigma(tt) / sched.sigma(s), sched.alpha(tt), math.expm1(-h)
    else:
        ratio, coef, phi_1 = sched.alpha(tt) / sched.alpha(s), sched.sigma(tt), math.expm1(h)
    if c.order == 1:
        return ratio * x - (coef * phi_1) * m0
    if c.order == 2 and not c.taylor:
        prev = hist[-2]
        r0 = (cur.lam - prev.lam) / h
        d1 = (1.0 / r0) * (m0 - prev.value(c.prediction))
        return ratio * x - (coef * phi_1) * m0 - 0.5 * (coef * phi_1) * d1
    return _poly_step(sched, x, s, tt, h, hist[::-1][: c.order], c.prediction)


@torch.no_grad()
def unified_sample(
    model: nn.Module, sched: VPSchedule, x_T: torch.Tensor, solver: SolverSchedule
) -> torch.Tensor:
    """Run the unified sampler ``solver`` from ``x_T``; exactly ``solver.nfe`` model evaluations.

    Step ``i`` from :math:`t_i` to :math:`t_{i+1}`: predictor with ``steps[i]`` on the last ``order``
    outputs; with the corrector, the model is evaluated at the predicted point and the step is redone
    with that output as one more node (order + 1); the next step starts from the corrected point and
    reuses the output at the predicted one (as in UniPC).
    """
    if not isinstance(solver, SolverSchedule):
        raise TypeError(f"solver must be a SolverSchedule, got {type(solver).__name__}")
    x = _check_noise(x_T)
    t = torch.tensor(solver.ts, dtype=torch.float64)
    hist = [_Eval(model, sched, x, t[0])]
    n = solver.nfe
    for i, c in enumerate(solver.steps):
        s, tt = t[i], t[i + 1]
        x_pred = _predict(sched, x, s, tt, hist, c)
        if i == n - 1:
            return x_pred
        new = _Eval(model, sched, x_pred, tt)
        if c.corrector:
            h = new.lam - hist[-1].lam
            x = _poly_step(sched, x, s, tt, h, [*hist[::-1][: c.order], new], c.prediction)
        else:
            x = x_pred
        hist = ([*hist, new])[-3:]
    raise AssertionError("unreachable")


def reference_solve(model: nn.Module, sched: VPSchedule, x_T: torch.Tensor, nfe: int = 500) -> torch.Tensor:
    """High-accuracy endpoint of the same probability-flow ODE: order-3 multistep (exact Taylor), logSNR grid."""
    ts = timesteps(sched, nfe, "logSNR")
    steps = tuple(StepChoice("data", min(3, i + 1), taylor=True) for i in range(nfe))
    return unified_sample(model, sched, x_T, SolverSchedule(tuple(ts.tolist()), steps))
