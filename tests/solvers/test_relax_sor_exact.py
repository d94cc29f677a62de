"""The fast SOR cost tables (C kernel and numpy) give bit-identical counts to the original algorithm.

``_original_batched_sor`` is the numpy implementation the learning-to-relax claim ran on before the
kernel (commit 93c6d77), kept as the reference with its arithmetic unchanged (its residual norm and
compaction of the finished systems are factored into helpers shared with ``_original_ratios``).
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from optarena.solvers.relax import DEFAULT_GRID, generate_sequence, omega_opt, sor_costs, sor_costs_paired

sor_module = importlib.import_module("optarena.solvers.relax.sor")  # the package's ``sor`` is the function


def _diagonals(m: int) -> list[np.ndarray]:
    w = m + 2
    return [
        np.array([(i + 1) * w + (d - i + 1) for i in range(max(0, d - m + 1), min(d, m - 1) + 1)])
        for d in range(2 * m - 1)
    ]


def _residual_norm(
    X: np.ndarray, Bp: np.ndarray, diag: np.ndarray, interior: np.ndarray, w: int
) -> np.ndarray:
    """``||b - A x||`` per system (column), in the original's order of operations."""
    R = (
        Bp[interior]
        - diag * X[interior]
        + X[interior - w]
        + X[interior + w]
        + X[interior - 1]
        + X[interior + 1]
    )
    return np.sqrt(np.einsum("ij,ij->j", R, R))


def _select(sel: np.ndarray, active, X, Bp, diag, relax, keep, norm0) -> tuple[np.ndarray, ...]:
    """The systems still running: ``sel`` of each per-system array (the columns of X and Bp)."""
    return active[sel], X[:, sel], Bp[:, sel], diag[sel], relax[sel], keep[sel], norm0[sel]


def _original_batched_sor(
    c: np.ndarray, b: np.ndarray, omega: np.ndarray, m: int, tol: float, max_iter: int
) -> np.ndarray:
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
    active, X, Bp, diag, relax, keep, norm0 = _select(~zero, active, X, Bp, diag, relax, keep, norm0)
    diags = [(idx, idx - w, idx - 1, idx + 1, idx + w) for idx in _diagonals(m)]
    for k in range(1, max_iter + 1):
        if len(active) == 0:
            break
        for idx, up, left, right, down in diags:
            X[idx] = keep * X[idx] + relax * (Bp[idx] + X[up] + X[left] + X[right] + X[down])
        done = _residual_norm(X, Bp, diag, interior, w) / norm0 < tol
        if done.any():
            counts[active[done]] = k
            active, X, Bp, diag, relax, keep, norm0 = _select(~done, active, X, Bp, diag, relax, keep, norm0)
    return counts


def _original_tables(seq, omegas, chunk=20_000):
    """``sor_costs`` and ``sor_costs_paired`` at Young's omega, as computed before the kernel."""
    T, K = len(seq), len(omegas)
    inst, arm = np.repeat(np.arange(T), K), np.tile(np.arange(K), T)
    grid = np.empty(T * K, dtype=np.int64)
    for s in range(0, T * K, chunk):
        sl = slice(s, s + chunk)
        grid[sl] = _original_batched_sor(
            seq.shifts[inst[sl]], seq.rhs[inst[sl]], omegas[arm[sl]], 10, 1e-8, 10_000
        )
    young = _original_batched_sor(seq.shifts, seq.rhs, omega_opt(seq.shifts), 10, 1e-8, 10_000)
    return grid.reshape(T, K), young


def _new_tables(seq, omegas, chunk=20_000):
    grid = sor_costs(seq.shifts, seq.rhs, omegas, chunk=chunk)
    return grid, sor_costs_paired(seq.shifts, seq.rhs, omega_opt(seq.shifts))


@pytest.fixture
def kernel():
    if sor_module._kernel() is None:
        pytest.skip("no C compiler (or OPTARENA_NO_COMPILE is set): the kernel is not built")
    return sor_module._kernel()


