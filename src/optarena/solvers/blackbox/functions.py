"""Black-box test functions with known optima (minimization), vectorized over rows of ``x``.

Each :class:`TestFunction` carries its bounds, its minimum value ``fmin`` and its minimizers, so
tests and claims compute simple regret ``f(x_best) - fmin`` without a solver.

References: Branin and Hartmann6 as in Dixon & Szego, "The global optimization problem: an
introduction", 1978 (constants from Surjanovic & Bingham's Virtual Library of Simulation Experiments);
Ackley, "A connectionist machine for genetic hillclimbing", 1987; Rosenbrock, The Computer Journal, 1960.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "ACKLEY",
    "BRANIN",
    "HARTMANN6",
    "ROSENBROCK",
    "TestFunction",
    "ackley",
    "branin",
    "hartmann6",
    "noisy_quadratic",
    "quadratic",
    "rosenbrock",
]


def _rows(x: np.ndarray, dim: int | None = None) -> tuple[np.ndarray, bool]:
    a = np.asarray(x, dtype=np.float64)
    single = a.ndim == 1
    a = np.atleast_2d(a)
    if dim is not None and a.shape[1] != dim:
        raise ValueError(f"expected points of dimension {dim}, got shape {np.shape(x)}")
    return a, single


def _out(v: np.ndarray, single: bool) -> np.ndarray | float:
    return float(v[0]) if single else v


def branin(x: np.ndarray) -> np.ndarray | float:
    """Branin-Hoo on [-5, 10] x [0, 15]; minimum 0.397887 at three points."""
    a, single = _rows(x, 2)
    x1, x2 = a[:, 0], a[:, 1]
    b, c, r, s, t = 5.1 / (4 * np.pi**2), 5 / np.pi, 6.0, 10.0, 1 / (8 * np.pi)
    return _out((x2 - b * x1**2 + c * x1 - r) ** 2 + s * (1 - t) * np.cos(x1) + s, single)


_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H6_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ],
    dtype=np.float64,
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ],
    dtype=np.float64,
)


def hartmann6(x: np.ndarray) -> np.ndarray | float:
    """Hartmann 6-D on [0, 1]^6; minimum -3.32237 at (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573)."""
    a, single = _rows(x, 6)
    inner = np.einsum("ij,nij->ni", _H6_A, (a[:, None, :] - _H6_P[None]) ** 2)
    return _out(-np.exp(-inner) @ _H6_ALPHA, single)


def ackley(x: np.ndarray) -> np.ndarray | float:
    """Ackley (a=20, b=0.2, c=2 pi), any dimension; minimum 0 at the origin."""
    a, single = _rows(x)
    d = a.shape[1]
    s1 = np.sqrt(np.sum(a**2, axis=1) / d)
    s2 = np.sum(np.cos(2 * np.pi * a), axis=1) / d
    return _out(-20 * np.exp(-0.2 * s1) - np.exp(s2) + 20 + np.e, single)


def rosenbrock(x: np.ndarray) -> np.ndarray | float:
    """Rosenbrock, any dimension >= 2; minimum 0 at the all-ones point."""
    a, single = _rows(x)
    if a.shape[1] < 2:
        raise ValueError(f"rosenbrock needs dimension >= 2, got {a.shape[1]}")
    return _out(np.sum(100 * (a[:, 1:] - a[:, :-1] ** 2) ** 2 + (1 - a[:, :-1]) ** 2, axis=1), single)


def quadratic(dim: int, condition: float = 10.0, seed: int = 0) -> TestFunction:
    """``f(x) = sum_i lam_i (x_i - c_i)^2`` on [-3, 3]^dim, lam log-spaced in [1, condition], c ~ U[-1, 1]^dim.

    Minimum 0 at ``c`` (drawn from ``seed``).
    """
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}")
    if not condition >= 1:
        raise ValueError(f"condition must be >= 1, got {condition}")
    lam = np.logspace(0.0, np.log10(condition), dim)
    c = np.random.default_rng(seed).uniform(-1.0, 1.0, dim)

    def f(x: np.ndarray) -> np.ndarray | float:
        a, single = _rows(x, dim)
        return _out(((a - c) ** 2) @ lam, single)

    return TestFunction(f"quadratic{dim}", f, np.array([[-3.0, 3.0]] * dim), 0.0, c[None, :].copy())


def noisy_quadratic(
    dim: int, noise: float = 0.1, condition: float = 10.0, seed: int = 0
) -> tuple[TestFunction, Callable[[np.ndarray, np.random.Generator], np.ndarray | float]]:
    """:func:`quadratic` plus Gaussian observation noise of standard deviation ``noise``.

    Returns the noiseless :class:`TestFunction` (for regret) and ``noisy(x, rng)`` (for the solver).
    """
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    clean = quadratic(dim, condition, seed)

    def noisy(x: np.ndarray, rng: np.random.Generator) -> np.ndarray | float:
        v = clean.f(x)
        return v + noise * (rng.standard_normal() if np.ndim(v) == 0 else rng.standard_normal(np.shape(v)))

    return clean, noisy


@dataclass(frozen=True)
class TestFunction:
    """A function with its box, its minimum value and its minimizers (rows)."""

    __test__ = False  # not a pytest class

    name: str
    f: Callable[[np.ndarray], np.ndarray | float]
    bounds: np.ndarray
    fmin: float
    minimizers: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))

    def __call__(self, x: np.ndarray) -> np.ndarray | float:
        return self.f(x)

    @property
    def dim(self) -> int:
        return int(self.bounds.shape[0])

    def regret(self, value: float) -> float:
        return float(value) - self.fmin


BRANIN = TestFunction(
    "branin",
    branin,
    np.array([[-5.0, 10.0], [0.0, 15.0]]),
    0.39788735772973816,
    np.array([[-np.pi, 12.275], [np.pi, 2.275], [9.42478, 2.475]]),
)
HARTMANN6 = TestFunction(
    "hartmann6",
    hartmann6,
    np.array([[0.0, 1.0]] * 6),
    -3.322368011391339,
    np.array([[0.20168952, 0.15001069, 0.47687398, 0.27533243, 0.31165162, 0.65730054]]),
)
ACKLEY = TestFunction("ackley5", ackley, np.array([[-32.768, 32.768]] * 5), 0.0, np.zeros((1, 5)))
ROSENBROCK = TestFunction("rosenbrock4", rosenbrock, np.array([[-2.0, 2.0]] * 4), 0.0, np.ones((1, 4)))
