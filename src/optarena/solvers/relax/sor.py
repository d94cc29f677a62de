"""SOR and SSOR-preconditioned CG, plus a batched SOR for the shifted-Laplacian family.

SOR (Young 1950; as in Khodak et al., ICLR 2024, and the authors' ``sor.m``): with ``A = D + L + U``,
``M_omega = D / omega + L``, start at ``x_0 = 0`` and iterate

    x_{k+1} = x_k + M_omega^{-1} (b - A x_k),

returning the first ``k`` with ``||b - A x_k|| / ||b - A x_0|| < tol`` (``max_iter`` if none).
``omega = 1`` is Gauss-Seidel.

SSOR-PCG: conjugate gradients preconditioned by
``P_omega = (D + omega L) D^{-1} (D + omega U) / (omega (2 - omega))`` (the authors' ``ssor_pcg.m``,
MATLAB ``pcg``: stop when ``||b - A x_k|| / ||b|| <= tol``).

``sor_costs`` runs SOR on many instances of the shifted Laplacian and many ``omega`` at once: the sweep
goes anti-diagonal by anti-diagonal (the cells with ``i + j = d`` depend only on diagonal ``d - 1``,
already updated, and ``d + 1``, not yet), vectorized over every (instance, omega) pair. It computes the
same iterates as ``sor`` up to rounding (tested).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve_triangular

__all__ = ["sor", "sor_costs", "sor_costs_paired", "ssor_pcg"]


def _check_system(A: object, b: object) -> tuple[sp.csr_matrix, np.ndarray]:
    A = sp.csr_matrix(A, dtype=float)
    n, n2 = A.shape
    if n != n2:
        raise ValueError(f"A must be square, got shape {A.shape}")
    b = np.asarray(b, dtype=float)
    if b.shape != (n,):
        raise ValueError(f"b must have shape ({n},), got {b.shape}")
    if not np.all(np.isfinite(b)) or not np.all(np.isfinite(A.data)):
        raise ValueError("A and b must be finite")
    if np.any(A.diagonal() == 0):
        raise ValueError("A has a zero on its diagonal: SOR is undefined")
    return A, b


def _check_params(omega: float, tol: float, max_iter: int, high: float = 2.0) -> None:
    if not np.isfinite(omega) or not 0.0 < omega < high:
        raise ValueError(f"omega must lie in (0, {high:g}), got {omega!r}")
    if not np.isfinite(tol) or tol <= 0:
        raise ValueError(f"tol must be positive, got {tol!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int | np.integer) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")


def sor(
    A: object, b: object, omega: float, tol: float = 1e-8, max_iter: int = 10_000
) -> tuple[np.ndarray, int]:
    """Successive over-relaxation from ``x_0 = 0``; returns ``(x, iterations)``.

    ``iterations`` is the first k with relative residual below ``tol``, or ``max_iter`` if never
    (the authors' cap is 10 000). Reference implementation (one sparse triangular solve per sweep).
    """
    A, b = _check_system(A, b)
    _check_params(omega, tol, max_iter)
    M = sp.csr_matrix(sp.diags(A.diagonal() / omega) + sp.tril(A, k=-1))
    x = np.zeros_like(b)
    r = b.copy()
    norm0 = np.linalg.norm(r)
    if norm0 == 0:
        return x, 0
    for k in range(1, max_iter + 1):
        x = x + spsolve_triangular(M, r, lower=True)
        r = b - A @ x
        if np.linalg.norm(r) / norm0 < tol:
            return x, k
    return x, max_iter


def ssor_pcg(
    A: object, b: object, omega: float, tol: float = 1e-8, max_iter: int = 10_000
) -> tuple[np.ndarray, int]:
    """CG preconditioned by SSOR(omega) from ``x_0 = 0``; returns ``(x, iterations)``.

    Needs A symmetric positive definite and ``0 < omega < 2``. Stops at ``||r_k|| <= tol ||b||``.
    """
    A, b = _check_system(A, b)
    _check_params(omega, tol, max_iter)
    d = A.diagonal()
    lower = sp.csr_matrix(sp.diags(d) + omega * sp.tril(A, k=-1))
    upper = sp.csr_matrix(lower.T)
    scale = omega * (2.0 - omega)

    def precond(r: np.ndarray) -> np.ndarray:
        y = spsolve_triangular(lower, r, lower=True)
        return scale * spsolve_triangular(upper, d * y, lower=False)

    x = np.zeros_like(b)
    r = b.copy()
    nb = np.linalg.norm(b)
    if nb == 0:
        return x, 0
    z = precond(r)
    p = z.copy()
    rz = r @ z
    for k in range(1, max_iter + 1):
        q = A @ p
        alpha = rz / (p @ q)
        x += alpha * p
        r -= alpha * q
        if np.linalg.norm(r) <= tol * nb:
            return x, k
        z = precond(r)
        rz_new = r @ z
        p = z + (rz_new / rz) * p
        rz = rz_new
    return x, max_iter


def sor_costs(
    shifts: object,
    rhs: object,
    omegas: object,
    m: int = 10,
    tol: float = 1e-8,
    max_iter: int = 10_000,
    chunk: int = 20_000,
) -> np.ndarray:
    """SOR iteration counts on ``(laplacian_2d(m) + shifts[t] I) x = rhs[t]`` for every t and omega.

    ``shifts`` (T,), ``rhs`` (T, m*m), ``omegas`` (K,) -> int array (T, K). Vectorized over all T*K
    systems (``chunk`` at a time); converged systems leave the working set.
    """
    shifts = np.asarray(shifts, dtype=float).reshape(-1)
    rhs = np.asarray(rhs, dtype=float)
    omegas = np.asarray(omegas, dtype=float).reshape(-1)
    n = m * m
    if rhs.shape != (len(shifts), n):
        raise ValueError(f"rhs must have shape ({len(shifts)}, {n}), got {rhs.shape}")
    if np.any(shifts <= -(4.0 - 4.0 * np.cos(np.pi / (m + 1)))) or not np.all(np.isfinite(shifts)):
        raise ValueError("every shift must keep L + cI positive definite")
    for w in omegas:
        _check_params(float(w), tol, max_iter)
    T, K = len(shifts), len(omegas)
    inst = np.repeat(np.arange(T), K)
    arm = np.tile(np.arange(K), T)
    out = np.empty(T * K, dtype=np.int64)
    for start in range(0, T * K, chunk):
        sl = slice(start, start + chunk)
        out[sl] = _batched_sor(shifts[inst[sl]], rhs[inst[sl]], omegas[arm[sl]], m, tol, max_iter)
    return out.reshape(T, K)


def sor_costs_paired(
    shifts: object, rhs: object, omegas: object, m: int = 10, tol: float = 1e-8, max_iter: int = 10_000
) -> np.ndarray:
    """SOR iteration counts of instance t at its own ``omegas[t]`` (all arrays of length T) -> (T,)."""
    shifts = np.asarray(shifts, dtype=float).reshape(-1)
    omegas = np.asarray(omegas, dtype=float).reshape(-1)
    if omegas.shape != shifts.shape:
        raise ValueError(f"need one omega per instance: {omegas.shape} vs {shifts.shape}")
    out = np.empty(len(shifts), dtype=np.int64)
    for w in omegas:
        _check_params(float(w), tol, max_iter)
    rhs = np.asarray(rhs, dtype=float)
    if rhs.shape != (len(shifts), m * m):
        raise ValueError(f"rhs must have shape ({len(shifts)}, {m * m}), got {rhs.shape}")
    out[:] = _batched_sor(shifts, rhs, omegas, m, tol, max_iter)
    return out


def _diagonals(m: int) -> list[np.ndarray]:
    """Flat indices (in the zero-padded (m+2)^2 grid) of the cells on each anti-diagonal i + j = d."""
    w = m + 2
    return [
        np.array([(i + 1) * w + (d - i + 1) for i in range(max(0, d - m + 1), min(d, m - 1) + 1)])
        for d in range(2 * m - 1)
    ]


def _batched_sor(
    c: np.ndarray, b: np.ndarray, omega: np.ndarray, m: int, tol: float, max_iter: int
) -> np.ndarray:
    """Iteration counts of SOR on B systems; arrays are stored cells-by-batch for contiguous gathers."""
    w = m + 2
    B = len(c)
    interior = ((np.arange(m)[:, None] + 1) * w + np.arange(m)[None, :] + 1).reshape(-1)
    X = np.zeros((w * w, B))
    Bp = np.zeros((w * w, B))
    Bp[interior] = b.T
    diag = 4.0 + c
    relax = omega / diag  # omega / a_ii
    keep = 1.0 - omega
    norm0 = np.linalg.norm(b, axis=1)
    counts = np.full(B, max_iter, dtype=np.int64)
    active = np.arange(B)
    zero = norm0 == 0
    counts[zero] = 0
    sel = ~zero
    active, X, Bp, diag, relax, keep, norm0 = (
        active[sel],
        X[:, sel],
        Bp[:, sel],
        diag[sel],
        relax[sel],
        keep[sel],
        norm0[sel],
    )
    diags = [(idx, idx - w, idx - 1, idx + 1, idx + w) for idx in _diagonals(m)]
    for k in range(1, max_iter + 1):
        if len(active) == 0:
            break
        for idx, up, left, right, down in diags:
            X[idx] = keep * X[idx] + relax * (Bp[idx] + X[up] + X[left] + X[right] + X[down])
        R = (
            Bp[interior]
            - diag * X[interior]
            + X[interior - w]
            + X[interior + w]
            + X[interior - 1]
            + X[interior + 1]
        )
        done = np.sqrt(np.einsum("ij,ij->j", R, R)) / norm0 < tol
        if done.any():
            counts[active[done]] = k
            sel = ~done
            active, X, Bp, diag, relax, keep, norm0 = (
                active[sel],
                X[:, sel],
                Bp[:, sel],
                diag[sel],
                relax[sel],
                keep[sel],
                norm0[sel],
            )
    return counts
