"""VQC statevector simulator, parameter-shift gradients and AQGD / COBYLA / SPSA / Adam (small, fast)."""

from __future__ import annotations

import numpy as np
import pytest

from optarena.science.vqc import (
    VQC,
    BudgetExhausted,
    VQCObjective,
    adam,
    ansatz_unitary,
    aqgd,
    breast_cancer_pca,
    class1_probability,
    cobyla,
    cross_entropy,
    feature_states,
    label_mask,
    n_ansatz_params,
    spsa,
)
from optarena.science.vqc.model import expected_under_shots
from optarena.science.vqc.specs import AQGD_SPEC, VQC_ADAM_SPEC, VQC_COBYLA_SPEC, VQC_SPSA_SPEC

I2 = np.eye(2)


def _op(n: int, gates: dict[int, np.ndarray]) -> np.ndarray:
    """Full operator of single-qubit gates (qubit j = bit j of the basis index)."""
    out = np.ones((1, 1))
    for j in reversed(range(n)):
        out = np.kron(out, gates.get(j, I2))
    return out


def _cx(n: int, c: int, t: int) -> np.ndarray:
    X = np.array([[0.0, 1.0], [1.0, 0.0]])
    return _op(n, {c: np.diag([1.0, 0.0])}) + _op(n, {c: np.diag([0.0, 1.0]), t: X})


def _ry(a: float) -> np.ndarray:
    return np.array([[np.cos(a / 2), -np.sin(a / 2)], [np.sin(a / 2), np.cos(a / 2)]])


def _rz(a: float) -> np.ndarray:
    return np.diag([np.exp(-0.5j * a), np.exp(0.5j * a)])


def _p(a: float) -> np.ndarray:
    return np.diag([1.0, np.exp(1j * a)])


def _ref_ansatz(theta: np.ndarray, n: int, reps: int) -> np.ndarray:
    U = np.eye(2**n, dtype=complex)
    for r in range(reps + 1):
        t = theta[2 * n * r : 2 * n * (r + 1)]
        for q in range(n):
            U = _op(n, {q: _ry(t[q])}) @ U
        for q in range(n):
            U = _op(n, {q: _rz(t[n + q])}) @ U
        if r < reps:
            for a in range(n):
                for b in range(a + 1, n):
                    U = _cx(n, a, b) @ U
    return U


def _ref_feature(x: np.ndarray, reps: int) -> np.ndarray:
    """qiskit's ZZFeatureMap gate by gate: H, P(2 x_j), CX P(2 (pi - x_j)(pi - x_k)) CX."""
    n = len(x)
    H = np.array([[1.0, 1.0], [1.0, -1.0]]) / np.sqrt(2)
    psi = np.zeros(2**n, dtype=complex)
    psi[0] = 1.0
    for _ in range(reps):
        psi = _op(n, dict.fromkeys(range(n), H)) @ psi
        for j in range(n):
            psi = _op(n, {j: _p(2 * x[j])}) @ psi
        for j in range(n):
            for k in range(j + 1, n):
                phi = (np.pi - x[j]) * (np.pi - x[k])
                psi = _cx(n, j, k) @ (_op(n, {k: _p(2 * phi)}) @ (_cx(n, j, k) @ psi))
    return psi


def _toy(n: int = 3, m: int = 24, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, (m, n))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0.75).astype(int)
    return X, y


@pytest.mark.parametrize(("n", "reps"), [(1, 0), (2, 1), (3, 2), (4, 3)])
def test_ansatz_matches_a_gate_by_gate_reference(n: int, reps: int) -> None:
    theta = np.random.default_rng(n).normal(size=n_ansatz_params(n, reps))
    U = ansatz_unitary(theta, n, reps)
    assert np.allclose(U, _ref_ansatz(theta, n, reps), atol=1e-12)
    assert np.allclose(U.conj().T @ U, np.eye(2**n), atol=1e-12)


@pytest.mark.parametrize(("n", "reps"), [(1, 1), (2, 2), (3, 1), (3, 2)])
def test_feature_map_matches_qiskits_gates(n: int, reps: int) -> None:
    X = np.random.default_rng(10 + n).uniform(-1, 1, (3, n))
    Phi = feature_states(X, reps)
    for i in range(3):
        assert np.allclose(Phi[i], _ref_feature(X[i], reps), atol=1e-12)
    assert np.allclose(np.linalg.norm(Phi, axis=1), 1.0)


