"""Claim experiment: constrained RLHF vs fixed-weight composites (Moskovitz et al., ICLR 2024, "Confronting
Reward Model Overoptimization with Constrained RLHF").

One seed = one random :class:`~optarena.preference.constrained_rlhf.ProxyBandit` (32 arms, two correlated
component rewards, an evaluation score that is an inverted U peaking at the components' proxy points,
KL coefficient beta = 1; bandit seed ``10_000 + seed``, disjoint from the seeds 0-4 used while writing the
code), every policy trained from the reference by the same sampled policy-gradient step (RLOO, 64 arms
per step, lr 0.5, ``steps`` steps):

- fixed-weight composites: weights ``scale * direction``, scale in {0.5, 1, 2, 4}, direction in
  {(1, 1), (1, 2), (2, 1)} (12 composites; the best one by final true score is picked with hindsight,
  an oracle tuning that favours the baseline);
- constrained RLHF: ``"ge"`` constraints at the proxy points (known, as when they were found by an
  earlier sweep, the paper's main setting), multipliers by dual ascent, dual lr 0.05;
- Nelder-Mead constrained RLHF: thresholds unknown, found in the same run (scipy Nelder-Mead on the true
  score, 40 steps per evaluation, 40 evaluations, then 400 steps at the best thresholds: equal budget).

Overoptimization of a run = its peak true score (evaluated every 10 steps) minus its final true score.
Testbed part (``testbed=True``; seed ``100 + seed``): the sorting testbed of
:mod:`optarena.preference.testbed` (``TestbedConfig.quick()`` sizes), an SFT start, and RLOO
(:class:`~optarena.preference.policy_gradient.RLOOTrainer`, KL coefficient 0.05, 16 prompts x 4 samples a
step, Adam lr 3e-4, ``tb_steps`` steps) on two components: coverage (share of the prompt's tokens in the
response, correctness-like, inflatable by long responses) and length (content tokens / prompt length,
hackable). Fixed composites ``a * (1, 1)``, a in {0.1, 0.3, 1}; constrained RLHF with coverage >= 0.9 and
length <= 1.0 (the ideal response's length: the point beyond which the true score must fall), dual lr 0.5.
True score = mean true-judge score (minus edit distance to the sorted prompt) of temperature-1 samples on
64 validation prompts every 30 steps (the SFT start included) and on the 64 evaluation prompts at the
end. ``tb_final_gap`` = constrained minus the best composite (final, evaluation prompts);
``tb_drop_advantage`` = mean composite drop minus the constrained drop (validation trace).

Metrics: ``final_gap`` = constrained final - best composite final; ``nm_gap`` likewise for Nelder-Mead;
``constrained_drop``, ``nm_drop``; ``drop_advantage`` = mean composite drop - constrained drop; plus each
method's final and peak scores, the best composite's drop and index, the largest composite drop and the
Nelder-Mead threshold error (max over components of ``|theta - theta*| / s``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optarena.preference.constrained_rlhf import (
    ProxyBandit,
    nelder_mead_thresholds,
    run_constrained,
    run_fixed_weights,
)

__all__ = ["measure"]

_SCALES = (0.5, 1.0, 2.0, 4.0)
_DIRECTIONS = ((1.0, 1.0), (1.0, 2.0), (2.0, 1.0))


def _scores(result) -> np.ndarray:
    return np.array([s for _, s in result.evals])


def measure(
    seed: int,
    quick: bool,
    steps: int = 2000,
    n_samples: int = 64,
    lr: float = 0.5,
    dual_lr: float = 0.05,
    eval_every: int = 10,
    nm_steps_per_eval: int = 40,
    nm_max_evals: int = 40,
    nm_final_steps: int = 400,
    testbed: bool = True,
    tb_steps: int = 150,
) -> dict[str, float]:
    scales = (1.0, 4.0) if quick else _SCALES
    directions = _DIRECTIONS[:1] if quick else _DIRECTIONS
    if quick:
        steps, nm_steps_per_eval, nm_max_evals, nm_final_steps = 300, 20, 10, 100
    bandit = ProxyBandit.random(10_000 + seed)
    state: dict[str, Any] = {}

    def fresh(tag: int):
        step, st = bandit.make_step(lr=lr, n_samples=n_samples, seed=seed * 1000 + tag)
        state["st"] = st
        return step

    def score() -> float:
        return bandit.true_score(state["st"]["logits"])

    out: dict[str, float] = {}
    finals, drops = [], []
    for i, (a, d) in enumerate((a, d) for a in scales for d in directions):
        s = _scores(run_fixed_weights(fresh(i), a * np.array(d), steps, score, eval_every))
        finals.append(s[-1])
        drops.append(s.max() - s[-1])
    best = int(np.argmax(finals))
    out.update(
        composite_best_final=float(finals[best]),
        composite_best_drop=float(drops[best]),
        composite_best_index=float(best),
        composite_mean_drop=float(np.mean(drops)),
        composite_max_drop=float(np.max(drops)),
        composite_mean_final=float(np.mean(finals)),
    )

    con = _scores(
        run_constrained(fresh(100), bandit.proxy_points, steps, dual_lr, "ge", None, None, score, eval_every)
    )
    out.update(constrained_final=float(con[-1]), constrained_peak=float(con.max()))
    out["constrained_drop"] = float(con.max() - con[-1])

    step = fresh(200)
    v0 = bandit.values(bandit.ref_logits)
    sd = np.sqrt(np.maximum(bandit.rewards**2 @ bandit.ref - v0**2, 1e-12))
    nm = nelder_mead_thresholds(
        step,
        score,
        v0 + 0.5 * sd,
        nm_steps_per_eval,
        nm_max_evals,
        dual_lr,
        initial_step=0.5 * sd,
        final_steps=nm_final_steps,
    )
    s = np.array([x for _, x in nm.run.evals])
    out.update(nm_final=float(s[-1]), nm_peak=float(s.max()), nm_drop=float(s.max() - s[-1]))
    out["nm_threshold_error"] = float(np.max(np.abs(nm.thresholds - bandit.proxy_points) / bandit.scale))
    out["nm_evals"] = float(len(nm.trace))
    out["final_gap"] = out["constrained_final"] - out["composite_best_final"]
    out["nm_gap"] = out["nm_final"] - out["composite_best_final"]
    out["drop_advantage"] = out["composite_mean_drop"] - out["constrained_drop"]
    if testbed:
        out.update(_testbed(100 + seed, quick, 6 if quick else tb_steps))
    return out


def _testbed(seed: int, quick: bool, steps: int) -> dict[str, float]:
    import torch

    from optarena.preference.policy_gradient import RLOOTrainer, coverage_component, length_component
    from optarena.preference.testbed import TestbedConfig, split_prompts, train_sft

    cfg = TestbedConfig.quick()
    if quick:
        cfg = TestbedConfig(**{**cfg.__dict__, "sft_steps": 40, "n_sft": 300})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        sft = train_sft(cfg, seed)
        sets = split_prompts(cfg, seed)
        comps = [coverage_component(cfg), length_component(cfg)]
        every = 3 if quick else 30

        def trainer(tag: int) -> RLOOTrainer:
            return RLOOTrainer(
                sft, cfg, comps, sets["pairs"], beta=0.05, batch_prompts=16, lr=3e-4, seed=seed + tag
            )

        def trace(tr: RLOOTrainer, result) -> tuple[float, float]:
            val = [tr_start] + [s for _, s in result.evals]
            return tr.true_score(sets["eval"], seed), max(val) - val[-1]

        tr0 = trainer(0)
        tr_start = tr0.true_score(sets["val"], seed)
        out = {"tb_sft_score": tr0.true_score(sets["eval"], seed)}
        finals, drops = [], []
        for i, a in enumerate((0.3,) if quick else (0.1, 0.3, 1.0)):
            tr = trainer(i + 1)
            res = run_fixed_weights(
                tr.step, [a, a], steps, lambda tr=tr: tr.true_score(sets["val"], seed), every
            )
            final, drop = trace(tr, res)
            finals.append(final)
            drops.append(drop)
            out[f"tb_composite{i}_final"] = final
        tr = trainer(10)
        res = run_constrained(
            tr.step,
            [0.9, 1.0],
            steps,
            0.5,
            ("ge", "le"),
            None,
            None,
            lambda: tr.true_score(sets["val"], seed),
            every,
        )
        final, drop = trace(tr, res)
        out.update(
            tb_constrained_final=final,
            tb_constrained_drop=drop,
            tb_composite_best_final=max(finals),
            tb_composite_mean_drop=float(np.mean(drops)),
            tb_constrained_length=float(tr.component_means(sets["eval"], seed)[1]),
            tb_final_gap=final - max(finals),
            tb_drop_advantage=float(np.mean(drops)) - drop,
        )
    return {k: float(v) for k, v in out.items()}
