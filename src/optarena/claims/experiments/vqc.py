"""Claim experiment: AQGD vs COBYLA (and SPSA, Adam) training a VQC (Joshi, Katyayan, Ahmed, arXiv:2102.08949).

One seed = one random balanced split of sklearn's breast-cancer data (40 + 40 training, 40 + 40 test
samples), standardized, PCA to 4 features scaled to [0, 1], and one initial point ``theta0 ~ N(0, I)``
shared by every optimizer. Circuit: ZZ feature map (1 repetition, full entanglement) + EfficientSU2
(RY, RZ, full CX, 3 repetitions: 32 parameters), parity readout, cross-entropy; exact statevector.
One evaluation = the circuit on all 80 training samples at one parameter vector.

* Paper's protocol (equal iteration counts): AQGD 100 iterations (``2 * 32 + 1 = 65`` evaluations
  each: 6501) vs COBYLA 100 evaluations (qiskit's ``COBYLA(maxiter=100)``).
* Equal budgets: 1951 evaluations (= 30 AQGD iterations) for AQGD, COBYLA, SPSA, Adam, and AQGD with
  the exact chain-rule gradient (``aqgd_chain``).

Also: AQGD and Adam trained with 1024 shots per circuit (test accuracy always exact); SVM (RBF),
random forest and gradient boosting on the same 4 features; at ``theta0``, the relative error of
AQGD's loss-shift "gradient" and of the chain-rule parameter-shift gradient against central finite
differences, and the exact shot-noise biases (1024 shots) of the loss and of the chain-rule gradient,
``E[L_hat] - L`` and ``||E[g_hat] - g|| / ||g||`` (Binomial expectations, no Monte Carlo error).
"""

from __future__ import annotations

import time

import numpy as np

from optarena.science.vqc import VQC, VQCObjective, breast_cancer_pca, n_ansatz_params
from optarena.science.vqc.model import expected_under_shots

N_QUBITS, FEATURE_REPS, ANSATZ_REPS = 4, 1, 3


def _gradient_checks(Xtr: np.ndarray, ytr: np.ndarray, theta0: np.ndarray, shots: int) -> dict[str, float]:
    obj = VQCObjective(Xtr, ytr, feature_reps=FEATURE_REPS, ansatz_reps=ANSATZ_REPS)
    P, h = obj.n_params, 1e-5
    fd = np.array([(obj(theta0 + h * e) - obj(theta0 - h * e)) / (2 * h) for e in np.eye(P)])
    L0, chain = obj.grad(theta0)
    shift = np.array([0.5 * (obj(theta0 + np.pi / 2 * e) - obj(theta0 - np.pi / 2 * e)) for e in np.eye(P)])
    nrm = np.linalg.norm(fd)
    # shot noise: exact expectations under Binomial(shots, p) (no Monte Carlo error)
    EL, Ed = expected_under_shots(obj.probs(theta0), obj.y, shots)
    dp = (
        np.stack([obj.probs(theta0 + np.pi / 2 * e) - obj.probs(theta0 - np.pi / 2 * e) for e in np.eye(P)])
        / 2
    )
    return {
        "grad_relerr_chain": float(np.linalg.norm(chain - fd) / nrm),
        "grad_relerr_loss_shift": float(np.linalg.norm(shift - fd) / nrm),
        "grad_cos_loss_shift": float(shift @ fd / (np.linalg.norm(shift) * nrm)),
        "loss_bias_shots": EL - L0,
        "grad_relbias_chain_shots": float(np.linalg.norm(dp @ Ed - chain) / np.linalg.norm(chain)),
    }


def measure(
    seed: int, quick: bool, aqgd_iters: int = 30, paper_iters: int = 100, shots: int = 1024
) -> dict[str, float]:
    t_start = time.perf_counter()
    n_train = 40
    if quick:
        aqgd_iters, paper_iters, n_train = 2, 2, 10
    Xtr, ytr, Xte, yte = breast_cancer_pca(seed, n_features=N_QUBITS, n_train=n_train, n_test=40)
    P = n_ansatz_params(N_QUBITS, ANSATZ_REPS)
    theta0 = np.random.default_rng([seed, 0]).standard_normal(P)
    budget = aqgd_iters * (2 * P + 1) + 1
    kw = {"feature_reps": FEATURE_REPS, "ansatz_reps": ANSATZ_REPS, "seed": seed}
    res: dict[str, float] = {"budget_evals": float(budget), "n_params": float(P)}

    runs = {
        "aqgd": ("aqgd", budget, {}),
        "cobyla": ("cobyla", budget, {}),
        "spsa": ("spsa", budget, {}),
        "adam": ("adam", budget, {}),
        "aqgd_chain": ("aqgd", budget, {"chain_rule": True}),
        "aqgd100": ("aqgd", paper_iters * (2 * P + 1) + 1, {}),
        "cobyla100": ("cobyla", max(paper_iters, P + 2), {}),  # scipy needs >= P + 2
        "aqgd_shots": ("aqgd", budget, {"shots": shots}),
        "adam_shots": ("adam", budget, {"shots": shots}),
    }
    for name, (opt, b, extra) in runs.items():
        t0 = time.perf_counter()
        clf = VQC(opt, b, **kw, **extra).fit(Xtr, ytr, x0=theta0)
        res[f"time_{name}_s"] = time.perf_counter() - t0
        res[f"acc_{name}"] = clf.score(Xte, yte)
        res[f"train_acc_{name}"] = clf.score(Xtr, ytr)
        exact = VQCObjective(Xtr, ytr, feature_reps=FEATURE_REPS, ansatz_reps=ANSATZ_REPS)
        res[f"loss_{name}"] = exact(clf.theta_)  # exact training loss at the returned point
        res[f"nfev_{name}"] = float(clf.result_.nfev)

    res["d_acc_aqgd_cobyla"] = res["acc_aqgd"] - res["acc_cobyla"]
    res["d_acc_aqgd100_cobyla100"] = res["acc_aqgd100"] - res["acc_cobyla100"]
    res["d_loss_cobyla_aqgd"] = res["loss_cobyla"] - res["loss_aqgd"]
    res["aqgd_beats_cobyla"] = float(res["acc_aqgd"] > res["acc_cobyla"])

    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.svm import SVC

    for name, model in (
        ("svm", SVC()),
        ("rf", RandomForestClassifier(random_state=seed)),
        ("gb", GradientBoostingClassifier(random_state=seed)),
    ):
        res[f"acc_{name}"] = float(model.fit(Xtr, ytr).score(Xte, yte))
    res.update(_gradient_checks(Xtr, ytr, theta0, shots))
    res["time_s"] = time.perf_counter() - t_start
    return res
