"""Every registered built-in method runs through the harness on a workload of its family."""

from __future__ import annotations

import pytest

from optarena.bench.trial import run_trial
from optarena.core.types import Budget, TrialSpec, TrialStatus
from optarena.registry import list_methods, resolve_method

# one workload per family, with parameters of every kind (matrices, vectors, embeddings); methods that
# need a plain chain of Linear/Conv layers (capability "needs-layer-chain") get an MLP
WORKLOAD = {"torch-optimizer": "charlm", "minimizer": "logreg"}
LAYER_CHAIN_WORKLOAD = "digits-mlp"
METHODS = [e.name for e in list_methods() if e.source == "builtin"]


@pytest.mark.parametrize("method", METHODS)
def test_method_runs_on_the_harness(method):
    spec = resolve_method(method)
    for hparams in (dict(spec.defaults), spec.search_space.sample(0)):
        workload = LAYER_CHAIN_WORKLOAD if "needs-layer-chain" in spec.capabilities else WORKLOAD[spec.family]
        trial = TrialSpec(workload, "1", method, spec.version, hparams, seed=0, budget=Budget(60.0, 15))
        result = run_trial(trial)
        assert result.status == TrialStatus.DONE, result.error
        assert result.steps == 15 and result.curve[-1].step == 15
