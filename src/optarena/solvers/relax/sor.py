"""SOR and SSOR-preconditioned CG, plus a batched SOR for the shifted-Laplacian family.

SOR (Young 1950; as in Khodak et al., ICLR 2024, and the authors' ``sor.m``): with ``A = D + L + U``,
``M_omega = D / omega + L``, start at ``x_0 = 0`` and iterate

    x_{k+1} = x_k + M_omega^{-1} (b - A x_k),

returning the first ``k`` with ``||b - A x_k|| / ||b - A x_0|| < tol`` (``max_iter`` if none).
``omega = 1`` is Gauss-Seidel.

SSOR-PCG: conjugate gradients preconditioned by
``P_omega = (D + omega L) D^{-1} (D + omega U) / (omega (2 - omega))`` (the authors' ``ssor_pcg.m``,
MATLAB ``pcg``: stop when ``||b - A x_k|| / ||b|| <= tol``).

``sor_costs`` runs SOR on many instances of the shifted Laplacian and many ``omega`` at once. One sweep
updates cell ``(i, j)`` of the zero-padded grid, in lexicographic (Gauss-Seidel) order, as

    x_ij <- (1 - omega) x_ij + omega / (4 + c) * ((((b_ij + x_up) + x_left) + x_right) + x_down),

then the residual ``r = ((((b - (4 + c) x) + x_up) + x_down) + x_left) + x_right`` and ``||r||^2``
summed cell by cell in row-major order. It computes the same iterates as ``sor`` up to rounding (tested),
and the same floating-point operations, hence the same counts, in either of two implementations:

- a small C kernel (``_KERNEL_SOURCE``, compiled at first use with the system C compiler, about 1 s,
  no FMA contraction, cached under ``$XDG_CACHE_HOME/optarena`` or ``~/.cache/optarena``): 16 systems
  share SIMD lanes, and a lane takes the next system as soon as its own converges. The learning-to-relax
  cost table (T = 5000 instances x 20 grid omegas + Young's omega) takes 1.4-4.2 s, where the numpy
  code took 69-197 s (2 shared cores; about 50x);
- numpy (the fallback when there is no compiler, the build fails, or ``OPTARENA_NO_COMPILE`` is set):
  the sweep goes anti-diagonal by anti-diagonal (the cells with ``i + j = d`` depend only on diagonal
  ``d - 1``, already updated, and ``d + 1``, not yet; each diagonal is a strided slice), vectorized over
  every (instance, omega) pair, and converged systems leave the working set.

The one place the two could differ is numpy's ``einsum`` for ``||r||^2`` when a single system is left
in a call: it then sums in another order (a few ulps apart). The kernel flags every system whose
residual ratio comes within ``1e-13`` relative of ``tol`` (far more than those ulps), and a call with a
flagged system is recomputed by the numpy path, so the counts are those of the numpy path in every case.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shlex
import shutil
import subprocess
import sysconfig
import tempfile
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

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
    if not np.all(np.isfinite(rhs)):
        raise ValueError("rhs must be finite")
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
    if not np.all(np.isfinite(rhs)):
        raise ValueError("rhs must be finite")
    out[:] = _batched_sor(shifts, rhs, omegas, m, tol, max_iter)
    return out


# The C kernel. Per lane j (one system): the sweep and the residual norm with exactly the operations,
# in the order, of the numpy path below. Returns how many systems came within 1e-13 relative of tol.
_KERNEL_SOURCE = r"""
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#define LANES 16

