"""Statistics over seeds and the decision rule: a rule holds, fails, or cannot be decided."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from optarena.claims.spec import Rule

__all__ = ["RuleOutcome", "Verdict", "evaluate_rule", "verdict", "wilson"]

BOOTSTRAP = 4000
LEVEL = 0.95


class Verdict:
    REPRODUCED = "reproduced"
    NOT_REPRODUCED = "not reproduced"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class RuleOutcome:
    rule: Rule
    n: int
    value: float
    low: float | None  # 95% interval of the statistic; None for min/max (no interval)
    high: float | None
    holds: bool  # the statistic satisfies the rule
    decided: bool  # the whole interval lies on one side of the threshold

    @property
    def status(self) -> str:
        if not self.decided:
            return "undecided"
        return "holds" if self.holds else "fails"


def _compare(v: float, op: str, thr: float) -> bool:
    return {"<=": v <= thr, "<": v < thr, ">=": v >= thr, ">": v > thr}[op]


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, mid - half), min(1.0, mid + half)


def _bootstrap(values: np.ndarray, stat: str) -> tuple[float, float]:
    """Percentile bootstrap interval, from a fixed generator: the same numbers give the same interval."""
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(values), size=(BOOTSTRAP, len(values)))
    samples = values[idx]
    stats = np.median(samples, axis=1) if stat == "median" else samples.mean(axis=1)
    a = (1 - LEVEL) / 2
    return float(np.quantile(stats, a)), float(np.quantile(stats, 1 - a))


def evaluate_rule(rule: Rule, values: Sequence[float], missing: int = 0) -> RuleOutcome:
    """Apply ``rule`` to the per-seed ``values`` of its metric. NaN counts as a false seed for
    ``count`` and ``fraction``; for the other statistics a NaN makes the rule undecidable. ``missing``
    seeds (failed runs) could have gone either way: a ``count`` rule is decided only when they cannot
    change its answer."""
    v = np.asarray(values, dtype=float)
    n = len(v)
    if n == 0:
        return RuleOutcome(rule, 0, math.nan, None, None, False, False)
    if rule.stat == "count":
        value = float(np.sum(np.nan_to_num(v, nan=0.0) != 0))
        # The missing seeds all false, or all true: decided when both give the same answer.
        holds = _compare(value, rule.op, rule.threshold)
        decided = holds == _compare(value + missing, rule.op, rule.threshold)
        return RuleOutcome(rule, n, value, None, None, holds, decided)
    elif rule.stat == "fraction":
        k = int(np.sum(np.nan_to_num(v, nan=0.0) != 0))
        value = k / n
        low, high = wilson(k, n)
    elif np.isnan(v).any():
        return RuleOutcome(rule, n, math.nan, None, None, False, False)
    elif rule.stat in ("median", "mean"):
        value = float(np.median(v) if rule.stat == "median" else v.mean())
        low, high = _bootstrap(v, rule.stat)
    else:
        value = float(v.min() if rule.stat == "min" else v.max())
        low = high = None
    holds = _compare(value, rule.op, rule.threshold)
    if low is None or high is None:
        decided = True
    else:
        decided = _compare(low, rule.op, rule.threshold) == _compare(high, rule.op, rule.threshold) == holds
    return RuleOutcome(rule, n, value, low, high, holds, decided)


def verdict(outcomes: Sequence[RuleOutcome], complete: bool) -> str:
    """Reproduced: every rule holds, decidedly. Not reproduced: some rule fails decidedly.
    Inconclusive otherwise, or when seeds are missing (``complete`` False) and nothing failed."""
    if any(o.decided and not o.holds and o.n > 0 for o in outcomes):
        return Verdict.NOT_REPRODUCED
    if complete and all(o.decided and o.holds for o in outcomes):
        return Verdict.REPRODUCED
    return Verdict.INCONCLUSIVE
