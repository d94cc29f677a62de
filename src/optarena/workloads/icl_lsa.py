"""``icl-lsa``: in-context linear regression with one linear self-attention layer (von Oswald et al. 2023).

Tasks. Each task draws ``w ~ N(0, I_d)`` (d = 10), ``N = 10`` context inputs and one query input
``x ~ U(-1, 1)^d`` and sets ``y = w . x``. Context tokens are ``e_i = (x_i, y_i)`` in R^{d+1}; the
query token is ``e_q = (x_q, 0)`` and its target is ``y_q``. Shapes: ``tokens`` is ``(B, N + 1, d + 1)``
with the query last, ``y_q`` is ``(B,)``.

Model. One linear self-attention layer (no softmax) with a residual connection, attending to the
``N`` context tokens only::

    e_j <- e_j + W_V sum_i e_i (e_i^T W_K^T W_Q e_j) / N

and the prediction is read, negated, from the last coordinate of the updated query token:
``y_hat = -(e_q')[-1]``. The paper's projection ``P`` is folded into ``W_V`` (the paper reports the
product ``P W_V`` too), so the parameters are three ``(d + 1) x (d + 1)`` matrices ``W_K``, ``W_Q``,
``W_V``; the ``1 / N`` is explicit in the layer, so the paper's ``P = (eta / N) I`` becomes a factor
``eta`` in ``W_V`` (see :func:`constructed_lsa_weights`). Init: i.i.d. N(0, ``INIT_STD``^2) from the
trial's generator. Loss: ``1/2 (y_hat - y_q)^2`` averaged over the tasks of a batch.

Data. Every step draws a fresh batch of 512 tasks from the trial's generator (the paper's repo uses
512 as well). Validation is a fixed set of 4096 tasks drawn from the seed ``VAL_SEED`` whatever the
trial seed (the ``"validation"`` stream of seed ``VAL_SEED``), so the target is the same for every
trial. Trial streams: ``"init"`` for the weights, ``"batches"`` for the training tasks.

Landscape. Besides the GD solution (``W_V[-1, -1]`` times the x-block of ``W_K^T W_Q`` close to
``eta* I``), the model has a second path to the same kind of prediction: the x-part of the last row of
``W_V`` times the y-row of ``W_K^T W_Q``, which can only form a rank-1 preconditioner. Runs can settle
on it first and plateau at a validation loss of about 1.56 (the zero predictor scores 1.65, GD 0.82).
With this init Adam (lr 1e-3) escaped and reached the target on each of seeds 0-7 within 1900 steps,
while SGD with momentum 0.9 (lr 0.01) stayed on the plateau for 2500 steps on 6 of the 8 seeds. A
smaller init (std 0.02) traps Adam too on some seeds.

Reference. One gradient-descent step from ``W0 = 0`` on the in-context least-squares loss
``L(W) = 1/(2N) sum_i ||W x_i - y_i||^2`` with step size ``eta`` predicts
``y_GD(eta) = eta * a`` with ``a = x_q^T (1/N) sum_i y_i x_i``. Its loss is quadratic in ``eta`` and
minimised by ``eta* = mean(a y_q) / mean(a^2)`` (:func:`gd_one_step_optimal_lr`). The target is 1.05
times that loss on the validation set. The layer computes exactly this step for the weights of
:func:`constructed_lsa_weights`.

Calibration (``optarena calibrate icl-lsa --trials 3 --reruns 3 -j 2``, 2026-11-29, on a
2-core machine running two trials at once; AlgoPerf's procedure scaled down, see
:mod:`optarena.bench.calibrate`): the target is fixed by definition; the fastest tuned baseline was
sgd-nesterov (lr=0.0316, one_minus_momentum=0.0311, weight_decay=3.98e-06, warmup_frac=0.0143); its 3 reruns reached the target after 0.27, 0.65, 0.27 s of
step time (median 0.27 s, 4/3 of it 0.37 s), so ``max_runtime`` takes
the floor of the foundation's [10, 120] s range, 10 s, and ``step_hint`` = 6156 (the
reruns' median steps per second x 10 s).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from optarena.core.paper import PaperRef
from optarena.workloads._common import torch_generator
from optarena.workloads.base import Workload

__all__ = [
    "ICLLSAProblem",
    "ICLLSAWorkload",
    "LinearSelfAttention",
    "constructed_lsa_weights",
    "gd_one_step_loss",
    "gd_one_step_optimal_lr",
    "gd_one_step_prediction",
    "lsa_update",
    "sample_tasks",
]

D = 10
N_CONTEXT = 10
BATCH = 512
N_VAL = 4096
VAL_SEED = 12345
INIT_STD = 0.1
TARGET_FACTOR = 1.05


def sample_tasks(
    n_tasks: int, generator: torch.Generator, d: int = D, n_context: int = N_CONTEXT
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``n_tasks`` regression tasks: ``(tokens (B, N+1, d+1), y_q (B,))``, float32.

    The query is the last token, with its ``y`` slot set to 0.
    """
    w = torch.randn(n_tasks, d, generator=generator)
    x = torch.rand(n_tasks, n_context + 1, d, generator=generator) * 2.0 - 1.0
    y = torch.einsum("bnd,bd->bn", x, w)
    y_q = y[:, -1].clone()
    y[:, -1] = 0.0
    return torch.cat([x, y.unsqueeze(-1)], dim=-1), y_q