def test_readout_parity_for_even_and_majority_for_odd_qubits() -> None:
    assert label_mask(2).tolist() == [False, True, True, False]
    assert label_mask(3).tolist() == [False, False, False, True, False, True, True, True]
    X, _ = _toy()
    theta = np.random.default_rng(0).normal(size=n_ansatz_params(3, 1))
    p = class1_probability(theta, feature_states(X), 3, 1)
    assert np.all((p >= 0) & (p <= 1))


def test_parameter_shift_is_exact_for_probabilities_and_chain_rule_but_biased_on_the_loss() -> None:
    X, y = _toy()
    obj = VQCObjective(X, y, ansatz_reps=1)
    theta = np.random.default_rng(1).normal(size=obj.n_params)
    h = 1e-6
    E = np.eye(obj.n_params)
    p_fd = np.stack([(obj.probs(theta + h * e) - obj.probs(theta - h * e)) / (2 * h) for e in E])
    p_ps = np.stack([(obj.probs(theta + np.pi / 2 * e) - obj.probs(theta - np.pi / 2 * e)) / 2 for e in E])
    assert np.allclose(p_ps, p_fd, atol=1e-8)  # exact for p (and anything linear in p)
    fd = np.array([(obj(theta + h * e) - obj(theta - h * e)) / (2 * h) for e in E])
    L, g = obj.grad(theta)
    assert np.isclose(L, obj(theta)) and np.allclose(g, fd, atol=1e-7)
    shift = np.array([0.5 * (obj(theta + np.pi / 2 * e) - obj(theta - np.pi / 2 * e)) for e in E])
    assert np.linalg.norm(shift - fd) > 1e-2 * np.linalg.norm(fd)  # AQGD's loss shift: biased


def test_shot_noise_biases_the_loss_upward_and_vanishes_with_many_shots() -> None:
    p = np.array([0.05, 0.3, 0.6, 0.9])
    y = np.array([1.0, 0.0, 1.0, 1.0])
    L = cross_entropy(p, y)
    EL64, _ = expected_under_shots(p, y, 64)
    EL4k, Ed4k = expected_under_shots(p, y, 4096)
    assert EL64 > EL4k > L and EL4k - L < 1e-3  # Jensen: E[-log p_hat] > -log p
    exact_d = -(y / p - (1 - y) / (1 - p)) / len(p)
    assert np.allclose(Ed4k, exact_d, rtol=0.05)
    rng = np.random.default_rng(0)  # Monte Carlo agrees with the exact expectation
    mc = np.mean([cross_entropy(rng.binomial(64, p) / 64, y) for _ in range(20000)])
    assert abs(mc - EL64) < 0.01


def test_objective_counts_evaluations_and_enforces_its_budget() -> None:
    X, y = _toy()
    obj = VQCObjective(X, y, ansatz_reps=1, budget=5)
    theta = np.zeros(obj.n_params)
    for _ in range(5):
        obj(theta)
    assert obj.nfev == 5
    with pytest.raises(BudgetExhausted):
        obj(theta)
    with pytest.raises(BudgetExhausted):
        VQCObjective(X, y, ansatz_reps=1, budget=obj.n_params * 2).grad(theta)


def test_aqgd_iteration_is_aquas_coordinatewise_momentum_update() -> None:
    X, y = _toy(2, 16)
    obj = VQCObjective(X, y, ansatz_reps=1)
    P = obj.n_params
    x0 = np.random.default_rng(2).normal(size=P)
    r = aqgd(obj, x0, 2 * P + 2, eta=0.5, momentum=0.25)  # room for exactly one iteration
    assert r.nit == 1 and r.nfev == 2 * P + 2
    ref = VQCObjective(X, y, ansatz_reps=1)
    x = x0.copy()
    for k in range(P):  # each coordinate sees the already-updated earlier ones
        e = np.zeros(P)
        e[k] = np.pi / 2
        x[k] -= 0.5 * 0.75 * 0.5 * (ref(x + e) - ref(x - e))
    assert np.allclose(r.x, x, atol=1e-12) and np.isclose(r.fun, ref(x))


