"""Linear policies on a flat parameter vector: softmax (discrete actions) and Gaussian (continuous).

Sampling runs in numpy (fast rollouts); ``log_prob`` is torch (float64), differentiable in ``theta`` for
the gradient and Hessian-vector-product estimators.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["GaussianLinear", "SoftmaxLinear"]


def _dim(name: str, v: object) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
        raise ValueError(f"{name} must be a positive integer, got {v!r}")
    return int(v)


class SoftmaxLinear:
    """``pi(a | s) = softmax(W s + c)_a``; ``theta = [W.flatten(), c]`` (``bias=False`` drops ``c``)."""

    def __init__(self, obs_dim: int, n_actions: int, bias: bool = True) -> None:
        self.obs_dim, self.n_actions = _dim("obs_dim", obs_dim), _dim("n_actions", n_actions)
        self.bias = bias
        self.n_params = self.n_actions * self.obs_dim + (self.n_actions if bias else 0)

    def _split(self, theta: np.ndarray | Tensor) -> tuple[np.ndarray | Tensor, np.ndarray | Tensor | None]:
        k = self.n_actions * self.obs_dim
        W = theta[:k].reshape(self.n_actions, self.obs_dim)
        return W, (theta[k:] if self.bias else None)

    def act(self, theta: np.ndarray, obs: np.ndarray, rng: np.random.Generator) -> int:
        W, c = self._split(theta)
        z = W @ obs + (c if c is not None else 0.0)
        p = np.exp(z - z.max())
        cdf = np.cumsum(p)
        return int(min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), self.n_actions - 1))

    def log_prob(self, theta: Tensor, obs: Tensor, actions: Tensor) -> Tensor:
        """``log pi_theta(a_t | s_t)`` for each row: obs (H, obs_dim), actions (H,) int -> (H,)."""
        W, c = self._split(theta)
        z = obs @ W.T + (c if c is not None else 0.0)
        return torch.log_softmax(z, dim=-1).gather(1, actions.long().reshape(-1, 1)).reshape(-1)


class GaussianLinear:
    """``a ~ N(W s + c, sigma^2 I)`` with fixed ``sigma``; actions are clipped by the environment only."""

    def __init__(self, obs_dim: int, act_dim: int = 1, sigma: float = 1.0, bias: bool = True) -> None:
        self.obs_dim, self.act_dim = _dim("obs_dim", obs_dim), _dim("act_dim", act_dim)
        if not np.isfinite(sigma) or sigma <= 0:
            raise ValueError(f"sigma must be positive, got {sigma!r}")
        self.sigma, self.bias = float(sigma), bias
        self.n_params = self.act_dim * self.obs_dim + (self.act_dim if bias else 0)

    def _mean(self, theta: np.ndarray | Tensor, obs: np.ndarray | Tensor) -> np.ndarray | Tensor:
        k = self.act_dim * self.obs_dim
        W = theta[:k].reshape(self.act_dim, self.obs_dim)
        mu = obs @ W.T
        return mu + theta[k:] if self.bias else mu

    def act(self, theta: np.ndarray, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self._mean(theta, obs) + self.sigma * rng.standard_normal(self.act_dim)

    def log_prob(self, theta: Tensor, obs: Tensor, actions: Tensor) -> Tensor:
        """Gaussian log-density of each action row: obs (H, obs_dim), actions (H, act_dim) -> (H,)."""
        z = (actions.reshape(len(obs), self.act_dim) - self._mean(theta, obs)) / self.sigma
        const = self.act_dim * (np.log(self.sigma) + 0.5 * np.log(2 * np.pi))
        return -0.5 * (z**2).sum(dim=-1) - const
