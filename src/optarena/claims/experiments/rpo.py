"""Claim experiment: RPO resists overoptimization of a proxy judge better than DPO (Liu et al., NeurIPS
2024, "Provably Mitigating Overoptimization in RLHF: Your SFT Loss is Implicitly an Adversarial
Regularizer").

One seed, on the sorting testbed of :mod:`optarena.preference.testbed`: pairs labelled by the *proxy*
judge (true score + 1.5 per content token: a length bonus that prefers long, wrong responses), DPO and RPO
trained from the same SFT start with equal steps, then evaluated under the *true* judge. RPO here is DPO
plus the token-mean chosen NLL with weight eta * beta = 1 (TRL's ``["sigmoid", "sft"]`` with equal weights;
the paper's eta = 0.005 was set for 7B models and summed NLL over hundreds of tokens). Equal tuning: beta in
{0.1, 0.5} for both, the point with the best *proxy* score on validation prompts is kept (the practitioner
only sees the proxy). Quick mode: beta = 0.1 only.

Metrics: ``winrate_diff`` = true-judge win rate vs SFT (sampled at temperature 1) of RPO minus DPO's;
``rpo_chosen_logp_drift`` = change of the summed log-prob of held-out chosen responses from the SFT model
to the RPO policy (and ``dpo_chosen_logp_drift``); lengths, proxy scores, exact match, KL to SFT.
"""

from __future__ import annotations

from typing import Any

from optarena.preference.specs import make_dpo, make_rpo
from optarena.preference.testbed import TestbedConfig, run_losses

__all__ = ["measure"]

_BETAS = (0.1, 0.5)
_NLL_WEIGHT = 1.0  # eta * beta


def measure(seed: int, quick: bool, **options: Any) -> dict[str, float]:
    cfg = TestbedConfig.quick() if quick else TestbedConfig()
    if options:
        cfg = TestbedConfig(**{**cfg.__dict__, **options})
    betas = _BETAS[:1] if quick else _BETAS
    losses = {}
    for i, beta in enumerate(betas):
        losses[f"dpo{i}"] = make_dpo({"beta": beta})
        losses[f"rpo{i}"] = make_rpo({"beta": beta, "eta": _NLL_WEIGHT / beta, "nll": "token_mean"})
    select = {m: [f"{m}{i}" for i in range(len(betas))] for m in ("dpo", "rpo")}
    res = run_losses(losses, cfg, seed, label="proxy", select=select)
    dpo, rpo = res["dpo"], res["rpo"]
    out = {
        "winrate_diff": rpo["win_rate"] - dpo["win_rate"],
        "winrate_diff_greedy": rpo["win_rate_greedy"] - dpo["win_rate_greedy"],
        "sft_length": res["sft"]["length"],
        "sft_proxy_score": res["sft"]["proxy_score"],
        "pair_true_gap": res["sft"]["pair_true_gap"],
    }
    for name, r in (("dpo", dpo), ("rpo", rpo)):
        for key in (
            "win_rate",
            "win_rate_greedy",
            "score",
            "proxy_score",
            "length",
            "exact_match",
            "kl_to_sft",
            "chosen_logp_drift",
            "ranking_accuracy",
            "chosen",
        ):
            out[f"{name}_{key}"] = r[key]
    return out
