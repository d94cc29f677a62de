"""Claim experiment: transformers learn in-context by gradient descent (von Oswald et al., ICML 2023).

One seed measures, on the ``icl-lsa`` task family (d = 10, N = 10, x ~ U(-1, 1)^d, w ~ N(0, I)):

1. ``construct_max_abs_diff``: the constructed linear self-attention layer against one GD step of
   size ``eta*`` on 4096 fresh tasks, in float64 (the construction is exact: round-off only).
2. ``single_loss_ratio``: a single LSA layer trained with Adam (the paper's lr 1e-3, 512 tasks per
   step) against one GD step with the closed-form best step, test loss ratio; ``single_loss_gap`` is
   ``|ratio - 1|``. ``single_cosine``: mean over test tasks of the cosine between the two models'
   input sensitivities ``d y_hat / d x_q`` (the paper's "model cos").
3. ``deep_*``: K = 3 LSA layers trained the same way, against K steps of GD and of GD++ whose per-step
   sizes are fitted (L-BFGS, float64) on training tasks. Both are written in token space, which is
   what an LSA layer can express: each step updates every token ``e_j = (x_j, y_j)`` from the context
   tokens ``e_i`` by ``y_j <- y_j - eta (1/N) sum_i y_i x_i^T x_j`` (context slots then hold the
   residuals of GD on ``W``, the query slot ``-W x_q``), and GD++ adds the curvature correction
   ``x_j <- x_j - gamma (1/N) sum_i x_i x_i^T x_j`` (the paper's data transformation
   ``x <- (I - gamma X X^T) x``, our normalisation by N). ``deep_diff_ratio`` = mean squared
   prediction difference (trained vs GD++) / (trained vs GD): below 1 when the trained layers are
   closer to GD++.
4. ``interp_max_ratio``: the loss along the straight line between the trained single layer and the
   construction, as a multiple of the GD loss, worst of 11 points. The layer's prediction depends on
   the weights only through ``M = W_K^T W_Q`` and ``v = W_V[-1]`` and is invariant to
   ``(v, M) -> (v / s, s M)``; the construction is put at the trained layer's scale (and sign) of
   ``M`` before interpolating ``(v, M)``, as a straight line in raw weights would cross this symmetry.
"""

from __future__ import annotations

import numpy as np
import scipy.optimize
import torch

from optarena.workloads._common import torch_generator
from optarena.workloads.icl_lsa import (
    BATCH,
    INIT_STD,
    D,
    LinearSelfAttention,
    constructed_lsa_weights,
    gd_one_step_optimal_lr,
    gd_one_step_prediction,
    lsa_update,
    sample_tasks,
)

__all__ = ["gd_tokens", "measure"]

N_TEST = 4096


def gd_tokens(tokens: torch.Tensor, etas: torch.Tensor, gammas: torch.Tensor) -> torch.Tensor:
    """K steps of GD (``gammas`` = 0) or GD++ in token space; returns the query predictions."""
    t = tokens
    n = tokens.shape[1] - 1
    for eta, gamma in zip(etas, gammas, strict=True):
        x_all, x_c, y_c = t[..., :-1], t[:, :-1, :-1], t[:, :-1, -1]
        xx = x_all @ x_c.transpose(1, 2)  # (B, N+1, N): x_j^T x_i
        dy = eta * (xx @ y_c.unsqueeze(-1)).squeeze(-1) / n
        dx = gamma * (xx @ x_c) / n
        t = torch.cat([x_all - dx, (t[..., -1] - dy).unsqueeze(-1)], dim=-1)
    return -t[:, -1, -1]


