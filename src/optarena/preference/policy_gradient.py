r"""On-policy policy gradient (RLOO) for the sorting testbed, with a multi-component reward.

Per step: ``batch_prompts`` prompts, ``k`` responses each sampled from the policy at temperature 1, the
component scores :math:`r_i(x, y)` of every response, and the KL-shaped scalar reward

.. math:: R(x, y) = \sum_i c_i r_i(x, y) - \beta\big(\log\pi(y\mid x) - \log\pi_0(y\mid x)\big)

(:math:`\pi_0` = the SFT model, sequence log-probs summed over tokens, the KL term held fixed as a reward).
REINFORCE with the leave-one-out baseline (RLOO, Ahmadian et al., ACL 2024, "Back to Basics: Revisiting
REINFORCE Style Optimization for Learning from Human Feedback in LLMs"):
:math:`A_j = R_j - \frac{1}{k-1}\sum_{l\ne j} R_l`, loss :math:`-\frac{1}{Bk}\sum_j A_j \log\pi(y_j\mid x)`,
one Adam step. :meth:`RLOOTrainer.step` matches the ``step(weights) -> component means`` interface of
:mod:`optarena.preference.constrained_rlhf`, so the same trainer runs fixed-weight composites, the
Lagrangian method and its Nelder-Mead variant.

Components provided for the testbed (:func:`coverage_component`, :func:`length_component`): the share of
the prompt's tokens (as a multiset) that the response contains, a correctness-like proxy that long
responses can inflate, and the response length relative to the prompt, a pure length proxy.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
import torch

from optarena.preference.model import TinyGPT, response_logps
from optarena.preference.testbed import (
    TestbedConfig,
    _split,
    encode_prompts,
    generate,
    pad_responses,
    true_judge,
)

__all__ = ["Component", "RLOOTrainer", "coverage_component", "length_component"]

Component = Callable[[Sequence[int], Sequence[int]], float]


def coverage_component(cfg: TestbedConfig) -> Component:
    """Share of the prompt's tokens (multiset) present in the response content, in [0, 1]."""

    def score(prompt: Sequence[int], response: Sequence[int]) -> float:
        content, _ = _split(response, cfg.eos)
        hit = Counter(prompt) & Counter(content)
        return sum(hit.values()) / len(prompt)

    return score


def length_component(cfg: TestbedConfig) -> Component:
    """Number of content tokens of the response divided by the prompt's length (1 for the ideal)."""

    def score(prompt: Sequence[int], response: Sequence[int]) -> float:
        return len(_split(response, cfg.eos)[0]) / len(prompt)

    return score


class RLOOTrainer:
    """RLOO on a copy of ``sft`` with reward ``sum_i weights[i] * components[i] - beta * log-ratio``.

    ``prompts`` is the training pool; every :meth:`step` draws ``batch_prompts`` of them. Deterministic
    given ``seed``. ``true_score(prompts)`` evaluates the current policy under the true judge (mean over
    prompts, responses sampled at temperature 1 with a fixed generator seed).
    """

    def __init__(
        self,
        sft: TinyGPT,
        cfg: TestbedConfig,
        components: Sequence[Component],
        prompts: Sequence[Sequence[int]],
        beta: float = 0.05,
        k: int = 4,
        batch_prompts: int = 32,
        lr: float = 3e-4,
        seed: int = 0,
    ) -> None:
        if not components:
            raise ValueError("components must hold at least one component reward")
        if not prompts:
            raise ValueError("prompts must not be empty")
        if isinstance(k, bool) or not isinstance(k, int) or k < 2:
            raise ValueError(f"k must be an int >= 2 (RLOO needs a leave-one-out baseline), got {k!r}")
        if isinstance(batch_prompts, bool) or not isinstance(batch_prompts, int) or batch_prompts < 1:
            raise ValueError(f"batch_prompts must be an int >= 1, got {batch_prompts!r}")
        for name, value, low in (("beta", beta, 0.0), ("lr", lr, None)):
            if not isinstance(value, int | float) or isinstance(value, bool) or not np.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
            if (low is None and value <= 0) or (low is not None and value < low):
                raise ValueError(f"{name} must be {'>= 0' if low is not None else '> 0'}, got {value!r}")
        self.cfg, self.components, self.prompts = cfg, list(components), list(prompts)
        self.beta, self.k, self.batch_prompts = float(beta), k, batch_prompts
        self.ref = sft
        self.policy = copy.deepcopy(sft)
        self.policy.train()
        self.opt = torch.optim.Adam(self.policy.parameters(), lr=lr)
        self.rng = np.random.default_rng([seed, 7])
        self.gen = torch.Generator().manual_seed(seed)
        self.truth = true_judge(cfg)

    @property
    def m(self) -> int:
        return len(self.components)

    def step(self, weights: np.ndarray) -> np.ndarray:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (self.m,) or not np.all(np.isfinite(w)):
            raise ValueError(f"weights must be {self.m} finite numbers, got {np.asarray(weights).tolist()}")
        idx = self.rng.integers(len(self.prompts), size=self.batch_prompts)
        prompts = [self.prompts[i] for i in idx for _ in range(self.k)]
        x = encode_prompts(prompts, self.cfg)
        self.policy.eval()
        responses = generate(self.policy, x, self.cfg, 1.0, self.gen)
        self.policy.train()
        comps = np.array(
            [[c(p, r) for c in self.components] for p, r in zip(prompts, responses, strict=True)]
        )
        y, mask = pad_responses(responses, self.cfg)
        lp = torch.where(mask, response_logps(self.policy, x, y), 0.0).sum(-1)
        with torch.no_grad():
            ref_lp = torch.where(mask, response_logps(self.ref, x, y), 0.0).sum(-1)
            reward = torch.as_tensor(comps @ w, dtype=lp.dtype) - self.beta * (lp.detach() - ref_lp)
            r = reward.view(self.batch_prompts, self.k)
            adv = (r - (r.sum(1, keepdim=True) - r) / (self.k - 1)).reshape(-1)
        loss = -(adv * lp).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return comps.mean(axis=0)

    @torch.no_grad()
    def true_score(self, prompts: Sequence[Sequence[int]], seed: int = 0) -> float:
        self.policy.eval()
        x = encode_prompts(prompts, self.cfg)
        answers = generate(self.policy, x, self.cfg, 1.0, torch.Generator().manual_seed(seed))
        self.policy.train()
        return float(np.mean([self.truth(p, a) for p, a in zip(prompts, answers, strict=True)]))

    @torch.no_grad()
    def component_means(self, prompts: Sequence[Sequence[int]], seed: int = 0) -> np.ndarray:
        self.policy.eval()
        x = encode_prompts(prompts, self.cfg)
        answers = generate(self.policy, x, self.cfg, 1.0, torch.Generator().manual_seed(seed))
        self.policy.train()
        return np.array(
            [[c(p, a) for c in self.components] for p, a in zip(prompts, answers, strict=True)]
        ).mean(0)
