"""The SimPO and RPO claim experiments run in quick mode and report every metric their rules use."""

from __future__ import annotations

import importlib
import math
from pathlib import Path

import pytest
import torch

from optarena.claims.spec import load_claim

ROOT_CLAIMS = Path(__file__).resolve().parents[2] / "claims"


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("claim_id", ["simpo", "rpo"])
def test_quick_measure_reports_the_rule_metrics(claim_id):
    claim = load_claim(ROOT_CLAIMS / f"{claim_id}.toml")
    assert claim.family == "preference" and claim.full.seeds >= 5
    module, _, fn = claim.experiment.partition(":")
    measure = getattr(importlib.import_module(module), fn)
    out = measure(0, True, **claim.quick.options)
    for rule in claim.rules:
        assert rule.metric in out and math.isfinite(out[rule.metric]), rule.metric
    assert all(isinstance(v, float) and math.isfinite(v) for v in out.values())
