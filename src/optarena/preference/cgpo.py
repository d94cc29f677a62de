r"""CGPO: constrained RLHF with a mixture of judges, and its three constrained optimizers.

A reward model :math:`r(x, y)` (here a hackable proxy) is optimized only inside the region that a
*mixture of judges* accepts: each judge :math:`J_i(x, y) \in \{\text{pass}, \text{fail}\}` is a small
rule (length, required tokens, format; in the paper also LLM judges). Per step, ``batch_prompts`` prompts
and ``k`` responses each, sampled from the current policy at temperature 1; :math:`\Sigma^+` = the samples
every judge accepts, :math:`\Sigma^-` = the rest. Then one of:

**CRPG** (calibrated-regularized policy gradient). Calibrated reward against a reference response
:math:`\bar y(x)` (the SFT model's greedy answer), zero outside the feasible region:

.. math::
    R(x, y) = \sigma\big(r(x, y) - r(x, \bar y(x))\big)\,\mathbb{1}[(x, y) \in \Sigma^+],\qquad
    g = \frac{1}{Bk}\sum_j R(x_j, y_j)\,\nabla\log\pi(y_j\mid x_j),

an unbiased gradient of :math:`\mathbb{E}_\pi[R]`: violating samples get weight exactly 0, so mass moves to
the accepted samples only. Optional KL filter: a sample with :math:`\log\pi(y) - \log\pi_0(y) > \kappa`
(``kl_max``) counts as violating.

**CODPO** (constrained online DPO). Per prompt: chosen :math:`y_w` = the highest-reward sample of
:math:`\Sigma^+`; rejected :math:`y_l` = the lowest-reward sample of :math:`\Sigma^-` when the prompt has
one, otherwise the lowest-reward accepted sample if its reward is strictly below the chosen one's; a
prompt without an accepted sample (or without a rejected candidate) gives no pair. Loss
:func:`~optarena.preference.losses.codpo_loss` (DPO against :math:`\pi_0` plus :math:`\lambda` times the
length-normalised NLL of :math:`y_w`).

**CRRAFT** (constrained reward-ranked fine-tuning). Per prompt keep the highest-reward sample of
:math:`\Sigma^+` (prompts with none are skipped) and take one SFT step on the kept samples:
:math:`\mathcal{L} = -\frac{1}{|S|}\sum_{i\in S} w_i \log\pi(y_i\mid x_i)`, :math:`w_i = 1`, or with
``reweight=True`` the calibrated reward :math:`w_i = \sigma(r(x_i, y_i) - r(x_i, \bar y(x_i)))`.

The pieces are pure functions (:func:`calibrated_reward`, :func:`crpg_weights`, :func:`crraft_select`,
:func:`codpo_pairs`) and one trainer, :class:`CGPOTrainer`, whose ``step()`` does one update on the
testbed policy of :mod:`optarena.preference.testbed`. The unconstrained baseline is
:class:`~optarena.preference.policy_gradient.RLOOTrainer` on the same reward.

What we follow and departures. CGPO (no official code; TRL PR #2190 never merged) runs on 70B-scale
models with several tasks, each with its own reward model, judges and optimizer, and PPO-style
machinery around them; here one task, rule-based judges, a tiny GPT and plain Adam steps. The
reference response for calibration is the SFT model's greedy answer (the paper uses a reference
response per prompt, from the initial policy or the dataset). The paper's CRPG is written with the
violating samples' reward set to zero, which we follow (no baseline subtraction: a baseline would
give them negative weight); its KL handling ("regularized") is read as the optional per-sample KL
filter above. The CODPO rejected-fallback to a worse accepted sample is our reading of "rejected =
violating or lower reward". CRRAFT's reweighting by the calibrated reward is an option, off by default.
Hyperparameter defaults are ours (set on testbed dev seeds), not the paper's.

Reference: T. Xu, E. Helenowski, K. A. Sankararaman, D. Jin, K. Peng, E. Han, S. Nie, C. Zhu, H. Zhang,
W. Zhou, Z. Zeng, Y. He, K. Mandyam, A. Talabzadeh, M. Khabsa, G. Cohen, Y. Tian, H. Ma, S. Wang,
H. Fang, "The Perfect Blend: Redefining RLHF with Mixture of Judges", arXiv 2024, arXiv:2409.20370.
"""

