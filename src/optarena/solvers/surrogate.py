r"""Target-based surrogates (SSO) and the baselines they are compared with, on problems of the form

    min_theta  L(theta) = l(f_theta(X), labels)

where the loss ``l`` acts on the model's outputs ("targets") ``z = f_theta(X)``. The expensive oracle is
``dl/dz`` at the current targets (one *expensive gradient* per call, counted in examples too); the
model ``f_theta`` is cheap to evaluate and differentiate.

SSO: Lavington, Vaswani, Babanezhad, Schmidt, Le Roux, "Target-based Surrogates for Stochastic
Optimization", ICML 2023 (arXiv:2302.02607); authors' code
WilderLavington/Target-Based-Surrogates-For-Stochastic-Optimization (``optimizers/sls_fmdopt.py``).
One outer step on a minibatch ``b``:

.. math::
    \begin{aligned}
    z_t &= f_{\theta_t}(X_b), \qquad G = \nabla_z\, l(z_t) \quad\text{(the expensive gradient)}\\
    1/\eta_t &: \text{Armijo in target space: the largest } s \text{ (backtracking) with }
        l(z_t - s G) \le l(z_t) - c\, s \|G\|^2 \\
    g_t(\theta) &= \operatorname{mean}\big[G \odot f_\theta(X_b) / \eta_t + (f_\theta(X_b) - z_t)^2\big]\\
    \theta_{t+1} &= m \text{ steps of SGD with Armijo line search on } g_t \text{ from } \theta_t
        \text{ (step size reset to } \texttt{inner\_lr} \text{ at every outer step)}
    \end{aligned}

The surrogate is the authors' (their ``surrogate``: note the mean over entries); ``m = 1`` is one SGD
step in parameter space on a linearised loss, larger ``m`` minimises the surrogate further at no extra
expensive gradient. The target-space step search follows the authors' ``SLS_FMDOpt`` (start from
``eta / 1.8``, grow eta by ``1/0.9`` until Armijo holds, clip to [1e-4, 1e4]); it evaluates ``l`` on
targets only, no gradients. Defaults (authors' code): ``eta=1e3`` (initial), ``c=0.5``,
``beta=0.9``, ``inner_lr=1`` (reset each outer step), inner Armijo with ``c=0.5``, ``beta=0.9``,
step expansion ``1.8^(1/n_batches)``.

Baselines: SGD with Armijo line search (Vaswani et al., NeurIPS 2019, the authors' ``LSOpt``), Adam
(Kingma & Ba, ICLR 2015; torch.optim.Adam), and full-batch L-BFGS (scipy). Each counts expensive
gradients the same way: one call of ``dl/dz`` on a batch of B examples is one expensive gradient of
B examples; SGD-Armijo's line search also evaluates ``l`` (counted as ``nfun``, not as gradients).

Registry: :data:`SSO_SPEC` (family ``"minimizer"``: it minimises a full-batch/finite-sum objective
without constraints; its ``run(problem, callback, max_iter)`` needs a :class:`TargetProblem`, which
exposes the target structure that a plain ``fun_grad`` problem hides).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.optimize import minimize
from torch import Tensor

from optarena.core.errors import IncompatibleError, OptArenaError
from optarena.core.paper import PaperRef
from optarena.core.searchspace import Param, SearchSpace
from optarena.core.spec import MethodSpec

__all__ = [
    "SSO_SPEC",
    "SurrogateError",
    "TargetProblem",
    "adam",
    "lbfgs_full",
    "logistic_problem",
    "make_sso",
    "sgd_armijo",
    "sso",
]

DTYPE = torch.float64


class SurrogateError(OptArenaError, ValueError):
    """Bad input to a target-based method (shapes, non-finite values, bad hyperparameters)."""


@dataclass
class TargetProblem:
    """``model(theta, X) -> targets`` and ``loss(targets, labels) -> mean loss`` over n examples."""

    X: Tensor
    labels: Tensor
    model: Callable[[Tensor, Tensor], Tensor]
    loss: Callable[[Tensor, Tensor], Tensor]
    theta0: Tensor
    name: str = "target problem"
    counts: dict[str, int] = field(default_factory=lambda: {"expensive_grads": 0, "examples": 0, "nfun": 0})

    def __post_init__(self) -> None:
        if not isinstance(self.X, Tensor) or self.X.ndim != 2:
            raise SurrogateError(
                f"{self.name}: X must be a 2-D tensor, got {getattr(self.X, 'shape', self.X)}"
            )
        if not isinstance(self.labels, Tensor) or self.labels.shape[0] != self.X.shape[0]:
            raise SurrogateError(f"{self.name}: labels must have {self.X.shape[0]} rows")
        self.theta0 = torch.as_tensor(self.theta0, dtype=DTYPE).detach().clone()
        if self.theta0.ndim != 1 or not torch.isfinite(self.theta0).all():
            raise SurrogateError(f"{self.name}: theta0 must be a finite 1-D vector")
        if not torch.isfinite(self.X).all():
            raise SurrogateError(f"{self.name}: X contains NaN or inf")

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    def full_loss(self, theta: Tensor) -> float:
        with torch.no_grad():
            return float(self.loss(self.model(theta, self.X), self.labels))

    def target_grad(self, z: Tensor, idx: Tensor) -> tuple[Tensor, Tensor]:
        """The expensive oracle: ``(l(z), dl/dz)`` on the batch ``idx`` (counted)."""
        self.counts["expensive_grads"] += 1
        self.counts["examples"] += len(idx)
        zr = z.detach().requires_grad_(True)
        val = self.loss(zr, self.labels[idx])
        (G,) = torch.autograd.grad(val, zr)
        return val.detach(), G

    def batch_loss(self, z: Tensor, idx: Tensor) -> float:
        self.counts["nfun"] += 1
        with torch.no_grad():
            return float(self.loss(z, self.labels[idx]))


def logistic_problem(
    X: np.ndarray, labels: np.ndarray, hidden: int = 0, seed: int = 0, name: str = "logistic"
) -> TargetProblem:
    """Binary logistic regression (labels in {0, 1}) with a linear model, or a one-hidden-layer tanh MLP."""
    X = np.asarray(X, dtype=np.float64)
    labels = np.asarray(labels)
    if not set(np.unique(labels)) <= {0, 1}:
        raise SurrogateError(f"{name}: labels must be 0/1, got values {np.unique(labels)[:5]}")
    Xt = torch.as_tensor(np.hstack([X, np.ones((len(X), 1))]))
    d = Xt.shape[1]
    g = torch.Generator().manual_seed(seed)
    if hidden:
        W1 = torch.randn(d, hidden, generator=g, dtype=DTYPE) / math.sqrt(d)
        w2 = torch.randn(hidden, generator=g, dtype=DTYPE) / math.sqrt(hidden)
        theta0 = torch.cat([W1.reshape(-1), w2])

        def model(theta: Tensor, Xb: Tensor) -> Tensor:
            W = theta[: d * hidden].reshape(d, hidden)
            return torch.tanh(Xb @ W) @ theta[d * hidden :]
    else:
        theta0 = torch.zeros(d, dtype=DTYPE)

        def model(theta: Tensor, Xb: Tensor) -> Tensor:
            return Xb @ theta

    def loss(z: Tensor, yb: Tensor) -> Tensor:
        return torch.nn.functional.binary_cross_entropy_with_logits(z, yb)

    return TargetProblem(Xt, torch.as_tensor(labels, dtype=DTYPE), model, loss, theta0, name=name)


def _check(name: str, value: Any, integer: bool = False) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    if ok and integer:
        ok = int(value) == value
    if not ok:
        raise SurrogateError(f"{name} must be a positive {'integer' if integer else 'number'}, got {value!r}")


def _batches(n: int, batch_size: int, steps: int, seed: int) -> list[Tensor]:
    """Shuffled epochs of minibatch indices, ``steps`` batches in all (drop-last)."""
    g = torch.Generator().manual_seed(seed)
    per_epoch = max(1, n // batch_size)
    out: list[Tensor] = []
    while len(out) < steps:
        perm = torch.randperm(n, generator=g)
        out.extend(perm[i * batch_size : (i + 1) * batch_size] for i in range(per_epoch))
    return out[:steps]


def _armijo_step(
    theta: Tensor, fun: Callable[[Tensor], Tensor], step: float, c: float, beta: float
) -> tuple[Tensor, float]:
    """One SGD step with Armijo backtracking on ``fun`` (the authors' ``LSOpt.step``)."""
    tr = theta.detach().requires_grad_(True)
    val = fun(tr)
    (grad,) = torch.autograd.grad(val, tr)
    gn2 = float(grad @ grad)
    with torch.no_grad():
        for _ in range(100):
            if float(fun(theta - step * grad)) <= float(val) - c * step * gn2 or step < 1e-6:
                break
            step *= beta
    return (theta - step * grad).detach(), step


def _history_row(problem: TargetProblem, theta: Tensor, t: int) -> dict[str, float]:
    return {
        "step": float(t),
        "loss": problem.full_loss(theta),
        **{k: float(v) for k, v in problem.counts.items()},
    }


def sso(
    problem: TargetProblem,
    steps: int,
    batch_size: int = 100,
    m: int = 10,
    eta: float = 1e3,
    inner_lr: float = 1.0,
    c: float = 0.5,
    beta: float = 0.9,
    seed: int = 0,
    record_every: int = 10,
) -> dict[str, Any]:
    """Run SSO for ``steps`` outer steps (= expensive gradients); returns theta, history, counters."""
    for name, v, integer in (
        ("steps", steps, True),
        ("batch_size", batch_size, True),
        ("m", m, True),
        ("eta", eta, False),
        ("inner_lr", inner_lr, False),
    ):
        _check(name, v, integer)
    theta = problem.theta0.clone()
    history = [_history_row(problem, theta, 0)]
    eta_t = float(eta)
    for t, idx in enumerate(_batches(problem.n, batch_size, steps, seed), start=1):
        Xb = problem.X[idx]
        with torch.no_grad():
            z_t = problem.model(theta, Xb)
        lz, G = problem.target_grad(z_t, idx)
        # target-space Armijo for the surrogate's eta (authors' compute_functional_stepsize)
        prop, gn2 = eta_t / 1.8, float((G * G).sum())
        for _ in range(100):
            if problem.batch_loss(z_t - G / prop, idx) <= float(lz) - c * gn2 / prop or 1 / prop <= 1e-6:
                break
            prop /= beta
        eta_t = min(max(prop, 1e-4), 1e4)

        def surrogate(
            th: Tensor, Xb: Tensor = Xb, z_t: Tensor = z_t, G: Tensor = G, e: float = eta_t
        ) -> Tensor:
            out = problem.model(th, Xb)
            return (G * out / e + (out - z_t) ** 2).mean()

        step = float(inner_lr)
        for _ in range(m):
            theta, step = _armijo_step(theta, surrogate, step, c, beta)
        if t % record_every == 0 or t == steps:
            history.append(_history_row(problem, theta, t))
    return {"theta": theta, "history": history, "loss": problem.full_loss(theta), **problem.counts}


def sgd_armijo(
    problem: TargetProblem,
    steps: int,
    batch_size: int = 100,
    lr: float = 1.0,
    c: float = 0.5,
    beta: float = 0.9,
    expand: float = 1.8,
    seed: int = 0,
    record_every: int = 10,
) -> dict[str, Any]:
    """SGD with Armijo backtracking on the minibatch loss (Vaswani et al. 2019; the authors' ``LSOpt``)."""
    for name, v, integer in (("steps", steps, True), ("batch_size", batch_size, True), ("lr", lr, False)):
        _check(name, v, integer)
    theta = problem.theta0.clone()
    history = [_history_row(problem, theta, 0)]
    grow = expand ** (1.0 / max(1, problem.n // batch_size))
    step = float(lr)
    for t, idx in enumerate(_batches(problem.n, batch_size, steps, seed), start=1):
        Xb = problem.X[idx]
        tr = theta.detach().requires_grad_(True)
        z = problem.model(tr, Xb)
        lz, G = problem.target_grad(z.detach(), idx)
        (grad,) = torch.autograd.grad(z, tr, G)  # chain rule: the one expensive gradient, backpropagated
        gn2 = float(grad @ grad)
        step *= grow
        with torch.no_grad():
            for _ in range(100):
                if (
                    problem.batch_loss(problem.model(theta - step * grad, Xb), idx)
                    <= float(lz) - c * step * gn2
                ):
                    break
                if step < 1e-6:
                    break
                step *= beta
            theta = theta - step * grad
        if t % record_every == 0 or t == steps:
            history.append(_history_row(problem, theta, t))
    return {"theta": theta, "history": history, "loss": problem.full_loss(theta), **problem.counts}


def adam(
    problem: TargetProblem,
    steps: int,
    batch_size: int = 100,
    lr: float = 1e-2,
    seed: int = 0,
    record_every: int = 10,
) -> dict[str, Any]:
    """Adam (torch.optim.Adam, default betas) on minibatch gradients obtained through ``dl/dz``."""
    for name, v, integer in (("steps", steps, True), ("batch_size", batch_size, True), ("lr", lr, False)):
        _check(name, v, integer)
    theta = problem.theta0.clone().requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=lr)
    history = [_history_row(problem, theta.detach(), 0)]
    for t, idx in enumerate(_batches(problem.n, batch_size, steps, seed), start=1):
        opt.zero_grad()
        z = problem.model(theta, problem.X[idx])
        _, G = problem.target_grad(z.detach(), idx)
        z.backward(G)
        opt.step()
        if t % record_every == 0 or t == steps:
            history.append(_history_row(problem, theta.detach(), t))
    th = theta.detach()
    return {"theta": th, "history": history, "loss": problem.full_loss(th), **problem.counts}


def lbfgs_full(problem: TargetProblem, steps: int, maxcor: int = 10) -> dict[str, Any]:
    """Full-batch L-BFGS (scipy); every function-and-gradient call is one expensive gradient of n examples."""
    _check("steps", steps, True)
    idx = torch.arange(problem.n)
    history: list[dict[str, float]] = []

    def fg(th: np.ndarray) -> tuple[float, np.ndarray]:
        tr = torch.as_tensor(th, dtype=DTYPE).requires_grad_(True)
        z = problem.model(tr, problem.X)
        val, G = problem.target_grad(z.detach(), idx)
        (grad,) = torch.autograd.grad(z, tr, G)
        history.append({"loss": float(val), **{k: float(v) for k, v in problem.counts.items()}})
        return float(val), grad.numpy()

    res = minimize(
        fg,
        problem.theta0.numpy(),
        jac=True,
        method="L-BFGS-B",
        options={"maxfun": steps, "maxiter": steps, "maxcor": maxcor, "ftol": 0.0, "gtol": 0.0},
    )
    th = torch.as_tensor(res.x, dtype=DTYPE)
    return {"theta": th, "history": history, "loss": problem.full_loss(th), **problem.counts}


def make_sso(hparams: Mapping[str, Any]) -> Callable[..., Any]:
    """Factory (family "minimizer"): ``run(problem, callback, max_iter)``; ``problem`` must be a TargetProblem.

    ``callback(theta, loss) -> True`` is called after the run's last step (SSO has no cheaper stop point).
    """
    h = dict(hparams)

    def run(problem: Any, callback: Callable[[Any, float], bool] | None, max_iter: int) -> dict[str, Any]:
        if not isinstance(problem, TargetProblem):
            raise IncompatibleError(
                "SSO needs a TargetProblem (model outputs and a loss on them), got "
                f"{type(problem).__name__}: a plain fun_grad problem hides the targets"
            )
        out = sso(
            problem,
            int(max_iter),
            batch_size=int(h.get("batch_size", 100)),
            m=int(h["m"]),
            eta=float(h["eta"]),
            inner_lr=float(h["inner_lr"]),
        )
        if callback is not None:
            callback(out["theta"].numpy(), out["loss"])
        return out

    return run


SSO_SPEC = MethodSpec(
    name="sso",
    family="minimizer",
    factory="optarena.solvers.surrogate:make_sso",
    summary="Target-based surrogates: m Armijo-SGD steps on a target-space surrogate per expensive gradient",
    search_space=SearchSpace(
        (
            Param("m", choices=(1, 5, 10, 100)),
            Param("eta", 1e-3, 1e3, log=True),
            Param("inner_lr", 0.1, 10.0, log=True),
        )
    ),
    defaults={"m": 10, "eta": 1e3, "inner_lr": 1.0},
    paper=PaperRef(
        "W. Lavington, S. Vaswani, R. Babanezhad, M. Schmidt, N. Le Roux",
        "Target-based Surrogates for Stochastic Optimization",
        "ICML",
        2023,
        "2302.02607",
    ),
    capabilities=frozenset({"target-space", "line-search"}),
)