@pytest.mark.parametrize("setting", ["high", "low"])
def test_kernel_counts_equal_the_original_algorithm(kernel, setting):
    seq = generate_sequence(25, setting, seed=11)
    # chunk=97: several calls, each ending with one lone system (numpy's other einsum order)
    grid, young = _new_tables(seq, DEFAULT_GRID, chunk=97)
    ref_grid, ref_young = _original_tables(seq, DEFAULT_GRID, chunk=97)
    assert grid.dtype == np.int64 and grid.shape == (25, 20)
    np.testing.assert_array_equal(grid, ref_grid)
    np.testing.assert_array_equal(young, ref_young)
    assert grid.min() < 100 and grid.max() > (1000 if setting == "high" else 300)  # fast and slow systems


@pytest.mark.parametrize("setting", ["high", "low"])
def test_numpy_path_counts_equal_the_original_algorithm(monkeypatch, setting):
    monkeypatch.setenv("OPTARENA_NO_COMPILE", "1")
    assert sor_module._kernel() is None
    seq = generate_sequence(12, setting, seed=12)
    omegas = DEFAULT_GRID[::3]
    grid, young = _new_tables(seq, omegas, chunk=31)
    ref_grid, ref_young = _original_tables(seq, omegas, chunk=31)
    np.testing.assert_array_equal(grid, ref_grid)
    np.testing.assert_array_equal(young, ref_young)


def test_single_systems_and_a_zero_rhs_match(kernel):
    seq = generate_sequence(4, "high", seed=13)
    rhs = seq.rhs.copy()
    rhs[2] = 0.0
    for t in range(4):
        for w in (1.0, 1.5, 1.95):
            got = sor_costs(seq.shifts[t : t + 1], rhs[t : t + 1], [w])[0, 0]
            want = _original_batched_sor(
                seq.shifts[t : t + 1], rhs[t : t + 1], np.array([w]), 10, 1e-8, 10_000
            )
            assert got == want[0]
    assert sor_costs(seq.shifts[2:3], rhs[2:3], [1.0])[0, 0] == 0


def test_max_iter_caps_the_count(kernel):
    seq = generate_sequence(3, "high", seed=14)
    got = sor_costs(seq.shifts, seq.rhs, [1.0, 1.9], max_iter=7)
    np.testing.assert_array_equal(got, np.full((3, 2), 7))


def _original_ratios(c: float, b: np.ndarray, omega: float, iters: int) -> np.ndarray:
    """``||r_k|| / ||b||`` for k = 1..iters with the original's arithmetic, on two copies of the system
    (a lone system would take another einsum path for ``||r||^2``)."""
    m, w = 10, 12
    interior = ((np.arange(m)[:, None] + 1) * w + np.arange(m)[None, :] + 1).reshape(-1)
    X = np.zeros((w * w, 2))
    Bp = np.zeros((w * w, 2))
    Bp[interior] = np.stack([b, b], axis=1)
    diag = 4.0 + np.full(2, c)
    relax, keep = np.full(2, omega) / diag, 1.0 - np.full(2, omega)
    norm0 = np.linalg.norm(np.stack([b, b]), axis=1)
    out = []
    for _ in range(iters):
        for idx in _diagonals(m):
            X[idx] = keep * X[idx] + relax * (Bp[idx] + X[idx - w] + X[idx - 1] + X[idx + 1] + X[idx + w])
        out.append((_residual_norm(X, Bp, diag, interior, w) / norm0)[0])
    return np.array(out)


def _run_kernel(kernel, c, b, omega, tol, max_iter=10_000):
    """The kernel alone (no numpy fallback): counts and flags of the systems ``(c[t], b[t], omega[t])``."""
    diag = 4.0 + c
    arrays = [
        np.ascontiguousarray(a) for a in (b, diag, omega / diag, 1.0 - omega, np.linalg.norm(b, axis=1))
    ]
    counts = np.empty(len(c), dtype=np.int64)
    flag = np.zeros(len(c), dtype=np.uint8)
    n = kernel(
        len(c), 10, *[a.ctypes.data for a in arrays], tol, max_iter, counts.ctypes.data, flag.ctypes.data
    )
    return counts, flag, n


