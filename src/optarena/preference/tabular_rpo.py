r"""The exact tabular case of RPO (DPO + SFT loss) on a bandit whose data leave arms uncovered.

On a :class:`~optarena.preference.tabular.TabularBandit` with logits :math:`\theta(x, y)` and finite
preference pairs :math:`D = \{(x_i, w_i, l_i)\}_{i=1}^N`, the empirical RPO loss (Liu et al.; the form of
:func:`optarena.preference.losses.rpo_loss` with ``nll="sum"`` for one-token responses) is

.. math::
    \mathcal{L}_\eta(\theta) = \frac1N\sum_i \Big[\log\big(1 + e^{-m_i}\big)
        - \eta\beta\log\pi_\theta(w_i\mid x_i)\Big],\qquad
    m_i = \beta\big[(\theta_{x_i w_i} - \theta_{x_i l_i}) - (\theta^{ref}_{x_i w_i} - \theta^{ref}_{x_i l_i})\big],

and :math:`\eta = 0` is DPO. Its gradient in the logits of prompt :math:`x` is

.. math::
    \nabla_{\theta_x}\mathcal{L}_\eta = \frac1N\sum_{i: x_i = x}\Big[-\beta\,\sigma(-m_i)(e_{w_i} - e_{l_i})
        + \eta\beta\,(\pi_\theta(\cdot\mid x) - e_{w_i})\Big].

What the exact case shows (each point is tested in ``tests/preference/test_tabular_rpo.py``):

- DPO (:math:`\eta = 0`): the gradient of an arm no pair mentions (an *uncovered* arm) is zero and the
  gradient sums to zero over the arms, so gradient descent from :math:`\theta^{ref}` never moves an
  uncovered logit and keeps the sum of the covered logits; the uncovered arms' mass therefore cannot exceed
  :math:`\sum_u e^{\theta_u} / (\sum_u e^{\theta_u} + n_c e^{\bar\theta_{cov}})` (covered mean fixed). The
  infimum of the DPO loss is not attained when an arm is never beaten (its implicit reward goes to
  :math:`+\infty`); the minimisers leave the uncovered arms arbitrary (the paper's point), and gradient
  descent selects the reference's values for them. Over-optimisation in this exact case is the
  concentration of mass on arms the data cover poorly (e.g. one lucky win), whose implicit reward diverges.
- RPO (:math:`\eta > 0`): the SFT term pulls the policy toward the arms chosen in the data. Its infimum
  sends every never-chosen arm (uncovered or only rejected) to :math:`-\infty` and, on the chosen arms
  :math:`S_x`, is attained at a finite point (the NLL term is coercive on :math:`S_x` modulo a constant):
  :func:`rpo_fit_tabular` computes it by Newton's method.

Functions: :func:`rpo_tabular_loss`, :func:`rpo_tabular_grad`, :func:`rpo_gd_tabular` (full-batch gradient
descent from the reference for a fixed number of steps; ``eta = 0`` is DPO), :func:`rpo_fit_tabular`
(the exact RPO infimum) and :func:`coverage`.

Reference: Z. Liu, M. Lu, S. Zhang, B. Liu, H. Guo, Y. Yang, J. Blanchet, Z. Wang, "Provably Mitigating
Overoptimization in RLHF: Your SFT Loss is Implicitly an Adversarial Regularizer", NeurIPS 2024,
arXiv:2405.16436. Departures: the SFT term is on the chosen response (the paper's practical choice); the
paper's theory uses a baseline policy's response and a general function class, not a table of logits.
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

from optarena.preference._logps import hparam_nonnegative, hparam_positive
from optarena.preference.tabular import TabularPairs, _as_logits, _logsumexp, _softmax

__all__ = [
    "coverage",
    "gd_lipschitz",
    "rpo_fit_tabular",
    "rpo_gd_tabular",
    "rpo_tabular_grad",
    "rpo_tabular_loss",
]


def _ref(ref_logits: np.ndarray | Tensor) -> np.ndarray:
    if isinstance(ref_logits, Tensor):
        ref_logits = ref_logits.detach().double().cpu().numpy()
    ref = np.asarray(ref_logits, dtype=np.float64)
    if ref.ndim != 2 or ref.shape[1] < 2:
        raise ValueError(f"ref_logits must have shape (prompts, responses >= 2), got {ref.shape}")
    if not np.isfinite(ref).all():
        raise ValueError("ref_logits must be finite")
    return ref


def _check_pairs(pairs: TabularPairs, shape: tuple[int, int]) -> None:
    if len(pairs) == 0:
        raise ValueError("pairs must not be empty")
    n_prompts, k = shape
    for name, idx, hi in (
        ("prompt", pairs.prompt, n_prompts),
        ("chosen", pairs.chosen, k),
        ("rejected", pairs.rejected, k),
    ):
        if np.min(idx) < 0 or np.max(idx) >= hi:
            raise ValueError(
                f"pairs.{name} indices must be in [0, {hi}), got range [{np.min(idx)}, {np.max(idx)}]"
            )
    same = np.asarray(pairs.chosen) == np.asarray(pairs.rejected)
    if same.any():
        raise ValueError(f"pair {int(np.argmax(same))} has chosen == rejected")


def coverage(pairs: TabularPairs, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Counts ``(n_chosen, n_rejected)``, each ``(P, K)``: how often each arm is chosen / rejected."""
    _check_pairs(pairs, shape)
    n_chosen = np.zeros(shape)
    n_rejected = np.zeros(shape)
    np.add.at(n_chosen, (pairs.prompt, pairs.chosen), 1.0)
    np.add.at(n_rejected, (pairs.prompt, pairs.rejected), 1.0)
    return n_chosen, n_rejected


