"""The instance family of Khodak et al. (ICLR 2024): a shifted 2-D Laplacian and a truncated-Gaussian b.

Each instance is ``A_t = L + c_t I`` with ``L`` the 5-point Laplacian on an ``m x m`` interior grid
(MATLAB ``delsq(numgrid('S', m + 2))``; diagonal 4, off-diagonals -1) and

- high variance: ``c_t = -0.15 + 0.6 * Beta(0.5, 1.5)``,
- low variance:  ``c_t = -0.15 + 0.6 * Beta(2, 6)``,

and ``b_t`` a standard Gaussian in R^n conditioned on ``||b_t|| <= sqrt(n)`` (rejection sampling, as the
authors' ``truncated_normal.m``). Unknowns are numbered row by row (MATLAB numbers the square grid column
by column: the two orderings differ by the grid's transpose symmetry, so SOR costs have the same law).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = [
    "SETTINGS",
    "LinearSystemSequence",
    "generate_sequence",
    "jacobi_radius",
    "laplacian_2d",
    "omega_opt",
    "shifted_laplacian",
    "truncated_normal",
]

#: Beta parameters of the shift distribution c = -0.15 + 0.6 * Beta(a, b), per setting.
SETTINGS: dict[str, tuple[float, float]] = {"high": (0.5, 1.5), "low": (2.0, 6.0)}
SHIFT_LOW, SHIFT_SPAN = -0.15, 0.6


def laplacian_2d(m: int = 10) -> sp.csr_matrix:
    """The 5-point Laplacian on an ``m x m`` interior grid (Dirichlet), size ``m^2``, diagonal 4."""
    if isinstance(m, bool) or not isinstance(m, int | np.integer) or m < 2:
        raise ValueError(f"grid size m must be an integer >= 2, got {m!r}")
    t = sp.diags([-np.ones(m - 1), 2 * np.ones(m), -np.ones(m - 1)], [-1, 0, 1])
    eye = sp.identity(m)
    return sp.csr_matrix(sp.kron(eye, t) + sp.kron(t, eye))


def shifted_laplacian(c: float, m: int = 10) -> sp.csr_matrix:
    """``laplacian_2d(m) + c I``; raises unless it is positive definite."""
    lam_min = 4.0 - 4.0 * np.cos(np.pi / (m + 1))
    if not np.isfinite(c) or c <= -lam_min:
        raise ValueError(
            f"shift c={c!r} makes the {m}x{m} Laplacian singular or indefinite (need c > {-lam_min:.4g})"
        )
    return sp.csr_matrix(laplacian_2d(m) + c * sp.identity(m * m))


def jacobi_radius(c: float | np.ndarray, m: int = 10) -> float | np.ndarray:
    """Spectral radius of the Jacobi iteration matrix of ``L + cI``: ``4 cos(pi/(m+1)) / (4 + c)``."""
    return 4.0 * np.cos(np.pi / (m + 1)) / (4.0 + np.asarray(c, dtype=float))


def omega_opt(c: float | np.ndarray, m: int = 10) -> float | np.ndarray:
    """Young's asymptotically optimal SOR parameter ``1 + (beta / (1 + sqrt(1 - beta^2)))^2``."""
    beta = jacobi_radius(c, m)
    return 1.0 + (beta / (1.0 + np.sqrt(1.0 - beta**2))) ** 2


def truncated_normal(n: int, rng: np.random.Generator) -> np.ndarray:
    """A standard Gaussian in R^n conditioned on ``||b|| <= sqrt(n)`` (rejection sampling)."""
    while True:
        b = rng.standard_normal(n)
        if b @ b <= n:
            return b


@dataclass(frozen=True)
class LinearSystemSequence:
    """T instances ``(L + shifts[t] I) x = rhs[t]`` on an ``m x m`` grid."""

    shifts: np.ndarray  # (T,)
    rhs: np.ndarray  # (T, m*m)
    m: int
    setting: str

    def __len__(self) -> int:
        return len(self.shifts)

    def matrix(self, t: int) -> sp.csr_matrix:
        return shifted_laplacian(float(self.shifts[t]), self.m)


def generate_sequence(T: int, setting: str = "high", seed: int = 0, m: int = 10) -> LinearSystemSequence:
    """Draw T i.i.d. instances of the paper's family (``setting`` is ``"high"`` or ``"low"`` variance)."""
    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {sorted(SETTINGS)}, got {setting!r}")
    if isinstance(T, bool) or not isinstance(T, int | np.integer) or T < 1:
        raise ValueError(f"number of instances T must be a positive integer, got {T!r}")
    laplacian_2d(m)  # validates m
    rng = np.random.default_rng(seed)
    a, b = SETTINGS[setting]
    shifts = SHIFT_LOW + SHIFT_SPAN * rng.beta(a, b, size=T)
    rhs = np.stack([truncated_normal(m * m, rng) for _ in range(T)])
    return LinearSystemSequence(shifts=shifts, rhs=rhs, m=int(m), setting=setting)
