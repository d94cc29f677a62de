r"""Cross-entropy objective of the VQC, with evaluation counting, shot noise and parameter-shift gradients.

One *evaluation* runs the circuit once per training sample at one parameter vector (``n_train``
circuit executions); budgets are counted in evaluations. With ``shots=None`` the class probability
``p_i(theta) = sum_{b in class 1} |<b|U(theta)|phi(x_i)>|^2`` is exact; with ``shots = s`` it is the
frequency ``Binomial(s, p_i) / s`` (the label is a function of the measured bitstring). Loss, as
qiskit-aqua's VQC: ``L = -(1/n) sum_i [y_i log p_i + (1 - y_i) log(1 - p_i)]``, probabilities
clipped to ``[1e-12, 1 - 1e-12]``.

Where the parameter-shift gradient of this loss is biased (our reading, checked in the tests):

* **Shift applied to the loss** (qiskit's AQGD: ``g_k = (L(theta + pi/2 e_k) - L(theta - pi/2 e_k)) / 2``):
  the rule is exact for ``p`` (a sinusoid of period 2 pi in each parameter), hence for any loss
  linear in ``p``; the cross-entropy is not, so ``g_k`` is a finite difference with step ``pi/2`` and
  differs from ``dL/dtheta_k`` **even with the exact statevector** (no shots).
* **Shift applied to the probabilities, chain rule** (:meth:`VQCObjective.grad`:
  ``dL/dtheta_k = sum_i dL/dp_i * (p_i(theta + pi/2 e_k) - p_i(theta - pi/2 e_k)) / 2``): exact with
  the statevector. With shots each ``p_i(theta +- pi/2 e_k)`` is still estimated without bias, but
  ``dL/dp_i = -(y_i / p_i - (1 - y_i) / (1 - p_i))`` is evaluated at a noisy ``p_i`` (a nonlinear
  function: ``E[1 / p_hat] != 1 / p``, plus clipping), so the gradient is biased, by ``O(1 / s)``.
  So is the loss itself (``E[log p_hat] < log p``, Jensen).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optarena.science.vqc.circuits import ansatz_unitary, feature_states, label_mask, n_ansatz_params

__all__ = ["BudgetExhausted", "VQCObjective", "class1_probability", "cross_entropy", "expected_under_shots"]

_EPS = 1e-12


class BudgetExhausted(RuntimeError):
    """Raised by an objective asked for more evaluations than its budget."""


def class1_probability(theta: np.ndarray, Phi: np.ndarray, n_qubits: int, ansatz_reps: int = 3) -> np.ndarray:
    """Exact ``P(class 1)`` for feature states ``Phi`` (rows) at ansatz parameters ``theta``."""
    psi = Phi @ ansatz_unitary(theta, n_qubits, ansatz_reps).T
    return (np.abs(psi[:, label_mask(n_qubits)]) ** 2).sum(1)


def cross_entropy(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, _EPS, 1.0 - _EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def expected_under_shots(p: np.ndarray, y: np.ndarray, shots: int) -> tuple[float, np.ndarray]:
    """Exact ``E[L(p_hat)]`` and ``E[dL/dp_i at p_hat]`` (per sample) for ``p_hat_i ~ Binomial(shots, p_i) / shots``.

    With independent runs for the shifted circuits, the expected chain-rule gradient is
    ``sum_i E[dL/dp_i] (p_i(theta + pi/2 e_k) - p_i(theta - pi/2 e_k)) / 2``; comparing these with the
    exact values measures the shot-noise bias without Monte Carlo error.
    """
    from scipy.stats import binom

    p, y = np.asarray(p, dtype=float), np.asarray(y, dtype=float)
    k = np.arange(int(shots) + 1)
    pmf = binom.pmf(k[None, :], int(shots), np.clip(p, 0.0, 1.0)[:, None])
    ph = np.clip(k / shots, _EPS, 1.0 - _EPS)
    EL = -float(np.mean(y * (pmf @ np.log(ph)) + (1 - y) * (pmf @ np.log(1 - ph))))
    Ed = -(y * (pmf @ (1 / ph)) - (1 - y) * (pmf @ (1 / (1 - ph)))) / len(p)
    return EL, Ed


class VQCObjective:
    """``theta -> L(theta)`` on a training set, counting evaluations (module docstring).

    Args:
        X, y: training features ``(n, n_qubits)`` (angles) and 0/1 labels.
        feature_reps, ansatz_reps: repetitions of the ZZ feature map and of EfficientSU2.
        shots: ``None`` (exact) or the number of measurements per circuit.
        budget: maximal number of evaluations (``None``: unlimited); exceeding it raises
            :class:`BudgetExhausted`.
        seed: seed of the shot noise.
    """

    def __init__(
        self,
        X: Any,
        y: Any,
        *,
        feature_reps: int = 2,
        ansatz_reps: int = 3,
        shots: int | None = None,
        budget: int | None = None,
        seed: int = 0,
    ) -> None:
        X = np.asarray(X, dtype=float)
        y = np.asarray(y)
        if X.ndim != 2 or len(X) == 0:
            raise ValueError(f"X must be 2-D (n_samples, n_qubits) with rows, got shape {X.shape}")
        if y.shape != (len(X),):
            raise ValueError(f"y must have shape ({len(X)},), got {y.shape}")
        if not np.all(np.isin(y, (0, 1))):
            raise ValueError(f"y must hold 0/1 labels, got values {np.unique(y)[:5]}")
        if isinstance(ansatz_reps, bool) or not isinstance(ansatz_reps, int) or ansatz_reps < 0:
            raise ValueError(f"ansatz_reps must be an integer >= 0, got {ansatz_reps!r}")
        if shots is not None and (isinstance(shots, bool) or not isinstance(shots, int) or shots < 1):
            raise ValueError(f"shots must be None or an integer >= 1, got {shots!r}")
        if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or budget < 1):
            raise ValueError(f"budget must be None or an integer >= 1, got {budget!r}")
        self.Phi = feature_states(X, feature_reps)  # validates X (finite, 1 <= n_qubits <= 12)
        self.y = y.astype(float)
        self.n_qubits = X.shape[1]
        self.ansatz_reps = ansatz_reps
        self.n_params = n_ansatz_params(self.n_qubits, ansatz_reps)
        self.shots = shots
        self.budget = budget
        self.rng = np.random.default_rng(seed)
        self.nfev = 0

    def _count(self, k: int) -> None:
        if self.budget is not None and self.nfev + k > self.budget:
            raise BudgetExhausted(f"evaluation budget {self.budget} exhausted")
        self.nfev += k

    def probs(self, theta: np.ndarray) -> np.ndarray:
        """Measured (or exact) class-1 probabilities of the training samples; one evaluation."""
        self._count(1)
        p = class1_probability(theta, self.Phi, self.n_qubits, self.ansatz_reps)
        if self.shots is not None:
            p = self.rng.binomial(self.shots, np.clip(p, 0.0, 1.0)) / self.shots
        return p

    def __call__(self, theta: np.ndarray) -> float:
        return cross_entropy(self.probs(theta), self.y)

    def grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """``(L, dL/dtheta)`` by the chain rule with parameter-shifted probabilities: ``2 P + 1`` evaluations."""
        theta = np.asarray(theta, dtype=float)
        self._count(0)
        if self.budget is not None and self.nfev + 2 * self.n_params + 1 > self.budget:
            raise BudgetExhausted(f"evaluation budget {self.budget} exhausted")
        p = self.probs(theta)
        pc = np.clip(p, _EPS, 1.0 - _EPS)
        dL_dp = -(self.y / pc - (1 - self.y) / (1 - pc)) / len(p)
        g = np.empty(self.n_params)
        for k in range(self.n_params):
            e = np.zeros(self.n_params)
            e[k] = np.pi / 2
            g[k] = dL_dp @ (self.probs(theta + e) - self.probs(theta - e)) / 2
        return cross_entropy(p, self.y), g
