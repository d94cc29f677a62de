"""Slow: every workload x method pair of the shipped cpu-small suite runs through the real harness."""

from __future__ import annotations

import pytest

from optarena.bench.runner import run_suite
from optarena.bench.store import Store
from optarena.bench.suite import expand, find_suite, load_suite

pytestmark = pytest.mark.slow


def test_cpu_small_smoke(tmp_path):
    suite = load_suite(find_suite("cpu-small")).with_options(studies=1, trials=1, **{"max-steps": 60}, jobs=2)
    specs, notes = expand(suite)
    summary = run_suite(suite, store_path=tmp_path / "cpu-small.sqlite", quiet=True)
    assert summary.ran == len(specs) == 7 * 4 + 2  # lbfgs runs only where a full-batch objective exists
    assert len(notes) == 5
    for spec, result in Store.open_existing(tmp_path / "cpu-small.sqlite").trials():
        assert result.status in ("done", "diverged"), (spec.method, spec.workload, result.error)
        assert result.curve and result.curve[0].step == 0 and result.steps <= 60
