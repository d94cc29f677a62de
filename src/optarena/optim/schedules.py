"""Learning-rate schedules shared by the training baselines and the optimizers' harness factories."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

__all__ = ["warmup_cosine", "warmup_cosine_scheduler"]


def warmup_cosine(step_hint: int, warmup_frac: float, final_frac: float = 0.0) -> Callable[[int], float]:
    """Multiplier for ``LambdaLR``: linear warmup over ``warmup_frac * step_hint`` steps, then cosine
    decay to ``final_frac`` at ``step_hint``, constant afterwards (AlgoPerf's baseline schedule; runs
    may go past ``step_hint`` on a faster machine, so the tail is held instead of rising again)."""
    if step_hint < 1:
        raise ValueError(f"step_hint must be >= 1, got {step_hint}")
    if not 0.0 <= warmup_frac < 1.0:
        raise ValueError(f"warmup_frac must be in [0, 1), got {warmup_frac}")
    warmup = max(int(warmup_frac * step_hint), 0)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min((step - warmup) / max(step_hint - warmup, 1), 1.0)
        return final_frac + (1.0 - final_frac) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def warmup_cosine_scheduler(optimizer: Any, step_hint: int, warmup_frac: float) -> Any:
    """``LambdaLR`` over ``optimizer`` with :func:`warmup_cosine` (decay to 0 at ``step_hint``)."""
    import torch

    return torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(step_hint, warmup_frac))
