"""``VQC``: a variational quantum classifier (exact statevector) trained by a chosen local optimizer.

Example::

    >>> from optarena.science.vqc import VQC, breast_cancer_pca
    >>> Xtr, ytr, Xte, yte = breast_cancer_pca(0, n_features=3, n_train=10, n_test=10)
    >>> clf = VQC(optimizer="cobyla", budget=60, ansatz_reps=1, seed=0).fit(Xtr, ytr)
    >>> clf.result_.nfev <= 60 and 0.0 <= clf.score(Xte, yte) <= 1.0
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optarena.science.vqc.circuits import feature_states
from optarena.science.vqc.model import VQCObjective, class1_probability
from optarena.science.vqc.optimizers import OPTIMIZERS, VQCOptResult

__all__ = ["VQC"]


class VQC:
    """ZZ feature map + EfficientSU2 classifier (:mod:`optarena.science.vqc.circuits`), 0/1 labels.

    Args:
        optimizer: ``"aqgd"``, ``"cobyla"``, ``"spsa"`` or ``"adam"`` (:mod:`~optarena.science.vqc.optimizers`).
        budget: objective evaluations for training (one = one circuit run per training sample).
        feature_reps, ansatz_reps: circuit repetitions (qiskit defaults 2 and 3).
        shots: ``None`` for exact probabilities during training, else measurements per circuit.
        seed: initial parameters ``~ N(0, 1)`` (qiskit-aqua's default start), shot noise and SPSA.
        **options: the optimizer's hyperparameters (e.g. ``eta``, ``momentum`` for AQGD).

    After ``fit``: ``theta_`` (trained parameters) and ``result_`` (:class:`VQCOptResult`).
    Prediction uses exact probabilities.
    """

    def __init__(
        self,
        optimizer: str = "aqgd",
        budget: int = 8101,
        *,
        feature_reps: int = 2,
        ansatz_reps: int = 3,
        shots: int | None = None,
        seed: int = 0,
        **options: Any,
    ) -> None:
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}")
        self.optimizer, self.budget, self.feature_reps, self.ansatz_reps = (
            optimizer,
            budget,
            feature_reps,
            ansatz_reps,
        )
        self.shots, self.seed, self.options = shots, seed, options

    def fit(self, X: Any, y: Any, x0: np.ndarray | None = None) -> VQC:
        obj = VQCObjective(
            X,
            y,
            feature_reps=self.feature_reps,
            ansatz_reps=self.ansatz_reps,
            shots=self.shots,
            seed=self.seed,
        )
        if x0 is None:
            x0 = np.random.default_rng([self.seed, 0]).standard_normal(obj.n_params)
        opts = dict(self.options)
        if self.optimizer == "spsa":
            opts.setdefault("seed", self.seed)
        self.result_: VQCOptResult = OPTIMIZERS[self.optimizer](obj, x0, self.budget, **opts)
        self.theta_ = self.result_.x
        self.n_qubits_ = obj.n_qubits
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """``(n, 2)`` exact class probabilities."""
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.n_qubits_:
            raise ValueError(f"X must have shape (n, {self.n_qubits_}), got {X.shape}")
        p1 = class1_probability(
            self.theta_, feature_states(X, self.feature_reps), self.n_qubits_, self.ansatz_reps
        )
        return np.stack([1 - p1, p1], axis=1)

    def predict(self, X: Any) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] > 0.5).astype(int)

    def score(self, X: Any, y: Any) -> float:
        return float(np.mean(self.predict(X) == np.asarray(y)))
