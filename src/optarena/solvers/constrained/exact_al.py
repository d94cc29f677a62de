r"""Adaptive inexact Newton on the exact augmented Lagrangian, with randomized iterative sketching.

Reference: Ilgee Hong, Sen Na, Michael W. Mahoney, Mladen Kolar, "Constrained Optimization via
Exact Augmented Lagrangian and Randomized Iterative Sketching", ICML 2023 (arXiv:2305.18379);
authors' code: github.com/IlgeeHong/AdaSketch-Newton (Julia), whose defaults we follow.

Problem: :math:`\min f(x)` s.t. :math:`c(x) = 0` (equality constraints only). With
:math:`L = f + \lambda^\top c`, :math:`G = \nabla c^\top`, the merit function is the exact augmented
Lagrangian

.. math::
    \mathcal L_\eta(x, \lambda) = L + \tfrac{\eta_1}{2}\|c\|^2 + \tfrac{\eta_2}{2}\|\nabla_x L\|^2,\quad
    \nabla \mathcal L_\eta = \begin{pmatrix}\nabla_x L + \eta_2 \nabla^2_x L\, \nabla_x L + \eta_1 G^\top c\\
    c + \eta_2 G \nabla_x L\end{pmatrix}.

Each iteration:

1. :math:`\xi_G = \lambda_{\min}(GG^\top)`; if :math:`\xi_G <` ``licq_tol`` stop (LICQ fails: status 4).
2. :math:`B = \nabla^2_x L + t I`, with :math:`t = \xi_B + \|\nabla^2_x L\|_F` when the reduced Hessian
   :math:`Z^\top \nabla_x^2 L Z` has an eigenvalue below 1e-6, else :math:`t = 0`.
3. :math:`\psi = 20 \max(\|B\|_F^2, 1)/(\min(\xi_G,1)\min(\xi_B,1))`,
   :math:`\Upsilon = \max(\|G\|_F, \|\nabla^2_x L\|_F, 1)`,
   :math:`\delta_{trial} = (1/2-\beta)\eta_2/((1+\eta_1+\eta_2)\Upsilon^2\psi^2)`,
   :math:`\delta \leftarrow \max(\min(\delta, \delta_{trial}), 10^{-6})`.
4. Solve :math:`K d = b`, :math:`K = [[B, G^\top], [G, 0]]`, :math:`b = -(\nabla_x L; c)` until
   :math:`\|K\|_F\,\psi\,\|Kd - b\|\le\delta\|b\|` (at most ``max_inner`` sketch steps per solve) by

   * randomized Kaczmarz (``solver="kaczmarz"``): row :math:`i` uniform,
     :math:`d \leftarrow d - (K_i d - b_i) K_i^\top / \|K_i\|^2`;
   * Gaussian sketching (``solver="gaussian"``): :math:`s \sim N(0, I)`, :math:`w = K^\top s`,
     :math:`d \leftarrow d - (s^\top (Kd - b)) w / \|w\|^2`;
   * or an exact LU solve (``solver="exact"``).
5. If :math:`\nabla\mathcal L_\eta^\top d > -\tfrac{\eta_2}{2}\|b\|^2`: :math:`\eta_1 \leftarrow \nu^2\eta_1`,
   :math:`\eta_2 \leftarrow \eta_2/\nu`, :math:`\delta \leftarrow \max(\min(\delta/\nu^4,\delta_{trial}), 10^{-6})`
   and re-solve from the current :math:`d` (unless :math:`\eta_1 > 10^8` or :math:`\eta_2 < 10^{-8}`).
6. Armijo backtracking :math:`\alpha \in \{1, 1/2, \dots\}` until
   :math:`\mathcal L_\eta(z + \alpha d) \le \mathcal L_\eta(z) + \alpha\beta \nabla\mathcal L_\eta^\top d`;
   :math:`(x, \lambda) \leftarrow (x, \lambda) + \alpha d`.

Stop when :math:`\|(\nabla_x L, c)\| \le` ``tol``. Defaults (authors' code): :math:`\eta_1 = 1`,
:math:`\eta_2 = 0.1`, :math:`\delta = 0.1`, :math:`\xi_B = 0.1`, :math:`\beta = 0.1`, :math:`\nu = 1.5`,
``max_inner`` = 1e5, ``licq_tol`` = 1e-2, ``maxiter`` = 1e4, :math:`\lambda_0 = 0`.

Cost units (``counters``): ``row_ops``: rows of :math:`K` touched by the sketch solver (one per
Kaczmarz step, :math:`N = n + m` per Gaussian step); ``flops``: estimated floating-point operations
of the direction computation (exact LU: :math:`\tfrac23 N^3 + 2N^2` per solve; Kaczmarz: :math:`4N` per
step plus :math:`2N^2` per residual check; Gaussian: :math:`4N^2` per step).

Departures: (a) the merit gradient uses :math:`\nabla^2_x L` as in the paper; the authors' code uses
:math:`\nabla^2 f` there. (b) The Kaczmarz residual norm is recomputed every ``max(1, N // 4)`` steps
(the authors recompute it every step at :math:`O(N^2)` cost), so a solve may overshoot its accuracy
by less than ``N / 4`` steps; every step taken is counted. (c) A line search that needs more than
``max_ls`` halvings stops the run with status 4 instead of looping.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optarena.solvers.constrained._run import BudgetExhausted, CallbackStop, Evaluator, RawResult
from optarena.solvers.constrained.problem import ConstrainedProblem

__all__ = ["EXACT_AL_DEFAULTS", "solve_exact_al"]

Array = np.ndarray

EXACT_AL_DEFAULTS: dict[str, Any] = {
    "eta1": 1.0, "eta2": 0.1, "delta": 0.1, "xi_B": 0.1, "beta": 0.1, "nu": 1.5,
    "max_inner": 100_000, "licq_tol": 1e-2, "max_ls": 60, "maxiter": 10_000, "seed": 0,
}  # fmt: skip


class _Sketch:
    """Iterative solvers of K d = b with counted cost; ``solve`` continues from the current ``d``."""

    def __init__(self, kind: str, rng: np.random.Generator, tick: Any) -> None:
        self.kind, self.rng, self.tick = kind, rng, tick  # tick() raises when the time budget is spent
        self.row_ops = self.flops = self.steps = self.capped = 0

    def solve(self, k: Array, b: Array, d: Array, thresh: float, max_inner: int) -> Array:
        n = b.size
        if self.kind == "exact":
            self.flops += 2 * n**3 / 3 + 2 * n**2
            try:
                return np.linalg.solve(k, b)
            except np.linalg.LinAlgError:
                return np.linalg.lstsq(k, b, rcond=None)[0]
        r = k @ d - b
        self.flops += 2 * n**2
        t = 0
        if self.kind == "kaczmarz":
            rn2 = np.einsum("ij,ij->i", k, k)
            rows = np.flatnonzero(rn2 > 0)
            every = max(1, n // 4)
            while np.linalg.norm(r) > thresh and t < max_inner:
                for i in rows[self.rng.integers(0, rows.size, size=min(every, max_inner - t))]:
                    ki = k[i]
                    d = d - ((ki @ d - b[i]) / rn2[i]) * ki
                    t += 1
                r = k @ d - b
                self.flops += 2 * n**2
                self.tick()
            self.row_ops += t
            self.flops += 4 * n * t
        else:  # gaussian
            while np.linalg.norm(r) > thresh and t < max_inner:
                s = self.rng.standard_normal(n)
                w = k.T @ s
                ww = w @ w
                if ww == 0.0:
                    continue
                d = d - ((s @ r) / ww) * w
                r = k @ d - b
                t += 1
                if t % 64 == 0:
                    self.tick()
            self.row_ops += n * t
            self.flops += 4 * n**2 * t
        self.steps += t
        self.capped += int(t >= max_inner)
        return d


def _modified_hessian(h: Array, g: Array, xi_b: float) -> Array:
    n, m = h.shape[0], g.shape[0]
    if m < n:
        q, _ = np.linalg.qr(g.T, mode="complete")
        z = q[:, m:]
        if np.linalg.eigvalsh(z.T @ h @ z).min() < 1e-6:
            return h + (xi_b + np.linalg.norm(h)) * np.eye(n)
    return h


def solve_exact_al(
    problem: ConstrainedProblem, ev: Evaluator, options: dict[str, Any], solver: str, tol: float
) -> RawResult:
    """Run the method on ``problem`` (equality constraints only); ``solver`` is exact|kaczmarz|gaussian."""
    o = {**EXACT_AL_DEFAULTS, **options}
    eta1, eta2, delta = float(o["eta1"]), float(o["eta2"]), float(o["delta"])
    xi_b, beta, nu = float(o["xi_B"]), float(o["beta"]), float(o["nu"])
    max_inner, max_ls, maxiter = int(o["max_inner"]), int(o["max_ls"]), int(o["maxiter"])
    sk = _Sketch(solver, np.random.default_rng(int(o["seed"])), ev.tick)
    x = np.asarray(problem.x0, dtype=float).copy()
    n, m = x.size, problem.m_eq
    lam = np.zeros(m)
    n_merit = 0

    def state(xv: Array, lv: Array) -> tuple[float, Array, Array, Array]:
        f, g, c, jac = ev.fun(xv), ev.grad(xv), ev.eq(xv), ev.eq_jac(xv)
        return f, c, jac, g + jac.T @ lv

    def merit(f: float, c: Array, lv: Array, gl: Array) -> float:
        return f + c @ lv + 0.5 * eta1 * (c @ c) + 0.5 * eta2 * (gl @ gl)

    def counters() -> dict[str, float]:
        return {"row_ops": sk.row_ops, "flops": sk.flops, "inner_steps": sk.steps, "capped_solves": sk.capped,
                "merit_evals": n_merit, "eta1": eta1, "eta2": eta2, "delta": delta}  # fmt: skip

    def done(ok: bool, status: int, msg: str, nit: int) -> RawResult:
        return RawResult(x, ok, status, msg, nit, counters(), {"eq": lam.copy(), "sign": "L = f + lam^T c"})

    f, c, jac, gl = state(x, lam)
    kkt = float(np.linalg.norm(np.r_[gl, c]))
    nit = 0
    try:
        ev.iteration(0, x, alpha=np.nan)
        while kkt > tol:
            if nit >= maxiter:
                return done(False, 1, f"iteration limit {maxiter} reached (KKT {kkt:.3g})", nit)
            h = ev.hess_lagrangian(x, lam)
            xi_g = float(np.linalg.eigvalsh(jac @ jac.T).min()) if m else 1.0
            if xi_g < float(o["licq_tol"]):
                return done(False, 4, f"LICQ fails: lambda_min(G G^T) = {xi_g:.3g} < {o['licq_tol']}", nit)
            bmat = _modified_hessian(h, jac, xi_b)
            psi = 20 * max(np.linalg.norm(bmat) ** 2, 1.0) / (min(xi_g, 1.0) * min(xi_b, 1.0))
            ups = max(np.linalg.norm(jac), np.linalg.norm(h), 1.0)

            def d_trial(e1: float, e2: float, u: float = ups, ps: float = psi) -> float:
                return (0.5 - beta) * e2 / ((1 + e1 + e2) * u**2 * ps**2)

            delta = max(min(delta, d_trial(eta1, eta2)), 1e-6)
            kmat = np.block([[bmat, jac.T], [jac, np.zeros((m, m))]])
            b = -np.r_[gl, c]
            nb, nk = np.linalg.norm(b), np.linalg.norm(kmat)
            d = np.zeros(n + m)
            while True:
                d = sk.solve(kmat, b, d, delta * nb / (nk * psi), max_inner)
                gm = np.r_[gl + eta2 * (h @ gl) + eta1 * (jac.T @ c), c + eta2 * (jac @ gl)]
                slope = float(gm @ d)
                if eta1 > 1e8 or eta2 < 1e-8 or slope <= -0.5 * eta2 * nb**2:
                    break
                eta1, eta2 = eta1 * nu**2, eta2 / nu
                delta = max(min(delta / nu**4, d_trial(eta1, eta2)), 1e-6)
            m0 = merit(f, c, lam, gl)
            alpha, ls = 1.0, 0
            while True:
                xt, lt = x + alpha * d[:n], lam + alpha * d[n:]
                ft, ct, jt, glt = state(xt, lt)
                n_merit += 1
                mt = merit(ft, ct, lt, glt)
                if np.isfinite(mt) and mt <= m0 + alpha * beta * slope:
                    break
                ls += 1
                if ls > max_ls:
                    return done(False, 4, f"line search failed after {max_ls} halvings (KKT {kkt:.3g})", nit)
                alpha *= 0.5
            x, lam, f, c, jac, gl = xt, lt, ft, ct, jt, glt
            kkt = float(np.linalg.norm(np.r_[gl, c]))
            nit += 1
            ev.iteration(nit, x, alpha=alpha, eta1=eta1, eta2=eta2, row_ops=sk.row_ops, flops=sk.flops)
    except CallbackStop:
        return done(False, 5, "stopped by callback", nit)
    except BudgetExhausted as exc:
        return done(False, exc.status, str(exc), nit)
    return done(True, 0, f"KKT residual {kkt:.3g} <= tol {tol:g}", nit)
