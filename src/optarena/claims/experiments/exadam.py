"""Claim experiment: EXAdam (A. M. Adly, "EXAdam: The Power of Adaptive Cross-Moments", arXiv:2412.20302)
reaches the target in fewer steps than Adam.

One seed runs, for EXAdam and the AdamW baseline alike, one tuning study of ``trials`` Halton trials
(:func:`optarena.claims.experiments._training.tune`) on each workload, every trial stopped at the target
or at the step cap, and reports each study's steps to target (fewest over its trials; a miss counts as
the cap plus one eval period) and their ratio. Steps, not seconds, as the claim says.
"""

from __future__ import annotations

import math

from optarena.claims.experiments._training import tune, variant

#: Workload -> (step cap, target override or None for the workload's own, eval period).
#: charlm's own target (val CE 1.273) takes a tuned AdamW ~3000 steps (70 s); the claim uses val CE 2.0,
#: which the best of 4 AdamW Halton trials (a baseline-only pilot, Halton block 7) reached at ~250 of 600.
WORKLOADS: dict[str, tuple[int, float | None, int]] = {
    "digits-mlp": (3000, None, 20),
    "charlm": (600, 2.0, 25),
}
METHODS = ("exadam", "adamw")


def measure(seed: int, quick: bool, trials: int = 4, scale: float = 1.0) -> dict[str, float]:
    """One seed; ``trials`` Halton trials per study, ``scale`` multiplies the step caps."""
    out: dict[str, float] = {"trials": float(trials), "scale": float(scale)}
    for base, (steps, target, every) in WORKLOADS.items():
        cap = max(10, round(steps * scale))
        vid = variant(base, step_hint=cap, eval_every=max(1, min(every, cap // 5)), target=target)
        studies = {m: tune(m, vid, seed, trials, max_steps=cap, seed_key=base) for m in METHODS}
        for m, st in studies.items():
            out[f"{base}_{m}_steps"] = st.steps_to_target()
            out[f"{base}_{m}_hit"] = float(st.hit)
            t = st.time_to_target()
            if math.isfinite(t):
                out[f"{base}_{m}_time"] = t
        out[f"{base}_steps_ratio"] = out[f"{base}_exadam_steps"] / out[f"{base}_adamw_steps"]
    return out