@pytest.mark.parametrize("name", ["aqgd", "aqgd_chain", "aqgd_parallel", "cobyla", "spsa", "adam"])
def test_optimizers_lower_the_loss_within_budget_and_are_reproducible(name: str) -> None:
    X, y = _toy(3, 24)
    fn, kw = {
        "aqgd": (aqgd, {"eta": 1.0}),
        "aqgd_chain": (aqgd, {"eta": 1.0, "chain_rule": True}),
        "aqgd_parallel": (aqgd, {"eta": 1.0, "sequential": False}),
        "cobyla": (cobyla, {}),
        "spsa": (spsa, {"seed": 3}),
        "adam": (adam, {}),
    }[name]
    x0 = np.random.default_rng(4).normal(size=n_ansatz_params(3, 1))
    runs = []
    for _ in range(2):
        obj = VQCObjective(X, y, ansatz_reps=1)
        runs.append(fn(obj, x0, 300, **kw))
        assert obj.nfev <= 300 and runs[-1].nfev == obj.nfev
    L0 = VQCObjective(X, y, ansatz_reps=1)(x0)
    assert VQCObjective(X, y, ansatz_reps=1)(runs[0].x) < L0 - 0.02
    assert np.array_equal(runs[0].x, runs[1].x)


def test_vqc_estimator_and_data() -> None:
    Xtr, ytr, Xte, _ = breast_cancer_pca(0, n_features=2, n_train=15, n_test=10)
    assert Xtr.shape == (30, 2) and Xte.shape == (20, 2) and np.bincount(ytr).tolist() == [15, 15]
    assert np.isclose(Xtr.min(), 0.0) and np.isclose(Xtr.max(), 1.0)
    clf = VQC("adam", 200, feature_reps=1, ansatz_reps=1, seed=0).fit(Xtr, ytr)
    P = clf.predict_proba(Xte)
    assert P.shape == (20, 2) and np.allclose(P.sum(1), 1.0)
    assert clf.score(Xtr, ytr) > 0.7 and clf.result_.nfev <= 200
    noisy = VQC("aqgd", 40, feature_reps=1, ansatz_reps=1, shots=128, seed=0, eta=1.0).fit(Xtr, ytr)
    assert noisy.result_.nfev <= 40


def test_bad_inputs_raise_clear_errors() -> None:
    X, y = _toy()
    with pytest.raises(ValueError, match="n_qubits"):
        ansatz_unitary(np.zeros(0), 0)
    with pytest.raises(ValueError, match="n_qubits"):
        feature_states(np.zeros((3, 0)))
    with pytest.raises(ValueError, match="theta"):
        ansatz_unitary(np.zeros(5), 2, 1)
    Xn = X.copy()
    Xn[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        VQCObjective(Xn, y)
    with pytest.raises(ValueError, match="2-D"):
        VQCObjective(X[:, 0], y)
    with pytest.raises(ValueError, match="0/1"):
        VQCObjective(X, y + 1)
    with pytest.raises(ValueError, match="shape"):
        VQCObjective(X, y[:-1])
    with pytest.raises(ValueError, match="shots"):
        VQCObjective(X, y, shots=0)
    obj = VQCObjective(X, y, ansatz_reps=1)
    x0 = np.zeros(obj.n_params)
    with pytest.raises(ValueError, match="budget"):
        aqgd(obj, x0, 0)
    with pytest.raises(ValueError, match="momentum"):
        aqgd(obj, x0, 10, momentum=1.0)
    with pytest.raises(ValueError, match="eta"):
        aqgd(obj, x0, 10, eta=-1.0)
    with pytest.raises(ValueError, match="x0"):
        cobyla(obj, x0[:-1], 10)
    with pytest.raises(ValueError, match="lr"):
        adam(obj, x0, 10, lr=float("nan"))
    with pytest.raises(ValueError, match="optimizer"):
        VQC("bfgs")
    with pytest.raises(ValueError, match="n_features"):
        breast_cancer_pca(0, n_features=0)


def test_specs_build_fitters() -> None:
    Xtr, ytr, Xte, yte = breast_cancer_pca(1, n_features=2, n_train=10, n_test=10)
    for spec in (AQGD_SPEC, VQC_COBYLA_SPEC, VQC_SPSA_SPEC, VQC_ADAM_SPEC):
        assert spec.family == "science" and spec.paper is not None
        h = {**spec.resolve_hparams(), "feature_reps": 1, "ansatz_reps": 1}
        clf = spec.load_factory()(h)(Xtr, ytr, budget=60, seed=0)
        assert clf.result_.nfev <= 60 and 0.0 <= clf.score(Xte, yte) <= 1.0
