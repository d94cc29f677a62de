"""Hock-Schittkowski test problems with their published optima.

Source: W. Hock, K. Schittkowski, "Test Examples for Nonlinear Programming Codes", Lecture Notes in
Economics and Mathematical Systems 187, Springer, 1981 (problem data, starting points, f* and x*).
Inequalities are written ``c(x) >= 0`` as in the book. Values of f* are the book's (rounded there to
about 8-10 significant digits, i.e. well inside the 1e-6 the claims test).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from optarena.solvers.constrained.problem import ConstrainedProblem
from optarena.solvers.constrained.problems._autodiff import autodiff_problem

__all__ = ["HS_EQUALITY", "HS_PROBLEMS", "hs_problem"]

S2, S3 = math.sqrt(2.0), math.sqrt(3.0)


def hs6() -> ConstrainedProblem:
    return autodiff_problem(
        "HS6", lambda x, xp: (1 - x[0]) ** 2, [-1.2, 1.0],
        eq=lambda x, xp: [10 * (x[1] - x[0] ** 2)], m_eq=1, f_star=0.0, x_star=[1.0, 1.0],
    )  # fmt: skip


def hs7() -> ConstrainedProblem:
    return autodiff_problem(
        "HS7", lambda x, xp: xp.log(1 + x[0] ** 2) - x[1], [2.0, 2.0],
        eq=lambda x, xp: [(1 + x[0] ** 2) ** 2 + x[1] ** 2 - 4], m_eq=1,
        f_star=-S3, x_star=[0.0, S3],
    )  # fmt: skip


def hs9() -> ConstrainedProblem:
    # minimizers (12k - 3, 16k - 4), all with f* = -0.5
    return autodiff_problem(
        "HS9", lambda x, xp: xp.sin(math.pi * x[0] / 12) * xp.cos(math.pi * x[1] / 16), [0.0, 0.0],
        eq=lambda x, xp: [4 * x[0] - 3 * x[1]], m_eq=1, f_star=-0.5, x_star=None,
    )  # fmt: skip


def hs27() -> ConstrainedProblem:
    return autodiff_problem(
        "HS27", lambda x, xp: 0.01 * (x[0] - 1) ** 2 + (x[1] - x[0] ** 2) ** 2, [2.0, 2.0, 2.0],
        eq=lambda x, xp: [x[0] + x[2] ** 2 + 1], m_eq=1, f_star=0.04, x_star=[-1.0, 1.0, 0.0],
    )  # fmt: skip


def hs28() -> ConstrainedProblem:
    return autodiff_problem(
        "HS28", lambda x, xp: (x[0] + x[1]) ** 2 + (x[1] + x[2]) ** 2, [-4.0, 1.0, 1.0],
        eq=lambda x, xp: [x[0] + 2 * x[1] + 3 * x[2] - 1], m_eq=1,
        f_star=0.0, x_star=[0.5, -0.5, 0.5],
    )  # fmt: skip


def hs39() -> ConstrainedProblem:
    return autodiff_problem(
        "HS39", lambda x, xp: -x[0], [2.0, 2.0, 2.0, 2.0],
        eq=lambda x, xp: [x[1] - x[0] ** 3 - x[2] ** 2, x[0] ** 2 - x[1] - x[3] ** 2], m_eq=2,
        f_star=-1.0, x_star=[1.0, 1.0, 0.0, 0.0],
    )  # fmt: skip


def hs40() -> ConstrainedProblem:
    return autodiff_problem(
        "HS40", lambda x, xp: -x[0] * x[1] * x[2] * x[3], [0.8] * 4,
        eq=lambda x, xp: [x[0] ** 3 + x[1] ** 2 - 1, x[0] ** 2 * x[3] - x[2], x[3] ** 2 - x[1]],
        m_eq=3, f_star=-0.25,
        x_star=[2 ** (-1 / 3), 2 ** (-1 / 2), 2 ** (-11 / 12), 2 ** (-1 / 4)],
    )  # fmt: skip


def hs42() -> ConstrainedProblem:
    return autodiff_problem(
        "HS42",
        lambda x, xp: (x[0] - 1) ** 2 + (x[1] - 2) ** 2 + (x[2] - 3) ** 2 + (x[3] - 4) ** 2,
        [1.0] * 4,
        eq=lambda x, xp: [x[0] - 2, x[2] ** 2 + x[3] ** 2 - 2], m_eq=2,
        f_star=28 - 10 * S2, x_star=[2.0, 2.0, 0.6 * S2, 0.8 * S2],
    )  # fmt: skip


def hs48() -> ConstrainedProblem:
    return autodiff_problem(
        "HS48", lambda x, xp: (x[0] - 1) ** 2 + (x[1] - x[2]) ** 2 + (x[3] - x[4]) ** 2,
        [3.0, 5.0, -3.0, 2.0, -2.0],
        eq=lambda x, xp: [x[0] + x[1] + x[2] + x[3] + x[4] - 5, x[2] - 2 * (x[3] + x[4]) + 3],
        m_eq=2, f_star=0.0, x_star=[1.0] * 5,
    )  # fmt: skip


def hs51() -> ConstrainedProblem:
    return autodiff_problem(
        "HS51",
        lambda x, xp: (x[0] - x[1]) ** 2 + (x[1] + x[2] - 2) ** 2 + (x[3] - 1) ** 2 + (x[4] - 1) ** 2,
        [2.5, 0.5, 2.0, -1.0, 0.5],
        eq=lambda x, xp: [x[0] + 3 * x[1] - 4, x[2] + x[3] - 2 * x[4], x[1] - x[4]], m_eq=3,
        f_star=0.0, x_star=[1.0] * 5,
    )  # fmt: skip


def hs52() -> ConstrainedProblem:
    return autodiff_problem(
        "HS52",
        lambda x, xp: (4 * x[0] - x[1]) ** 2 + (x[1] + x[2] - 2) ** 2 + (x[3] - 1) ** 2 + (x[4] - 1) ** 2,
        [2.0] * 5,
        eq=lambda x, xp: [x[0] + 3 * x[1], x[2] + x[3] - 2 * x[4], x[1] - x[4]], m_eq=3,
        f_star=1859 / 349, x_star=[-33 / 349, 11 / 349, 180 / 349, -158 / 349, 11 / 349],
    )  # fmt: skip


def hs77() -> ConstrainedProblem:
    return autodiff_problem(
        "HS77",
        lambda x, xp: (x[0] - 1) ** 2 + (x[0] - x[1]) ** 2 + (x[2] - 1) ** 2 + (x[3] - 1) ** 4
        + (x[4] - 1) ** 6,
        [2.0] * 5,
        eq=lambda x, xp: [
            x[0] ** 2 * x[3] + xp.sin(x[3] - x[4]) - 2 * S2,
            x[1] + x[2] ** 4 * x[3] ** 2 - 8 - S2,
        ],
        m_eq=2, f_star=0.24150513,
        x_star=[1.166172, 1.182111, 1.380257, 1.506036, 0.6109203],
    )  # fmt: skip


def hs78() -> ConstrainedProblem:
    return autodiff_problem(
        "HS78", lambda x, xp: x[0] * x[1] * x[2] * x[3] * x[4], [-2.0, 1.5, 2.0, -1.0, -1.0],
        eq=lambda x, xp: [
            x[0] ** 2 + x[1] ** 2 + x[2] ** 2 + x[3] ** 2 + x[4] ** 2 - 10,
            x[1] * x[2] - 5 * x[3] * x[4],
            x[0] ** 3 + x[1] ** 3 + 1,
        ],
        m_eq=3, f_star=-2.91970041,
        x_star=[-1.717142, 1.595708, 1.827248, -0.7636429, -0.7636435],
    )  # fmt: skip


def hs79() -> ConstrainedProblem:
    return autodiff_problem(
        "HS79",
        lambda x, xp: (x[0] - 1) ** 2 + (x[0] - x[1]) ** 2 + (x[1] - x[2]) ** 2 + (x[2] - x[3]) ** 4
        + (x[3] - x[4]) ** 4,
        [2.0] * 5,
        eq=lambda x, xp: [
            x[0] + x[1] ** 2 + x[2] ** 3 - 2 - 3 * S2,
            x[1] - x[2] ** 2 + x[3] + 2 - 2 * S2,
            x[0] * x[4] - 2,
        ],
        m_eq=3, f_star=0.0787768209,
        x_star=[1.191127, 1.362603, 1.472818, 1.635017, 1.679081],
    )  # fmt: skip


def hs21() -> ConstrainedProblem:
    return autodiff_problem(
        "HS21", lambda x, xp: 0.01 * x[0] ** 2 + x[1] ** 2 - 100, [-1.0, -1.0],
        ineq=lambda x, xp: [10 * x[0] - x[1] - 10], m_ineq=1,
        lb=[2.0, -50.0], ub=[50.0, 50.0], f_star=-99.96, x_star=[2.0, 0.0],
    )  # fmt: skip


def hs35() -> ConstrainedProblem:
    return autodiff_problem(
        "HS35",
        lambda x, xp: 9 - 8 * x[0] - 6 * x[1] - 4 * x[2] + 2 * x[0] ** 2 + 2 * x[1] ** 2 + x[2] ** 2
        + 2 * x[0] * x[1] + 2 * x[0] * x[2],
        [0.5] * 3,
        ineq=lambda x, xp: [3 - x[0] - x[1] - 2 * x[2]], m_ineq=1,
        lb=[0.0] * 3, f_star=1 / 9, x_star=[4 / 3, 7 / 9, 4 / 9],
    )  # fmt: skip


def hs43() -> ConstrainedProblem:
    return autodiff_problem(
        "HS43",
        lambda x, xp: x[0] ** 2 + x[1] ** 2 + 2 * x[2] ** 2 + x[3] ** 2 - 5 * x[0] - 5 * x[1]
        - 21 * x[2] + 7 * x[3],
        [0.0] * 4,
        ineq=lambda x, xp: [
            8 - x[0] ** 2 - x[1] ** 2 - x[2] ** 2 - x[3] ** 2 - x[0] + x[1] - x[2] + x[3],
            10 - x[0] ** 2 - 2 * x[1] ** 2 - x[2] ** 2 - 2 * x[3] ** 2 + x[0] + x[3],
            5 - 2 * x[0] ** 2 - x[1] ** 2 - x[2] ** 2 - 2 * x[0] + x[1] + x[3],
        ],
        m_ineq=3, f_star=-44.0, x_star=[0.0, 1.0, 2.0, -1.0],
    )  # fmt: skip


def hs60() -> ConstrainedProblem:
    return autodiff_problem(
        "HS60", lambda x, xp: (x[0] - 1) ** 2 + (x[0] - x[1]) ** 2 + (x[1] - x[2]) ** 4, [2.0] * 3,
        eq=lambda x, xp: [x[0] * (1 + x[1] ** 2) + x[2] ** 4 - 4 - 3 * S2], m_eq=1,
        lb=[-10.0] * 3, ub=[10.0] * 3, f_star=0.0325682003,
        x_star=[1.104859, 1.196674, 1.535262],
    )  # fmt: skip


def hs65() -> ConstrainedProblem:
    return autodiff_problem(
        "HS65",
        lambda x, xp: (x[0] - x[1]) ** 2 + (x[0] + x[1] - 10) ** 2 / 9 + (x[2] - 5) ** 2,
        [-5.0, 5.0, 0.0],
        ineq=lambda x, xp: [48 - x[0] ** 2 - x[1] ** 2 - x[2] ** 2], m_ineq=1,
        lb=[-4.5, -4.5, -5.0], ub=[4.5, 4.5, 5.0], f_star=0.9535288567,
        x_star=[3.650461821, 3.65046168, 4.6204170507],
    )  # fmt: skip


def hs71() -> ConstrainedProblem:
    return autodiff_problem(
        "HS71", lambda x, xp: x[0] * x[3] * (x[0] + x[1] + x[2]) + x[2], [1.0, 5.0, 5.0, 1.0],
        eq=lambda x, xp: [x[0] ** 2 + x[1] ** 2 + x[2] ** 2 + x[3] ** 2 - 40], m_eq=1,
        ineq=lambda x, xp: [x[0] * x[1] * x[2] * x[3] - 25], m_ineq=1,
        lb=[1.0] * 4, ub=[5.0] * 4, f_star=17.0140173,
        x_star=[1.0, 4.7429994, 3.8211503, 1.3794082],
    )  # fmt: skip


def hs76() -> ConstrainedProblem:
    return autodiff_problem(
        "HS76",
        lambda x, xp: x[0] ** 2 + 0.5 * x[1] ** 2 + x[2] ** 2 + 0.5 * x[3] ** 2 - x[0] * x[2]
        + x[2] * x[3] - x[0] - 3 * x[1] + x[2] - x[3],
        [0.5] * 4,
        ineq=lambda x, xp: [
            5 - x[0] - 2 * x[1] - x[2] - x[3],
            4 - 3 * x[0] - x[1] - 2 * x[2] + x[3],
            x[1] + 4 * x[2] - 1.5,
        ],
        m_ineq=3, lb=[0.0] * 4, f_star=-103 / 22, x_star=[3 / 11, 23 / 11, 0.0, 6 / 11],
    )  # fmt: skip


def hs100() -> ConstrainedProblem:
    return autodiff_problem(
        "HS100",
        lambda x, xp: (x[0] - 10) ** 2 + 5 * (x[1] - 12) ** 2 + x[2] ** 4 + 3 * (x[3] - 11) ** 2
        + 10 * x[4] ** 6 + 7 * x[5] ** 2 + x[6] ** 4 - 4 * x[5] * x[6] - 10 * x[5] - 8 * x[6],
        [1.0, 2.0, 0.0, 4.0, 0.0, 1.0, 1.0],
        ineq=lambda x, xp: [
            127 - 2 * x[0] ** 2 - 3 * x[1] ** 4 - x[2] - 4 * x[3] ** 2 - 5 * x[4],
            282 - 7 * x[0] - 3 * x[1] - 10 * x[2] ** 2 - x[3] + x[4],
            196 - 23 * x[0] - x[1] ** 2 - 6 * x[5] ** 2 + 8 * x[6],
            -4 * x[0] ** 2 - x[1] ** 2 + 3 * x[0] * x[1] - 2 * x[2] ** 2 - 5 * x[5] + 11 * x[6],
        ],
        m_ineq=4, f_star=680.6300573,
        x_star=[2.330499, 1.951372, -0.4775414, 4.365726, -0.6244870, 1.038131, 1.594227],
    )  # fmt: skip


#: Equality-constrained problems (no inequalities, no bounds): the exact-AL method's domain.
HS_EQUALITY: dict[str, Callable[[], ConstrainedProblem]] = {
    "HS6": hs6, "HS7": hs7, "HS9": hs9, "HS27": hs27, "HS28": hs28, "HS39": hs39, "HS40": hs40,
    "HS42": hs42, "HS48": hs48, "HS51": hs51, "HS52": hs52, "HS77": hs77, "HS78": hs78, "HS79": hs79,
}  # fmt: skip
HS_PROBLEMS: dict[str, Callable[[], ConstrainedProblem]] = {
    **HS_EQUALITY,
    "HS21": hs21, "HS35": hs35, "HS43": hs43, "HS60": hs60, "HS65": hs65, "HS71": hs71,
    "HS76": hs76, "HS100": hs100,
}  # fmt: skip


def hs_problem(name: str) -> ConstrainedProblem:
    """Build one HS problem by name (``"HS71"``)."""
    from optarena.core.errors import UnknownNameError

    key = name.upper()
    if key not in HS_PROBLEMS:
        raise UnknownNameError("HS problem", name, list(HS_PROBLEMS))
    return HS_PROBLEMS[key]()
