r"""The penalty method for bilevel optimization, deterministic and stochastic forms.

J. Kwon, D. Kwon, S. Wright, R. Nowak, "On Penalty Methods for Nonconvex Bilevel Optimization and
First-Order Stochastic Approximation", ICLR 2024 (arXiv:2309.01753). No official code; this follows the
paper's double-loop algorithm. (The paper writes f for the upper and g for the lower objective; we write
F and f.)

With ``h_sigma(x, y) = sigma F(x, y) + f(x, y)`` the penalized hyper-objective is

.. math::
    \psi_\sigma(x) = \frac{\min_{y \in Y} h_\sigma(x, y) - \min_{z \in Y} f(x, z)}{\sigma},
    \qquad |\psi_\sigma - \psi| = O(\sigma), \quad \|\nabla\psi_\sigma - \nabla\psi\| = O(\sigma)

under a proximal error bound, and, by Danskin,
``grad psi_sigma(x) = grad_x F(x, y_sigma) + (grad_x f(x, y_sigma) - grad_x f(x, z*)) / sigma``.
One outer iteration:

.. math::
    \begin{aligned}
    y &\leftarrow T \text{ projected gradient steps (step } \gamma) \text{ on } h_{\sigma_k}(x_k, \cdot)
        \text{ from the previous } y \\
    z &\leftarrow T \text{ projected gradient steps on } f(x_k, \cdot) \text{ from the previous } z \\
    x_{k+1} &= \mathrm{Proj}_X\big(x_k - \alpha\,[\nabla_x F(x_k, y)
        + (\nabla_x f(x_k, y) - \nabla_x f(x_k, z))/\sigma_k]\big)
    \end{aligned}

The stochastic form (``stochastic=True``, finite-sum problems) replaces every gradient by a minibatch
gradient (``batch_size`` samples, drawn afresh for each gradient; the two ``grad_x f`` terms of one
x-step share their minibatch, which keeps the difference unbiased with less variance).

``sigma -> 0``: ``sigma_k = max(sigma, sigma0 (k + 1)^(-sigma_power))``; with the default
``sigma0 = 0`` the penalty is constant, ``sigma_k = sigma`` (the paper's analysis fixes sigma = O(eps)).

Lower-level constraints: the paper's lower level lives on a closed convex set Y (``project_y``);
coupled constraints ``g``/``h`` are not supported here (LV-HBA handles them).

Defaults (the paper sets step sizes from smoothness constants, not numbers; ours suit problems scaled to
unit smoothness): ``sigma=0.01, alpha=0.05, gamma=0.1, inner_steps=20, batch_size=32``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor

from optarena.core.errors import IncompatibleError
from optarena.solvers.bilevel._problem import BilevelProblem, Oracle, check_options, check_positive

__all__ = ["PENALTY_DEFAULTS", "run_penalty"]

PENALTY_DEFAULTS: dict[str, Any] = {
    "sigma": 0.01,
    "sigma0": 0.0,
    "sigma_power": 0.5,
    "alpha": 0.05,
    "gamma": 0.1,
    "inner_steps": 20,
    "stochastic": False,
    "batch_size": 32,
}


def run_penalty(
    problem: BilevelProblem,
    oracle: Oracle,
    max_iter: int,
    options: dict[str, Any],
    record: Callable[[int, Tensor, Tensor], bool],
) -> tuple[Tensor, Tensor, dict[str, Any]]:
    check_options(options, PENALTY_DEFAULTS, "penalty")
    o = {**PENALTY_DEFAULTS, **options}
    for name in ("sigma", "alpha", "gamma"):
        check_positive(name, o[name])
    check_positive("sigma0", o["sigma0"], allow_zero=True)
    check_positive("sigma_power", o["sigma_power"], allow_zero=True)
    check_positive("inner_steps", o["inner_steps"], integer=True)
    check_positive("batch_size", o["batch_size"], integer=True)
    if problem.constrained:
        raise IncompatibleError(
            f"{problem.name}: the penalty method handles a lower level on a convex set (project_y), "
            "not coupled constraints g/h; use method='lv-hba'"
        )
    stochastic = bool(o["stochastic"])
    if stochastic and problem.n_samples is None:
        raise IncompatibleError(
            f"{problem.name}: stochastic=True needs a finite-sum problem (n_samples=(n_upper, n_lower))"
        )
    alpha, gamma, T, bs = float(o["alpha"]), float(o["gamma"]), int(o["inner_steps"]), int(o["batch_size"])

    def batch(which: str) -> Tensor | None:
        return oracle.sample(which, bs) if stochastic else None

    x = problem.proj_x(problem.x0.clone())
    y = problem.proj_y(problem.y0.clone())
    z = y.clone()
    sigma = float(o["sigma"])
    for k in range(max_iter):
        sigma = max(float(o["sigma"]), float(o["sigma0"]) * (k + 1) ** (-float(o["sigma_power"])))
        for _ in range(T):
            Fy = oracle.grad_F(x, y, batch("F"))[1]
            fy = oracle.grad_f(x, y, batch("f"))[1]
            y = problem.proj_y(y - gamma * (sigma * Fy + fy))
            z = problem.proj_y(z - gamma * oracle.grad_f(x, z, batch("f"))[1])
        Fx = oracle.grad_F(x, y, batch("F"))[0]
        idx = batch("f")
        d = Fx + (oracle.grad_f(x, y, idx)[0] - oracle.grad_f(x, z, idx)[0]) / sigma
        x = problem.proj_x(x - alpha * d)
        if record(k + 1, x, z):
            break
    # Report the lower-level iterate z: it is the approximate lower-level solution at x
    # (y solves the penalized problem and is O(sigma) off the lower-level solution set).
    return x, z, {"y_sigma": y.numpy().copy(), "sigma": sigma}
