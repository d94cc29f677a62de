"""Claim experiment: M-FAC (Frantar, Kurtic, Alistarh, NeurIPS 2021) on digits-mlp.

One seed measures:

1. ``ihvp_rel_error``: M-FAC's inverse-Hessian-vector product by its recursion
   (:func:`optarena.optim.mfac.mfac_ihvp`, cost O(m d + m^3)) against the exact
   :math:`(\\lambda I + G^\\top G / m)^{-1} g` in float64, on m = 64 real minibatch gradients of the
   digits MLP (d = 26,122) taken after 200 Adam steps, computed independently by the Woodbury identity
   :math:`\\frac1\\lambda (g - G^\\top (m\\lambda I + G G^\\top)^{-1} G g)` with a dense m x m solve;
   ``ihvp_dense_rel_error``: the same on the last layer (d = 1,290) against a dense d x d solve.
2. ``mfac_acc``, ``sgd_acc``, ``adam_acc``: best final validation accuracy of an equal-budget tuning
   study (``trials`` Halton points of each method's registered search space, ``steps`` steps, the
   schedules decaying over them) of mfac (window 32), sgd-heavyball and adamw;
   ``mfac_minus_best`` = mfac_acc - max(sgd_acc, adam_acc).
"""

from __future__ import annotations

import torch

from optarena.claims.experiments._training import tune, variant
from optarena.optim.mfac import mfac_ihvp
from optarena.workloads.digits_mlp import DigitsMLPWorkload

__all__ = ["measure"]


def _gradients(seed: int, m: int, warm_steps: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Rows of m minibatch gradients and one more gradient (float64), after ``warm_steps`` of Adam;
    also the size of the last layer's block (weights and bias), which ends the flat vector."""
    problem = DigitsMLPWorkload().build(seed)
    params = [p for _, p in problem.named_parameters()]
    opt = torch.optim.Adam(params, lr=1e-3)
    for _ in range(warm_steps):
        opt.zero_grad(set_to_none=True)
        problem.loss(problem.next_batch()).backward()
        opt.step()
    rows = []
    for _ in range(m + 1):
        grads = torch.autograd.grad(problem.loss(problem.next_batch()), params)
        rows.append(torch.cat([g.reshape(-1) for g in grads]).double())
    last = params[-1].numel() + params[-2].numel()
    return torch.stack(rows[:m]), rows[m], last


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def _woodbury(G: torch.Tensor, g: torch.Tensor, damp: float) -> torch.Tensor:
    m = G.shape[0]
    small = m * damp * torch.eye(m, dtype=G.dtype) + G @ G.T
    return (g - G.T @ torch.linalg.solve(small, G @ g)) / damp


def measure(
    seed: int,
    quick: bool,
    m: int = 64,
    damp: float = 1e-4,
    trials: int = 4,
    steps: int = 1500,
) -> dict[str, float]:
    if quick:
        m, trials, steps = 16, 1, 60
    G, g, last = _gradients(seed, m, warm_steps=20 if quick else 200)
    out = {"ihvp_rel_error": _rel(mfac_ihvp(G, g, damp), _woodbury(G, g, damp))}
    Gl, gl = G[:, -last:], g[-last:]
    dense = damp * torch.eye(last, dtype=G.dtype) + Gl.T @ Gl / m
    out["ihvp_dense_rel_error"] = _rel(mfac_ihvp(Gl, gl, damp), torch.linalg.solve(dense, gl))

    wid = variant("digits-mlp", step_hint=steps, eval_every=max(steps // 10, 1))
    for name, method in (("mfac", "mfac"), ("sgd", "sgd-heavyball"), ("adam", "adamw")):
        study = tune(method, wid, seed, trials, max_steps=steps, stop_at_target=False, seed_key="digits-mlp")
        out[f"{name}_acc"] = study.best_final()
    out["mfac_minus_best"] = out["mfac_acc"] - max(out["sgd_acc"], out["adam_acc"])
    return out
