"""Claim experiment: Lion (Chen et al., "Symbolic Discovery of Optimization Algorithms", NeurIPS 2023).

One seed runs, for Lion and AdamW alike, one tuning study of ``trials`` Halton trials per workload
(:func:`optarena.claims.experiments._training.tune`), each trial stopped at the target or at the
workload's step cap, and compares the studies' steps to target:

- *most CPU workloads*: quad, logreg, teacher, digits-mlp and icl-lsa at their own batch sizes. Lion
  *matches or beats* AdamW on a workload when it reaches the target and needs at most
  ``MATCH_TOLERANCE`` x AdamW's steps (an AdamW miss counts as its cap plus one eval period; a Lion
  miss is never a match);
- *batch size*: digits-mlp and teacher at batch 64 and 1024. Lion's advantage at a batch size is
  ``log(AdamW steps / Lion steps)``; its growth is the advantage at 1024 minus the one at 64, averaged
  over the two workloads;
- *state*: bytes of the tensors in ``optimizer.state`` after two steps, Lion over AdamW, on the
  digits-mlp and charlm models (through each method's registered factory).

Steps are compared, not seconds: the machine is shared and each method's per-step cost depends on its
implementation; the harness-clock times are reported next to them (``*_time_ratio``, when both hit).
"""

from __future__ import annotations

import math

from optarena.claims.experiments._training import log_ratio, optimizer_state_bytes, tune, variant

#: Workload -> (step cap, target override or None for the workload's own, eval period).
#: logreg's own target (gap 1e-5) is out of a tuned AdamW's reach in a few thousand steps; 1e-4 is not.
WORKLOADS: dict[str, tuple[int, float | None, int]] = {
    "quad": (3000, None, 20),
    "logreg": (5000, 1e-4, 20),
    "teacher": (8000, None, 50),
    "digits-mlp": (3000, None, 20),
    "icl-lsa": (2000, None, 10),
}
#: Workload -> {batch size: step cap} for the batch-size comparison.
BATCHES: dict[str, dict[int, int]] = {"digits-mlp": {64: 3000, 1024: 1500}, "teacher": {64: 8000, 1024: 3000}}
#: Batch sizes the workloads use themselves (a study at that size is the one of the first part).
NATIVE_BATCH = {"digits-mlp": 64, "teacher": 128}
MATCH_TOLERANCE = 1.1
METHODS = ("lion", "adamw")


def _cap(steps: int, scale: float) -> int:
    return max(10, round(steps * scale))


def _compare(out: dict[str, float], key: str, vid: str, base: str, seed: int, trials: int, cap: int) -> float:
    """Run both studies on ``vid``; store their numbers under ``key``; return Lion's advantage."""
    studies = {m: tune(m, vid, seed, trials, max_steps=cap, seed_key=base) for m in METHODS}
    for m, st in studies.items():
        out[f"{key}_{m}_steps"] = st.steps_to_target()
        out[f"{key}_{m}_hit"] = float(st.hit)
    lion, adamw = studies["lion"], studies["adamw"]
    out[f"{key}_steps_ratio"] = lion.steps_to_target() / adamw.steps_to_target()
    t_l, t_a = lion.time_to_target(), adamw.time_to_target()
    if math.isfinite(t_l) and math.isfinite(t_a) and t_a > 0:
        out[f"{key}_time_ratio"] = t_l / t_a
    return log_ratio(adamw.steps_to_target(), lion.steps_to_target())


def measure(seed: int, quick: bool, trials: int = 4, scale: float = 1.0) -> dict[str, float]:
    """One seed: the per-workload studies, the batch-size studies and the measured state ratio.

    ``trials``: Halton trials per study (equal for both methods); ``scale`` multiplies every step cap
    (quick runs use a small one).
    """
    out: dict[str, float] = {"trials": float(trials), "scale": float(scale)}
    matches = 0
    for base, (steps, target, every) in WORKLOADS.items():
        cap = _cap(steps, scale)
        vid = variant(base, step_hint=cap, eval_every=max(1, min(every, cap // 5)), target=target)
        _compare(out, base, vid, base, seed, trials, cap)
        lion_ok = out[f"{base}_lion_hit"] == 1.0
        matches += int(lion_ok and out[f"{base}_steps_ratio"] <= MATCH_TOLERANCE)
    out["lion_matches_count"] = float(matches)
    out["lion_matches_fraction"] = matches / len(WORKLOADS)

    growth = []
    for base, caps in BATCHES.items():
        adv = {}
        for batch, steps in caps.items():
            cap = _cap(steps, scale)
            every = max(1, min(WORKLOADS[base][2], cap // 5))
            if batch == NATIVE_BATCH[base] and steps == WORKLOADS[base][0]:
                adv[batch] = log_ratio(out[f"{base}_adamw_steps"], out[f"{base}_lion_steps"])  # same study
            else:
                vid = variant(base, step_hint=cap, eval_every=every, batch_size=batch)
                adv[batch] = _compare(out, f"{base}_b{batch}", vid, base, seed, trials, cap)
            out[f"{base}_b{batch}_advantage"] = adv[batch]
        growth.append(adv[1024] - adv[64])
        out[f"{base}_batch_growth"] = adv[1024] - adv[64]
    out["batch_growth"] = sum(growth) / len(growth)

    ratios = []
    for base in ("digits-mlp", "charlm"):
        lion_b, params = optimizer_state_bytes("lion", base, seed)
        adamw_b, _ = optimizer_state_bytes("adamw", base, seed)
        out[f"{base}_lion_state_bytes"] = float(lion_b)
        out[f"{base}_adamw_state_bytes"] = float(adamw_b)
        out[f"{base}_param_bytes"] = float(params)
        ratios.append(lion_b / adamw_b)
        out[f"{base}_state_ratio"] = lion_b / adamw_b
    out["state_ratio_max"] = max(ratios)
    return out
