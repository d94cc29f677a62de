r"""Zero-cost proxies: scores of a network at initialization meant to rank architectures by trained accuracy.

GradSign (Z. Zhang, Z. Jia, "GradSign: Model Performance Inference with Theoretical Insights", ICLR,
2022). With per-sample gradients :math:`g_{ik} = \partial \ell(f_{\theta_0}(x_i), y_i) / \partial\theta_k`
at the initialization :math:`\theta_0`, over a batch :math:`i = 1..n`,

.. math::  \tau = \sum_k \Big| \sum_{i=1}^{n} \operatorname{sign}(g_{ik}) \Big|,

large when the samples' gradients agree in sign coordinate by coordinate (their local optima lie
close together). As in the authors' code (``cmu-catalyst/GradSign``,
``foresight/pruners/measures/grad_conflict.py``), :math:`k` runs over the *weights* of the
``Linear`` / ``Conv`` layers (no biases) and ``sign(0) = 0``; their NASWOT-space script averages over
:math:`k` instead of summing, which ranks architectures of different sizes differently (we sum,
as the paper's equation and their NAS-Bench code do). Per-sample gradients come from
``torch.func.vmap(grad(...))`` rather than their loop over samples (same numbers).

Baselines, in the forms of the zero-cost-NAS code (Abdelfattah, Mehrotra, Dudziak, Lane,
"Zero-Cost Proxies for Lightweight NAS", ICLR, 2021), which GradSign's authors reuse; :math:`W` runs
over the weight tensors of ``Linear`` / ``Conv`` layers and :math:`L` is the batch-mean loss:

* ``grad_norm``: :math:`\sum_W \lVert \partial L / \partial W \rVert_2` (per-layer norms, summed).
* ``snip`` (N. Lee, T. Ajanthan, P. Torr, "SNIP: Single-shot Network Pruning based on Connection
  Sensitivity", ICLR, 2019): :math:`\sum_W \sum |W \odot \partial L / \partial W|`.
* ``synflow`` (H. Tanaka, D. Kunin, D. Yamins, S. Ganguli, "Pruning neural networks without any data
  by iteratively conserving synaptic flow", NeurIPS, 2020): all parameters replaced by their absolute
  values, in float64, :math:`R = \mathbf 1^\top f_{|\theta|}(\mathbf 1)` on one all-ones input;
  score :math:`\sum_W \sum W \odot \partial R / \partial W`. Data-free (only the input shape is used);
  activations are kept, as in that code (tanh is not linearized).
* ``naswot`` (J. Mellor, J. Turner, A. Storkey, E. J. Crowley, "Neural Architecture Search without
  Training", ICML, 2021): binary codes :math:`c_i \in \{0,1\}^{N_A}` of every activation unit
  (``1`` when its input is positive; for tanh the sign of the pre-activation), kernel
  :math:`K = C C^\top + (1-C)(1-C)^\top` (:math:`K_{ij} = N_A - d_H(c_i, c_j)`), score
  :math:`\log|\det K|` (``-inf`` when singular).
* ``params``: the number of trainable parameters.

All proxies leave the model's parameters and gradients as they were.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

__all__ = [
    "PROXIES",
    "grad_norm",
    "gradsign",
    "make_proxy",
    "naswot",
    "params",
    "rank",
    "score",
    "snip",
    "synflow",
]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_ACTIVATIONS = (nn.ReLU, nn.Tanh, nn.GELU, nn.SiLU, nn.LeakyReLU, nn.ELU, nn.Sigmoid)


def _check_batch(x: torch.Tensor, y: torch.Tensor | None) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim < 2 or x.shape[0] == 0:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a non-empty batch (n >= 1 rows), got shape {shape}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"x has {int((~torch.isfinite(x)).sum())} non-finite entries (NaN or inf)")
    if y is not None:
        if y.shape[:1] != x.shape[:1]:
            raise ValueError(f"y has {y.shape[0] if y.ndim else 0} rows, x has {x.shape[0]}")
        if y.dtype.is_floating_point and not bool(torch.isfinite(y).all()):
            raise ValueError(f"y has {int((~torch.isfinite(y)).sum())} non-finite entries (NaN or inf)")


def _weights(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    out = [
        (f"{n}.weight" if n else "weight", m.weight)
        for n, m in model.named_modules()
        if isinstance(m, _WEIGHTED)
    ]
    if not out:
        raise ValueError(f"model {type(model).__name__} has no Linear/Conv weights to score")
    return out


def _batch_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn) -> list[torch.Tensor]:
    """Gradients of the batch-mean loss w.r.t. the Linear/Conv weights (model's .grad untouched)."""
    ws = [w for _, w in _weights(model)]
    loss = loss_fn(model(x), y)
    if not bool(torch.isfinite(loss)):
        raise ValueError(f"loss at initialization is not finite: {float(loss)}")
    return list(torch.autograd.grad(loss, ws, allow_unused=True))


def gradsign(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn = nn.functional.cross_entropy
) -> float:
    """GradSign ``sum_k |sum_i sign(g_ik)|`` over Linear/Conv weights (see the module docstring)."""
    _check_batch(x, y)
    named = dict(_weights(model))
    others = {k: v.detach() for k, v in model.named_parameters() if k not in named}
    buffers = dict(model.named_buffers())

    def one(w: dict[str, torch.Tensor], xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        out = functional_call(model, ({**others, **w}, buffers), (xi.unsqueeze(0),))
        return loss_fn(out, yi.unsqueeze(0))

    w0 = {k: v.detach() for k, v in named.items()}
    g = vmap(grad(one), in_dims=(None, 0, 0))(w0, x, y)
    total = sum(torch.sign(gk).sum(dim=0).abs().sum() for gk in g.values())
    return float(total)


def grad_norm(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn = nn.functional.cross_entropy
) -> float:
    """``sum_W ||dL/dW||_2`` over Linear/Conv weights, ``L`` the batch-mean loss."""
    _check_batch(x, y)
    return float(sum(g.norm() for g in _batch_grads(model, x, y, loss_fn) if g is not None))


def snip(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn = nn.functional.cross_entropy
) -> float:
    """SNIP saliency ``sum |W * dL/dW|`` over Linear/Conv weights."""
    _check_batch(x, y)
    ws = [w for _, w in _weights(model)]
    gs = _batch_grads(model, x, y, loss_fn)
    return float(sum((w.detach() * g).abs().sum() for w, g in zip(ws, gs, strict=True) if g is not None))


def synflow(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, loss_fn: LossFn | None = None
) -> float:
    """SynFlow ``sum W * dR/dW`` with ``|theta|`` in float64 and an all-ones input; uses only ``x.shape``."""
    _check_batch(x, None)
    net = copy.deepcopy(model).double()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    net.eval()
    ws = [w for _, w in _weights(net)]
    R = net(torch.ones((1, *x.shape[1:]), dtype=torch.float64)).sum()
    gs = torch.autograd.grad(R, ws, allow_unused=True)
    return float(sum((w.detach() * g).sum() for w, g in zip(ws, gs, strict=True) if g is not None))


def naswot(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, loss_fn: LossFn | None = None
) -> float:
    """NASWOT ``log|det K|``, ``K = C C^T + (1-C)(1-C)^T`` from binary activation codes (``-inf`` if singular)."""
    _check_batch(x, None)
    acts = [m for m in model.modules() if isinstance(m, _ACTIVATIONS)]
    if not acts:
        raise ValueError(f"model {type(model).__name__} has no activation modules for NASWOT codes")
    codes: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda m, inp, out: codes.append((inp[0] > 0).flatten(1))) for m in acts]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    C = torch.cat(codes, dim=1).double()
    K = C @ C.T + (1 - C) @ (1 - C).T
    sign, logabs = torch.linalg.slogdet(K)
    return float(logabs) if float(sign) != 0 else -math.inf