def _margins(theta: np.ndarray, ref: np.ndarray, pairs: TabularPairs, beta: float) -> np.ndarray:
    x, w, r = pairs.prompt, pairs.chosen, pairs.rejected
    return beta * ((theta[x, w] - theta[x, r]) - (ref[x, w] - ref[x, r]))


def rpo_tabular_loss(
    logits: np.ndarray | Tensor, ref_logits: np.ndarray | Tensor, pairs: TabularPairs, beta: float, eta: float
) -> float:
    """The empirical RPO loss :math:`\\mathcal{L}_\\eta` of the module docstring (``eta = 0``: DPO)."""
    beta, eta = hparam_positive("beta", beta), hparam_nonnegative("eta", eta)
    ref = _ref(ref_logits)
    theta = _as_logits("logits", logits, ref.shape)  # -inf allowed (the RPO infimum)
    _check_pairs(pairs, ref.shape)
    m = _margins(theta, ref, pairs, beta)
    logp_w = theta[pairs.prompt, pairs.chosen] - _logsumexp(theta)[pairs.prompt]
    return float(np.mean(np.logaddexp(0.0, -m) - eta * beta * logp_w))


def rpo_tabular_grad(
    logits: np.ndarray, ref_logits: np.ndarray, pairs: TabularPairs, beta: float, eta: float
) -> np.ndarray:
    """Gradient ``(P, K)`` of :func:`rpo_tabular_loss` in the logits (module docstring)."""
    theta, ref = np.asarray(logits, dtype=np.float64), np.asarray(ref_logits, dtype=np.float64)
    n = len(pairs)
    s = 1.0 / (1.0 + np.exp(_margins(theta, ref, pairs, beta)))  # sigma(-m)
    g = np.zeros_like(theta)
    np.add.at(g, (pairs.prompt, pairs.chosen), -beta * s - eta * beta)
    np.add.at(g, (pairs.prompt, pairs.rejected), beta * s)
    if eta > 0:
        counts = np.bincount(pairs.prompt, minlength=theta.shape[0]).astype(np.float64)
        g += eta * beta * counts[:, None] * _softmax(theta)
    return g / n


def gd_lipschitz(pairs: TabularPairs, n_prompts: int, beta: float, eta: float) -> float:
    """An upper bound on the smoothness constant of :math:`\\mathcal{L}_\\eta` in the logits:
    :math:`\\max_x \\frac{n_x}{N}(\\beta^2/2 + \\eta\\beta/2)` (the DPO Hessian is at most
    :math:`\\frac{\\beta^2}{4N}D^\\top D` with :math:`\\lVert D^\\top D\\rVert \\le 2 n_x`; the softmax
    Hessian is at most :math:`\\tfrac12 I`)."""
    beta, eta = hparam_positive("beta", beta), hparam_nonnegative("eta", eta)
    n_x = np.bincount(pairs.prompt, minlength=n_prompts).max()
    return float(n_x / len(pairs) * (beta**2 / 2 + eta * beta / 2))


