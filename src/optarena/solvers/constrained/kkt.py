"""Feasibility, least-squares multipliers and KKT residual, recomputed from the problem.

Sign convention: ``L(x, lam, mu, z) = f - lam^T c_E - mu^T c_I - z_l^T (x - lb) - z_u^T (ub - x)`` with
``mu, z_l, z_u >= 0``. The multipliers solve the (bound-constrained) least-squares problem
``min || grad f - J_E^T lam - J_A^T mu - z_l + z_u ||`` over the constraints and bounds that are
nearly active (``c_I <= active_tol``, ``x - lb <= active_tol (1 + |lb|)``), so no solver's own
multipliers or KKT claim is trusted. The KKT residual is the Euclidean norm of
``(stationarity, infeasibility, complementarity)``; for an equality-only problem it equals the
``||(grad_x L, c)||`` of Hong et al. (2023).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import lsq_linear

from optarena.solvers.constrained.problem import ConstrainedProblem

__all__ = ["KKTReport", "kkt_report"]


@dataclass(frozen=True)
class KKTReport:
    fun: float
    constr_violation: float  # max-norm of the infeasibility
    kkt_residual: float
    stationarity: float
    lam_eq: np.ndarray
    mu_ineq: np.ndarray
    z_lower: np.ndarray
    z_upper: np.ndarray


def kkt_report(p: ConstrainedProblem, x: np.ndarray, active_tol: float = 1e-4) -> KKTReport:
    x = np.asarray(x, dtype=float)
    n = x.size
    f = float(p.fun(x))
    g = np.asarray(p.grad(x), dtype=float)
    ce, je = p.eq_val(x), p.eq_jac(x)
    ci, ji = p.ineq_val(x), p.ineq_jac(x)
    lb, ub = p.bounds()
    infeas = np.concatenate(
        [
            ce,
            np.minimum(ci, 0.0),
            np.maximum(lb - x, 0.0)[np.isfinite(lb)],
            np.maximum(x - ub, 0.0)[np.isfinite(ub)],
        ]
    )
    if not (np.isfinite(f) and np.all(np.isfinite(g)) and np.all(np.isfinite(infeas))):
        nan = np.full(0, np.nan)
        return KKTReport(f, float("inf"), float("inf"), float("inf"), nan, nan, nan, nan)
    act_i = np.flatnonzero(ci <= active_tol)
    act_l = np.flatnonzero(np.isfinite(lb) & (x - lb <= active_tol * (1 + np.abs(lb))))
    act_u = np.flatnonzero(np.isfinite(ub) & (ub - x <= active_tol * (1 + np.abs(ub))))
    eye = np.eye(n)
    cols = [je.T, ji[act_i].T, eye[:, act_l], -eye[:, act_u]]
    a = np.hstack(cols) if any(c.shape[1] for c in cols) else np.zeros((n, 0))
    m_e = je.shape[0]
    k = a.shape[1]
    if k == 0:
        y = np.zeros(0)
    elif k == m_e:
        y = np.linalg.lstsq(a, g, rcond=None)[0]
    else:
        lo = np.r_[np.full(m_e, -np.inf), np.zeros(k - m_e)]
        y = lsq_linear(a, g, bounds=(lo, np.full(k, np.inf)), method="bvls", tol=1e-14).x
    stat = g - a @ y if k else g
    lam = y[:m_e]
    mu = np.zeros(ci.size)
    mu[act_i] = y[m_e : m_e + act_i.size]
    o = m_e + act_i.size
    zl = np.zeros(n)
    zl[act_l] = y[o : o + act_l.size]
    zu = np.zeros(n)
    zu[act_u] = y[o + act_l.size :]
    with np.errstate(invalid="ignore"):
        comp = np.concatenate(
            [mu * np.maximum(ci, 0.0), np.where(zl > 0, zl * np.maximum(x - lb, 0.0), 0.0),
             np.where(zu > 0, zu * np.maximum(ub - x, 0.0), 0.0)]
        )  # fmt: skip
    viol = float(np.max(np.abs(infeas))) if infeas.size else 0.0
    kkt = float(np.linalg.norm(np.concatenate([stat, infeas, comp])))
    return KKTReport(f, viol, kkt, float(np.linalg.norm(stat)), lam, mu, zl, zu)
