"""The results store: one SQLite file (WAL), written by one process (the driver).

Tables: ``meta`` (schema and suite identity), ``runs`` (provenance of each invocation), ``trials``
(one row per trial key: spec, status, attempts, result summary) and ``evals`` (the curve). A trial's
result and curve are written in one transaction, so a killed driver leaves either a finished trial or
a ``running`` row that the next run reruns: nothing lost, nothing finished run twice.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from optarena.core.errors import StoreMismatchError
from optarena.core.types import EvalPoint, TrialResult, TrialSpec, TrialStatus, canonical_json

__all__ = ["SCHEMA_VERSION", "Store"]

SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT, started REAL NOT NULL, provenance TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
    key TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    workload TEXT NOT NULL, method TEXT NOT NULL, ruleset TEXT NOT NULL,
    study INTEGER NOT NULL, trial INTEGER NOT NULL, seed INTEGER NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    run_id INTEGER, executor TEXT,
    started REAL, finished REAL,
    result TEXT, error TEXT
);
CREATE TABLE IF NOT EXISTS evals (
    trial_key TEXT NOT NULL, idx INTEGER NOT NULL,
    step INTEGER NOT NULL, time REAL NOT NULL, metrics TEXT NOT NULL,
    PRIMARY KEY (trial_key, idx)
);
"""


