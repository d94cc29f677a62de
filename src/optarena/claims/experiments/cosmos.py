"""Claim experiment: COSMOS (Liu et al., "COSMOS: A Hybrid Adaptive Optimizer for Memory-Efficient
Training of LLMs", arXiv:2502.17410, 2025): lower loss than AdamW, Muon and SOAP at equal tokens, with
far less optimizer state than SOAP.

One seed runs, for each of COSMOS, AdamW, Muon and SOAP, one tuning study of ``trials`` Halton trials
of the method's search space on charlm, every trial for exactly ``steps`` steps (equal tokens: the batch
is the same), and reports each study's best final validation CE. State: bytes of the tensors in
``optimizer.state`` after two steps on the charlm model, through each method's factory.

Rank: the paper uses r = 64 on LLaMA models of width 768-2048 (r/n = 1/12 to 1/32); charlm's width is
64, where the registered default r = 64 would make most subspaces the whole space (no Muon part).
The claim scales r with the width: ``cosmos-r16`` is the registered COSMOS with r = 16 (r/n = 1/4 for
the 64-wide sides, 1/16 for the 256-wide one), everything else unchanged.
"""

from __future__ import annotations

from dataclasses import replace

from optarena.claims.experiments._training import optimizer_state_bytes, register_method, tune, variant
from optarena.core.searchspace import SearchSpace
from optarena.optim.cosmos import COSMOS_SPEC

RANK = 16
_SPACE = SearchSpace(COSMOS_SPEC.search_space.params, {**COSMOS_SPEC.search_space.fixed, "rank": RANK})
#: The registered COSMOS with rank 16 (see the module docstring).
COSMOS_R16 = replace(
    COSMOS_SPEC,
    name="cosmos-r16",
    summary=f"COSMOS with rank {RANK} (scaled to charlm's width 64)",
    search_space=_SPACE,
    defaults={**COSMOS_SPEC.defaults, "rank": RANK},
)
BASELINES = ("adamw", "muon", "soap")


def measure(seed: int, quick: bool, trials: int = 4, steps: int = 400) -> dict[str, float]:
    """One seed: ``trials`` Halton trials per method, each exactly ``steps`` charlm steps."""
    cosmos = register_method(f"{__name__}:COSMOS_R16")
    vid = variant("charlm", step_hint=steps, eval_every=max(1, steps // 4))
    out: dict[str, float] = {"trials": float(trials), "steps": float(steps)}
    final = {}
    for m in (cosmos, *BASELINES):
        st = tune(m, vid, seed, trials, max_steps=steps, stop_at_target=False, seed_key="charlm")
        key = "cosmos" if m == cosmos else m
        final[key] = st.best_final("val_ce", "min")
        out[f"{key}_val_ce"] = final[key]
        out[f"{key}_diverged"] = float(st.diverged)
    for b in BASELINES:
        out[f"cosmos_minus_{b}"] = final["cosmos"] - final[b]
    sizes = {m: optimizer_state_bytes(m, "charlm", seed)[0] for m in (cosmos, "cosmos", *BASELINES)}
    out["cosmos_state_bytes"] = float(sizes[cosmos])
    out["cosmos_r64_state_bytes"] = float(sizes["cosmos"])
    for b in BASELINES:
        out[f"{b}_state_bytes"] = float(sizes[b])
    out["cosmos_over_soap_state"] = sizes[cosmos] / sizes["soap"]
    out["cosmos_over_adamw_state"] = sizes[cosmos] / sizes["adamw"]
    return out