def lsa_update(tokens: torch.Tensor, W_K: torch.Tensor, W_Q: torch.Tensor, W_V: torch.Tensor) -> torch.Tensor:
    """One linear self-attention layer with residual on every token, keys and values from the context.

    ``tokens`` is ``(B, N + 1, d + 1)`` with the query last; returns the updated tokens (same shape):
    ``e_j + W_V sum_{i <= N} e_i (e_i^T W_K^T W_Q e_j) / N``.
    """
    context = tokens[:, :-1]
    n = context.shape[1]
    keys = context @ W_K.T  # (B, N, D1): W_K e_i
    queries = tokens @ W_Q.T  # (B, N+1, D1): W_Q e_j
    values = context @ W_V.T  # (B, N, D1): W_V e_i
    scores = keys @ queries.transpose(1, 2)  # (B, N, N+1): e_i^T W_K^T W_Q e_j
    return tokens + scores.transpose(1, 2) @ values / n


class LinearSelfAttention(nn.Module):
    """One LSA layer; ``forward(tokens)`` returns the prediction ``-(updated query)[-1]``, shape ``(B,)``.

    Parameters are named ``W_K``, ``W_Q``, ``W_V`` so ``load_state_dict(constructed_lsa_weights(...))``
    installs the gradient-descent construction.
    """

    def __init__(self, d: int = D) -> None:
        super().__init__()
        self.W_K = nn.Parameter(torch.zeros(d + 1, d + 1))
        self.W_Q = nn.Parameter(torch.zeros(d + 1, d + 1))
        self.W_V = nn.Parameter(torch.zeros(d + 1, d + 1))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        # Only the query token's output is read, so compute just that row.
        context, query = tokens[:, :-1], tokens[:, -1]
        scores = (context @ self.W_K.T) @ (self.W_Q @ query.unsqueeze(-1))  # (B, N, 1)
        value_last = context @ self.W_V[-1]  # (B, N): last coordinate of W_V e_i
        update = (value_last.unsqueeze(1) @ scores).squeeze(-1).squeeze(-1) / context.shape[1]
        return -(query[:, -1] + update)


def constructed_lsa_weights(d: int = D, eta: float = 1.0) -> dict[str, torch.Tensor]:
    """Weights for which :class:`LinearSelfAttention` computes one GD step of size ``eta`` from ``W0 = 0``.

    The paper's construction: ``W_K = W_Q = [[I_d, 0], [0, 0]]``, ``W_V = [[0, 0], [W0, -I]]`` with
    ``W0 = 0`` and ``P = (eta / N) I``. Here ``P`` is folded into ``W_V`` and the ``1 / N`` is in the
    layer, so ``W_V = eta * [[0, 0], [0, -1]]``. Then the query's last coordinate becomes
    ``-eta x_q^T (1/N) sum_i y_i x_i = -y_GD(eta)`` and the model predicts ``y_GD(eta)``.
    """
    proj = torch.zeros(d + 1, d + 1)
    proj[:d, :d] = torch.eye(d)
    w_v = torch.zeros(d + 1, d + 1)
    w_v[d, d] = -float(eta)
    return {"W_K": proj.clone(), "W_Q": proj.clone(), "W_V": w_v}


def _gd_direction(tokens: torch.Tensor) -> torch.Tensor:
    """``a = x_q^T (1/N) sum_i y_i x_i`` per task, so that ``y_GD(eta) = eta * a``."""
    context, x_q = tokens[:, :-1], tokens[:, -1, :-1]
    grad = (context[..., -1:] * context[..., :-1]).mean(dim=1)  # (B, d): (1/N) sum_i y_i x_i
    return (grad * x_q).sum(-1)