class Store:
    """A results file. ``Store.open(path, suite_name, fingerprint)`` refuses a file of another suite."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise StoreMismatchError(
                f"{self.path} is not an OptArena results store ({exc}); left untouched"
            ) from None
        if tables and "meta" not in tables:
            self.conn.close()
            raise StoreMismatchError(
                f"{self.path} is an SQLite file of something else (tables {sorted(tables)}); left untouched"
            )
        self.conn.executescript(_SCHEMA)

    # -- identity -------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, suite_name: str, fingerprint: str, suite_version: str = "") -> Store:
        """Open (or create) the store of a suite; a store of another suite or version is refused."""
        store = cls(path)
        meta = store.meta()
        if not meta:
            with store.transaction():
                for k, v in {
                    "schema_version": SCHEMA_VERSION,
                    "suite_name": suite_name,
                    "suite_fingerprint": fingerprint,
                    "suite_version": suite_version,
                    "created": str(time.time()),
                }.items():
                    store.conn.execute("INSERT INTO meta VALUES (?, ?)", (k, v))
            return store
        problems = []
        if meta.get("schema_version") != SCHEMA_VERSION:
            problems.append(f"schema {meta.get('schema_version')} (this OptArena writes {SCHEMA_VERSION})")
        if meta.get("suite_name") != suite_name or meta.get("suite_fingerprint") != fingerprint:
            problems.append(
                f"suite {meta.get('suite_name')!r} version {meta.get('suite_version')!r} "
                f"(fingerprint {meta.get('suite_fingerprint')}), not suite {suite_name!r} version "
                f"{suite_version!r} (fingerprint {fingerprint})"
            )
        if problems:
            store.close()
            raise StoreMismatchError(
                f"refusing to mix results: store {path} was written by {'; '.join(problems)}. "
                "Results of different suite versions are never mixed: pass another --store, or move this file away."
            )
        return store

    @classmethod
    def open_existing(cls, path: str | Path) -> Store:
        if not Path(path).exists():
            raise FileNotFoundError(f"no results store at {path}; run a suite first (optarena run SUITE)")
        return cls(path)

    def meta(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT key, value FROM meta").fetchall())

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # -- writing (driver only) --------------------------------------------------------------------
    def add_run(self, provenance: dict[str, Any]) -> int:
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO runs (started, provenance) VALUES (?, ?)",
                (time.time(), canonical_json(provenance)),
            )
        return int(cur.lastrowid)  # type: ignore[arg-type]

    def add_pending(self, specs: Iterable[TrialSpec]) -> None:
        with self.transaction():
            self.conn.executemany(
                "INSERT OR IGNORE INTO trials (key, spec, workload, method, ruleset, study, trial, seed, status) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        s.key,
                        canonical_json(s.to_dict()),
                        s.workload,
                        s.method,
                        s.ruleset,
                        s.study,
                        s.trial,
                        s.seed,
                        str(TrialStatus.PENDING),
                    )
                    for s in specs
                ],
            )

    def mark_running(self, key: str, run_id: int, executor: str) -> None:
        with self.transaction():
            self.conn.execute(
                "UPDATE trials SET status=?, attempts=attempts+1, run_id=?, executor=?, started=? WHERE key=?",
                (str(TrialStatus.RUNNING), run_id, executor, time.time(), key),
            )

    def save_result(self, result: TrialResult) -> None:
        """Write a finished trial: its summary and its whole curve, in one transaction."""
        summary = result.to_dict()
        curve = summary.pop("curve")
        error = summary.pop("error")
        with self.transaction():
            self.conn.execute("DELETE FROM evals WHERE trial_key=?", (result.key,))
            self.conn.executemany(
                "INSERT INTO evals VALUES (?, ?, ?, ?, ?)",
                [
                    (result.key, i, p["step"], p["time"], canonical_json(p["metrics"]))
                    for i, p in enumerate(curve)
                ],
            )
            self.conn.execute(
                "UPDATE trials SET status=?, finished=?, result=?, error=? WHERE key=?",
                (str(result.status), time.time(), canonical_json(summary), error, result.key),
            )

    # -- reading ----------------------------------------------------------------------------------
    def statuses(self) -> dict[str, TrialStatus]:
        return {k: TrialStatus(s) for k, s in self.conn.execute("SELECT key, status FROM trials")}

    def finished_keys(self) -> set[str]:
        return {k for k, s in self.statuses().items() if s.finished}

    def counts(self) -> dict[tuple[str, str, str], dict[str, int]]:
        """(ruleset, workload, method) -> status -> count."""
        out: dict[tuple[str, str, str], dict[str, int]] = {}
        for r, w, m, s, n in self.conn.execute(
            "SELECT ruleset, workload, method, status, COUNT(*) FROM trials GROUP BY 1, 2, 3, 4"
        ):
            out.setdefault((r, w, m), {})[s] = n
        return out

    def curve(self, key: str) -> list[EvalPoint]:
        rows = self.conn.execute(
            "SELECT step, time, metrics FROM evals WHERE trial_key=? ORDER BY idx", (key,)
        )
        return [EvalPoint(step, t, json.loads(m)) for step, t, m in rows]

    def trials(self, finished_only: bool = True) -> list[tuple[TrialSpec, TrialResult]]:
        """Every stored (spec, result) pair, curves included, in a stable order."""
        rows = self.conn.execute(
            "SELECT key, spec, status, result, error FROM trials ORDER BY ruleset, workload, method, study, trial"
        ).fetchall()
        curves: dict[str, list[EvalPoint]] = {}
        for key, step, t, m in self.conn.execute(
            "SELECT trial_key, step, time, metrics FROM evals ORDER BY trial_key, idx"
        ):
            curves.setdefault(key, []).append(EvalPoint(step, t, json.loads(m)))
        out = []
        for key, spec_json, status, result_json, error in rows:
            status = TrialStatus(status)
            if finished_only and not status.finished:
                continue
            spec = TrialSpec.from_dict(json.loads(spec_json))
            base = json.loads(result_json) if result_json else {"key": key, "status": str(status)}
            base.update(status=str(status), error=error, curve=[])
            result = TrialResult.from_dict(base)
            result.curve = curves.get(key, [])
            out.append((spec, result))
        return out

    def attempts(self) -> dict[str, int]:
        return dict(self.conn.execute("SELECT key, attempts FROM trials"))

    def runs(self) -> list[dict[str, Any]]:
        return [
            {"run_id": r, "started": s, **json.loads(p)}
            for r, s, p in self.conn.execute("SELECT run_id, started, provenance FROM runs ORDER BY run_id")
        ]
