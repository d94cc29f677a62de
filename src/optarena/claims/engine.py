"""Run a claim's experiment through the harness and judge the stored numbers.

Each seed of a claim is an experiment trial (:mod:`optarena.bench.experiment`) in the claim's own
results store (``results/claims/ID.sqlite``, ``results/claims-quick/ID.sqlite`` for ``--quick``), run
by the local or the Ray executor; a rerun skips the seeds already stored. The verdict is computed from
the store alone (:func:`judge`), so what is printed is what is stored.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optarena.bench.executors import make_executor
from optarena.bench.experiment import experiment_spec
from optarena.bench.provenance import provenance
from optarena.bench.runner import run_specs
from optarena.bench.store import Store
from optarena.claims.spec import ClaimSpec
from optarena.claims.stats import RuleOutcome, evaluate_rule, verdict
from optarena.core.types import TrialSpec, TrialStatus

__all__ = ["ClaimResult", "claim_specs", "judge", "run_claim", "store_path"]

RESULTS = Path("results")


def store_path(claim: ClaimSpec, quick: bool, root: str | Path = RESULTS) -> Path:
    return Path(root) / ("claims-quick" if quick else "claims") / f"{claim.id}.sqlite"


def claim_specs(claim: ClaimSpec, quick: bool) -> list[TrialSpec]:
    """One experiment trial per seed (seeds 0..n-1)."""
    mode = claim.mode(quick)
    return [
        experiment_spec(
            claim.experiment,
            seed,
            quick=quick,
            options=mode.options,
            timeout=mode.timeout,
            ruleset=f"claim-{'quick' if quick else 'full'}",
            version=claim.version,
            threads=claim.threads,
        )
        for seed in range(mode.seeds)
    ]


def _open(claim: ClaimSpec, path: Path) -> Store:
    return Store.open(path, f"claim:{claim.id}", f"claim:{claim.id}", claim.version)


@dataclass
class ClaimResult:
    """A claim's verdict and the stored per-seed numbers it was computed from."""

    claim: ClaimSpec
    quick: bool
    verdict: str
    outcomes: list[RuleOutcome]
    seeds: dict[int, dict[str, float]]  # seed -> metrics, finished seeds only
    failed: dict[int, str] = field(default_factory=dict)  # seed -> last error line
    expected: int = 0
    wall_time: float = 0.0  # sum of the seeds' wall times
    store: Path | None = None

    @property
    def complete(self) -> bool:
        return len(self.seeds) == self.expected

    def to_dict(self) -> dict[str, Any]:
        c = self.claim
        return {
            "id": c.id,
            "family": c.family,
            "paper": c.paper,
            "sentence": c.sentence,
            "setting": c.setting,
            "baseline": c.baseline,
            "tuning": c.tuning,
            "quick": self.quick,
            "verdict": self.verdict,
            "expected_seeds": self.expected,
            "finished_seeds": sorted(self.seeds),
            "failed_seeds": {str(k): v for k, v in self.failed.items()},
            "wall_time": self.wall_time,
            "rules": [
                {
                    "name": o.rule.name,
                    "rule": o.rule.text(),
                    "value": o.value,
                    "low": o.low,
                    "high": o.high,
                    "n": o.n,
                    "status": o.status,
                }
                for o in self.outcomes
            ],
            "per_seed": {str(k): v for k, v in sorted(self.seeds.items())},
        }


def judge(claim: ClaimSpec, quick: bool, store: Store) -> ClaimResult:
    """Apply the claim's rules to the numbers its store holds for the current seeds and options."""
    wanted = {s.key: s.seed for s in claim_specs(claim, quick)}
    seeds: dict[int, dict[str, float]] = {}
    failed: dict[int, str] = {}
    wall = 0.0
    for spec, result in store.trials(finished_only=True):
        if spec.key not in wanted:
            continue  # another seed count or other options: not this claim's current experiment
        wall += result.wall_time
        if result.status is TrialStatus.DONE and result.curve:
            seeds[wanted[spec.key]] = dict(result.curve[-1].metrics)
        else:
            lines = (result.error or str(result.status)).strip().splitlines()
            failed[wanted[spec.key]] = lines[-1] if lines else str(result.status)
    outcomes = []
    for rule in claim.rules:
        values = [m.get(rule.metric, float("nan")) for _, m in sorted(seeds.items())]
        outcomes.append(evaluate_rule(rule, values, missing=len(wanted) - len(seeds)))
    complete = len(seeds) == len(wanted)
    return ClaimResult(
        claim, quick, verdict(outcomes, complete), outcomes, seeds, failed, len(wanted), wall, store.path
    )


def run_claim(
    claim: ClaimSpec,
    *,
    quick: bool = False,
    executor: str = "local",
    jobs: int = 1,
    address: str | None = None,
    root: str | Path = RESULTS,
    quiet: bool = False,
) -> ClaimResult:
    """Run the seeds the store lacks, then judge. Rerunning resumes; a finished store reruns nothing."""
    path = store_path(claim, quick, root)
    store = _open(claim, path)
    try:
        specs = claim_specs(claim, quick)
        info = dict(executor=executor, jobs=jobs, claim=claim.id, quick=quick, address=address)
        todo = [s for s in specs if s.key not in store.finished_keys()]
        if todo:
            run_specs(specs, store, make_executor(executor, jobs=jobs, address=address), info, quiet=quiet)
        result = judge(claim, quick, store)
    finally:
        store.close()
    _write_summary(result, path.with_suffix(".json"))
    return result


def load_result(claim: ClaimSpec, quick: bool, root: str | Path = RESULTS) -> ClaimResult | None:
    """Judge a claim from its store without running anything; None when there is no store."""
    path = store_path(claim, quick, root)
    if not path.exists():
        return None
    store = _open(claim, path)
    try:
        return judge(claim, quick, store)
    finally:
        store.close()


def _write_summary(result: ClaimResult, path: Path) -> None:
    data = result.to_dict()
    data["judged"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    data["provenance"] = provenance(claim=result.claim.id)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