def gd_one_step_prediction(tokens: torch.Tensor, eta: float) -> torch.Tensor:
    """Query prediction of one GD step (size ``eta``, from ``W0 = 0``) on the context's squared loss."""
    return eta * _gd_direction(tokens)


def gd_one_step_loss(tokens: torch.Tensor, y_q: torch.Tensor, eta: float) -> float:
    """Mean ``1/2 (y_GD(eta) - y_q)^2`` over the tasks, computed in float64."""
    a = _gd_direction(tokens.double())
    return float(0.5 * ((eta * a - y_q.double()) ** 2).mean())


def gd_one_step_optimal_lr(tokens: torch.Tensor, y_q: torch.Tensor) -> tuple[float, float]:
    """Closed-form best step size on these tasks and its loss: ``(eta*, loss(eta*))``.

    ``loss(eta) = 1/2 mean((eta a - y_q)^2)`` is a quadratic in ``eta`` minimised at
    ``eta* = mean(a y_q) / mean(a^2)`` (float64).
    """
    a = _gd_direction(tokens.double())
    y = y_q.double()
    eta = float((a * y).mean() / (a * a).mean())
    return eta, float(0.5 * ((eta * a - y) ** 2).mean())


class ICLLSAProblem:
    """One trial: an LSA layer initialised from the seed, a fresh task stream, a fixed validation set.

    Attributes ``gd_eta`` and ``gd_loss`` hold the closed-form GD reference on the validation set.
    """

    def __init__(self, seed: int) -> None:
        self._generator = torch_generator(seed, "batches")
        init_gen = torch_generator(seed, "init")
        self.model = LinearSelfAttention(D)
        with torch.no_grad():
            for p in self.model.parameters():
                p.normal_(0.0, INIT_STD, generator=init_gen)
        self.val_tokens, self.val_y = sample_tasks(N_VAL, torch_generator(VAL_SEED, "validation"))
        self.gd_eta, self.gd_loss = gd_one_step_optimal_lr(self.val_tokens, self.val_y)

    def named_parameters(self) -> list[tuple[str, torch.Tensor]]:
        return list(self.model.named_parameters())

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        return sample_tasks(BATCH, self._generator)

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        tokens, y_q = batch
        return 0.5 * (self.model(tokens) - y_q).square().mean()

    def evaluate(self) -> dict[str, float]:
        # No train_loss: the validation tasks come from the training distribution.
        with torch.no_grad():
            val = float(self.loss((self.val_tokens, self.val_y)))
        return {"val_loss": val, "val_loss_over_gd": val / self.gd_loss}


class ICLLSAWorkload(Workload):
    id: ClassVar[str] = "icl-lsa"
    version: ClassVar[str] = "1"
    summary: ClassVar[str] = (
        "one linear self-attention layer trained on in-context linear regression (d=10, N=10, 512 tasks "
        "per step); target 1.05x the loss of one optimally sized GD step"
    )
    metric: ClassVar[str] = "val_loss"
    mode = "min"
    #: TARGET_FACTOR x the closed-form one-step-GD loss on the fixed validation set (eta* = 1.493882,
    #: loss 0.8188316; on 200k fresh tasks eta* = 1.513, loss 0.826); a test recomputes it. Adam
    #: (constant lr 1e-3) reaches it after 650-1900 steps (seeds 0-7), lr 3e-3 after 250-750 steps.
    target: ClassVar[float] = 0.8597732
    target_source = "fixed"
    max_runtime: ClassVar[float] = 10.0  # calibrated (floored at 10 s), see the module docstring
    eval_every: ClassVar[int] = 50
    step_hint: ClassVar[int] = 6156  # from `optarena calibrate` (see the module docstring)
    interfaces: ClassVar[frozenset[str]] = frozenset({"torch-optimizer"})
    paper: ClassVar[PaperRef | None] = PaperRef(
        authors="J. von Oswald, E. Niklasson, E. Randazzo, J. Sacramento, A. Mordvintsev, A. Zhmoginov, "
        "M. Vladymyrov",
        title="Transformers learn in-context by gradient descent",
        venue="ICML",
        year=2023,
        arxiv="2212.07677",
    )

    def build(self, seed: int) -> Any:
        return ICLLSAProblem(seed)