def test_arithmetic_is_bitwise_the_original():
    # tol at, or one ulp above, the original's residual ratio at iteration k, for every k: an ulp of
    # difference in the kernel's sweep or residual norm would move its count off the original's
    kernel = sor_module._kernel()  # None without a compiler: the numpy path is still checked
    seq = generate_sequence(6, "high", seed=17)
    for t, omega in enumerate([1.0, 1.3, 1.6, 1.8, 1.9, 1.95]):
        c, b = seq.shifts[t : t + 1], seq.rhs[t : t + 1]
        ratios = _original_ratios(float(c[0]), b[0], omega, 30)
        for k in range(30):
            for tol in (ratios[k], np.nextafter(ratios[k], np.inf)):
                want = 1 + int(np.flatnonzero(ratios < tol)[0]) if np.any(ratios < tol) else None
                if kernel is not None:
                    got, flag, n = _run_kernel(kernel, c, b, np.array([omega]), tol, max_iter=31)
                    assert flag[0] == 1 and n >= 1
                    assert got[0] == (want or 31), (t, omega, k, tol)
                if k % 3 == 0:  # the numpy path too (two copies: its usual einsum order)
                    two = sor_module._batched_sor_numpy(
                        np.repeat(c, 2), np.repeat(b, 2, axis=0), np.full(2, omega), 10, tol, 31
                    )
                    assert two[0] == (want or 31), (t, omega, k, tol)
    twice = _original_batched_sor(np.repeat(c, 2), np.repeat(b, 2, axis=0), np.full(2, omega), 10, tol, 31)
    assert twice[0] == (want or 31)  # _original_ratios is the original's arithmetic


def test_a_ratio_at_tol_is_flagged_and_decided_by_numpy(kernel, monkeypatch):
    seq = generate_sequence(2, "low", seed=15)
    c, b = seq.shifts[:1], seq.rhs[:1]
    tol = _original_ratios(float(c[0]), b[0], 1.3, 6)[5]  # the residual ratio equals tol at iteration 6
    _, flag, flagged = _run_kernel(kernel, c, b, np.array([1.3]), tol)
    assert flagged == 1 and flag[0] == 1
    _, _, flagged = _run_kernel(kernel, c, b, np.array([1.3]), tol * (1 + 1e-12))
    assert flagged == 0  # the window is narrow: 1e-13 relative
    calls = []
    numpy_path = sor_module._batched_sor_numpy
    monkeypatch.setattr(sor_module, "_batched_sor_numpy", lambda *a: calls.append(1) or numpy_path(*a))
    got = sor_costs(c, b, [1.3], tol=tol)[0, 0]
    assert calls == [1]
    assert got == _original_batched_sor(c, b, np.array([1.3]), 10, tol, 10_000)[0]


def test_unflagged_calls_use_the_kernel_result(monkeypatch):
    def fake_kernel(nsys, m, b, diag, relax, keep, norm0, tol, max_iter, counts, flag):
        np.ctypeslib.as_array((np.ctypeslib.ctypes.c_int64 * nsys).from_address(counts))[:] = 123
        return 0

    monkeypatch.setattr(sor_module, "_kernel", lambda: fake_kernel)
    assert sor_costs([0.1], np.ones((1, 100)), [1.0])[0, 0] == 123


def test_non_finite_rhs_raises():
    rhs = np.ones((2, 100))
    rhs[1, 5] = np.nan
    with pytest.raises(ValueError, match="rhs must be finite"):
        sor_costs([0.1, 0.2], rhs, [1.0])
    with pytest.raises(ValueError, match="rhs must be finite"):
        sor_costs_paired([0.1, 0.2], rhs, [1.0, 1.2])


def test_a_failed_build_warns_and_falls_back_to_numpy(monkeypatch):
    monkeypatch.setattr(sor_module, "_kernel_fn", None)
    monkeypatch.setattr(sor_module, "_kernel_failure", None)
    monkeypatch.delenv("OPTARENA_NO_COMPILE", raising=False)
    monkeypatch.setenv("CC", "/nonexistent/cc")
    seq = generate_sequence(2, "high", seed=16)
    with pytest.warns(RuntimeWarning, match="SOR kernel failed"):
        got = sor_costs(seq.shifts, seq.rhs, [1.0, 1.8])
    assert sor_module._kernel() is None  # the failure is remembered: no second build, no second warning
    ref = _original_batched_sor(
        np.repeat(seq.shifts, 2), np.repeat(seq.rhs, 2, axis=0), np.tile([1.0, 1.8], 2), 10, 1e-8, 10_000
    )
    np.testing.assert_array_equal(got.ravel(), ref)
