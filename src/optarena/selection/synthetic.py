r"""A simulated proposer and a noisy verifier for testing selection methods without a model.

Each problem q has a correct answer (0) and ``n_distractors`` wrong ones. The proposer samples
answer a with probability :math:`\pi_{q,a}`: :math:`\pi_{q,0} = p_q \sim \mathrm{Beta}(a, b)`, and
the wrong mass :math:`1 - p_q` split by :math:`\mathrm{Dirichlet}(c\,\mathbf 1)` (small ``c``: errors
concentrate on one distractor, i.e. correlated errors, the case where majority vote fails). The
verifier scores a sample with answer a as

.. math:: r = \sigma\bigl(\mu\,\mathbb 1[a = 0] + \beta_{q,a} + \varepsilon\bigr),\qquad
          \beta_{q,a} \sim \mathcal N(0, \tau^2),\ \varepsilon \sim \mathcal N(0, \sigma^2),

:math:`\beta` being a bias shared by every sample with the same answer (a reward model that
systematically likes a wrong answer) and :math:`\varepsilon` per-sample noise. This is the setting
of the notes' check for Liu et al., "Bag of Tricks for Inference-time Computation of LLM Reasoning",
arXiv:2502.07191, 2025: accuracy against N for best-of-N and votes under a noisy verifier.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SyntheticReasoning", "SyntheticSample"]


@dataclass(frozen=True)
class SyntheticSample:
    """``answers[q, i]`` (0 = correct) and ``scores[q, i]`` for n samples of each problem, with
    the true answer distributions ``probs[q, a]``."""

    answers: np.ndarray
    scores: np.ndarray
    probs: np.ndarray

    @property
    def plurality_correct(self) -> np.ndarray:
        """Problems whose most likely answer is the correct one (strictly)."""
        return self.probs[:, 0] > self.probs[:, 1:].max(axis=1)


@dataclass(frozen=True)
class SyntheticReasoning:
    """The simulated task family (see the module docstring for the model)."""

    n_problems: int = 400
    n_distractors: int = 4
    beta_a: float = 2.0
    beta_b: float = 2.0
    concentration: float = 0.5
    signal: float = 1.0
    answer_bias: float = 0.75
    noise: float = 1.0

    def __post_init__(self) -> None:
        for name in ("n_problems", "n_distractors"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        for name in ("beta_a", "beta_b", "concentration"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("answer_bias", "noise"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")

    def draw(self, rng: np.random.Generator, n: int) -> SyntheticSample:
        """New problems and ``n`` scored samples of each."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n (samples per problem) must be an integer >= 1, got {n!r}")
        q, m = self.n_problems, self.n_distractors
        p = rng.beta(self.beta_a, self.beta_b, size=q)
        wrong = rng.dirichlet(np.full(m, self.concentration), size=q) * (1 - p)[:, None]
        probs = np.concatenate([p[:, None], wrong], axis=1)
        cdf = np.cumsum(probs, axis=1)
        cdf[:, -1] = 1.0
        u = rng.random((q, n))
        answers = (u[:, :, None] > cdf[:, None, :]).sum(axis=2)
        bias = rng.normal(0.0, self.answer_bias, size=(q, m + 1))
        logits = (
            self.signal * (answers == 0)
            + np.take_along_axis(bias, answers, axis=1)
            + rng.normal(0.0, self.noise, size=(q, n))
        )
        return SyntheticSample(answers, 1.0 / (1.0 + np.exp(-logits)), probs)