def _fit_steps(
    tokens: torch.Tensor, y: torch.Tensor, k: int, plus: bool, maxiter: int = 500
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-step sizes (and GD++ corrections) minimising the mean squared loss on ``tokens``."""

    def fun(z: np.ndarray) -> tuple[float, np.ndarray]:
        zt = torch.as_tensor(z, dtype=torch.float64).requires_grad_(True)
        etas = zt[:k]
        gammas = zt[k:] if plus else torch.zeros(k, dtype=torch.float64)
        loss = 0.5 * (gd_tokens(tokens, etas, gammas) - y).square().mean()
        (g,) = torch.autograd.grad(loss, zt)
        return loss.item(), g.numpy()

    z0 = np.concatenate([np.ones(k), np.zeros(k if plus else 0)])
    res = scipy.optimize.minimize(fun, z0, jac=True, method="L-BFGS-B", options={"maxiter": maxiter})
    z = torch.as_tensor(res.x, dtype=torch.float64)
    return z[:k], (z[k:] if plus else torch.zeros(k, dtype=torch.float64))


class _DeepLSA(torch.nn.Module):
    """K stacked LSA layers (each updates every token, as in the paper); prediction ``-(e_q)[-1]``."""

    def __init__(self, k: int, gen: torch.Generator) -> None:
        super().__init__()
        shape = (k, 3, D + 1, D + 1)
        self.w = torch.nn.Parameter(torch.randn(shape, generator=gen) * INIT_STD)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        for W_K, W_Q, W_V in self.w:
            tokens = lsa_update(tokens, W_K, W_Q, W_V)
        return -tokens[:, -1, -1]


def _train(model: torch.nn.Module, seed: int, steps: int, lr: float) -> None:
    gen = torch_generator(seed, "claim-batches")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        tokens, y = sample_tasks(BATCH, gen)
        loss = 0.5 * (model(tokens) - y).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def _sensitivity(predict, tokens: torch.Tensor) -> torch.Tensor:
    """``d y_hat / d x_q`` per task, shape (B, d)."""
    t = tokens.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(predict(t).sum(), t)
    return g[:, -1, :-1]


def _effective(layer: LinearSelfAttention) -> tuple[torch.Tensor, torch.Tensor]:
    return layer.W_V[-1].detach().double(), (layer.W_K.T @ layer.W_Q).detach().double()


def _predict_vm(tokens: torch.Tensor, v: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    ctx, q = tokens[:, :-1], tokens[:, -1]
    scores = ctx @ (m @ q.unsqueeze(-1))  # (B, N, 1): e_i^T M e_q
    upd = ((ctx @ v).unsqueeze(1) @ scores).squeeze(-1).squeeze(-1) / ctx.shape[1]
    return -(q[:, -1] + upd)


def measure(
    seed: int,
    quick: bool,
    steps: int = 4000,
    deep_steps: int = 4000,
    layers: int = 3,
    lr: float = 1e-3,
) -> dict[str, float]:
    n_tasks = N_TEST
    if quick:
        steps, deep_steps, n_tasks = min(steps, 200), min(deep_steps, 100), 256
    test_tokens, test_y = sample_tasks(n_tasks, torch_generator(seed, "claim-test"))
    fit_tokens, fit_y = sample_tasks(n_tasks, torch_generator(seed, "claim-fit"))
    tt, ty = test_tokens.double(), test_y.double()
    eta, _ = gd_one_step_optimal_lr(fit_tokens, fit_y)  # the step size is chosen on training tasks
    gd_pred = gd_one_step_prediction(tt, eta)
    gd_loss = float(0.5 * (gd_pred - ty).square().mean())

    # 1. The construction equals one GD step.
    constructed = LinearSelfAttention(D).double()
    weights = {k: v.double() for k, v in constructed_lsa_weights(D, 1.0).items()}
    weights["W_V"] = weights["W_V"] * eta  # scale in float64: the float32 construction rounds eta
    constructed.load_state_dict(weights)
    with torch.no_grad():
        construct_diff = float((constructed(tt) - gd_pred).abs().max())

    # 2. A trained single layer against GD with the best step.
    torch.manual_seed(seed)
    layer = LinearSelfAttention(D)
    with torch.no_grad():
        gen = torch_generator(seed, "claim-init")
        for p in layer.parameters():
            p.normal_(0.0, INIT_STD, generator=gen)
    _train(layer, seed, steps, lr)
    layer = layer.double()
    with torch.no_grad():
        single_loss = float(0.5 * (layer(tt) - ty).square().mean())
    s_tr = _sensitivity(layer, tt)
    s_gd = _sensitivity(lambda t: gd_one_step_prediction(t, eta), tt)
    cosine = float(torch.nn.functional.cosine_similarity(s_tr, s_gd, dim=-1).mean())

    # 4. Interpolation between the trained layer and the construction (at the trained scale).
    v_tr, m_tr = _effective(layer)
    v_c, m_c = _effective(constructed)
    scale = float(torch.trace(m_tr[:D, :D]) / torch.trace(m_c[:D, :D]))
    v_c, m_c = v_c / scale, m_c * scale
    interp = []
    with torch.no_grad():
        for a in np.linspace(0.0, 1.0, 11):
            pred = _predict_vm(tt, a * v_tr + (1 - a) * v_c, a * m_tr + (1 - a) * m_c)
            interp.append(float(0.5 * (pred - ty).square().mean()) / gd_loss)

    # 3. K trained layers against K steps of GD and GD++.
    deep = _DeepLSA(layers, torch_generator(seed, "claim-init-deep"))
    _train(deep, seed, deep_steps, lr)
    deep = deep.double()
    maxiter = 50 if quick else 500
    fitted = {p: _fit_steps(fit_tokens.double(), fit_y.double(), layers, p, maxiter) for p in (False, True)}
    with torch.no_grad():
        deep_pred = deep(tt)
        out = {}
        for name, plus in (("gd", False), ("gdpp", True)):
            pred = gd_tokens(tt, *fitted[plus])
            out[name] = (float(0.5 * (pred - ty).square().mean()), float((deep_pred - pred).square().mean()))
        deep_loss = float(0.5 * (deep_pred - ty).square().mean())

    return {
        "construct_max_abs_diff": construct_diff,
        "gd_loss": gd_loss,
        "single_loss": single_loss,
        "single_loss_ratio": single_loss / gd_loss,
        "single_loss_gap": abs(single_loss / gd_loss - 1.0),
        "single_cosine": cosine,
        "interp_max_ratio": max(interp),
        "deep_loss": deep_loss,
        "deep_gd_loss": out["gd"][0],
        "deep_gdpp_loss": out["gdpp"][0],
        "deep_diff_gd": out["gd"][1],
        "deep_diff_gdpp": out["gdpp"][1],
        "deep_diff_ratio": out["gdpp"][1] / out["gd"][1],
    }