static void load(int64_t j, int64_t *next, int64_t nsys, int64_t m, const double *b, const double *diag,
                 const double *relax, const double *keep, const double *norm0, int64_t *counts, double *X,
                 double *P, double *dg, double *rl, double *kp, double *nz, int64_t *sys, int64_t *it,
                 int64_t *active) {
    const int64_t w = m + 2;
    while (*next < nsys && norm0[*next] == 0.0) counts[(*next)++] = 0;
    for (int64_t c = 0; c < w * w; c++) X[c * LANES + j] = 0.0;
    if (*next < nsys) {
        const int64_t q = (*next)++;
        for (int64_t i = 0; i < m; i++)
            for (int64_t k = 0; k < m; k++) P[((i + 1) * w + k + 1) * LANES + j] = b[q * m * m + i * m + k];
        sys[j] = q, it[j] = 0, dg[j] = diag[q], rl[j] = relax[q], kp[j] = keep[q], nz[j] = norm0[q];
        (*active)++;
    } else {  /* no system left: an idle lane of zeros */
        for (int64_t c = 0; c < w * w; c++) P[c * LANES + j] = 0.0;
        sys[j] = -1, dg[j] = 0.0, rl[j] = 0.0, kp[j] = 0.0, nz[j] = 1.0;
    }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(NO_CLONES)
__attribute__((target_clones("avx512f", "avx2", "default")))  /* one build, the CPU's widest SIMD */
#endif
int64_t sor_counts(int64_t nsys, int64_t m, const double *b, const double *diag, const double *relax,
                   const double *keep, const double *norm0, double tol, int64_t max_iter, int64_t *counts,
                   uint8_t *flag) {
    const int64_t w = m + 2;
    double *X = calloc((size_t)(w * w * LANES), sizeof(double));
    double *P = calloc((size_t)(w * w * LANES), sizeof(double));
    double dg[LANES], rl[LANES], kp[LANES], nz[LANES], s[LANES];
    int64_t sys[LANES], it[LANES], next = 0, active = 0, flagged = 0;
    if (!X || !P) {
        free(X), free(P);
        return -1;
    }
    for (int64_t j = 0; j < LANES; j++)
        load(j, &next, nsys, m, b, diag, relax, keep, norm0, counts, X, P, dg, rl, kp, nz, sys, it, &active);
    while (active > 0) {
        for (int64_t c = w + 1; c < w * w - w - 1; c++) {  /* lexicographic: up, left new; right, down old */
            if (c % w == 0 || c % w == w - 1) continue;
            double *restrict x = X + c * LANES;
            const double *restrict u = X + (c - w) * LANES, *restrict l = X + (c - 1) * LANES;
            const double *restrict r = X + (c + 1) * LANES, *restrict d = X + (c + w) * LANES;
            const double *restrict p = P + c * LANES;
            for (int j = 0; j < LANES; j++) x[j] = kp[j] * x[j] + rl[j] * ((((p[j] + u[j]) + l[j]) + r[j]) + d[j]);
        }
        for (int j = 0; j < LANES; j++) s[j] = 0.0;
        for (int64_t c = w + 1; c < w * w - w - 1; c++) {
            if (c % w == 0 || c % w == w - 1) continue;
            const double *restrict x = X + c * LANES, *restrict p = P + c * LANES;
            const double *restrict u = X + (c - w) * LANES, *restrict l = X + (c - 1) * LANES;
            const double *restrict r = X + (c + 1) * LANES, *restrict d = X + (c + w) * LANES;
            for (int j = 0; j < LANES; j++) {
                const double e = ((((p[j] - dg[j] * x[j]) + u[j]) + d[j]) + l[j]) + r[j];
                s[j] = s[j] + e * e;
            }
        }
        for (int64_t j = 0; j < LANES; j++) {
            if (sys[j] < 0) continue;
            it[j]++;
            const double ratio = sqrt(s[j]) / nz[j];
            if (fabs(ratio - tol) <= 1e-13 * tol) flag[sys[j]] = 1, flagged++;
            if (ratio < tol || it[j] >= max_iter) {
                counts[sys[j]] = it[j];
                active--;
                load(j, &next, nsys, m, b, diag, relax, keep, norm0, counts, X, P, dg, rl, kp, nz, sys, it,
                     &active);
            }
        }
    }
    while (next < nsys && norm0[next] == 0.0) counts[next++] = 0;
    free(X), free(P);
    return flagged;
}
"""
_CFLAGS = ("-O3", "-ffp-contract=off", "-fno-fast-math", "-fPIC", "-shared")  # no FMA: as numpy
_NO_COMPILE_ENV = "OPTARENA_NO_COMPILE"  # as optarena.optim._fused: any value but "" or "0" disables
_kernel_lock = threading.Lock()
_kernel_fn: Callable[..., int] | None = None
_kernel_failure: str | None = None


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "optarena"


def _build_kernel() -> Callable[..., int]:
    cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    if not cc or shutil.which(cc[0]) is None:
        raise RuntimeError(f"no C compiler ({cc[0] if cc else 'CC'} is not on PATH)")
    key = hashlib.sha256(f"{_KERNEL_SOURCE}{cc}{_CFLAGS}".encode()).hexdigest()[:16]
    for folder in (_cache_dir(), Path(tempfile.gettempdir()) / "optarena"):
        lib = folder / f"sor_kernel_{key}.so"
        if not lib.exists():
            try:
                folder.mkdir(parents=True, exist_ok=True)
                with tempfile.TemporaryDirectory(dir=folder) as tmp:
                    src, out = Path(tmp) / "sor_kernel.c", Path(tmp) / "sor_kernel.so"
                    src.write_text(_KERNEL_SOURCE)
                    cmd = [*cc, *_CFLAGS, str(src), "-o", str(out)]
                    if subprocess.run(cmd, capture_output=True).returncode != 0:  # no ifunc (musl...)
                        subprocess.run([*cmd, "-DNO_CLONES"], check=True, capture_output=True)
                    os.replace(out, lib)  # atomic: concurrent builders leave one complete file
            except PermissionError:
                continue
        fn = ctypes.CDLL(str(lib)).sor_counts
        ptr = ctypes.c_void_p
        fn.argtypes = [ctypes.c_int64, ctypes.c_int64, ptr, ptr, ptr, ptr, ptr, ctypes.c_double]
        fn.argtypes += [ctypes.c_int64, ptr, ptr]
        fn.restype = ctypes.c_int64
        return fn
    raise RuntimeError("no writable cache folder for the SOR kernel")


def _kernel() -> Callable[..., int] | None:
    """The compiled ``sor_counts``, or None when compilation is disabled or failed (warned once)."""
    global _kernel_fn, _kernel_failure
    if os.environ.get(_NO_COMPILE_ENV, "").strip() not in ("", "0"):
        return None
    with _kernel_lock:
        if _kernel_fn is None and _kernel_failure is None:
            try:
                _kernel_fn = _build_kernel()
            except (OSError, RuntimeError, subprocess.CalledProcessError, AttributeError) as exc:
                detail = (getattr(exc, "stderr", None) or b"").decode(errors="replace")[-500:]
                _kernel_failure = f"{type(exc).__name__}: {exc} {detail}".strip()
                warnings.warn(
                    f"building the SOR kernel failed ({_kernel_failure}); sor_costs uses numpy (same "
                    "counts, about 50x slower)",
                    RuntimeWarning,
                    stacklevel=3,
                )
    return _kernel_fn


def _batched_sor(
    c: np.ndarray, b: np.ndarray, omega: np.ndarray, m: int, tol: float, max_iter: int
) -> np.ndarray:
    """Iteration counts of SOR on B systems: the C kernel, or numpy without it or when it flags a tie."""
    kernel = _kernel()
    if kernel is None:
        return _batched_sor_numpy(c, b, omega, m, tol, max_iter)
    norm0 = np.linalg.norm(b, axis=1)  # the numpy path's ||b||, omega / a_ii and 1 - omega
    diag = 4.0 + c
    arrays = [np.ascontiguousarray(a, dtype=np.float64) for a in (b, diag, omega / diag, 1.0 - omega, norm0)]
    counts = np.empty(len(c), dtype=np.int64)
    flag = np.zeros(len(c), dtype=np.uint8)
    ptrs = [a.ctypes.data for a in arrays]
    flagged = kernel(len(c), m, *ptrs, float(tol), int(max_iter), counts.ctypes.data, flag.ctypes.data)
    if flagged != 0:  # a ratio within 1e-13 of tol (or out of memory): numpy decides
        return _batched_sor_numpy(c, b, omega, m, tol, max_iter)
    return counts


def _diagonal_slices(m: int) -> list[tuple[int, slice, slice, slice, slice, slice]]:
    """Per anti-diagonal ``i + j = d`` of the zero-padded (m+2)^2 grid (flat, row-major): its length and
    the strided slices of its cells and of their up, left, right and down neighbours."""
    w = m + 2
    out = []
    for d in range(2 * m - 1):
        i0, i1 = max(0, d - m + 1), min(d, m - 1)
        start = (i0 + 1) * w + (d - i0 + 1)  # cell (i0, d - i0); the next cell is w - 1 further
        stop = start + (i1 - i0) * (w - 1) + 1
        cell, up, left, right, down = (slice(start + o, stop + o, w - 1) for o in (0, -w, -1, 1, w))
        out.append((i1 - i0 + 1, cell, up, left, right, down))
    return out


def _batched_sor_numpy(
    c: np.ndarray, b: np.ndarray, omega: np.ndarray, m: int, tol: float, max_iter: int
) -> np.ndarray:
    """Iteration counts of SOR on B systems; arrays are stored cells-by-batch for contiguous rows."""
    w, n = m + 2, m * m
    norm0 = np.linalg.norm(b, axis=1)
    counts = np.full(len(c), max_iter, dtype=np.int64)
    counts[norm0 == 0] = 0
    active = np.flatnonzero(norm0 != 0)
    X = np.zeros((w * w, len(active)))
    Bp = np.zeros((w * w, len(active)))
    Bp.reshape(w, w, -1)[1:-1, 1:-1] = b[active].T.reshape(m, m, -1)
    diag = 4.0 + c[active]
    relax = omega[active] / diag  # omega / a_ii
    keep = 1.0 - omega[active]
    norm0 = norm0[active]
    diags = _diagonal_slices(m)
    for k in range(1, max_iter + 1):
        nb = len(active)
        if nb == 0:
            break
        tmp = np.empty((m, nb))
        # x = keep x + relax ((((b + up) + left) + right) + down), diagonal by diagonal
        for size, cell, up, left, right, down in diags:
            t = tmp[:size]
            np.add(Bp[cell], X[up], out=t)
            t += X[left]
            t += X[right]
            t += X[down]
            t *= relax
            x = X[cell]
            x *= keep
            x += t
        X3, B3 = X.reshape(w, w, nb), Bp.reshape(w, w, nb)
        R = np.multiply(X3[1:-1, 1:-1], diag)  # r = ((((b - diag x) + up) + down) + left) + right
        np.subtract(B3[1:-1, 1:-1], R, out=R)
        R += X3[:-2, 1:-1]
        R += X3[2:, 1:-1]
        R += X3[1:-1, :-2]
        R += X3[1:-1, 2:]
        R = R.reshape(n, nb)
        done = np.sqrt(np.einsum("ij,ij->j", R, R)) / norm0 < tol
        if done.any():
            counts[active[done]] = k
            keep_ = ~done
            active, X, Bp = active[keep_], X[:, keep_], Bp[:, keep_]
            diag, relax, keep, norm0 = diag[keep_], relax[keep_], keep[keep_], norm0[keep_]
    return counts
