"""The driver: expand a suite, skip what the store already holds, run the rest, store each result."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optarena.bench.executors import make_executor
from optarena.bench.provenance import provenance
from optarena.bench.store import Store
from optarena.bench.suite import Suite, expand
from optarena.core.types import TrialResult, TrialSpec, TrialStatus

__all__ = ["RunSummary", "run_specs", "run_suite"]


@dataclass
class RunSummary:
    store: Path
    total: int
    skipped: int
    ran: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def run_suite(suite: Suite, *, store_path: str | Path | None = None, quiet: bool = False) -> RunSummary:
    """Run every trial of ``suite`` that the store does not hold finished. Rerunning resumes."""
    specs, notes = expand(suite)
    path = Path(store_path) if store_path else suite.default_store()
    store = Store.open(path, suite.name, suite.fingerprint(), suite.version)
    try:
        if not quiet:
            for note in notes:
                print(f"note: {note}", file=sys.stderr)
        executor = make_executor(
            suite.executor, jobs=suite.jobs, address=suite.address, trial_timeout=suite.trial_timeout
        )
        info = dict(
            executor=suite.executor,
            jobs=suite.jobs,
            threads=suite.threads,
            suite=suite.name,
            suite_version=suite.version,
            address=suite.address,
            baseline=suite.baseline,
        )
        summary = run_specs(specs, store, executor, info, quiet=quiet)
        summary.notes = notes
        return summary
    finally:
        store.close()


def run_specs(
    specs: list[TrialSpec], store: Store, executor: Any, info: dict[str, Any], *, quiet: bool = False
) -> RunSummary:
    """Run the trials of ``specs`` that ``store`` does not hold finished, writing each result as it ends."""
    store.add_pending(specs)
    done = store.finished_keys()
    todo = [s for s in specs if s.key not in done]
    summary = RunSummary(store.path, len(specs), len(specs) - len(todo))
    if not todo:
        return summary
    run_id = store.add_run(provenance(**info))
    bar = _progress(len(specs), summary.skipped, quiet)

    def on_start(spec: TrialSpec) -> None:
        store.mark_running(spec.key, run_id, executor.name)
        if bar is not None:
            bar.set_postfix_str(f"{spec.method} on {spec.workload} s{spec.study}t{spec.trial}", refresh=True)

    def on_result(spec: TrialSpec, result: TrialResult) -> None:
        store.save_result(result)
        summary.ran += 1
        summary.statuses[str(result.status)] = summary.statuses.get(str(result.status), 0) + 1
        if bar is not None:
            bar.update(1)
        if result.status in (TrialStatus.FAILED, TrialStatus.TIMED_OUT) and not quiet:
            last = (result.error or "").strip().splitlines()[-1:] or [""]
            print(
                f"\n{result.status}: {spec.method} on {spec.workload} ({spec.key}): {last[0]}",
                file=sys.stderr,
            )

    try:
        executor.run(todo, on_start, on_result)
    finally:
        if bar is not None:
            bar.close()
    return summary


def _progress(total: int, initial: int, quiet: bool):
    if quiet:
        return None
    from tqdm import tqdm

    return tqdm(
        total=total, initial=initial, unit="trial", desc="trials", file=sys.stderr, dynamic_ncols=True
    )
