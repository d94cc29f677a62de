"""Trajectory-based policy-gradient and Hessian-vector-product estimators (ascent direction).

For a trajectory ``tau = (s_0, a_0, r_0, ..., s_{H-1}, a_{H-1}, r_{H-1})`` with ``l_t = log pi(a_t | s_t)``:

- REINFORCE (Williams 1992):   g = (sum_t grad l_t) (sum_t gamma^t r_t)
- GPOMDP (Baxter & Bartlett 2001): g = sum_t grad l_t * (sum_{h >= t} gamma^h r_h) = grad Phi,
  with the surrogate ``Phi(tau, theta) = sum_t l_t(theta) * (sum_{h >= t} gamma^h r_h)``.
- Hessian estimate (Shen et al. 2019; Fatkhullin et al. 2023, eq. for HARPG):
  ``B(tau, theta) = grad Phi (grad log p(tau | theta))^T + hess Phi``, so
  ``B v = grad Phi * <grad log p, v> + grad <grad Phi, v>`` (one double-backward through autograd),
  with ``grad log p(tau | theta) = sum_t grad l_t``.

All are unbiased for the H-step discounted return ``J_H`` and its Hessian (tested exactly on a tiny MDP).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = ["Trajectory", "gpomdp_grad", "hessian_vector", "reinforce_grad", "reward_to_go"]


@dataclass(frozen=True)
class Trajectory:
    obs: np.ndarray  # (H, obs_dim)
    actions: np.ndarray  # (H,) or (H, act_dim)
    rewards: np.ndarray  # (H,)

    @property
    def ret(self) -> float:
        """Undiscounted return."""
        return float(self.rewards.sum())


def reward_to_go(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """``sum_{h >= t} gamma^h r_h`` for each t (discounted from time 0, as in GPOMDP)."""
    disc = gamma ** np.arange(len(rewards)) * rewards
    return np.cumsum(disc[::-1])[::-1].copy()


def _check_gamma(gamma: float) -> None:
    if not np.isfinite(gamma) or not 0.0 < gamma <= 1.0:
        raise ValueError(f"discount gamma must lie in (0, 1], got {gamma!r}")


def _log_probs(policy: object, theta: Tensor, traj: Trajectory) -> Tensor:
    obs = torch.as_tensor(traj.obs, dtype=torch.float64)
    acts = torch.as_tensor(traj.actions)
    if acts.is_floating_point():
        acts = acts.to(torch.float64)
    return policy.log_prob(theta, obs, acts)  # type: ignore[attr-defined]


def _phi(policy: object, theta: Tensor, traj: Trajectory, gamma: float) -> tuple[Tensor, Tensor]:
    lp = _log_probs(policy, theta, traj)
    w = torch.as_tensor(reward_to_go(traj.rewards, gamma), dtype=torch.float64)
    return (lp * w).sum(), lp.sum()


def gpomdp_grad(policy: object, theta: Tensor, traj: Trajectory, gamma: float) -> Tensor:
    """GPOMDP gradient estimate at ``theta`` from one trajectory."""
    _check_gamma(gamma)
    th = theta.detach().clone().requires_grad_(True)
    phi, _ = _phi(policy, th, traj, gamma)
    return torch.autograd.grad(phi, th)[0]


def reinforce_grad(policy: object, theta: Tensor, traj: Trajectory, gamma: float) -> Tensor:
    """REINFORCE gradient estimate at ``theta`` from one trajectory."""
    _check_gamma(gamma)
    th = theta.detach().clone().requires_grad_(True)
    lp = _log_probs(policy, th, traj).sum()
    ret = float((gamma ** np.arange(len(traj.rewards)) * traj.rewards).sum())
    return torch.autograd.grad(lp, th)[0] * ret


def hessian_vector(
    policy: object, theta: Tensor, traj: Trajectory, gamma: float, v: Tensor
) -> tuple[Tensor, Tensor]:
    """``(B(tau, theta) v, grad Phi)``: the HARPG Hessian-vector estimate and the GPOMDP gradient."""
    _check_gamma(gamma)
    if v.shape != theta.shape:
        raise ValueError(f"vector shape {tuple(v.shape)} does not match theta {tuple(theta.shape)}")
    th = theta.detach().clone().requires_grad_(True)
    phi, logp = _phi(policy, th, traj, gamma)
    g_phi = torch.autograd.grad(phi, th, create_graph=True)[0]
    g_logp = torch.autograd.grad(logp, th, retain_graph=True)[0]
    hv = torch.autograd.grad(g_phi @ v, th)[0]
    g = g_phi.detach()
    return g * (g_logp.detach() @ v) + hv, g