def params(
    model: nn.Module,
    x: torch.Tensor | None = None,
    y: torch.Tensor | None = None,
    loss_fn: LossFn | None = None,
) -> float:
    """Number of trainable parameters."""
    return float(sum(p.numel() for p in model.parameters() if p.requires_grad))


PROXIES: dict[str, Callable[..., float]] = {
    "gradsign": gradsign,
    "synflow": synflow,
    "snip": snip,
    "grad_norm": grad_norm,
    "naswot": naswot,
    "params": params,
}


def score(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    proxy: str = "gradsign",
    loss_fn: LossFn = nn.functional.cross_entropy,
) -> float:
    """The zero-cost ``proxy`` of ``model`` at its current parameters on the batch ``(x, y)``."""
    if proxy not in PROXIES:
        raise ValueError(f"unknown proxy {proxy!r}; known: {sorted(PROXIES)}")
    if proxy == "params":
        return params(model)
    return PROXIES[proxy](model, x, y, loss_fn)


def rank(
    models: Sequence[nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    proxy: str = "gradsign",
    loss_fn: LossFn = nn.functional.cross_entropy,
) -> np.ndarray:
    """Indices of ``models`` sorted best-first by ``proxy`` (higher is better; ties keep input order)."""
    s = np.array([score(m, x, y, proxy, loss_fn) for m in models])
    return np.argsort(-s, kind="stable")


def make_proxy(hparams: dict) -> Callable[..., float]:
    """Factory of the "science" family: ``factory({"proxy": name}) -> score(model, x, y, loss_fn=...)``."""
    name = dict(hparams).get("proxy", "gradsign")
    if name not in PROXIES:
        raise ValueError(f"unknown proxy {name!r}; known: {sorted(PROXIES)}")

    def run(
        model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn = nn.functional.cross_entropy
    ) -> float:
        return score(model, x, y, name, loss_fn)

    return run
