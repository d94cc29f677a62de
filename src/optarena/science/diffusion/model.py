"""A small 2-D diffusion model: VP noise schedule, toy data sets and an MLP noise predictor.

The forward process is the variance-preserving SDE with the linear beta schedule of Song et al. (2021)
and Ho et al. (2020), written as in DPM-Solver (Lu et al., NeurIPS 2022):

.. math::
    q(x_t | x_0) = \\mathcal N(\\alpha_t x_0, \\sigma_t^2 I),\\quad
    \\log\\alpha_t = -\\tfrac{t^2}{4}(\\beta_1 - \\beta_0) - \\tfrac{t}{2}\\beta_0,\\quad
    \\sigma_t = \\sqrt{1 - \\alpha_t^2},\\quad \\lambda_t = \\log(\\alpha_t / \\sigma_t),

with :math:`\\beta_0 = 0.1`, :math:`\\beta_1 = 20`, :math:`t \\in [\\epsilon, 1]`. The noise predictor
:math:`\\epsilon_\\theta(x, t)` is an MLP on :math:`(x, \\text{Fourier features of } t)` trained with the
denoising loss :math:`E\\,\\|\\epsilon_\\theta(\\alpha_t x_0 + \\sigma_t \\epsilon, t) - \\epsilon\\|^2`,
:math:`t \\sim U[\\epsilon, 1]`. Trained models are cached per (seed, configuration) in the process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import nn

__all__ = ["DATASETS", "NoiseMLP", "VPSchedule", "sample_data", "train_model"]

DATASETS = ("moons", "gmm8", "swissroll")


@dataclass(frozen=True)
class VPSchedule:
    """Linear-beta VP schedule: ``alpha(t)``, ``sigma(t)``, ``lam(t)`` and the inverse ``t_of_lam``."""

    beta_0: float = 0.1
    beta_1: float = 20.0
    t_end: float = 1e-3
    t_start: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.beta_0 < self.beta_1:
            raise ValueError(f"need 0 < beta_0 < beta_1, got beta_0 = {self.beta_0}, beta_1 = {self.beta_1}")
        if not 0 < self.t_end < self.t_start <= 1:
            raise ValueError(
                f"need 0 < t_end < t_start <= 1, got t_end = {self.t_end}, t_start = {self.t_start}"
            )

    def log_alpha(self, t: torch.Tensor) -> torch.Tensor:
        return -0.25 * t**2 * (self.beta_1 - self.beta_0) - 0.5 * t * self.beta_0

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        return torch.exp(self.log_alpha(t))

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(-torch.expm1(2.0 * self.log_alpha(t)))

    def lam(self, t: torch.Tensor) -> torch.Tensor:
        la = self.log_alpha(t)
        return la - 0.5 * torch.log(-torch.expm1(2.0 * la))

    def t_of_lam(self, lam: torch.Tensor) -> torch.Tensor:
        """Inverse of ``lam`` (closed form, as in DPM-Solver's ``NoiseScheduleVP.inverse_lambda``)."""
        la = -0.5 * torch.logaddexp(torch.zeros_like(lam), -2.0 * lam)
        d = self.beta_1 - self.beta_0
        # root of d t^2 / 4 + beta_0 t / 2 + la = 0, in the cancellation-free form
        return -4.0 * la / (torch.sqrt(self.beta_0**2 - 4.0 * d * la) + self.beta_0)


def sample_data(name: str, n: int, seed: int) -> torch.Tensor:
    """``n`` points of a standardized 2-D toy data set (``"moons"``, ``"gmm8"``, ``"swissroll"``), float64."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; known: {DATASETS}")
    if n < 1:
        raise ValueError(f"need n >= 1 samples, got n = {n}")
    rng = np.random.default_rng(seed)
    if name == "moons":
        k = rng.integers(0, 2, n)
        a = rng.uniform(0.0, math.pi, n)
        x = np.where(k == 0, np.cos(a), 1.0 - np.cos(a))
        y = np.where(k == 0, np.sin(a), 0.5 - np.sin(a))
        pts = np.stack([x, y], 1) + 0.05 * rng.standard_normal((n, 2))
        pts = (pts - np.array([0.5, 0.25])) / np.array([0.87, 0.5])
    elif name == "gmm8":
        k = rng.integers(0, 8, n)
        centers = np.stack([np.cos(2 * math.pi * k / 8), np.sin(2 * math.pi * k / 8)], 1) * 1.4
        pts = centers + 0.1 * rng.standard_normal((n, 2))
    else:
        r = rng.uniform(1.5 * math.pi, 4.5 * math.pi, n)
        pts = np.stack([r * np.cos(r), r * np.sin(r)], 1) / 8.0 + 0.05 * rng.standard_normal((n, 2))
    return torch.as_tensor(pts, dtype=torch.float64)


class NoiseMLP(nn.Module):
    """:math:`\\epsilon_\\theta(x, t)`: MLP on ``x`` and ``n_freq`` sine/cosine features of ``t``."""

    def __init__(self, dim: int = 2, hidden: int = 128, depth: int = 3, n_freq: int = 8) -> None:
        super().__init__()
        if dim < 1 or hidden < 1 or depth < 1 or n_freq < 1:
            raise ValueError(
                f"need positive sizes, got dim={dim}, hidden={hidden}, depth={depth}, n_freq={n_freq}"
            )
        self.register_buffer("freq", math.pi * 2.0 ** torch.arange(n_freq, dtype=torch.float32) / 2.0)
        layers: list[nn.Module] = []
        width = dim + 2 * n_freq
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        layers.append(nn.Linear(width, dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = t.reshape(-1, 1).to(x.dtype).expand(x.shape[0], 1)
        z = t * self.freq.to(x.dtype)
        return self.net(torch.cat([x, torch.sin(z), torch.cos(z)], dim=1))


def train_model(
    seed: int, data: str = "moons", steps: int = 4000, batch: int = 1024, hidden: int = 128, lr: float = 2e-3
) -> tuple[NoiseMLP, VPSchedule]:
    """Train (or fetch from the in-process cache) a noise predictor on ``data``; returned in float64, eval mode.

    Adam with a cosine learning-rate decay; fresh data every step (the data distribution is known).
    Deterministic given ``seed`` on one thread. The returned model is shared by callers: do not modify it.
    """
    if steps < 1 or batch < 1:
        raise ValueError(f"need steps >= 1 and batch >= 1, got steps = {steps}, batch = {batch}")
    return _train_cached(int(seed), data, int(steps), int(batch), int(hidden), float(lr))


@lru_cache(maxsize=8)
def _train_cached(
    seed: int, data: str, steps: int, batch: int, hidden: int, lr: float
) -> tuple[NoiseMLP, VPSchedule]:
    sched = VPSchedule()
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = NoiseMLP(hidden=hidden)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    lr_sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    x_all = sample_data(data, min(steps * batch, 500_000), seed + 10_000).float()
    for _ in range(steps):
        idx = torch.randint(0, x_all.shape[0], (batch,), generator=gen)
        x0 = x_all[idx]
        t = sched.t_end + (1 - sched.t_end) * torch.rand(batch, generator=gen)
        eps = torch.randn(batch, 2, generator=gen)
        a, s = sched.alpha(t)[:, None], sched.sigma(t)[:, None]
        loss = (model(a * x0 + s * eps, t) - eps).pow(2).sum(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        lr_sched.step()
    model = model.double().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, sched
