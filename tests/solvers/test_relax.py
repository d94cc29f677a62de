"""Learning to relax: SOR/SSOR-PCG correctness, the batched SOR, the instance family and the bandits."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

from optarena.solvers.relax import (
    DEFAULT_GRID,
    TSALLIS_INF_CB_SPEC,
    TSALLIS_INF_SPEC,
    FixedOmega,
    TsallisINF,
    TsallisINFCB,
    cost_table,
    generate_sequence,
    laplacian_2d,
    omega_opt,
    run_sequence,
    shifted_laplacian,
    sor,
    sor_costs,
    ssor_pcg,
)


def test_laplacian_matches_its_spectrum():
    L = laplacian_2d(10).toarray()
    ev = np.linalg.eigvalsh(L)
    k = np.arange(1, 11)
    lam = (2 - 2 * np.cos(k * np.pi / 11))[:, None] + (2 - 2 * np.cos(k * np.pi / 11))[None, :]
    np.testing.assert_allclose(ev, np.sort(lam.ravel()), atol=1e-12)
    assert np.all(np.diag(L) == 4) and np.allclose(L, L.T)


@pytest.mark.parametrize("omega", [0.7, 1.0, 1.5, 1.9])
def test_sor_solves_the_system(omega):
    seq = generate_sequence(1, "high", seed=3)
    A, b = seq.matrix(0), seq.rhs[0]
    x, k = sor(A, b, omega, tol=1e-10)
    x_star = spsolve(A.tocsc(), b)
    assert 0 < k < 10_000
    assert np.linalg.norm(A @ x - b) < 1e-10 * np.linalg.norm(b)
    np.testing.assert_allclose(x, x_star, rtol=0, atol=1e-6 * np.abs(x_star).max())


def test_gauss_seidel_is_omega_one():
    rng = np.random.default_rng(0)
    A = shifted_laplacian(0.3, 5).toarray()
    b = rng.standard_normal(25)
    x = np.zeros(25)
    for _ in range(7):  # textbook Gauss-Seidel, in place
        for i in range(25):
            x[i] = (b[i] - A[i, :i] @ x[:i] - A[i, i + 1 :] @ x[i + 1 :]) / A[i, i]
    y, k = sor(A, b, 1.0, tol=1e-300, max_iter=7)
    assert k == 7
    np.testing.assert_allclose(y, x, rtol=1e-12, atol=1e-14)


def test_batched_sor_matches_reference_counts():
    seq = generate_sequence(6, "high", seed=1)
    omegas = np.array([1.0, 1.3, 1.7, 1.95])
    fast = sor_costs(seq.shifts, seq.rhs, omegas, m=seq.m)
    ref = np.array([[sor(seq.matrix(t), seq.rhs[t], w)[1] for w in omegas] for t in range(len(seq))])
    assert np.abs(fast - ref).max() <= 1 and np.mean(fast == ref) >= 0.9


def test_young_omega_beats_gauss_seidel_and_is_in_range():
    seq = generate_sequence(20, "low", seed=2)
    tab = cost_table(seq, [1.0, 1.5])
    assert np.all(tab.opt_costs < tab.costs[:, 0])
    w = omega_opt(seq.shifts)
    assert np.all((w > 1) & (w < 2))


def test_ssor_pcg_converges_and_beats_plain_cg_iterations():
    seq = generate_sequence(1, "high", seed=5)
    A, b = seq.matrix(0), seq.rhs[0]
    x, k = ssor_pcg(A, b, 1.5, tol=1e-8)
    assert np.linalg.norm(A @ x - b) <= 1e-8 * np.linalg.norm(b)
    # omega -> 0 scales the preconditioner towards a multiple of D (Jacobi-like); SSOR(1.5) needs fewer steps
    _, k_jac = ssor_pcg(A, b, 0.01, tol=1e-8)
    assert k < k_jac


def test_instance_family_distribution():
    hi, lo = generate_sequence(4000, "high", seed=0), generate_sequence(4000, "low", seed=0)
    for seq, mean in ((hi, -0.15 + 0.6 * 0.25), (lo, -0.15 + 0.6 * 0.25)):
        assert abs(seq.shifts.mean() - mean) < 0.01
        assert np.all((seq.shifts >= -0.15) & (seq.shifts <= 0.45))
        assert np.all(np.linalg.norm(seq.rhs, axis=1) <= 10.0)
    assert hi.shifts.var() > 3 * lo.shifts.var()
    np.testing.assert_array_equal(generate_sequence(5, seed=7).rhs, generate_sequence(5, seed=7).rhs)


def test_tsallis_inf_probabilities_are_a_distribution():
    b = TsallisINF(DEFAULT_GRID, seed=0)
    np.testing.assert_allclose(b.probabilities(), np.full(20, 1 / 20))
    b.khat[:] = np.linspace(0, 50, 20)
    b.t = 30
    p = b.probabilities()
    assert abs(p.sum() - 1) < 1e-12 and np.all(np.diff(p) < 0)


def test_tsallis_inf_regret_on_synthetic_costs():
    rng = np.random.default_rng(0)
    means = np.array([300.0, 200.0, 120.0, 100.0, 180.0])
    T = 3000
    b = TsallisINF([1.0, 1.2, 1.4, 1.6, 1.8], seed=1)
    total = 0.0
    picks = []
    for _ in range(T):
        w = b.select()
        k = int(np.argmin(np.abs(np.array([1.0, 1.2, 1.4, 1.6, 1.8]) - w)))
        c = max(1.0, means[k] + 10 * rng.standard_normal())
        b.update(c)
        total += c
        picks.append(k)
    regret = total - T * means.min()
    assert regret < 0.15 * T * means.min()  # sublinear-regret sanity: average excess < 15 %
    assert np.mean(np.array(picks[-500:]) == 3) > 0.6


def test_contextual_bandit_learns_context_dependent_arms():
    rng = np.random.default_rng(12345)  # a stream independent of the bandit's
    b = TsallisINFCB([1.0, 1.9], bins=2, low=0.0, high=1.0, seed=1)
    late = []
    for t in range(4000):
        c = rng.uniform()
        w = b.select(c)
        best = 1.0 if c < 0.5 else 1.9
        b.update(50.0 if w == best else 150.0)
        if t >= 3000:
            late.append(w == best)
    assert np.mean(late) > 0.8


def test_run_sequence_with_and_without_cache_agree():
    seq = generate_sequence(15, "high", seed=4)
    tab = cost_table(seq, DEFAULT_GRID)
    a = run_sequence(TsallisINF(seed=3), seq, tab)
    b = run_sequence(TsallisINF(seed=3), seq, None)
    assert np.abs(a.costs - b.costs).max() <= 1
    gs = run_sequence(FixedOmega(1.0), seq, tab)
    np.testing.assert_array_equal(gs.costs, tab.costs[:, 0])


def test_bandit_over_ssor_pcg_costs():
    seq = generate_sequence(4, "high", seed=6)
    tab = cost_table(seq, [0.8, 1.2, 1.6], solver="ssor-pcg")
    assert tab.costs[1, 2] == ssor_pcg(seq.matrix(1), seq.rhs[1], 1.6)[1]
    assert np.all(tab.costs < 60)  # PCG on n = 100 converges in far fewer than SOR's hundreds of sweeps
    res = run_sequence(TsallisINF([0.8, 1.2, 1.6], seed=0), seq, tab)
    assert np.all(res.costs >= tab.opt_costs)
    with pytest.raises(ValueError):
        cost_table(seq, [1.0], solver="jacobi")


def test_specs_build_and_run():
    seq = generate_sequence(10, "low", seed=0)
    tab = cost_table(seq, DEFAULT_GRID)
    for spec in (TSALLIS_INF_SPEC, TSALLIS_INF_CB_SPEC):
        assert spec.family == "science" and spec.paper is not None
        run = spec.load_factory()(spec.resolve_hparams())
        assert run(seq, tab, seed=0).costs.shape == (10,)


@pytest.mark.parametrize(
    "call",
    [
        lambda: sor(laplacian_2d(3), np.ones(9), 2.0),
        lambda: sor(laplacian_2d(3), np.ones(9), 0.0),
        lambda: sor(laplacian_2d(3), np.ones(8), 1.0),
        lambda: sor(laplacian_2d(3), np.ones(9), 1.0, tol=-1.0),
        lambda: sor(laplacian_2d(3), np.ones(9), 1.0, max_iter=0),
        lambda: sor(sp.csr_matrix(np.array([[0.0, 1.0], [1.0, 0.0]])), np.ones(2), 1.0),
        lambda: sor(np.ones((2, 3)), np.ones(2), 1.0),
        lambda: ssor_pcg(laplacian_2d(3), np.full(9, np.nan), 1.0),
        lambda: generate_sequence(5, "medium"),
        lambda: generate_sequence(0),
        lambda: shifted_laplacian(-0.5, 10),
        lambda: TsallisINF([1.0, 2.5]),
        lambda: TsallisINFCB(bins=0),
        lambda: TsallisINFCB().select(None),
        lambda: sor_costs([0.1], np.ones((1, 99)), [1.0]),
    ],
)
def test_bad_inputs_raise(call):
    with pytest.raises(ValueError):
        call()


def test_bandit_protocol_misuse_raises():
    b = TsallisINF()
    with pytest.raises(RuntimeError):
        b.update(10)
    b.select()
    with pytest.raises(RuntimeError):
        b.select()
    with pytest.raises(ValueError):
        b.update(0.5)
