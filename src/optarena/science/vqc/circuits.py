r"""Exact statevector simulation (numpy) of qiskit's variational quantum classifier circuit.

Circuit on ``n`` qubits for a sample ``x in R^n`` (``n`` features = ``n`` qubits), as qiskit's
``ZZFeatureMap(n, reps=2, entanglement="full")`` followed by ``EfficientSU2(n, reps=3,
su2_gates=["ry", "rz"], entanglement="full")``:

* feature map, ``reps`` times: ``H`` on every qubit, then the diagonal
  ``exp(i sum_j 2 x_j b_j + i sum_{j<k} 2 (pi - x_j)(pi - x_k) (b_j XOR b_k))`` (what qiskit's
  ``P(2 x_j)`` and ``CX P(2 phi_jk) CX`` gates do to basis state ``b``);
* ansatz: for ``r = 0..reps``: ``RY(theta)`` on every qubit, ``RZ(theta)`` on every qubit and, if
  ``r < reps``, ``CX(j, k)`` for all ``j < k`` in qiskit's order; ``2 n (reps + 1)`` parameters,
  ordered as qiskit's (RY layer qubits 0..n-1, RZ layer qubits 0..n-1, next repetition...).

Basis index ``sum_j b_j 2^j`` (qiskit's little-endian order). Binary labels are read from the
measured bitstring as qiskit-aqua's VQC did (``assign_label``): parity of the Hamming weight for an
even number of qubits, majority (weight > n / 2) for an odd one.

Every ansatz parameter enters one gate ``exp(-i theta P / 2)``, so each outcome probability is
``a + b cos(theta_k) + c sin(theta_k)`` in each parameter and the parameter-shift rule
``dp/dtheta_k = (p(theta + pi/2 e_k) - p(theta - pi/2 e_k)) / 2`` is exact for probabilities (and any
function linear in them), not for nonlinear functions of them (see :mod:`optarena.science.vqc.model`).
"""

from __future__ import annotations

from functools import cache

import numpy as np

__all__ = ["ansatz_unitary", "feature_states", "label_mask", "n_ansatz_params"]


def _check_n(n_qubits: object) -> int:
    if isinstance(n_qubits, bool) or not isinstance(n_qubits, (int, np.integer)) or n_qubits < 1:
        raise ValueError(f"n_qubits must be an integer >= 1, got {n_qubits!r}")
    if n_qubits > 12:
        raise ValueError(f"n_qubits must be <= 12 for dense statevector simulation, got {n_qubits}")
    return int(n_qubits)


@cache
def _bits(n: int) -> np.ndarray:
    """``(2^n, n)`` array: bit ``j`` of basis index ``b`` (qubit ``j``)."""
    return (np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1


@cache
def _hadamard_all(n: int) -> np.ndarray:
    b = _bits(n)
    return (-1.0) ** (b @ b.T) / np.sqrt(2**n)


@cache
def _cx_full_perm(n: int) -> np.ndarray:
    """Index map of the ``CX(j, k)``, ``j < k`` block: ``out[perm] = state``."""
    b = _bits(n).copy()
    for j in range(n):
        for k in range(j + 1, n):
            b[:, k] ^= b[:, j]
    return b @ (1 << np.arange(n))


@cache
def _ry_masks(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per qubit j, ``(2^n, 2^n)`` masks: 1 where rows and columns share bit j; +-1 where they differ
    (RY = [[c, -s], [s, c]]: +1 for row bit 1, column bit 0)."""
    b = _bits(n)
    same = np.stack([(b[:, j, None] == b[None, :, j]).astype(float) for j in range(n)])
    flip = np.stack([(b[:, j, None] - b[None, :, j]).astype(float) for j in range(n)])
    return same, flip


def n_ansatz_params(n_qubits: int, reps: int = 3) -> int:
    return 2 * _check_n(n_qubits) * (int(reps) + 1)


def feature_states(X: np.ndarray, reps: int = 2) -> np.ndarray:
    """ZZ-feature-map states ``(n_samples, 2^n)`` of the rows of ``X`` (``n`` = number of columns)."""
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_qubits), got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or inf")
    if isinstance(reps, bool) or not isinstance(reps, (int, np.integer)) or reps < 1:
        raise ValueError(f"feature-map reps must be an integer >= 1, got {reps!r}")
    n = _check_n(X.shape[1])
    b = _bits(n).astype(float)
    phase = 2.0 * X @ b.T  # (samples, 2^n)
    for j in range(n):
        for k in range(j + 1, n):
            xor = (b[:, j] + b[:, k]) % 2
            phase += 2.0 * np.outer((np.pi - X[:, j]) * (np.pi - X[:, k]), xor)
    D = np.exp(1j * phase)
    H = _hadamard_all(n)
    psi = np.zeros((len(X), 2**n), dtype=complex)
    psi[:, 0] = 1.0
    for _ in range(reps):
        psi = D * (psi @ H.T)
    return psi


def ansatz_unitary(theta: np.ndarray, n_qubits: int, reps: int = 3) -> np.ndarray:
    """The ``(2^n, 2^n)`` unitary of EfficientSU2 (RY, RZ, full CX) at parameters ``theta``."""
    n = _check_n(n_qubits)
    theta = np.asarray(theta, dtype=float)
    if theta.shape != (2 * n * (reps + 1),):
        raise ValueError(f"theta must have shape ({2 * n * (reps + 1)},), got {theta.shape}")
    if not np.all(np.isfinite(theta)):
        raise ValueError("theta contains NaN or inf")
    sign = 2.0 * _bits(n) - 1.0  # RZ(t) = diag(exp(-i t / 2), exp(i t / 2))
    perm = _cx_full_perm(n)
    same, flip = _ry_masks(n)
    U = np.eye(2**n, dtype=complex)
    for r in range(reps + 1):
        t = theta[2 * n * r : 2 * n * (r + 1)]
        c, s = np.cos(t[:n] / 2), np.sin(t[:n] / 2)
        R = same[0] * c[0] + flip[0] * s[0]  # RY layer = kron of the 2x2 RY(t_j), entry by entry
        for j in range(1, n):
            R = R * (same[j] * c[j] + flip[j] * s[j])
        U = np.exp(0.5j * sign @ t[n:])[:, None] * (R @ U)
        if r < reps:
            out = np.empty_like(U)
            out[perm] = U
            U = out
    return U


@cache
def label_mask(n_qubits: int) -> np.ndarray:
    """Boolean ``(2^n,)``: outcomes read as class 1 (parity for even n, majority for odd n)."""
    n = _check_n(n_qubits)
    w = _bits(n).sum(1)
    return (w % 2 == 1) if n % 2 == 0 else (w > n / 2)
