r"""LV-HBA: proximal Lagrangian Value function-based Hessian-free Bi-level Algorithm.

W. Yao, C. Yu, S. Zeng, J. Zhang, "Constrained Bi-Level Optimization: Proximal Lagrangian Value function
Approach and Hessian-free Algorithm", ICLR 2024 (arXiv:2401.16164); authors' code
SUSTech-Optimization/LV-HBA.

The lower level ``min_y {f(x, y) : g(x, y) <= 0, h(x, y) = 0}`` is replaced by the constraint
``f(x, y) - v_gamma(x, y, z) <= 0`` with the proximal Lagrangian value function

.. math::
    v_\gamma(x, y, z) = \min_\theta \max_{\lambda \in \Lambda}\; f(x, \theta) + \lambda^\top c(x, \theta)
        + \frac{\|\theta - y\|^2}{2\gamma_1} - \frac{\|\lambda - z\|^2}{2\gamma_2},

``c = (g, h)`` and ``Lambda = [0, r]^{n_g} x [-r, r]^{n_h}``. One iteration (single loop, no Hessian):

.. math::
    \begin{aligned}
    \theta^{k+1} &= \mathrm{Proj}_Y\big(\theta^k - \eta(\nabla_y f(x^k,\theta^k)
        + \nabla_y c(x^k,\theta^k)^\top\lambda^k + (\theta^k - y^k)/\gamma_1)\big) \\
    \lambda^{k+1} &= \mathrm{Proj}_\Lambda\big(\lambda^k + \eta(c(x^k,\theta^k) - (\lambda^k - z^k)/\gamma_2)\big) \\
    d_x &= \nabla_x F(x^k,y^k)/c_k + \nabla_x f(x^k,y^k) - \nabla_x f(x^k,\theta^{k+1})
        - \nabla_x c(x^k,\theta^{k+1})^\top \lambda^{k+1} \\
    d_y &= \nabla_y F(x^k,y^k)/c_k + \nabla_y f(x^k,y^k) - (y^k - \theta^{k+1})/\gamma_1 \\
    (x^{k+1}, y^{k+1}) &= \mathrm{Proj}_{C}\big((x^k, y^k) - \alpha (d_x, d_y)\big), \qquad
    z^{k+1} = \mathrm{Proj}_\Lambda\big(z^k + \beta(\lambda^{k+1} - z^k)/\gamma_2\big)
    \end{aligned}

with the penalty schedule ``c_k = c_0 (k + 1)^p``.

Defaults are the paper's toy-example settings (Section 5.1 / the authors' ``Toy-example/LLC/LV-HBA.py``):
``alpha=0.008, beta=0.02, eta=0.01, gamma1=gamma2=10, c0=0.025, p=0.3, r=1e3``. Departures: the
multipliers and ``z`` start at 0 and theta at y0 by default (options ``lam0``, ``z0``, ``theta0``; the
code starts the equality multiplier at 1, z at -1 and theta at the projected 1); the code clips the equality multiplier to ``[-r, r]``, which is what we do for
equality constraints (inequalities use ``[0, r]`` as in the paper).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from optarena.solvers.bilevel._problem import (
    BilevelProblem,
    BilevelProblemError,
    Oracle,
    as_vector,
    check_options,
    check_positive,
)

__all__ = ["LVHBA_DEFAULTS", "run_lvhba"]

LVHBA_DEFAULTS: dict[str, Any] = {
    "alpha": 0.008,
    "beta": 0.02,
    "eta": 0.01,
    "gamma1": 10.0,
    "gamma2": 10.0,
    "c0": 0.025,
    "p": 0.3,
    "r": 1e3,
    "lam0": 0.0,
    "z0": 0.0,
    "theta0": None,
}


def run_lvhba(
    problem: BilevelProblem,
    oracle: Oracle,
    max_iter: int,
    options: dict[str, Any],
    record: Callable[[int, Tensor, Tensor], bool],
) -> tuple[Tensor, Tensor, dict[str, Any]]:
    check_options(options, LVHBA_DEFAULTS, "lv-hba")
    o = {**LVHBA_DEFAULTS, **options}
    for name in ("alpha", "beta", "eta", "gamma1", "gamma2", "c0", "r"):
        check_positive(name, o[name])
    check_positive("p", o["p"], allow_zero=True)
    alpha, beta, eta, g1, g2, r = (float(o[k]) for k in ("alpha", "beta", "eta", "gamma1", "gamma2", "r"))
    x, y = problem.proj_xy(problem.x0.clone(), problem.y0.clone())
    theta = problem.proj_y(y.clone() if o["theta0"] is None else as_vector(o["theta0"], "theta0"))
    if theta.shape != y.shape:
        raise BilevelProblemError(f"option theta0 must have shape {tuple(y.shape)}, got {tuple(theta.shape)}")
    m = problem.n_g + problem.n_h
    lam, z = x.new_full((m,), float(o["lam0"])), x.new_full((m,), float(o["z0"]))
    lo = torch.cat([x.new_zeros(problem.n_g), x.new_full((problem.n_h,), -r)])

    def proj_lam(v: Tensor) -> Tensor:
        return torch.minimum(torch.maximum(v, lo), lo.new_full(lo.shape, r))

    for k in range(max_iter):
        ck = float(o["c0"]) * (k + 1) ** float(o["p"])
        # theta, lambda: one projected gradient descent-ascent step on the proximal Lagrangian.
        _, fy_t = oracle.grad_f(x, theta)
        if m:
            c, _, cy = oracle.cons_and_grad(x, theta, lam)
            lam_new = proj_lam(lam + eta * (c - (lam - z) / g2))
        else:
            cy, lam_new = torch.zeros_like(theta), lam
        theta = problem.proj_y(theta - eta * (fy_t + cy + (theta - y) / g1))
        lam = lam_new
        # (x, y): gradient step on F / c_k + f - v_gamma, with the envelope gradients of v_gamma.
        Fx, Fy = oracle.grad_F(x, y)
        fx, fy = oracle.grad_f(x, y)
        fx_t, _ = oracle.grad_f(x, theta)
        cx = oracle.cons_and_grad(x, theta, lam)[1] if m else torch.zeros_like(x)
        dx = Fx / ck + fx - fx_t - cx
        dy = Fy / ck + fy - (y - theta) / g1
        x, y = problem.proj_xy(x - alpha * dx, y - alpha * dy)
        if m:
            z = proj_lam(z + beta * (lam - z) / g2)
        if record(k + 1, x, y):
            break
    return x, y, {"theta": theta.numpy().copy(), "multipliers": lam.numpy().copy()}
