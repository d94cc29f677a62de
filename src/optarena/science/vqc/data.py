"""Offline binary data sets for the VQC, preprocessed as qiskit's tutorials did.

:func:`breast_cancer_pca`: sklearn's breast-cancer data (569 samples, 30 features, 2 classes),
per class ``n_train`` training and ``n_test`` test samples drawn at random (seeded), standardized,
reduced by PCA to ``n_features`` components and min-max scaled to ``feature_range`` (default
``[0, 1]``, scikit-learn's and qiskit-machine-learning's tutorials'; qiskit-aqua's ``breast_cancer``
helper used ``[-1, 1]``, with which a pilot, seeds 1000-1001, gave near-chance test accuracy). Every
transform is fitted on the training samples only (aqua fitted the scaling on training and test). The paper used restaurant reviews
(bag of words, PCA to 5 features), which are not available offline.
"""

from __future__ import annotations

import numpy as np

__all__ = ["breast_cancer_pca"]


def breast_cancer_pca(
    seed: int,
    n_features: int = 5,
    n_train: int = 40,
    n_test: int = 40,
    feature_range: tuple[float, float] = (0.0, 1.0),
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(X_train, y_train, X_test, y_test)``, balanced classes, features in ``[-1, 1]`` on the training set."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    for name, v, hi in (("n_features", n_features, 30), ("n_train", n_train, 150), ("n_test", n_test, 60)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 1 <= v <= hi:
            raise ValueError(f"{name} must be an integer in [1, {hi}], got {v!r}")
    lo, hi = feature_range
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"feature_range must be finite (low, high) with low < high, got {feature_range!r}")
    X, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(seed)
    tr, te = [], []
    for c in (0, 1):
        idx = rng.permutation(np.flatnonzero(y == c))
        tr.append(idx[:n_train])
        te.append(idx[n_train : n_train + n_test])
    tr_i, te_i = rng.permutation(np.concatenate(tr)), rng.permutation(np.concatenate(te))
    std = StandardScaler().fit(X[tr_i])
    pca = PCA(n_components=n_features, random_state=0).fit(std.transform(X[tr_i]))
    mm = MinMaxScaler((lo, hi)).fit(pca.transform(std.transform(X[tr_i])))

    def prep(i: np.ndarray) -> np.ndarray:
        return mm.transform(pca.transform(std.transform(X[i])))

    return prep(tr_i), y[tr_i], prep(te_i), y[te_i]
