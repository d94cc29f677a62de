"""Target-based surrogates claim (Lavington et al., ICML 2023): SSO with m = 10 reaches a lower training
loss than SGD with Armijo line search at an equal number of expensive gradients (dl/dz calls).

Per seed: binary logistic regression with a one-hidden-layer tanh MLP (16 units) on
make_classification(n=1000, d=20) drawn from the seed, batch 100, the same batch order for both
methods, the authors' default hyperparameters, 100 expensive gradients each. Adam and full-batch
L-BFGS are reported as references (no rule).
"""

from __future__ import annotations

from sklearn.datasets import make_classification

from optarena.solvers.surrogate import adam, lbfgs_full, logistic_problem, sgd_armijo, sso


def measure(seed: int, quick: bool, steps: int = 100, n: int = 1000, hidden: int = 16) -> dict[str, float]:
    steps, n = (10, 300) if quick else (steps, n)
    X, y = make_classification(n_samples=n, n_features=20, n_informative=10, random_state=seed)

    def fresh():
        return logistic_problem(X, y, hidden=hidden, seed=seed)

    s = sso(fresh(), steps, batch_size=100, m=10, seed=seed)
    g = sgd_armijo(fresh(), steps, batch_size=100, seed=seed)
    out = {
        "sso_m10_loss": s["loss"],
        "sgd_armijo_loss": g["loss"],
        "sso_beats_sgd_armijo": float(s["loss"] < g["loss"]),
        "expensive_grads_sso": float(s["expensive_grads"]),
        "expensive_grads_sgd": float(g["expensive_grads"]),
    }
    if not quick:
        out["adam_loss"] = adam(fresh(), steps, batch_size=100, seed=seed)["loss"]
        out["lbfgs_loss"] = lbfgs_full(fresh(), steps // 10)["loss"]  # n/batch = 10 batches per full gradient
    return out
