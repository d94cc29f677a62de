"""Export a store to flat tables: trials (one row per trial, hyperparameters as ``p_*`` columns)
and evals (one row per evaluation, metrics as columns), as CSV or Parquet."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from optarena.bench.store import Store

__all__ = ["export_store", "tables"]


def tables(store: Store) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    trials, evals = [], []
    for spec, result in store.trials(finished_only=False):
        row: dict[str, Any] = {
            "key": spec.key,
            "ruleset": spec.ruleset,
            "workload": spec.workload,
            "method": spec.method,
            "study": spec.study,
            "trial": spec.trial,
            "seed": spec.seed,
            "status": str(result.status),
            "budget_s": spec.budget.max_time,
            "steps": result.steps,
            "timed_time": result.timed_time,
            "eval_time": result.eval_time,
            "wall_time": result.wall_time,
            "metric": result.metric,
            "target": result.target,
        }
        row.update({f"p_{k}": v for k, v in sorted(spec.hparams.items())})
        trials.append(row)
        for i, p in enumerate(result.curve):
            evals.append({"key": spec.key, "idx": i, "step": p.step, "time": p.time, **dict(p.metrics)})
    return trials, evals


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    cols: dict[str, None] = {}
    for r in rows:
        cols.update(dict.fromkeys(r))
    return list(cols)


def export_store(store: Store, out_dir: str | Path, fmt: str = "csv") -> list[Path]:
    """Write ``trials.<fmt>`` and ``evals.<fmt>`` into ``out_dir``; returns the paths."""
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"export format must be 'csv' or 'parquet', got {fmt!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, rows in zip(("trials", "evals"), tables(store), strict=True):
        path = out / f"{name}.{fmt}"
        cols = _columns(rows)
        if fmt == "csv":
            with path.open("w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=cols)
                writer.writeheader()
                writer.writerows(rows)
        else:
            try:
                import pyarrow as pa
                import pyarrow.parquet as pq
            except ImportError:
                raise ImportError("Parquet export needs pyarrow: pip install 'optarena[parquet]'") from None
            table = (
                pa.Table.from_pylist([{c: r.get(c) for c in cols} for r in rows]) if rows else pa.table({})
            )
            pq.write_table(table, path)
        paths.append(path)
    return paths