from __future__ import annotations

import copy
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from optarena.core.paper import PaperRef
from optarena.core.searchspace import Param, SearchSpace
from optarena.core.spec import MethodSpec
from optarena.preference.losses import codpo_loss
from optarena.preference.model import TinyGPT, response_logps
from optarena.preference.testbed import (
    TestbedConfig,
    _split,
    encode_prompts,
    generate,
    pad_responses,
    true_judge,
)

__all__ = [
    "CGPO",
    "CGPO_CODPO_SPEC",
    "CGPO_CRPG_SPEC",
    "CGPO_CRRAFT_SPEC",
    "CGPO_SPECS",
    "OPTIMIZERS",
    "BoolJudge",
    "CGPOTrainer",
    "MixtureOfJudges",
    "calibrated_reward",
    "codpo_pairs",
    "coverage_judge",
    "crpg_weights",
    "crraft_select",
    "evaluate_constrained",
    "format_judge",
    "length_judge",
    "make_cgpo_codpo",
    "make_cgpo_crpg",
    "make_cgpo_crraft",
]

OPTIMIZERS = ("crpg", "codpo", "crraft")

#: A rule judge: ``judge(prompt, response) -> bool`` (True = the response satisfies the rule).
BoolJudge = Callable[[Sequence[int], Sequence[int]], bool]
Reward = Callable[[Sequence[int], Sequence[int]], float]


# ------------------------------------------------------------------------------------------- validation


