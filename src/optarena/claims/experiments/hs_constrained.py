"""Claim: on the HS subset every constrained solver we ship reaches |f - f*| <= 1e-6 and KKT <= 1e-6,
or says it failed (success=False). A *silent failure* is a run with success=True that misses either
bound; feasibility and KKT are recomputed by us. Each solver runs on the HS problems of the kinds it
handles (exact-AL: equality-only problems), tol = 1e-6, the seed feeding the randomized solvers.
"""

from __future__ import annotations

import math

from optarena.solvers.constrained import available_methods, solve
from optarena.solvers.constrained.api import METHODS
from optarena.solvers.constrained.problems.hs import HS_PROBLEMS, hs_problem

QUICK_PROBLEMS = ("HS28", "HS48", "HS35", "HS71")


def measure(
    seed: int, quick: bool, problems: tuple[str, ...] | None = None, max_time: float = 120.0
) -> dict[str, float]:
    names = problems or (QUICK_PROBLEMS if quick else tuple(HS_PROBLEMS))
    out: dict[str, float] = {}
    runs = silent = solver_silent = solved = 0
    for method in available_methods():
        info = METHODS[method]
        m_runs = m_solved = m_silent = 0
        for name in names:
            p = hs_problem(name)
            if not p.kinds <= info.kinds:
                continue
            opts = {"history_kkt": False, "max_time": max_time}
            if info.randomized:
                opts["seed"] = seed
            r = solve(p, method, tol=1e-6, options=opts)
            good = abs(r.fun - p.f_star) <= 1e-6 and r.kkt_residual <= 1e-6 and r.constr_violation <= 1e-6
            m_runs += 1
            m_solved += int(bool(r.success) and good)
            m_silent += int(bool(r.success) and not good)
            solver_silent += int(r.solver_success and not good)
        out[f"{method}_solved_fraction"] = m_solved / m_runs if m_runs else math.nan
        out[f"{method}_silent_failures"] = m_silent
        runs, solved, silent = runs + m_runs, solved + m_solved, silent + m_silent
    out.update(
        runs=runs,
        silent_failures=silent,
        solved_fraction=solved / runs,
        solver_flag_silent_failures=solver_silent,  # what trusting the solvers' own flags would give
        ipopt_available=float("ipopt" in available_methods()),
    )
    return out
