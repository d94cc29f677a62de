r"""The exact tabular case of preference optimization: a prompts x responses bandit with known rewards.

A :class:`TabularBandit` has ``P`` prompts (uniform) and ``K`` responses per prompt with true rewards
:math:`r(x, y)`; preferences follow the Bradley-Terry model :math:`P(y_1 \succ y_2 \mid x) =
\sigma(r(x, y_1) - r(x, y_2))`. A policy is a table of logits :math:`\theta(x, y)`,
:math:`\pi_\theta(y\mid x) = \mathrm{softmax}_y\,\theta(x, \cdot)` (:class:`TabularPolicy`, a
``torch.nn.Module`` so the generic trainers of :mod:`optarena.preference.apo` run on it too).

One DPO round with reference :math:`\pi_{ref}` minimises
:math:`-\mathbb{E}\,\log\sigma\big(\beta[\log\frac{\pi(y_w)}{\pi_{ref}(y_w)} - \log\frac{\pi(y_l)}{\pi_{ref}(y_l)}]\big)`.
In logits the loss depends only on :math:`v = \beta(\theta - \theta_{ref})` through differences
:math:`v_w - v_l`: it is a Bradley-Terry (logistic) likelihood in the implicit reward :math:`v`.

- Population limit (:func:`dpo_population_round`): with every pair of covered responses compared, the
  minimiser is :math:`v = r` up to a constant per prompt, i.e.
  :math:`\pi \propto \pi_{ref}\exp(r/\beta)` on the covered responses. Gradient flow from the reference
  keeps the sum of the covered logits and never moves an uncovered one (its gradient is zero), so the
  solution it reaches is :math:`\theta = \theta_{ref} + (r - \bar r_{cov})/\beta` on covered responses and
  :math:`\theta_{ref}` elsewhere; that is the one returned.
- Finite samples (:func:`dpo_fit_tabular`): the exact minimiser of the empirical DPO loss (summed over the
  pairs of a prompt) plus :math:`\frac{\lambda}{2}\lVert v\rVert^2` (a Gaussian prior of precision
  :math:`\lambda` on the implicit reward, needed because a response that always wins makes the
  unpenalised minimiser infinite), by Newton's method per prompt. The penalty is on
  :math:`v = \beta(\theta - \theta_{ref})`, so the fitted implicit reward is the same for every
  :math:`\beta` and the step in logits is exactly :math:`\hat v/\beta`: runs at different betas differ
  only through :math:`\beta`, not through a beta-dependent shrinkage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from optarena.preference._logps import hparam_nonnegative, hparam_positive

__all__ = [
    "TabularBandit",
    "TabularPairs",
    "TabularPolicy",
    "dpo_fit_tabular",
    "dpo_population_round",
    "population_fit_round",
    "sampled_fit_round",
    "tabular_pair_logps",
]


def _logsumexp(a: np.ndarray) -> np.ndarray:
    m = np.max(a, axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        return (m + np.log(np.sum(np.exp(a - m), axis=-1, keepdims=True)))[..., 0]


def _softmax(logits: np.ndarray) -> np.ndarray:
    return np.exp(logits - _logsumexp(logits)[..., None])


def _as_logits(name: str, logits: np.ndarray | Tensor, shape: tuple[int, int]) -> np.ndarray:
    if isinstance(logits, Tensor):
        logits = logits.detach().double().cpu().numpy()
    a = np.asarray(logits, dtype=np.float64)
    if a.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {a.shape}")
    if np.isnan(a).any() or np.isposinf(a).any():
        raise ValueError(f"{name}: logits must not be nan or +inf")
    if not np.isfinite(a).any(axis=-1).all():
        raise ValueError(f"{name}: every prompt needs at least one response with finite logit")
    return a


@dataclass(frozen=True)
class TabularPairs:
    """Preference pairs of a tabular bandit: ``prompt``, ``chosen``, ``rejected`` index arrays of length N."""

    prompt: np.ndarray
    chosen: np.ndarray
    rejected: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.prompt)
        if len(self.chosen) != n or len(self.rejected) != n:
            raise ValueError(
                f"prompt, chosen, rejected must have equal lengths, got {n}, {len(self.chosen)}, "
                f"{len(self.rejected)}"
            )

    def __len__(self) -> int:
        return len(self.prompt)


@dataclass(frozen=True)
class TabularBandit:
    """True rewards ``(P, K)`` and the initial (SFT / reference) logits ``(P, K)`` of a tabular bandit."""

    rewards: np.ndarray
    ref_logits: np.ndarray

    def __post_init__(self) -> None:
        r = np.asarray(self.rewards, dtype=np.float64)
        if r.ndim != 2 or r.shape[0] < 1 or r.shape[1] < 2:
            raise ValueError(f"rewards must have shape (prompts >= 1, responses >= 2), got {r.shape}")
        if not np.isfinite(r).all():
            raise ValueError("rewards must be finite")
        object.__setattr__(self, "rewards", r)
        object.__setattr__(self, "ref_logits", _as_logits("ref_logits", self.ref_logits, r.shape))

    @classmethod
    def random(
        cls, n_prompts: int, n_arms: int, seed: int, reward_scale: float = 1.0, ref_scale: float = 1.0
    ) -> TabularBandit:
        """Rewards ``reward_scale * N(0, 1)`` and reference logits ``ref_scale * N(0, 1)``, independent."""
        if n_prompts < 1 or n_arms < 2:
            raise ValueError(f"need n_prompts >= 1 and n_arms >= 2, got {n_prompts}, {n_arms}")
        reward_scale = hparam_positive("reward_scale", reward_scale)
        ref_scale = hparam_nonnegative("ref_scale", ref_scale)
        rng = np.random.default_rng([seed, 7])
        return cls(
            reward_scale * rng.standard_normal((n_prompts, n_arms)),
            ref_scale * rng.standard_normal((n_prompts, n_arms)),
        )

    @property
    def shape(self) -> tuple[int, int]:
        return self.rewards.shape  # type: ignore[return-value]

    def probs(self, logits: np.ndarray | Tensor) -> np.ndarray:
        return _softmax(_as_logits("logits", logits, self.shape))

    def value(self, logits: np.ndarray | Tensor) -> float:
        """Expected true reward :math:`\\mathbb{E}_x\\mathbb{E}_{y\\sim\\pi}\\,r(x, y)` (prompts uniform)."""
        return float(np.mean(np.sum(self.probs(logits) * self.rewards, axis=-1)))

    def optimal_value(self) -> float:
        """Value of the best policy supported by the reference (the argmax among finite-logit responses)."""
        masked = np.where(np.isfinite(self.ref_logits), self.rewards, -np.inf)
        return float(np.mean(masked.max(axis=-1)))

    def gap(self, logits: np.ndarray | Tensor) -> float:
        """Sub-optimality gap ``optimal_value() - value(logits)`` (>= 0)."""
        return self.optimal_value() - self.value(logits)

    def sample_pairs(
        self, logits: np.ndarray | Tensor, n_per_prompt: int, rng: np.random.Generator
    ) -> TabularPairs:
        """``n_per_prompt`` draws per prompt of two responses i.i.d. from ``pi_logits``, labelled by the
        Bradley-Terry model of the true rewards; draws of the same response twice are dropped."""
        if n_per_prompt < 1:
            raise ValueError(f"n_per_prompt must be >= 1, got {n_per_prompt}")
        p = self.probs(logits)
        n_prompts = self.shape[0]
        prompt = np.repeat(np.arange(n_prompts), n_per_prompt)
        cdf = np.cumsum(p, axis=-1)[prompt]
        cdf[:, -1] = 1.0
        y1 = (rng.random((len(prompt), 1)) > cdf).sum(-1)
        y2 = (rng.random((len(prompt), 1)) > cdf).sum(-1)
        win = rng.random(len(prompt)) < 1.0 / (
            1.0 + np.exp(-(self.rewards[prompt, y1] - self.rewards[prompt, y2]))
        )
        keep = y1 != y2
        chosen = np.where(win, y1, y2)[keep]
        rejected = np.where(win, y2, y1)[keep]
        return TabularPairs(prompt[keep], chosen, rejected)


def dpo_population_round(
    ref_logits: np.ndarray | Tensor, rewards: np.ndarray, beta: float, covered: np.ndarray | None = None
) -> np.ndarray:
    """The population DPO round in closed form (see the module docstring): logits
    :math:`\\theta_{ref} + (r - \\bar r_{cov})/\\beta` on covered responses, :math:`\\theta_{ref}` elsewhere.

    ``covered`` (bool ``(P, K)``) marks the responses the preference data compare; default: every response
    with a finite reference logit (what sampling from the reference covers).
    """
    beta = hparam_positive("beta", beta)
    r = np.asarray(rewards, dtype=np.float64)
    ref = _as_logits("ref_logits", ref_logits, r.shape)
    cov = np.isfinite(ref) if covered is None else np.asarray(covered, dtype=bool) & np.isfinite(ref)
    if cov.shape != r.shape:
        raise ValueError(f"covered: expected shape {r.shape}, got {cov.shape}")
    n_cov = cov.sum(-1, keepdims=True)
    mean = np.where(cov, r, 0.0).sum(-1, keepdims=True) / np.maximum(n_cov, 1)
    step = np.where(cov & (n_cov >= 2), (r - mean) / beta, 0.0)
    return np.where(np.isfinite(ref), ref + step, ref)


def dpo_fit_tabular(
    ref_logits: np.ndarray | Tensor,
    pairs: TabularPairs,
    beta: float,
    ridge: float = 1.0,
    tol: float = 1e-10,
    max_iter: int = 100,
) -> np.ndarray:
    """Exact minimiser of one finite-sample DPO round on a tabular policy (module docstring): per prompt,
    :math:`\\min_v \\sum_{i} \\log(1 + e^{-(v_{w_i} - v_{l_i})}) + \\frac{\\lambda}{2}\\lVert v\\rVert^2`
    by damped Newton, then :math:`\\theta = \\theta_{ref} + v/\\beta`. ``ridge`` is :math:`\\lambda > 0`."""
    beta = hparam_positive("beta", beta)
    ridge = hparam_positive("ridge", ridge)
    if isinstance(ref_logits, Tensor):
        ref_logits = ref_logits.detach().double().cpu().numpy()
    ref = np.asarray(ref_logits, dtype=np.float64)
    if ref.ndim != 2:
        raise ValueError(f"ref_logits must have shape (prompts, responses), got {ref.shape}")
    n_prompts, k = ref.shape
    for name, idx, hi in (
        ("prompt", pairs.prompt, n_prompts),
        ("chosen", pairs.chosen, k),
        ("rejected", pairs.rejected, k),
    ):
        if len(idx) and (np.min(idx) < 0 or np.max(idx) >= hi):
            raise ValueError(
                f"pairs.{name} indices must be in [0, {hi}), got range [{np.min(idx)}, {np.max(idx)}]"
            )
    v = np.zeros_like(ref)
    for x in range(n_prompts):
        sel = pairs.prompt == x
        if not sel.any():
            continue
        d = np.zeros((int(sel.sum()), k))
        d[np.arange(len(d)), pairs.chosen[sel]] += 1.0
        d[np.arange(len(d)), pairs.rejected[sel]] -= 1.0
        vx = np.zeros(k)

        def objective(u: np.ndarray, d: np.ndarray = d) -> float:
            return float(np.logaddexp(0.0, -(d @ u)).sum() + 0.5 * ridge * u @ u)

        for _ in range(max_iter):
            m = d @ vx
            s = 1.0 / (1.0 + np.exp(m))  # sigma(-m): the gradient weight of each pair
            grad = -(d.T @ s) + ridge * vx
            if np.max(np.abs(grad)) < tol:
                break
            hess = (d.T * (s * (1.0 - s))) @ d + ridge * np.eye(k)
            step = np.linalg.solve(hess, grad)
            f0, t = objective(vx), 1.0
            while objective(vx - t * step) > f0 - 1e-4 * t * grad @ step and t > 1e-10:
                t *= 0.5
            vx = vx - t * step
        v[x] = vx
    out = ref + v / beta
    return np.where(np.isfinite(ref), out, ref)


class TabularPolicy(nn.Module):
    """Softmax policy over a table of logits ``(P, K)``: ``forward() -> log pi (P, K)``."""

    def __init__(self, logits: np.ndarray | Tensor) -> None:
        super().__init__()
        t = torch.as_tensor(np.asarray(logits) if not isinstance(logits, Tensor) else logits.detach())
        if t.dim() != 2:
            raise ValueError(f"logits must have shape (prompts, responses), got {tuple(t.shape)}")
        self.logits = nn.Parameter(t.to(torch.float64).clone())

    def forward(self) -> Tensor:
        return torch.log_softmax(self.logits, dim=-1)

    def numpy_logits(self) -> np.ndarray:
        return self.logits.detach().cpu().numpy().copy()


def tabular_pair_logps(policy: TabularPolicy, pairs: TabularPairs) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per-token log-probs ``(N, 1)`` of chosen and rejected responses and their (all-true) masks: the
    inputs of the losses of :mod:`optarena.preference.losses` for a one-token response."""
    lp = policy()
    x = torch.as_tensor(pairs.prompt, dtype=torch.long)
    c = lp[x, torch.as_tensor(pairs.chosen, dtype=torch.long)][:, None]
    r = lp[x, torch.as_tensor(pairs.rejected, dtype=torch.long)][:, None]
    mask = torch.ones_like(c, dtype=torch.bool)
    return c, r, mask, mask.clone()


