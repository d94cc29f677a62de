"""Toy claim experiments for testing the ``optarena verify`` machinery (not paper claims)."""

from __future__ import annotations

import numpy as np

__all__ = ["noisy_value"]


def noisy_value(seed: int, quick: bool, loc: float = 0.0, scale: float = 1.0, fail_seed: int = -1) -> dict:
    """``value`` = loc + scale * N(0, 1) drawn from the seed; ``positive`` = value > 0. Seed ``fail_seed``
    raises, to test how a failed seed is reported."""
    if seed == fail_seed:
        raise RuntimeError(f"toy failure on seed {seed}")
    value = loc + scale * float(np.random.default_rng(seed).standard_normal())
    return {"value": value, "positive": value > 0, "quick": float(quick)}