def rpo_gd_tabular(
    ref_logits: np.ndarray | Tensor,
    pairs: TabularPairs,
    beta: float,
    eta: float,
    steps: int,
    lr: float | None = None,
    record: tuple[int, ...] = (),
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Full-batch gradient descent on :math:`\\mathcal{L}_\\eta` from :math:`\\theta^{ref}` for ``steps``
    steps; ``lr`` defaults to ``1 / gd_lipschitz(...)`` (a safe step). ``eta = 0`` is DPO. Returns the final
    logits and the logits at each step count in ``record`` (``0`` = the reference)."""
    beta, eta = hparam_positive("beta", beta), hparam_nonnegative("eta", eta)
    ref = _ref(ref_logits)
    _check_pairs(pairs, ref.shape)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
    if lr is None:
        lr = 1.0 / gd_lipschitz(pairs, ref.shape[0], beta, eta)
    lr = hparam_positive("lr", lr)
    bad = [r for r in record if not 0 <= r <= steps]
    if bad:
        raise ValueError(f"record steps must be in [0, {steps}], got {bad}")
    theta = ref.copy()
    saved = {0: theta.copy()} if 0 in record else {}
    for t in range(1, steps + 1):
        theta -= lr * rpo_tabular_grad(theta, ref, pairs, beta, eta)
        theta -= theta.max(-1, keepdims=True) - ref.max(-1, keepdims=True)  # gauge only: pi unchanged
        if t in record:
            saved[t] = theta.copy()
    return theta, saved


def rpo_fit_tabular(
    ref_logits: np.ndarray | Tensor,
    pairs: TabularPairs,
    beta: float,
    eta: float,
    tol: float = 1e-10,
    max_iter: int = 200,
) -> np.ndarray:
    """The exact infimum of :math:`\\mathcal{L}_\\eta` for ``eta > 0`` (module docstring): per prompt with
    data, logits :math:`-\\infty` on arms never chosen and the finite minimiser on the chosen arms
    :math:`S_x` (Newton with a backtracking line search, gauge fixed by a least-squares step); prompts
    without data keep :math:`\\theta^{ref}` (the loss does not depend on them)."""
    beta = hparam_positive("beta", beta)
    eta = hparam_positive("eta", eta)  # eta = 0 (DPO) has no minimiser in general
    ref = _ref(ref_logits)
    _check_pairs(pairs, ref.shape)
    out = ref.copy()
    for x in range(ref.shape[0]):
        sel = pairs.prompt == x
        if not sel.any():
            continue
        w_all, l_all = pairs.chosen[sel], pairs.rejected[sel]
        support = np.unique(w_all)
        pos = {int(a): j for j, a in enumerate(support)}
        inside = np.isin(l_all, support)  # pairs whose loser goes to -inf contribute 0 in the limit
        d = np.zeros((int(inside.sum()), len(support)))
        d[np.arange(len(d)), [pos[int(a)] for a in w_all[inside]]] += 1.0
        d[np.arange(len(d)), [pos[int(a)] for a in l_all[inside]]] -= 1.0
        n_w = np.bincount([pos[int(a)] for a in w_all], minlength=len(support)).astype(np.float64)
        n = float(len(w_all))
        off = d @ ref[x, support]

        def f(
            u: np.ndarray, d: np.ndarray = d, off: np.ndarray = off, n_w: np.ndarray = n_w, n: float = n
        ) -> float:
            lse = float(_logsumexp(u))
            return float(np.logaddexp(0.0, -beta * (d @ u - off)).sum() + eta * beta * (n * lse - n_w @ u))

        u = ref[x, support].copy()
        for _ in range(max_iter):
            s = 1.0 / (1.0 + np.exp(beta * (d @ u - off)))
            p = _softmax(u)
            grad = -beta * (d.T @ s) + eta * beta * (n * p - n_w)
            if np.max(np.abs(grad)) < tol:
                break
            hess = beta**2 * (d.T * (s * (1.0 - s))) @ d + eta * beta * n * (np.diag(p) - np.outer(p, p))
            step = np.linalg.lstsq(hess, grad, rcond=None)[0]
            f0, t = f(u), 1.0
            while f(u - t * step) > f0 - 1e-4 * t * grad @ step and t > 1e-12:
                t *= 0.5
            u = u - t * step
        out[x] = -np.inf
        out[x, support] = u - u.max() + ref[x].max()
    return out
