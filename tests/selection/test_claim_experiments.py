"""The eff@k and Bag-of-Tricks claim experiments run in quick mode, report every rule metric, and are
deterministic per seed."""

from __future__ import annotations

import importlib
import math
from pathlib import Path

import numpy as np
import pytest

from optarena.claims.experiments.enamel import _z
from optarena.claims.spec import load_claim

CLAIMS = Path(__file__).resolve().parents[2] / "src" / "optarena" / "claims"


@pytest.mark.parametrize("claim_id", ["enamel", "bag-of-tricks"])
def test_quick_measure_reports_the_rule_metrics_deterministically(claim_id):
    claim = load_claim(CLAIMS / f"{claim_id}.toml")
    assert claim.full.seeds >= 5
    module, _, fn = claim.experiment.partition(":")
    measure = getattr(importlib.import_module(module), fn)
    out = measure(0, True, **claim.quick.options)
    for rule in claim.rules:
        assert rule.metric in out and math.isfinite(out[rule.metric]), rule.metric
    assert measure(0, True, **claim.quick.options) == out
    assert measure(1, True, **claim.quick.options) != out


def test_z_score_handles_a_zero_variance_sample():
    est = np.ones(1000)
    assert _z(est, 1.0 - 1e-8, 1.0) == 0.0  # within the rule-of-three bound 3/1000
    assert _z(est, 0.9, 1.0) == math.inf
    assert _z(np.array([0.0, 1.0] * 500), 0.5, 1.0) == pytest.approx(0.0)
