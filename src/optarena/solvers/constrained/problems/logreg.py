"""Constrained logistic regression, as in Hong, Na, Mahoney, Kolar (ICML 2023), Section 6.

``min_x (1/N) sum_i log(1 + exp(-y_i a_i^T x))`` s.t. ``A x = b`` (``m_lin`` = 10 rows, entries N(0,1))
and ``||x||^2 = 1``. The paper uses LIBSVM sets; we use sklearn's bundled breast_cancer (569 x 30)
and digits binarized as digit >= 5 (1797 x 64), features standardized. Departure: ``b = A u`` for a
random unit vector ``u`` so the constraints are consistent (the paper draws ``b`` at random). f* is
unknown (``None``).
"""

from __future__ import annotations

import numpy as np

from optarena.solvers.constrained.problem import ConstrainedProblem, ConstraintBlock

__all__ = ["constrained_logreg"]


def _data(name: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_breast_cancer, load_digits

    if name == "breast_cancer":
        x, y = load_breast_cancer(return_X_y=True)
        y = np.where(y == 1, 1.0, -1.0)
    elif name == "digits":
        x, y = load_digits(return_X_y=True)
        y = np.where(y >= 5, 1.0, -1.0)
    else:
        raise ValueError(f"constrained_logreg: dataset must be 'breast_cancer' or 'digits', got {name!r}")
    sd = x.std(0)
    x = (x - x.mean(0)) / np.where(sd > 0, sd, 1.0)
    return x, y


def constrained_logreg(dataset: str = "breast_cancer", m_lin: int = 10, seed: int = 0) -> ConstrainedProblem:
    feats, y = _data(dataset)
    nobs, d = feats.shape
    rng = np.random.default_rng(seed)
    amat = rng.standard_normal((m_lin, d))
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)
    bvec = amat @ u
    z = feats * y[:, None]  # rows y_i a_i

    def fun(x: np.ndarray) -> float:
        return float(np.mean(np.logaddexp(0.0, -z @ x)))

    def grad(x: np.ndarray) -> np.ndarray:
        s = 0.5 * (1 - np.tanh(0.5 * (z @ x)))  # sigmoid(-t), stable
        return -(z.T @ s) / nobs

    def hess(x: np.ndarray) -> np.ndarray:
        t = z @ x
        w = 0.25 / np.cosh(0.5 * t) ** 2  # sigmoid(t) sigmoid(-t)
        return (z.T * w) @ z / nobs

    eye = np.eye(d)
    eq = ConstraintBlock(
        m=m_lin + 1,
        fun=lambda x: np.r_[amat @ x - bvec, x @ x - 1.0],
        jac=lambda x: np.vstack([amat, 2 * x]),
        hess=lambda x, v: 2 * v[-1] * eye,
    )
    x0 = np.zeros(d)
    x0[0] = 1.0  # a point on the sphere, not on the affine set
    return ConstrainedProblem(
        f"logreg-{dataset}", x0, fun, grad, hess, eq=eq, meta={"dataset": dataset, "seed": seed}
    )