def population_fit_round(
    bandit: TabularBandit, covered: np.ndarray | None = None
) -> Callable[[nn.Module, float, int], TabularPolicy]:
    """A ``fit_round`` for :class:`~optarena.preference.apo.APO`: the exact population DPO round
    (:func:`dpo_population_round`) with the round's reference ``pi_t`` as reference."""

    def fit(reference: nn.Module, beta: float, t: int) -> TabularPolicy:
        return TabularPolicy(dpo_population_round(_logits_of(reference), bandit.rewards, beta, covered))

    return fit


def sampled_fit_round(
    bandit: TabularBandit, n_per_prompt: int, seed: int, ridge: float = 1.0
) -> Callable[[nn.Module, float, int], TabularPolicy]:
    """A ``fit_round`` for :class:`~optarena.preference.apo.APO`: ``n_per_prompt`` pairs per prompt sampled
    from the round's reference ``pi_t`` (random stream ``(seed, t)``, so runs that meet the same policy
    draw the same data), labelled by Bradley-Terry, fitted exactly by :func:`dpo_fit_tabular`."""

    def fit(reference: nn.Module, beta: float, t: int) -> TabularPolicy:
        ref = _logits_of(reference)
        pairs = bandit.sample_pairs(ref, n_per_prompt, np.random.default_rng([seed, t]))
        return TabularPolicy(dpo_fit_tabular(ref, pairs, beta, ridge=ridge))

    return fit


def _logits_of(policy: nn.Module) -> np.ndarray:
    if not isinstance(policy, TabularPolicy):
        raise TypeError(f"expected a TabularPolicy, got {type(policy).__name__}")
    return policy.numpy_logits()
