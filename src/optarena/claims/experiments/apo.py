"""Claim experiment: Accelerated Preference Optimization vs iterative DPO at beta and at beta(1 - alpha)
(He, Yuan, Gu, "Accelerated Preference Optimization for Large Language Model Alignment", arXiv 2024).

One seed runs two settings (see ``claims/apo.toml``); every method gets the same data source, per-round fit
and number of rounds, and the momentum step is the only difference between APO and iterative DPO at beta.

(A) Tabular (:mod:`optarena.preference.tabular`): 32 random bandits (4 prompts x 8 responses); per round
32 pairs per prompt sampled from pi_t, Bradley-Terry labels, the round's DPO loss minimised exactly
(Newton, prior precision 1 on the implicit reward). Rounds to target = first round, interpolated linearly in
log gap, where the sub-optimality gap of pi_t is at most 10% of pi_0's (a miss counts ``rounds + 1``). The
population rounds (``tab_pop_*``, the exact case) and the exact-reduction check ``tab_pop_reduction_error``
(max |log pi_APO,t - log pi_DPO(beta(1-alpha)) at t - alpha^2 (1 - alpha^t)/(1 - alpha) rounds|) are
reported too.

(B) Sorting testbed (:mod:`optarena.preference.testbed`): SFT model, then per round 256 fresh prompts x 4
samples from pi_t, true judge best vs worst, DPO from pi_t with reference pi_t; APO extrapolates the
weights. Gap = minus the mean true score of responses sampled at T = 1 on 512 held-out prompts (the same
prompts and sampling seed for every policy); speed = mean gap over rounds 1..R.

Metrics ``*_minus_apo`` are baseline minus APO: positive = APO faster / better.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from optarena.preference.apo import APO, fit_round_on_testbed
from optarena.preference.tabular import (
    TabularBandit,
    TabularPolicy,
    dpo_population_round,
    population_fit_round,
    sampled_fit_round,
)

__all__ = ["measure", "rounds_to_target"]

_BETA_TAB, _BETA_TB, _ALPHA = 1.5, 0.5, 0.5


def rounds_to_target(gaps: list[float], target: float, miss: float) -> float:
    """First round ``t >= 1`` with ``gaps[t] <= target``, interpolated linearly in log gap between rounds
    ``t - 1`` and ``t``; ``miss`` when no round reaches it (``gaps[0]`` is the start)."""
    if gaps[0] <= target:
        return 0.0
    for t in range(1, len(gaps)):
        if gaps[t] <= target:  # gaps[t - 1] > target >= gaps[t]
            lo, hi = np.log(gaps[t - 1]), np.log(max(gaps[t], 1e-300))
            return float(t - 1 + (lo - np.log(target)) / (lo - hi))
    return float(miss)


def _methods(beta: float, alpha: float) -> dict[str, tuple[float, float]]:
    return {"apo": (beta, alpha), "dpo": (beta, 0.0), "dposmall": (beta * (1 - alpha), 0.0)}


def _tabular(seed: int, quick: bool, alpha: float) -> dict[str, float]:
    n_bandits, rounds = (4, 12) if quick else (32, 30)
    beta = _BETA_TAB
    miss = rounds + 1
    sampled: dict[str, list[float]] = {m: [] for m in (*_methods(beta, alpha), "apo_fitted")}
    pop: dict[str, list[float]] = {m: [] for m in _methods(beta, alpha)}
    reduction_error = 0.0
    for i in range(n_bandits):
        inst = 10_000 * seed + i
        bandit = TabularBandit.random(4, 8, inst)

        def gap(p: torch.nn.Module, t: int, bandit: TabularBandit = bandit) -> dict[str, float]:
            assert isinstance(p, TabularPolicy)
            return {"gap": bandit.gap(p.numpy_logits())}

        for name, (b, a) in _methods(beta, alpha).items():
            start = TabularPolicy(bandit.ref_logits)
            fit = sampled_fit_round(bandit, 32, inst)
            hist = APO(b, a, rounds).run(start, fit, gap, evaluate_fitted=name == "apo").history
            g = [h["gap"] for h in hist]
            sampled[name].append(rounds_to_target(g, 0.1 * g[0], miss))
            if name == "apo":
                gf = [h["fitted_gap"] for h in hist]
                sampled["apo_fitted"].append(rounds_to_target(gf, 0.1 * gf[0], miss))
            logits: list[np.ndarray] = []

            def record(
                p: torch.nn.Module, t: int, logits: list[np.ndarray] = logits, bandit: TabularBandit = bandit
            ) -> dict[str, float]:
                assert isinstance(p, TabularPolicy)
                logits.append(p.numpy_logits())
                return {"gap": bandit.gap(logits[-1])}

            hist = APO(b, a, rounds).run(start, population_fit_round(bandit), record).history
            g = [h["gap"] for h in hist]
            pop[name].append(rounds_to_target(g, 0.1 * g[0], miss))
            if name == "apo":  # the exact reduction: pi_t = iterative DPO at beta(1-alpha) after s_t rounds
                for t, lg in enumerate(logits):
                    s = t - alpha**2 * (1 - alpha**t) / (1 - alpha)
                    pred = dpo_population_round(bandit.ref_logits, s * bandit.rewards, beta * (1 - alpha))
                    diff = _logsoftmax(lg) - _logsoftmax(pred)
                    reduction_error = max(reduction_error, float(np.max(np.abs(diff))))
    out = {f"tab_rounds_{m}": float(np.mean(v)) for m, v in sampled.items()}
    out |= {f"tab_pop_rounds_{m}": float(np.mean(v)) for m, v in pop.items()}
    out |= {f"tab_misses_{m}": float(np.sum(np.asarray(v) >= miss)) for m, v in sampled.items()}
    for base in ("dpo", "dposmall"):
        out[f"tab_rounds_{base}_minus_apo"] = float(np.mean(np.subtract(sampled[base], sampled["apo"])))
        out[f"tab_pop_rounds_{base}_minus_apo"] = float(np.mean(np.subtract(pop[base], pop["apo"])))
    out["tab_rounds_dposmall_minus_apo_fitted"] = float(
        np.mean(np.subtract(sampled["dposmall"], sampled["apo_fitted"]))
    )
    out["tab_pop_reduction_error"] = reduction_error
    return out


def _logsoftmax(z: np.ndarray) -> np.ndarray:
    m = z.max(-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(-1, keepdims=True))


def _testbed(seed: int, quick: bool, alpha: float) -> dict[str, float]:
    from optarena.preference.testbed import (
        TestbedConfig,
        encode_prompts,
        generate,
        sample_prompts,
        train_sft,
        true_judge,
    )

    if quick:
        cfg, rounds, n_eval = TestbedConfig.quick(), 2, 64
    else:
        cfg, rounds, n_eval = TestbedConfig(n_pairs=256, pref_steps=50, pref_lr=1e-4), 4, 512
    beta = _BETA_TB
    sft = train_sft(cfg, seed)
    rng = np.random.default_rng([seed, 11])
    per_round = [sample_prompts(cfg.n_pairs, cfg, rng) for _ in range(rounds)]
    eval_prompts = sample_prompts(n_eval, cfg, np.random.default_rng([seed, 12]))
    judge = true_judge(cfg)
    x = encode_prompts(eval_prompts, cfg)

    def gap(p: torch.nn.Module, t: int) -> dict[str, float]:
        answers = generate(p, x, cfg, 1.0, torch.Generator().manual_seed(seed + 3))  # type: ignore[arg-type]
        return {"gap": -float(np.mean([judge(q, r) for q, r in zip(eval_prompts, answers, strict=True)]))}

    fit: Callable[..., Any] = fit_round_on_testbed(cfg, judge, per_round, seed)
    out: dict[str, float] = {}
    curves: dict[str, list[float]] = {}
    for name, (b, a) in _methods(beta, alpha).items():
        hist = APO(b, a, rounds).run(sft, fit, gap, evaluate_fitted=name == "apo").history
        curves[name] = [h["gap"] for h in hist]
        if name == "apo":
            curves["apo_fitted"] = [h["fitted_gap"] for h in hist]
    out["tb_gap_sft"] = curves["apo"][0]
    for name, g in curves.items():
        out[f"tb_meangap_{name}"] = float(np.mean(g[1:]))
        out[f"tb_finalgap_{name}"] = float(g[-1])
    for base in ("dpo", "dposmall"):
        out[f"tb_meangap_{base}_minus_apo"] = out[f"tb_meangap_{base}"] - out["tb_meangap_apo"]
        out[f"tb_finalgap_{base}_minus_apo"] = out[f"tb_finalgap_{base}"] - out["tb_finalgap_apo"]
    return out


def measure(seed: int, quick: bool, **options: Any) -> dict[str, float]:
    alpha = float(options.pop("alpha", _ALPHA))
    if options:
        raise ValueError(f"unknown options {sorted(options)}")
    t0 = time.perf_counter()
    out = _tabular(seed, quick, alpha)
    out["tab_seconds"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    out |= _testbed(seed, quick, alpha)
    out["tb_seconds"] = time.perf_counter() - t1
    return out
