"""Claim experiment: FRUGAL (Zmushko et al., "FRUGAL: Memory-Efficient Optimization by Reducing State
Overhead for Scalable Training", ICML 2025): at density 0.25 close to AdamW and better than GaLore; at
density 0 still better than GaLore.

One seed runs, for each method, one tuning study of ``trials`` Halton trials of its search space on
charlm, every trial for exactly ``steps`` steps, and reports each study's best final validation CE:

- ``frugal``: the registered FRUGAL (density 0.25, block subspaces, signSGD on the rest);
- ``frugal-d0``: the same with density 0 (every hidden matrix state-free, signSGD);
- ``galore-like``: the GaLore-style baseline, built from :class:`optarena.optim.frugal.FRUGAL` with an
  SVD subspace of the same rank (density 0.25) and ``state_free_lr_scale = 0``: Adam on the projected
  gradient, nothing on the rest; its search space is FRUGAL's without the state-free scale. Departure
  from GaLore: the moments restart at every subspace switch (every 200 steps) and there is no separate
  scale alpha (the tuned learning rate absorbs it);
- ``adamw``: the registered AdamW.

In all FRUGAL variants embeddings, norms and the head use AdamW, as in the paper.
"""

from __future__ import annotations

from dataclasses import replace

from optarena.claims.experiments._training import optimizer_state_bytes, register_method, tune, variant
from optarena.core.searchspace import SearchSpace
from optarena.optim.frugal import FRUGAL_SPEC

_PARAMS = {p.name: p for p in FRUGAL_SPEC.search_space.params}
_FIXED = dict(FRUGAL_SPEC.search_space.fixed)

#: FRUGAL at density 0: signSGD on every hidden matrix, AdamW elsewhere.
FRUGAL_D0 = replace(
    FRUGAL_SPEC,
    name="frugal-d0",
    summary="FRUGAL at density 0 (state-free signSGD on hidden matrices, AdamW elsewhere)",
    search_space=SearchSpace(FRUGAL_SPEC.search_space.params, {**_FIXED, "density": 0.0}),
    defaults={**FRUGAL_SPEC.defaults, "density": 0.0},
)
#: GaLore-style: Adam on an SVD subspace of density 0.25, no update of the rest.
GALORE_LIKE = replace(
    FRUGAL_SPEC,
    name="galore-like",
    summary="GaLore-style low-rank Adam (SVD subspace, density 0.25, nothing on the rest), via FRUGAL",
    search_space=SearchSpace(
        (_PARAMS["lr"], _PARAMS["weight_decay"], _PARAMS["warmup_frac"]),
        {**_FIXED, "projection": "svd", "state_free_lr_scale": 0.0},
    ),
    defaults={**FRUGAL_SPEC.defaults, "projection": "svd", "state_free_lr_scale": 0.0},
)


def measure(seed: int, quick: bool, trials: int = 4, steps: int = 400) -> dict[str, float]:
    """One seed: ``trials`` Halton trials per method, each exactly ``steps`` charlm steps."""
    names = {
        "frugal": "frugal",
        "frugal0": register_method(f"{__name__}:FRUGAL_D0"),
        "galore": register_method(f"{__name__}:GALORE_LIKE"),
        "adamw": "adamw",
    }
    vid = variant("charlm", step_hint=steps, eval_every=max(1, steps // 4))
    out: dict[str, float] = {"trials": float(trials), "steps": float(steps)}
    ce = {}
    for key, m in names.items():
        st = tune(m, vid, seed, trials, max_steps=steps, stop_at_target=False, seed_key="charlm")
        ce[key] = st.best_final("val_ce", "min")
        out[f"{key}_val_ce"] = ce[key]
        out[f"{key}_diverged"] = float(st.diverged)
        out[f"{key}_state_bytes"] = float(optimizer_state_bytes(m, "charlm", seed)[0])
    out["frugal_minus_adamw"] = ce["frugal"] - ce["adamw"]
    out["frugal_minus_galore"] = ce["frugal"] - ce["galore"]
    out["frugal0_minus_galore"] = ce["frugal0"] - ce["galore"]
    out["frugal0_minus_adamw"] = ce["frugal0"] - ce["adamw"]
    return out
