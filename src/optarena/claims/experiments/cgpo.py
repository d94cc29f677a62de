"""Claim experiment: CGPO's constrained optimizers vs unconstrained RLOO on a hackable reward (Xu et al.,
2024, "The Perfect Blend: Redefining RLHF with Mixture of Judges").

One seed (testbed seed ``200 + seed``, disjoint from the dev seed 0 used while writing the code): the
sorting testbed of :mod:`optarena.preference.testbed` at ``TestbedConfig.quick()`` sizes with 256
validation and 256 evaluation prompts, an SFT start, and the reward model = the testbed's hackable proxy
judge (true score plus 1.5 per content token: longer responses score higher). Mixture of judges: a length
judge (content length <= prompt length) and a format judge (ends with EOS, content tokens only).
Every method runs ``steps`` updates from the SFT start with 16 prompts x 4 samples a step and Adam lr 3e-4:

- RLOO (:class:`~optarena.preference.policy_gradient.RLOOTrainer`, the unconstrained baseline) on the
  proxy with KL coefficient beta in {0.05, 0.2, 1.0}; the beta with the best true score on the
  validation prompts is kept (selection in the baseline's favour; CGPO gets one setting);
- CRPG, CRRAFT, CODPO (:class:`~optarena.preference.cgpo.CGPOTrainer`, defaults: CODPO beta 0.1, lam 1).

Metrics on the evaluation prompts (temperature-1 samples): ``<m>_true`` (true judge = minus edit
distance to the sorted prompt), ``<m>_violation`` (share of samples some judge rejects), ``<m>_proxy``,
``<m>_length``; ``<m>_violation_gap`` / ``<m>_true_gap`` = method minus the selected RLOO;
``hack_rise`` = violation rate of RLOO at beta 0.05 minus the SFT model's (the proxy is hackable).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["measure"]

_BETAS = (0.05, 0.2, 1.0)


def measure(seed: int, quick: bool, steps: int = 150, lr: float = 3e-4) -> dict[str, float]:
    from optarena.preference.cgpo import (
        CGPOTrainer,
        MixtureOfJudges,
        evaluate_constrained,
        format_judge,
        length_judge,
    )
    from optarena.preference.policy_gradient import RLOOTrainer
    from optarena.preference.testbed import TestbedConfig, make_proxy_judge, split_prompts, train_sft

    tb_seed = 200 + seed
    cfg = TestbedConfig(**{**TestbedConfig.quick().__dict__, "n_eval": 256})
    betas = _BETAS
    if quick:
        cfg = TestbedConfig(**{**cfg.__dict__, "sft_steps": 40, "n_sft": 300, "n_eval": 32})
        steps, betas = 4, _BETAS[:1]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(tb_seed)
        sft = train_sft(cfg, tb_seed)
        sets = split_prompts(cfg, tb_seed)
        proxy = make_proxy_judge(cfg)
        judges = MixtureOfJudges({"length": length_judge(cfg), "format": format_judge(cfg)})

        def ev(policy, which: str) -> dict[str, float]:
            return evaluate_constrained(policy, sets[which], cfg, judges, proxy, tb_seed)

        out: dict[str, float] = {}
        s = ev(sft, "eval")
        out.update(sft_true=s["true_score"], sft_violation=s["violation_rate"], sft_proxy=s["proxy_score"])
        best, best_val = None, -np.inf
        for i, beta in enumerate(betas):
            tr = RLOOTrainer(
                sft, cfg, [proxy], sets["pairs"], beta=beta, batch_prompts=16, lr=lr, seed=tb_seed
            )
            for _ in range(steps):
                tr.step(np.array([1.0]))
            e = ev(tr.policy, "eval")
            out[f"rloo{i}_true"], out[f"rloo{i}_violation"] = e["true_score"], e["violation_rate"]
            if i == 0:
                out["hack_rise"] = e["violation_rate"] - s["violation_rate"]
            val = ev(tr.policy, "val")["true_score"]
            if val > best_val:
                best, best_val, out["rloo_beta"] = e, val, beta
        assert best is not None
        out.update(
            rloo_true=best["true_score"],
            rloo_violation=best["violation_rate"],
            rloo_proxy=best["proxy_score"],
            rloo_length=best["length"],
        )
        for name in ("crpg", "crraft", "codpo"):
            tr = CGPOTrainer(
                sft, cfg, proxy, judges, sets["pairs"], name, batch_prompts=16, lr=lr, seed=tb_seed
            )
            for _ in range(steps):
                tr.step()
            e = ev(tr.policy, "eval")
            out.update(
                {
                    f"{name}_true": e["true_score"],
                    f"{name}_violation": e["violation_rate"],
                    f"{name}_proxy": e["proxy_score"],
                    f"{name}_length": e["length"],
                    f"{name}_true_gap": e["true_score"] - best["true_score"],
                    f"{name}_violation_gap": e["violation_rate"] - best["violation_rate"],
                }
            )
    return {k: float(v) for k, v in out.items()}
