r"""MOGFN-PC: a preference-conditional GFlowNet trained with trajectory balance.

Paper: M. Jain, S. C. Raparthy, A. Hernandez-Garcia, J. Rector-Brooks, Y. Bengio, S. Miret,
E. Bengio, "Multi-Objective GFlowNets", ICML 2023 (arXiv:2210.12765). Authors' code:
github.com/GFNOrg/multi-objective-gfn (the HyperGrid script). Trajectory balance: N. Malkin,
M. Jain, E. Bengio, C. Sun, Y. Bengio, "Trajectory Balance: Improved Credit Assignment in
GFlowNets", NeurIPS 2022.

Target, for a preference :math:`\omega` on the simplex (weighted-sum scalarisation, the paper's
default): :math:`\pi(x \mid \omega) \propto R(x \mid \omega)^\beta`, :math:`R(x \mid \omega) =
\sum_i \omega_i R_i(x)`. One policy :math:`P_F(s' \mid s, \omega; \theta)` and one log-partition network
:math:`\log Z(\omega; \phi)` serve every :math:`\omega`:

.. math::
    \begin{aligned}
    &\textbf{for } t = 1, \dots, T: \\
    &\quad \omega_b \sim \mathrm{Dir}(\alpha),\ b = 1..B; \quad \tau_b = (s_0 \to \dots \to s_n = x_b)
        \sim (1 - \epsilon) P_F(\cdot \mid \cdot, \omega_b) + \epsilon\,\mathrm{Uniform(allowed)} \\
    &\quad \mathcal{L} = \tfrac{1}{B} \textstyle\sum_b \big(\log Z(\omega_b)
        + \sum_j \log P_F(s_{j+1} \mid s_j, \omega_b) - \beta \log R(x_b \mid \omega_b)
        - \sum_j \log P_B(s_j \mid s_{j+1})\big)^2 \\
    &\quad (\theta, \phi) \leftarrow \mathrm{Adam}(\nabla \mathcal{L})
    \end{aligned}

:math:`P_B` is uniform over a state's parents (fixed). At a TB minimum (zero loss for every
trajectory and :math:`\omega`) the terminal distribution equals :math:`\pi(\cdot \mid \omega)` and
:math:`Z(\omega) = \sum_x R(x \mid \omega)^\beta`. Exploration: :math:`\epsilon = 0.01` uniform random
actions (as the authors' grid code); TB is valid off-policy, so the loss uses the policy's own
:math:`\log P_F` of the actions taken.

Defaults follow the authors' grid script: state one-hot per coordinate concatenated with
:math:`\omega`; policy MLP ``n_layers = 3`` x ``hidden = 64``, LeakyReLU, ``ndim + 1`` logits (masked);
:math:`\log Z` MLP on :math:`\omega` with ``3 x 32`` units; Adam, lr ``1e-2`` for both, weight decay
``1e-4``; batch 128; :math:`\alpha = 1.5`. Departures: :math:`\beta` is fixed (the script samples
:math:`\beta \sim \Gamma(2, 1)` and conditions on it as well); invalid increments are masked rather
than ending the episode at the boundary (see :mod:`optarena.science.mogfn.env`); :math:`\log R` is
floored at :math:`\beta \log 10^{-12}` (the script clips :math:`R^\beta` at ``1e-35`` in its backward
sampler); single process, whole batches (the script splits a batch over 4 worker processes).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from optarena.science.mogfn.env import HyperGrid, check_beta, check_preference
from optarena.science.mogfn.exact import terminal_distribution as _dp_terminal

__all__ = ["MOGFN"]

_LOG_R_FLOOR = float(np.log(1e-12))


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for n, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if n < len(sizes) - 2:
            layers.append(nn.LeakyReLU())
    return nn.Sequential(*layers)


def _positive_int(name: str, v: Any, minimum: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {v!r}")
    return int(v)


def _positive_float(name: str, v: Any, allow_zero: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float | np.floating | np.integer):
        raise ValueError(f"{name} must be a number, got {v!r}")
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{name} must be finite and {'>=' if allow_zero else '>'} 0, got {v!r}")
    return float(v)


class MOGFN:
    """Preference-conditional GFlowNet (MOGFN-PC) on a :class:`HyperGrid`, trained by trajectory balance.

    Args:
        env: the grid and its objectives.
        hidden: width of the policy MLP (the log Z MLP has ``max(hidden // 2, 1)``).
        n_layers: hidden layers of both MLPs.
        beta: reward exponent (fixed).
        alpha: Dirichlet concentration of the training preferences ``w ~ Dir(alpha 1)``.
        lr: Adam learning rate of the policy; ``lr_logz`` that of log Z (default ``lr``).
        weight_decay: Adam's (coupled) L2 weight decay, both networks.
        epsilon: probability of a uniformly random allowed action while training.
        seed: seeds the initialisation, the preferences and the actions (global RNGs untouched).

    Attributes set by :meth:`fit`: ``losses_`` (one per step), ``n_reward_calls_`` (terminal states
    whose reward was computed, ``n_steps * batch_size`` in all), ``fit_time_s_``.
    """

    def __init__(
        self,
        env: HyperGrid,
        hidden: int = 64,
        n_layers: int = 3,
        beta: float = 16.0,
        alpha: float = 1.5,
        lr: float = 1e-2,
        lr_logz: float | None = None,
        weight_decay: float = 1e-4,
        epsilon: float = 0.01,
        seed: int = 0,
    ) -> None:
        if not isinstance(env, HyperGrid):
            raise ValueError(f"env must be a HyperGrid, got {env!r}")
        self.env = env
        self.hidden = _positive_int("hidden", hidden)
        self.n_layers = _positive_int("n_layers", n_layers)
        self.beta = check_beta(beta)
        self.alpha = _positive_float("alpha", alpha)
        self.lr = _positive_float("lr", lr)
        self.lr_logz = self.lr if lr_logz is None else _positive_float("lr_logz", lr_logz)
        self.weight_decay = _positive_float("weight_decay", weight_decay, allow_zero=True)
        if isinstance(epsilon, bool) or not isinstance(epsilon, int | float) or not 0 <= epsilon <= 1:
            raise ValueError(f"epsilon must be a number in [0, 1], got {epsilon!r}")
        self.epsilon = float(epsilon)
        self.seed = _positive_int("seed", seed, 0)
        k, H, d = env.n_objectives, env.height, env.ndim
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.policy = _mlp([d * H + k] + [self.hidden] * self.n_layers + [env.n_actions])
            self.logz = _mlp([k] + [max(self.hidden // 2, 1)] * self.n_layers + [1])
        self.opt = torch.optim.Adam(self.policy.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        self.opt_logz = torch.optim.Adam(
            self.logz.parameters(), lr=self.lr_logz, weight_decay=self.weight_decay
        )
        self._rng = np.random.default_rng(self.seed)
        self._gen = torch.Generator().manual_seed(self.seed)
        # lookup tables over the flat states
        onehot = np.zeros((env.n_states, d * H), dtype=np.float32)
        onehot[np.arange(env.n_states)[:, None], np.arange(d) * H + env.states] = 1.0
        self._feat = torch.from_numpy(onehot)
        self._mask = torch.from_numpy(env.action_mask(env.states))
        self._stride = torch.from_numpy(env._strides.astype(np.int64))
        self._log_npar = torch.from_numpy(np.log(np.maximum(env.n_parents, 1)).astype(np.float32))
        self._rewards = torch.from_numpy(env.rewards.astype(np.float32))
        self.losses_: list[float] = []
        self.n_reward_calls_ = 0
        self.fit_time_s_ = 0.0

    # -- policy ----------------------------------------------------------------------------------
    def _logits(self, idx: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        out = self.policy(torch.cat([self._feat[idx], w], dim=1))
        return out.masked_fill(~self._mask[idx], float("-inf"))

    def _rollout(self, w: torch.Tensor, epsilon: float, gen: torch.Generator):
        """Sample one trajectory per row of ``w``; returns visited (state, action, trajectory) and the ends."""
        B, stop = w.shape[0], self.env.ndim
        cur = torch.zeros(B, dtype=torch.long)
        active = torch.arange(B)
        rec: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        with torch.no_grad():
            while active.numel():
                s = cur[active]
                probs = torch.softmax(self._logits(s, w[active]), dim=1)
                if epsilon > 0:
                    m = self._mask[s].float()
                    probs = (1 - epsilon) * probs + epsilon * m / m.sum(1, keepdim=True)
                a = torch.multinomial(probs, 1, generator=gen).squeeze(1)
                rec.append((s, a, active))
                move = a != stop
                cur[active[move]] = s[move] + self._stride[a[move]]
                active = active[move]
        idx, act, traj = (torch.cat(t) for t in zip(*rec, strict=True))
        return idx, act, traj, cur

    def tb_loss(self, w: torch.Tensor, epsilon: float | None = None) -> torch.Tensor:
        """Trajectory-balance loss of one batch of trajectories sampled for the preferences ``w`` (B, k)."""
        eps = self.epsilon if epsilon is None else epsilon
        idx, act, traj, end = self._rollout(w, eps, self._gen)
        B, stop = w.shape[0], self.env.ndim
        logpf = torch.log_softmax(self._logits(idx, w[traj]), dim=1).gather(1, act[:, None]).squeeze(1)
        child = torch.where(act == stop, idx, idx + self._stride[act.clamp(max=stop - 1)])
        logpb = torch.where(act == stop, torch.zeros_like(logpf), -self._log_npar[child])
        sum_pf = torch.zeros(B).index_add(0, traj, logpf)
        sum_pb = torch.zeros(B).index_add(0, traj, logpb)
        r = (w * self._rewards[end]).sum(1)
        log_r = self.beta * torch.log(r.clamp_min(1e-30)).clamp_min(_LOG_R_FLOOR)
        delta = self.logz(w).squeeze(1) + sum_pf - log_r - sum_pb
        return delta.pow(2).mean()

    def sample_preferences(self, n: int) -> np.ndarray:
        """``n`` preferences from ``Dir(alpha)`` (the training distribution), ``(n, k)``."""
        return self._rng.dirichlet([self.alpha] * self.env.n_objectives, size=_positive_int("n", n))

    def fit(
        self,
        n_steps: int,
        batch_size: int = 128,
        callback: Callable[[int, float], bool | None] | None = None,
    ) -> MOGFN:
        """``n_steps`` TB updates on batches of ``batch_size`` trajectories, fresh ``w ~ Dir(alpha)`` each.

        ``callback(step, loss)`` runs after each step; returning True stops training.
        """
        n_steps = _positive_int("n_steps", n_steps)
        batch_size = _positive_int("batch_size", batch_size)
        t0 = time.perf_counter()
        for step in range(n_steps):
            w = torch.from_numpy(self.sample_preferences(batch_size).astype(np.float32))
            loss = self.tb_loss(w)
            self.opt.zero_grad()
            self.opt_logz.zero_grad()
            loss.backward()
            self.opt.step()
            self.opt_logz.step()
            self.losses_.append(loss.item())
            self.n_reward_calls_ += batch_size
            if not np.isfinite(self.losses_[-1]):
                raise FloatingPointError(f"TB loss is {self.losses_[-1]} at step {step}")
            if callback is not None and callback(step, self.losses_[-1]):
                break
        self.fit_time_s_ += time.perf_counter() - t0
        return self

    # -- sampling and exact distributions ------------------------------------------------------------
    def _prefs(self, preference: Any) -> np.ndarray:
        return check_preference(preference, self.env.n_objectives)

    def sample(self, n: int, preference: Any, seed: int | None = None) -> np.ndarray:
        """``n`` terminal states ``(n, ndim)`` from the learned policy (no exploration).

        ``preference`` is one ``(k,)`` preference for all samples or one per sample ``(n, k)``.
        """
        n = _positive_int("n", n)
        w = self._prefs(preference)
        if w.ndim == 1:
            w = np.broadcast_to(w, (n, w.shape[0]))
        elif w.shape[0] != n:
            raise ValueError(f"preference has {w.shape[0]} rows, expected 1 or n={n}")
        gen = self._gen if seed is None else torch.Generator().manual_seed(int(seed))
        *_, end = self._rollout(torch.as_tensor(np.ascontiguousarray(w), dtype=torch.float32), 0.0, gen)
        return self.env.states[end.numpy()]

    def action_probabilities(self, preference: Any) -> np.ndarray:
        """``P_F(a | s, w)`` for every state: ``(N, A)``, or ``(P, N, A)`` for ``(P, k)`` preferences."""
        w = self._prefs(preference)
        W = np.atleast_2d(w)
        N = self.env.n_states
        out = np.empty((len(W), N, self.env.n_actions))
        idx = torch.arange(N)
        with torch.no_grad():
            for p, wp in enumerate(W):
                wt = torch.as_tensor(wp, dtype=torch.float32).expand(N, -1)
                out[p] = torch.softmax(self._logits(idx, wt).double(), dim=1).numpy()
        return out[0] if w.ndim == 1 else out

    def terminal_distribution(self, preference: Any) -> np.ndarray:
        """Exact terminal distribution of the learned policy over the flat states (dynamic programming)."""
        return _dp_terminal(self.env, self.action_probabilities(preference))

    def target_distribution(self, preference: Any, beta: float | None = None) -> np.ndarray:
        """Exact target ``R(x | w)^beta / Z(w)`` (``beta`` defaults to the model's)."""
        return self.env.target_distribution(preference, self.beta if beta is None else beta)

    def log_z(self, preference: Any) -> np.ndarray:
        """The learned ``log Z(w)``: a float array ``()`` or ``(P,)``."""
        w = self._prefs(preference)
        with torch.no_grad():
            out = self.logz(torch.as_tensor(np.atleast_2d(w), dtype=torch.float32)).squeeze(1).double()
        return out.numpy()[0] if w.ndim == 1 else out.numpy()

    def true_log_z(self, preference: Any) -> np.ndarray:
        """The exact ``log sum_x R(x | w)^beta`` (floored like the training reward)."""
        r = self.env.scalarized(preference)
        log_r = self.beta * np.maximum(np.log(np.maximum(r, 1e-30)), _LOG_R_FLOOR)
        m = log_r.max(-1, keepdims=True)
        return (m + np.log(np.exp(log_r - m).sum(-1, keepdims=True)))[..., 0]
