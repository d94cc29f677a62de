"""Claim experiment: SimPO matches or beats DPO in win rate against SFT without longer responses
(Meng, Xia, Chen, NeurIPS 2024).

One seed, on the sorting testbed of :mod:`optarena.preference.testbed` (defaults of ``TestbedConfig``;
``TestbedConfig.quick()`` in quick mode): SFT of a tiny transformer on noisy demonstrations, 4 samples per
prompt labelled by the *true* judge (best vs worst), then DPO and SimPO trained from the same SFT start with
the same optimizer, batch and number of steps. Equal tuning: each method gets a 2-point grid (DPO beta in
{0.1, 0.5}; SimPO (beta, gamma) in {(2.5, 1.375), (2.0, 1.0)}: the authors' Llama-3-Instruct recipe and a
milder one), the point with the best true-judge score on validation prompts is kept. Quick mode: one point
each (0.1 and (2.5, 1.375)).

Metrics: ``winrate_diff`` = win rate vs SFT (true judge, sampled at temperature 1) of SimPO minus DPO's;
``length_ratio`` = SimPO's mean response length / DPO's; plus each method's win rates (sampled and greedy),
lengths, exact match and KL to the SFT model.
"""

from __future__ import annotations

from typing import Any

from optarena.preference.specs import make_dpo, make_simpo
from optarena.preference.testbed import TestbedConfig, run_losses

__all__ = ["measure"]

_GRIDS = {
    "dpo": [{"beta": 0.1}, {"beta": 0.5}],
    "simpo": [{"beta": 2.5, "gamma": 1.375}, {"beta": 2.0, "gamma": 1.0}],
}


def measure(seed: int, quick: bool, **options: Any) -> dict[str, float]:
    cfg = TestbedConfig.quick() if quick else TestbedConfig()
    if options:
        cfg = TestbedConfig(**{**cfg.__dict__, **options})
    n = 1 if quick else 2
    losses = {f"dpo{i}": make_dpo(h) for i, h in enumerate(_GRIDS["dpo"][:n])}
    losses |= {f"simpo{i}": make_simpo(h) for i, h in enumerate(_GRIDS["simpo"][:n])}
    select = {m: [f"{m}{i}" for i in range(n)] for m in ("dpo", "simpo")}
    res = run_losses(losses, cfg, seed, label="true", select=select)
    dpo, simpo = res["dpo"], res["simpo"]
    out = {
        "winrate_diff": simpo["win_rate"] - dpo["win_rate"],
        "length_ratio": simpo["length"] / max(dpo["length"], 1e-9),
        "winrate_diff_greedy": simpo["win_rate_greedy"] - dpo["win_rate_greedy"],
        "sft_length": res["sft"]["length"],
        "sft_exact_match": res["sft"]["exact_match"],
    }
    for name, r in (("dpo", dpo), ("simpo", simpo)):
        for key in (
            "win_rate",
            "win_rate_greedy",
            "length",
            "exact_match",
            "kl_to_sft",
            "chosen",
            "ranking_accuracy",
        ):
            out[f"{name}_{key}"] = r[key]
    return out
