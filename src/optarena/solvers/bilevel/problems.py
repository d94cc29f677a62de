"""Bilevel test problems: the LV-HBA toy (known solution), ridge tuning (solution computed
independently), and data hyper-cleaning on sklearn's digits (no download)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import brentq
from torch import Tensor

from optarena.solvers.bilevel._problem import DTYPE, BilevelProblem, BilevelProblemError

__all__ = ["HyperCleaning", "hyper_cleaning", "lvhba_toy", "ridge_solution", "ridge_tuning"]


def lvhba_toy(n: int = 100, x0: np.ndarray | None = None, y0: np.ndarray | None = None) -> BilevelProblem:
    """The lower-level coupled-constraint toy of Yao et al. (ICLR 2024, Sec. 5.1; code Toy-example/LLC).

    x in R^n, y = (y1, y2) in R^{2n}:

        min_x  1/2 ||x - y2||^2 + 1/2 ||y1 - 1||^2
        s.t.   y in argmin_y { 1/2 ||y1||^2 - x^T y1 + 1^T y2 : 1^T x + 1^T y = 0 }.

    Eliminating 1^T y2 = -1^T x - 1^T y1 gives y1*(x) = x + 1 (y2 is free up to its sum), and the
    upper level then gives x* = -0.3 * 1, y1* = 0.7 * 1, y2* = -0.4 * 1. The coupled constraint is an
    equality: with an inequality the lower level is unbounded below in y2. As in the authors' code,
    (x, y) is projected onto the hyperplane {1^T x + 1^T y = 0} (``project_xy``). Start: 10 * 1.
    """
    if n < 1:
        raise BilevelProblemError(f"lvhba_toy: n must be positive, got {n}")
    one = torch.ones(n, dtype=DTYPE)

    def F(x: Tensor, y: Tensor) -> Tensor:
        return 0.5 * ((x - y[n:]) ** 2).sum() + 0.5 * ((y[:n] - 1) ** 2).sum()

    def f(x: Tensor, y: Tensor) -> Tensor:
        return 0.5 * (y[:n] ** 2).sum() - x @ y[:n] + y[n:].sum()

    def h(x: Tensor, y: Tensor) -> Tensor:
        return (x.sum() + y.sum()).reshape(1)

    def project_xy(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        shift = (x.sum() + y.sum()) / (3 * n)
        return x - shift, y - shift

    def lower_solution(x: Tensor) -> Tensor:
        y1 = x + 1
        y2 = -(x.sum() + y1.sum()) / n * torch.ones(n, dtype=DTYPE)
        return torch.cat([y1, y2])

    x0 = 10 * np.ones(n) if x0 is None else x0
    y0 = 10 * np.ones(2 * n) if y0 is None else y0
    return BilevelProblem(
        F=F,
        f=f,
        h=h,
        x0=x0,
        y0=y0,
        project_xy=project_xy,
        lower_solution=lower_solution,
        x_star=-0.3 * one,
        y_star=torch.cat([0.7 * one, -0.4 * one]),
        name=f"lvhba-toy(n={n})",
    )


@dataclass(frozen=True)
class _RidgeData:
    A: np.ndarray
    b: np.ndarray
    Av: np.ndarray
    bv: np.ndarray


def _ridge_data(seed: int, n_train: int, n_val: int, d: int, noise: float, attempt: int = 0) -> _RidgeData:
    rng = np.random.default_rng(seed if attempt == 0 else [seed, attempt])
    w = rng.normal(size=d) / np.sqrt(d)
    A, Av = rng.normal(size=(n_train, d)), rng.normal(size=(n_val, d))
    return _RidgeData(
        A, A @ w + noise * rng.normal(size=n_train), Av, Av @ w + noise * rng.normal(size=n_val)
    )


def ridge_solution(data: _RidgeData, lo: float = -8.0, hi: float = 4.0) -> tuple[float, np.ndarray]:
    """The best log-penalty by a closed form and a root of its derivative (no bilevel method involved).

    With ``H = A^T A / n = Q diag(s) Q^T`` and ``c = A^T b / n``, ``w(lam) = Q diag(1/(s+lam)) Q^T c``;
    the validation loss ``V(t) = ||Av w(e^t) - bv||^2 / (2 n_v)`` has
    ``V'(t) = -e^t r^T Av (H + e^t I)^{-1} w / n_v`` with ``r = Av w - bv``; we bracket its sign change
    on a grid over [lo, hi] and refine with Brent's method.
    """
    n, nv = len(data.b), len(data.bv)
    s, Q = np.linalg.eigh(data.A.T @ data.A / n)
    qc = Q.T @ (data.A.T @ data.b / n)

    def dV(t: float) -> float:
        lam = np.exp(t)
        w = Q @ (qc / (s + lam))
        r = data.Av @ w - data.bv
        dw = -Q @ ((Q.T @ w) / (s + lam)) * lam
        return float(r @ (data.Av @ dw) / nv)

    grid = np.linspace(lo, hi, 241)
    vals = [dV(t) for t in grid]
    for a, b, va, vb in zip(grid[:-1], grid[1:], vals[:-1], vals[1:], strict=True):
        if va < 0 <= vb:
            t = brentq(dV, a, b, xtol=1e-14, rtol=1e-14)
            return t, Q @ (qc / (s + np.exp(t)))
    raise BilevelProblemError("ridge_tuning: no interior minimizer of the validation loss on [lo, hi]")


def ridge_tuning(
    seed: int = 0, n_train: int = 40, n_val: int = 40, d: int = 10, noise: float = 1.0, x0: float = 0.0
) -> BilevelProblem:
    """Tune a ridge penalty on a validation split: x = log(lambda), y = w in R^d.

        f(x, y) = ||A y - b||^2 / (2 n) + e^x ||y||^2 / 2,   F(x, y) = ||Av y - bv||^2 / (2 n_v).

    The solution comes from :func:`ridge_solution` (closed form + root finding); x is kept in
    [-8, 4]. Finite sums: ``idx`` picks rows of the training (f) or validation (F) split. A draw whose
    validation loss has no interior minimizer is redrawn (from ``[seed, attempt]``), so every seed gives
    a problem with an interior solution.
    """
    for attempt in range(100):
        data = _ridge_data(seed, n_train, n_val, d, noise, attempt)
        try:
            t_star, w_star = ridge_solution(data)
            break
        except BilevelProblemError:
            continue
    else:
        raise BilevelProblemError(f"ridge_tuning: no draw with an interior solution for seed {seed}")
    A, b = torch.as_tensor(data.A), torch.as_tensor(data.b)
    Av, bv = torch.as_tensor(data.Av), torch.as_tensor(data.bv)

    def F(x: Tensor, y: Tensor, idx: Tensor | None = None) -> Tensor:
        M, v = (Av, bv) if idx is None else (Av[idx], bv[idx])
        return ((M @ y - v) ** 2).mean() / 2

    def f(x: Tensor, y: Tensor, idx: Tensor | None = None) -> Tensor:
        M, v = (A, b) if idx is None else (A[idx], b[idx])
        return ((M @ y - v) ** 2).mean() / 2 + torch.exp(x[0]) * (y @ y) / 2

    H = data.A.T @ data.A / n_train
    c = data.A.T @ data.b / n_train

    def lower_solution(x: Tensor) -> Tensor:
        return torch.as_tensor(np.linalg.solve(H + np.exp(float(x[0])) * np.eye(d), c))

    return BilevelProblem(
        F=F,
        f=f,
        x0=np.array([x0]),
        y0=np.zeros(d),
        project_x=lambda x: x.clamp(-8.0, 4.0),
        lower_solution=lower_solution,
        n_samples=(n_val, n_train),
        x_star=torch.tensor([t_star], dtype=DTYPE),
        y_star=torch.as_tensor(w_star),
        name=f"ridge-tuning(seed={seed})",
    )


@dataclass
class HyperCleaning:
    """A hyper-cleaning instance: the bilevel problem plus the data to score a result."""

    problem: BilevelProblem
    Z_test: Tensor
    y_test: Tensor
    corrupted: np.ndarray  # True where the training label was flipped
    n_classes: int

    def accuracy(self, W: Tensor) -> float:
        """Test accuracy of the flattened weights ``W`` (features + bias by classes)."""
        logits = self.Z_test @ W.reshape(-1, self.n_classes)
        return float((logits.argmax(1) == self.y_test).double().mean())


def hyper_cleaning(
    seed: int = 0, n_train: int = 300, n_val: int = 300, noise: float = 0.5, reg: float = 1e-2
) -> HyperCleaning:
    """Data hyper-cleaning on sklearn's digits (1797 x 64, 10 classes) with label noise.

    A fraction ``noise`` of the training labels is replaced by a different class drawn uniformly.
    x in R^{n_train} are per-sample logits (weight sigmoid(x_i)), y = W the (64 + 1) x 10 weights of a
    linear softmax classifier:

        f(x, W) = (1/n) sum_i sigmoid(x_i) CE(W; z_i, noisy label_i) + reg/2 ||W||^2
        F(x, W) = (1/n_v) sum_j CE(W; z_j, clean label_j)   (validation split, clean)

    The rest of the data is the test split. The unweighted model is the lower-level solution at x = 0.
    """
    from sklearn.datasets import load_digits

    X, labels = load_digits(return_X_y=True)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(labels))
    X = np.hstack([X / 16.0, np.ones((len(labels), 1))])[perm]
    labels = labels[perm]
    k = 10
    tr, va, te = slice(0, n_train), slice(n_train, n_train + n_val), slice(n_train + n_val, None)
    y_noisy = labels[tr].copy()
    corrupted = rng.random(n_train) < noise
    y_noisy[corrupted] = (y_noisy[corrupted] + rng.integers(1, k, corrupted.sum())) % k
    Zt, Zv = torch.as_tensor(X[tr]), torch.as_tensor(X[va])
    yt, yv = torch.as_tensor(y_noisy), torch.as_tensor(labels[va])
    p = X.shape[1]

    def F(x: Tensor, y: Tensor) -> Tensor:
        return torch.nn.functional.cross_entropy(Zv @ y.reshape(p, k), yv)

    def f(x: Tensor, y: Tensor) -> Tensor:
        ce = torch.nn.functional.cross_entropy(Zt @ y.reshape(p, k), yt, reduction="none")
        return (torch.sigmoid(x) * ce).mean() + reg / 2 * (y @ y)

    problem = BilevelProblem(
        F=F, f=f, x0=np.zeros(n_train), y0=np.zeros(p * k), name=f"hyper-cleaning(seed={seed})"
    )
    return HyperCleaning(problem, torch.as_tensor(X[te]), torch.as_tensor(labels[te]), corrupted, k)
