"""Cross-check of the numpy VQC statevector against qiskit's (optional: ``pip install .[quantum]``).

qiskit builds the same circuit from its library (``zz_feature_map`` + ``efficient_su2`` with RY/RZ
and ``entanglement="full"``, qiskit-aqua 0.8's default, named explicitly; qiskit >= 0.22 defaults
EfficientSU2 to ``"reverse_linear"``, whose CX chain is the same unitary as ``"full"``'s, checked
below) and simulates it with ``qiskit.quantum_info.Statevector``.

Qubit order: qiskit is little-endian (basis index ``sum_j b_j 2^j``, qubit 0 the rightmost character
of a bitstring) and so is :mod:`optarena.science.vqc.circuits`, so amplitudes are compared index by
index with no permutation; ``test_qubit_order_and_entanglement_matter`` shows that the bit-reversed order would not
agree. Parameters are bound by their qiskit vector index (``x[j]`` = feature ``j``, ``θ[k]`` =
``theta[k]``). The class-1 probability is recomputed from qiskit's bitstrings by qiskit-aqua's
``assign_label`` rule (odd Hamming weight for even ``n``, weight > n / 2 for odd ``n``), independently
of :func:`~optarena.science.vqc.circuits.label_mask`.
"""

from __future__ import annotations

import numpy as np
import pytest

qiskit = pytest.importorskip("qiskit")

from qiskit.circuit.library import efficient_su2, zz_feature_map  # noqa: E402
from qiskit.quantum_info import Statevector  # noqa: E402

from optarena.science.vqc import (  # noqa: E402
    VQCObjective,
    ansatz_unitary,
    class1_probability,
    feature_states,
    n_ansatz_params,
)

TOL = 1e-10


def _qiskit_circuit(
    n: int, feature_reps: int, ansatz_reps: int, entanglement: str = "full"
) -> qiskit.QuantumCircuit:
    fm = zz_feature_map(n, reps=feature_reps, entanglement="full")
    ansatz = efficient_su2(n, su2_gates=["ry", "rz"], entanglement=entanglement, reps=ansatz_reps)
    return fm.compose(ansatz)


def _qiskit_states(circ: qiskit.QuantumCircuit, X: np.ndarray, theta: np.ndarray) -> list[Statevector]:
    xs = [p for p in circ.parameters if p.vector.name == "x"]
    ths = [p for p in circ.parameters if p.vector.name == "θ"]
    assert len(xs) == X.shape[1] and len(ths) == len(theta) and len(xs) + len(ths) == circ.num_parameters
    out = []
    for x in X:
        binding = {p: float(x[p.index]) for p in xs} | {p: float(theta[p.index]) for p in ths}
        out.append(Statevector(circ.assign_parameters(binding)))
    return out


def _aqua_label(bitstring: str) -> int:
    """qiskit-aqua 0.8 ``assign_label`` for two classes."""
    w, n = bitstring.count("1"), len(bitstring)
    return int(w % 2 == 1) if n % 2 == 0 else int(w > n / 2)


# (n_qubits, feature_reps, ansatz_reps, feature range): qiskit's defaults (2, 3) with aqua's [-1, 1]
# scaling, the vqc claim's circuit (1, 3) on [0, 1] (src/optarena/claims/vqc.toml), wider angles, and
# an odd qubit count (majority readout).
CASES = [
    (4, 2, 3, (-1.0, 1.0)),
    (4, 1, 3, (0.0, 1.0)),
    (4, 2, 1, (-np.pi, np.pi)),
    (5, 2, 2, (-1.0, 1.0)),
]


@pytest.mark.parametrize(("n", "f_reps", "a_reps", "rng_x"), CASES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_statevector_and_class1_probability_match_qiskit(
    n: int, f_reps: int, a_reps: int, rng_x: tuple[float, float], seed: int
) -> None:
    rng = np.random.default_rng([seed, n, f_reps, a_reps])
    X = rng.uniform(*rng_x, size=(5, n))
    theta = rng.standard_normal(n_ansatz_params(n, a_reps)) * 2.0
    circ = _qiskit_circuit(n, f_reps, a_reps)
    ref = _qiskit_states(circ, X, theta)

    psi = feature_states(X, f_reps) @ ansatz_unitary(theta, n, a_reps).T
    amp_ref = np.stack([s.data for s in ref])
    # Same gate conventions (RZ = diag(e^{-it/2}, e^{it/2}), P = diag(1, e^{ia})), zero global phase:
    # the amplitudes themselves agree, not only the probabilities.
    np.testing.assert_allclose(psi, amp_ref, rtol=0, atol=TOL)
    prob_ref = np.stack([s.probabilities() for s in ref])
    np.testing.assert_allclose(np.abs(psi) ** 2, prob_ref, rtol=0, atol=TOL)

    p1_ref = np.array([sum(p for b, p in s.probabilities_dict().items() if _aqua_label(b) == 1) for s in ref])
    np.testing.assert_allclose(
        class1_probability(theta, feature_states(X, f_reps), n, a_reps), p1_ref, rtol=0, atol=TOL
    )
    obj = VQCObjective(X, np.zeros(len(X), dtype=int), feature_reps=f_reps, ansatz_reps=a_reps)
    np.testing.assert_allclose(obj.probs(theta), p1_ref, rtol=0, atol=TOL)
    assert 0.05 < p1_ref.mean() < 0.95  # a non-degenerate readout: the comparison can fail


def test_qubit_order_and_entanglement_matter() -> None:
    """The checks above discriminate: bit-reversed indices, or ``"linear"`` entanglement, disagree; qiskit's
    current default ``"reverse_linear"`` equals ``"full"`` (same CX-chain unitary)."""
    n, f_reps, a_reps = 4, 1, 3
    rng = np.random.default_rng(7)
    X, theta = rng.uniform(0, 1, size=(3, n)), rng.standard_normal(n_ansatz_params(n, a_reps))
    ours = np.abs(feature_states(X, f_reps) @ ansatz_unitary(theta, n, a_reps).T) ** 2
    ref = np.stack([s.probabilities() for s in _qiskit_states(_qiskit_circuit(n, f_reps, a_reps), X, theta)])
    rev = np.array([int(format(i, f"0{n}b")[::-1], 2) for i in range(2**n)])  # big-endian index
    assert np.abs(ours - ref).max() < TOL
    assert np.abs(ours[:, rev] - ref).max() > 1e-3
    for ent, same in (("reverse_linear", True), ("linear", False)):
        circ = _qiskit_circuit(n, f_reps, a_reps, entanglement=ent)
        err = np.abs(ours - np.stack([s.probabilities() for s in _qiskit_states(circ, X, theta)])).max()
        assert err < TOL if same else err > 1e-3, (ent, err)
