"""Tuning rulesets (AlgoPerf v0.5): external tuning and self-tuning, plus a quick variant."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RULESETS", "Ruleset"]


@dataclass(frozen=True)
class Ruleset:
    """How a method is tuned on a workload.

    ``tuned``: trials draw Halton points from the method's search space (external tuning); otherwise
    every run uses the method's defaults (self-tuning). ``budget_factor`` scales the workload's
    ``max_runtime``. A study's time is the best of its trials; a workload's time is the median over studies.
    """

    name: str
    studies: int
    trials: int
    tuned: bool
    budget_factor: float
    description: str


RULESETS: dict[str, Ruleset] = {
    r.name: r
    for r in (
        Ruleset("external", 5, 5, True, 1.0, "AlgoPerf v0.5 external tuning: 5 studies x 5 Halton trials"),
        Ruleset("external-quick", 3, 2, True, 1.0, "external tuning, scaled down: 3 studies x 2 trials"),
        Ruleset("self-tuning", 5, 1, False, 3.0, "AlgoPerf v0.5 self-tuning: defaults, 5 studies, 3x budget"),
    )
}
