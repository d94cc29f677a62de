"""Claim experiment: RPO vs DPO in the exact tabular case with uncovered arms (Liu et al., NeurIPS 2024,
"Provably Mitigating Overoptimization in RLHF: Your SFT Loss is Implicitly an Adversarial Regularizer").

One seed = one random bandit (:class:`~optarena.preference.tabular.TabularBandit`, 64 prompts x 8 arms,
rewards N(0, 1), reference logits 1.5 N(0, 1); prompts are independent in the loss, so this is 64 bandits of
one prompt evaluated together). Data: ``n`` pairs per prompt drawn from the reference (identical draws
dropped), Bradley-Terry labels of the true rewards; arms in no pair are *uncovered*. Two regimes: (A) sparse,
n = 2; (B) n = 8. Both losses (:mod:`optarena.preference.tabular_rpo`, ``rpo_loss`` with summed NLL) are
minimised by full-batch gradient descent from the reference with each loss's safe step ``1 / L`` for the
same number of steps (2000; quick: 200); beta = 0.1, eta = 1. The exact RPO infimum
(:func:`~optarena.preference.tabular_rpo.rpo_fit_tabular`), RPO at other eta and the ridge-regularised exact
DPO fit are reported too (no rules on them).

Metrics: ``{A,B}_value_rpo_minus_dpo`` (true expected reward, RPO minus DPO), ``{A,B}_unc_dpo_minus_rpo``
(mass on uncovered arms, DPO minus RPO), ``A_dpo_value_early_minus_final`` (DPO's true reward after a tenth
of the steps minus after all of them: > 0 = DPO over-optimises with more steps).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optarena.preference.tabular import TabularBandit, dpo_fit_tabular
from optarena.preference.tabular_rpo import coverage, rpo_fit_tabular, rpo_gd_tabular

__all__ = ["measure"]

_BETA, _ETA, _ETAS_EXTRA = 0.1, 1.0, (0.1, 10.0)
_REGIMES = {"A": 2, "B": 8}


def _regime(seed: int, n_per_prompt: int, n_prompts: int, steps: int) -> dict[str, float]:
    bandit = TabularBandit.random(n_prompts, 8, seed, ref_scale=1.5)
    pairs = bandit.sample_pairs(bandit.ref_logits, n_per_prompt, np.random.default_rng([seed, 1]))
    n_chosen, n_rejected = coverage(pairs, bandit.shape)
    uncovered = (n_chosen + n_rejected) == 0
    rare = (n_chosen + n_rejected) == 1

    def stats(name: str, logits: np.ndarray) -> dict[str, float]:
        p = bandit.probs(logits)
        return {
            f"value_{name}": bandit.value(logits),
            f"unc_{name}": float(np.mean(np.sum(p * uncovered, -1))),
            f"rare_{name}": float(np.mean(np.sum(p * rare, -1))),
        }

    early = steps // 10
    out = {
        "value_ref": bandit.value(bandit.ref_logits),
        "value_opt": bandit.optimal_value(),
        "frac_uncovered": float(uncovered.mean()),
        "unc_ref": float(np.mean(np.sum(bandit.probs(bandit.ref_logits) * uncovered, -1))),
    }
    dpo, rec = rpo_gd_tabular(bandit.ref_logits, pairs, _BETA, 0.0, steps, record=(early,))
    out |= stats("dpo", dpo) | stats("dpo_early", rec[early])
    rpo, _ = rpo_gd_tabular(bandit.ref_logits, pairs, _BETA, _ETA, steps)
    out |= stats("rpo", rpo)
    out |= stats("rpo_exact", rpo_fit_tabular(bandit.ref_logits, pairs, _BETA, _ETA))
    for eta in _ETAS_EXTRA:
        out |= stats(f"rpo_eta{eta:g}", rpo_gd_tabular(bandit.ref_logits, pairs, _BETA, eta, steps)[0])
    out |= stats("dpo_ridge", dpo_fit_tabular(bandit.ref_logits, pairs, _BETA))
    out["value_rpo_minus_dpo"] = out["value_rpo"] - out["value_dpo"]
    out["unc_dpo_minus_rpo"] = out["unc_dpo"] - out["unc_rpo"]
    out["dpo_value_early_minus_final"] = out["value_dpo_early"] - out["value_dpo"]
    return out


def measure(seed: int, quick: bool, **options: Any) -> dict[str, float]:
    if options:
        raise ValueError(f"unknown options {sorted(options)}")
    n_prompts, steps = (16, 200) if quick else (64, 2000)
    out: dict[str, float] = {}
    for name, n in _REGIMES.items():
        out |= {f"{name}_{k}": v for k, v in _regime(seed, n, n_prompts, steps).items()}
    return out