def _finite(name: str, value: Any, low: float | None = None, strict: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if low is not None and (value <= low if strict else value < low):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {low}, got {value!r}")
    return float(value)


def _count(name: str, value: Any, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


def _groups(name: str, values: Any, k: int) -> np.ndarray:
    a = np.asarray(values)
    if a.ndim != 1 or a.size == 0 or a.size % k:
        raise ValueError(
            f"{name} must be a non-empty 1-d array whose size is a multiple of k={k}, got {a.shape}"
        )
    return a.reshape(-1, k)


# ----------------------------------------------------------------------------------------------- judges


def length_judge(cfg: TestbedConfig, max_ratio: float = 1.0) -> BoolJudge:
    """Accepts a response whose content (before EOS) has at most ``max_ratio * len(prompt)`` tokens."""
    max_ratio = _finite("max_ratio", max_ratio, 0.0)

    def judge(prompt: Sequence[int], response: Sequence[int]) -> bool:
        return len(_split(response, cfg.eos)[0]) <= max_ratio * len(prompt)

    return judge


def coverage_judge(cfg: TestbedConfig, min_share: float = 1.0) -> BoolJudge:
    """Accepts a response that contains at least ``min_share`` of the prompt's tokens (as a multiset)."""
    min_share = _finite("min_share", min_share, 0.0, strict=False)
    if min_share > 1.0:
        raise ValueError(f"min_share must be <= 1, got {min_share!r}")

    def judge(prompt: Sequence[int], response: Sequence[int]) -> bool:
        hit = Counter(prompt) & Counter(_split(response, cfg.eos)[0])
        return sum(hit.values()) >= min_share * len(prompt) - 1e-9

    return judge


def format_judge(cfg: TestbedConfig) -> BoolJudge:
    """Accepts a response that ends with EOS and whose content holds only content tokens (no BOS/SEP/PAD)."""

    def judge(prompt: Sequence[int], response: Sequence[int]) -> bool:
        content, ended = _split(response, cfg.eos)
        return ended and all(0 <= t < cfg.vocab for t in content)

    return judge


class MixtureOfJudges:
    """Named rule judges; a response is accepted when every judge accepts it.

    ``verdicts(prompts, responses)`` is the ``(n, m)`` boolean table (judge order = insertion order),
    ``accepted(...)`` its row-wise AND and ``violation_rates(...)`` the per-judge and overall rates.
    """

    def __init__(self, judges: Mapping[str, BoolJudge]) -> None:
        if not isinstance(judges, Mapping) or not judges:
            raise ValueError(f"judges must be a non-empty mapping name -> judge, got {judges!r}")
        for name, judge in judges.items():
            if not callable(judge):
                raise ValueError(f"judge {name!r} must be callable, got {judge!r}")
        self.judges = dict(judges)

    @property
    def names(self) -> list[str]:
        return list(self.judges)

    def verdicts(self, prompts: Sequence[Sequence[int]], responses: Sequence[Sequence[int]]) -> np.ndarray:
        if len(prompts) != len(responses):
            raise ValueError(f"got {len(prompts)} prompts but {len(responses)} responses")
        out = np.zeros((len(prompts), len(self.judges)), dtype=bool)
        for i, (p, r) in enumerate(zip(prompts, responses, strict=True)):
            for j, (name, judge) in enumerate(self.judges.items()):
                v = judge(p, r)
                if not isinstance(v, bool | np.bool_):
                    raise ValueError(f"judge {name!r} must return a bool, got {v!r}")
                out[i, j] = bool(v)
        return out

    def accepted(self, prompts: Sequence[Sequence[int]], responses: Sequence[Sequence[int]]) -> np.ndarray:
        return self.verdicts(prompts, responses).all(axis=1)

    def violation_rates(
        self, prompts: Sequence[Sequence[int]], responses: Sequence[Sequence[int]]
    ) -> dict[str, float]:
        v = self.verdicts(prompts, responses)
        out = {f"violation_{name}": float(1.0 - v[:, j].mean()) for j, name in enumerate(self.judges)}
        out["violation_rate"] = float(1.0 - v.all(axis=1).mean())
        return out


# ---------------------------------------------------------------------------------------- pure pieces


def calibrated_reward(scores: Any, ref_scores: Any) -> np.ndarray:
    r""":math:`\sigma(r(x, y) - r(x, \bar y))`, elementwise, in (0, 1)."""
    s = np.asarray(scores, dtype=np.float64)
    ref = np.asarray(ref_scores, dtype=np.float64)
    if s.shape != ref.shape:
        raise ValueError(f"scores shape {s.shape} differs from ref_scores shape {ref.shape}")
    if not (np.all(np.isfinite(s)) and np.all(np.isfinite(ref))):
        raise ValueError(f"scores and ref_scores must be finite, got {s.tolist()} and {ref.tolist()}")
    return 1.0 / (1.0 + np.exp(-(s - ref)))


def crpg_weights(scores: Any, ref_scores: Any, accepted: Any) -> np.ndarray:
    """CRPG per-sample weights: the calibrated reward where ``accepted``, exactly 0 elsewhere."""
    acc = np.asarray(accepted)
    if acc.dtype != bool:
        raise ValueError(f"accepted must be a boolean array, got dtype {acc.dtype}")
    w = calibrated_reward(scores, ref_scores)
    if acc.shape != w.shape:
        raise ValueError(f"accepted shape {acc.shape} differs from scores shape {w.shape}")
    return np.where(acc, w, 0.0)


def crraft_select(scores: Any, accepted: Any, k: int) -> list[tuple[int, int]]:
    """CRRAFT: per group of ``k`` samples (one prompt), ``(prompt, sample)`` of the highest-scoring
    accepted sample (first on ties); prompts without an accepted sample are skipped."""
    k = _count("k", k)
    s = _groups("scores", np.asarray(scores, dtype=np.float64), k)
    acc = _groups("accepted", accepted, k)
    if acc.shape != s.shape or acc.dtype != bool:
        raise ValueError(f"accepted must be a boolean array of shape {s.size}, got {acc.dtype} {acc.shape}")
    out = []
    for i in range(s.shape[0]):
        if acc[i].any():
            out.append((i, int(np.argmax(np.where(acc[i], s[i], -np.inf)))))
    return out


def codpo_pairs(scores: Any, accepted: Any, k: int) -> list[tuple[int, int, int]]:
    """CODPO pairs ``(prompt, chosen, rejected)`` per group of ``k`` samples: chosen = highest-scoring
    accepted sample; rejected = lowest-scoring violating sample, or, when every sample is accepted, the
    lowest-scoring one if strictly below the chosen. No accepted sample (or no rejected candidate): no pair."""
    k = _count("k", k, 2)
    s = _groups("scores", np.asarray(scores, dtype=np.float64), k)
    acc = _groups("accepted", accepted, k)
    if acc.shape != s.shape or acc.dtype != bool:
        raise ValueError(f"accepted must be a boolean array of shape {s.size}, got {acc.dtype} {acc.shape}")
    out = []
    for i in range(s.shape[0]):
        if not acc[i].any():
            continue
        chosen = int(np.argmax(np.where(acc[i], s[i], -np.inf)))
        if not acc[i].all():
            rejected = int(np.argmin(np.where(acc[i], np.inf, s[i])))
        else:
            rejected = int(np.argmin(s[i]))
            if s[i, rejected] >= s[i, chosen]:
                continue
        out.append((i, chosen, rejected))
    return out


# ---------------------------------------------------------------------------------------------- trainer


def _seq(lp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return torch.where(mask, lp, torch.zeros_like(lp)).sum(-1)


class CGPOTrainer:
    """One CGPO optimizer (``"crpg"``, ``"codpo"`` or ``"crraft"``) on a copy of ``sft``.

    ``reward`` is the reward model (e.g. the testbed's hackable proxy judge), ``judges`` a
    :class:`MixtureOfJudges` (or a mapping of rule judges), ``prompts`` the training pool; every
    :meth:`step` draws ``batch_prompts`` prompts with replacement, samples ``k`` responses each and takes
    one Adam step (none when no sample qualifies). Deterministic given ``seed``.
    """

    def __init__(
        self,
        sft: TinyGPT,
        cfg: TestbedConfig,
        reward: Reward,
        judges: MixtureOfJudges | Mapping[str, BoolJudge],
        prompts: Sequence[Sequence[int]],
        optimizer: str = "crpg",
        k: int = 4,
        batch_prompts: int = 16,
        lr: float = 3e-4,
        beta: float = 0.1,
        lam: float = 1.0,
        kl_max: float | None = None,
        reweight: bool = False,
        seed: int = 0,
    ) -> None:
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
        if not callable(reward):
            raise ValueError(f"reward must be callable, got {reward!r}")
        if not prompts:
            raise ValueError("prompts must not be empty")
        self.k = _count("k", k, 2)
        self.batch_prompts = _count("batch_prompts", batch_prompts)
        lr = _finite("lr", lr, 0.0)
        self.beta = _finite("beta", beta, 0.0)
        self.lam = _finite("lam", lam, 0.0, strict=False)
        self.kl_max = None if kl_max is None else _finite("kl_max", kl_max, 0.0)
        if not isinstance(reweight, bool):
            raise ValueError(f"reweight must be a bool, got {reweight!r}")
        self.optimizer, self.reweight = optimizer, reweight
        self.judges = judges if isinstance(judges, MixtureOfJudges) else MixtureOfJudges(judges)
        self.cfg, self.reward, self.prompts = cfg, reward, [tuple(p) for p in prompts]
        self.ref = sft
        self.policy = copy.deepcopy(sft)
        self.policy.train()
        self.opt = torch.optim.Adam(self.policy.parameters(), lr=lr)
        self.rng = np.random.default_rng([seed, 11])
        self.gen = torch.Generator().manual_seed(seed)
        self._ref_score: dict[tuple[int, ...], float] = {}

    def ref_scores(self, prompts: Sequence[Sequence[int]]) -> np.ndarray:
        """Reward of the reference response (the SFT model's greedy answer), cached per prompt."""
        missing = sorted({tuple(p) for p in prompts} - set(self._ref_score))
        if missing:
            answers = generate(self.ref, encode_prompts(missing, self.cfg), self.cfg, 0.0, None)
            for p, a in zip(missing, answers, strict=True):
                self._ref_score[p] = float(self.reward(p, a))
        return np.array([self._ref_score[tuple(p)] for p in prompts])

    def step(self) -> dict[str, float]:
        """One update; returns the batch's mean reward, violation rate and the number of samples used."""
        idx = self.rng.integers(len(self.prompts), size=self.batch_prompts)
        prompts = [self.prompts[i] for i in idx for _ in range(self.k)]
        x = encode_prompts(prompts, self.cfg)
        self.policy.eval()
        responses = generate(self.policy, x, self.cfg, 1.0, self.gen)
        self.policy.train()
        scores = np.array([float(self.reward(p, r)) for p, r in zip(prompts, responses, strict=True)])
        accepted = self.judges.accepted(prompts, responses)
        stats = {"reward": float(scores.mean()), "violation_rate": float(1.0 - accepted.mean())}
        y, mask = pad_responses(responses, self.cfg)
        if self.optimizer == "crpg":
            lp = _seq(response_logps(self.policy, x, y), mask)
            if self.kl_max is not None:
                with torch.no_grad():
                    ratio = (lp.detach() - _seq(response_logps(self.ref, x, y), mask)).numpy()
                accepted = accepted & (ratio <= self.kl_max)
            w = crpg_weights(scores, self.ref_scores(prompts), accepted)
            loss = -(torch.as_tensor(w, dtype=lp.dtype) * lp).mean()
            stats["used"] = float(accepted.sum())
        elif self.optimizer == "crraft":
            chosen = [i * self.k + j for i, j in crraft_select(scores, accepted, self.k)]
            stats["used"] = float(len(chosen))
            if not chosen:
                return stats
            lp = _seq(response_logps(self.policy, x[chosen], y[chosen]), mask[chosen])
            w = np.ones(len(chosen))
            if self.reweight:
                w = calibrated_reward(scores[chosen], self.ref_scores([prompts[c] for c in chosen]))
            loss = -(torch.as_tensor(w, dtype=lp.dtype) * lp).mean()
        else:
            pairs = codpo_pairs(scores, accepted, self.k)
            stats["used"] = float(len(pairs))
            if not pairs:
                return stats
            c = [i * self.k + j for i, j, _ in pairs]
            r = [i * self.k + j for i, _, j in pairs]
            both_x, both_y = torch.cat([x[c], x[r]]), torch.cat([y[c], y[r]])
            lp = response_logps(self.policy, both_x, both_y)
            with torch.no_grad():
                ref = response_logps(self.ref, both_x, both_y)
            b = len(pairs)
            loss, _ = codpo_loss(
                lp[:b], lp[b:], mask[c], mask[r], ref[:b], ref[b:], beta=self.beta, lam=self.lam
            )
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        stats["loss"] = float(loss.detach())
        return stats


@torch.no_grad()
def evaluate_constrained(
    policy: TinyGPT,
    prompts: Sequence[Sequence[int]],
    cfg: TestbedConfig,
    judges: MixtureOfJudges,
    reward: Reward,
    seed: int = 0,
) -> dict[str, float]:
    """Temperature-1 samples of ``policy`` on ``prompts`` (fixed generator seed): mean true score, mean
    reward (``proxy_score``), mean content length and the violation rates of ``judges``."""
    was_training = policy.training
    policy.eval()
    answers = generate(policy, encode_prompts(prompts, cfg), cfg, 1.0, torch.Generator().manual_seed(seed))
    policy.train(was_training)
    truth = true_judge(cfg)
    out = {
        "true_score": float(np.mean([truth(p, a) for p, a in zip(prompts, answers, strict=True)])),
        "proxy_score": float(np.mean([reward(p, a) for p, a in zip(prompts, answers, strict=True)])),
        "length": float(np.mean([len(_split(a, cfg.eos)[0]) for a in answers])),
    }
    return out | judges.violation_rates(prompts, answers)


# ------------------------------------------------------------------------------------------ trainer/spec


@dataclass(frozen=True)
class CGPO:
    """The preference-family trainer object: one CGPO optimizer's hyperparameters, bound to a problem by
    :meth:`trainer`."""

    optimizer: str = "crpg"
    lr: float = 3e-4
    k: int = 4
    batch_prompts: int = 16
    beta: float = 0.1
    lam: float = 1.0
    reweight: bool = False

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        _finite("lr", self.lr, 0.0)
        _count("k", self.k, 2)
        _count("batch_prompts", self.batch_prompts)
        _finite("beta", self.beta, 0.0)
        _finite("lam", self.lam, 0.0, strict=False)

    def trainer(
        self,
        sft: TinyGPT,
        cfg: TestbedConfig,
        reward: Reward,
        judges: MixtureOfJudges | Mapping[str, BoolJudge],
        prompts: Sequence[Sequence[int]],
        seed: int = 0,
        **kw: Any,
    ) -> CGPOTrainer:
        return CGPOTrainer(
            sft,
            cfg,
            reward,
            judges,
            prompts,
            self.optimizer,
            self.k,
            self.batch_prompts,
            self.lr,
            self.beta,
            self.lam,
            reweight=self.reweight,
            seed=seed,
            **kw,
        )


_PAPER = PaperRef(
    "T. Xu, E. Helenowski, K. A. Sankararaman, D. Jin, K. Peng, E. Han, S. Nie, C. Zhu, H. Zhang, W. Zhou, "
    "Z. Zeng, Y. He, K. Mandyam, A. Talabzadeh, M. Khabsa, G. Cohen, Y. Tian, H. Ma, S. Wang, H. Fang",
    "The Perfect Blend: Redefining RLHF with Mixture of Judges",
    "arXiv",
    2024,
    "2409.20370",
)
_CAPS = frozenset({"uses-reference", "trainer", "judges"})
_COMMON = (Param("lr", 1e-5, 3e-3, log=True), Param("k", 2, 8, integer=True))


def make_cgpo_crpg(hparams: Mapping[str, Any] | None = None) -> CGPO:
    """The preference-family factory: a CRPG :class:`CGPO` trainer object (not a loss)."""
    return CGPO("crpg", **CGPO_CRPG_SPEC.resolve_hparams(hparams))


def make_cgpo_codpo(hparams: Mapping[str, Any] | None = None) -> CGPO:
    """The preference-family factory: a CODPO :class:`CGPO` trainer object (not a loss)."""
    return CGPO("codpo", **CGPO_CODPO_SPEC.resolve_hparams(hparams))


def make_cgpo_crraft(hparams: Mapping[str, Any] | None = None) -> CGPO:
    """The preference-family factory: a CRRAFT :class:`CGPO` trainer object (not a loss)."""
    return CGPO("crraft", **CGPO_CRRAFT_SPEC.resolve_hparams(hparams))


CGPO_CRPG_SPEC = MethodSpec(
    name="cgpo-crpg",
    family="preference",
    factory="optarena.preference.cgpo:make_cgpo_crpg",
    summary="CGPO CRPG, policy gradient on a calibrated reward, zero weight outside the judges' region",
    search_space=SearchSpace(_COMMON),
    defaults={"lr": 3e-4, "k": 4},
    paper=_PAPER,
    capabilities=_CAPS,
)
CGPO_CODPO_SPEC = MethodSpec(
    name="cgpo-codpo",
    family="preference",
    factory="optarena.preference.cgpo:make_cgpo_codpo",
    summary="CGPO CODPO, online DPO+NLL on (best accepted, worst violating) sample pairs",
    search_space=SearchSpace((*_COMMON, Param("beta", 0.01, 1.0, log=True), Param("lam", 0.0, 2.0))),
    defaults={"lr": 3e-4, "k": 4, "beta": 0.1, "lam": 1.0},
    paper=_PAPER,
    capabilities=_CAPS,
)
CGPO_CRRAFT_SPEC = MethodSpec(
    name="cgpo-crraft",
    family="preference",
    factory="optarena.preference.cgpo:make_cgpo_crraft",
    summary="CGPO CRRAFT, SFT on the best sample that every judge accepts",
    search_space=SearchSpace((*_COMMON, Param("reweight", choices=(False, True)))),
    defaults={"lr": 3e-4, "k": 4, "reweight": False},
    paper=_PAPER,
    capabilities=frozenset({"trainer", "judges"}),
)
CGPO_SPECS = (CGPO_CRPG_SPEC, CGPO_CODPO_SPEC, CGPO_CRRAFT_SPEC)
