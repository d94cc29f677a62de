"""scipy's own constrained test problems (scipy/optimize/tests/test_constraint_conversion.py and
test_minimize_constrained.py): Maratos (Nocedal & Wright, Numerical Optimization, 2006, Example 15.4)
and Elec (Dolan, Moré, Munson, "Benchmarking optimization software with COPS 3.0", ANL/MCS-TM-273,
2004: electrons on the unit sphere, the Thomson problem). Elec's f* are the known minimal Thomson
energies (E(4) = 3.674234614, E(5) = 6.474691495, E(6) = 9.985281374, E(8) = 19.675287861).
"""

from __future__ import annotations

import math

import numpy as np

from optarena.solvers.constrained.problem import ConstrainedProblem
from optarena.solvers.constrained.problems._autodiff import autodiff_problem

__all__ = ["THOMSON_ENERGY", "elec", "maratos"]

THOMSON_ENERGY = {2: 0.5, 3: math.sqrt(3.0), 4: 3.674234614, 5: 6.474691495, 6: 9.985281374, 8: 19.675287861}


def maratos(degrees: float = 60.0) -> ConstrainedProblem:
    """min 2(x1^2 + x2^2 - 1) - x1 s.t. x1^2 + x2^2 = 1; x* = (1, 0), f* = -1."""
    rad = math.radians(degrees)
    return autodiff_problem(
        "Maratos", lambda x, xp: 2 * (x[0] ** 2 + x[1] ** 2 - 1) - x[0], [math.cos(rad), math.sin(rad)],
        eq=lambda x, xp: [x[0] ** 2 + x[1] ** 2 - 1], m_eq=1, f_star=-1.0, x_star=[1.0, 0.0],
    )  # fmt: skip


def elec(n_electrons: int = 6, seed: int = 0) -> ConstrainedProblem:
    """Coulomb energy of ``n_electrons`` points on the unit sphere, x = (x coords, y coords, z coords)."""
    k = int(n_electrons)
    if k not in THOMSON_ENERGY:
        raise ValueError(f"elec: n_electrons must be one of {sorted(THOMSON_ENERGY)}, got {n_electrons!r}")
    rng = np.random.default_rng(seed)  # scipy's Elec starts from random angles too
    phi, theta = rng.uniform(0, 2 * np.pi, k), rng.uniform(0, np.pi, k)
    x0 = np.r_[np.cos(phi) * np.sin(theta), np.sin(phi) * np.sin(theta), np.cos(theta)]
    ii, jj = np.triu_indices(k, 1)

    def f(x, xp):
        px, py, pz = x[:k], x[k : 2 * k], x[2 * k :]
        d2 = (px[ii] - px[jj]) ** 2 + (py[ii] - py[jj]) ** 2 + (pz[ii] - pz[jj]) ** 2
        return (d2**-0.5).sum()

    def c(x, xp):
        v = x[:k] ** 2 + x[k : 2 * k] ** 2 + x[2 * k :] ** 2 - 1
        return [v[i] for i in range(k)]

    return autodiff_problem(f"Elec{k}", f, x0, eq=c, m_eq=k, f_star=THOMSON_ENERGY[k], x_star=None)
