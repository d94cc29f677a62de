"""Every registered built-in method runs through the harness on a workload of its family."""

from __future__ import annotations

import pytest

from optarena.bench.adapters import ADAPTERS
from optarena.bench.trial import run_trial
from optarena.core.types import Budget, TrialSpec, TrialStatus
from optarena.registry import list_methods, resolve_method

# one workload per family, with parameters of every kind (matrices, vectors, embeddings); methods that
# need a plain chain of Linear/Conv layers (capability "needs-layer-chain") get an MLP
WORKLOAD = {
    "torch-optimizer": "charlm",
    "minimizer": "logreg",
    "constrained": "hs40",
    "blackbox": "branin",
    "bilevel": "ridge-tuning",
}
LAYER_CHAIN_WORKLOAD = "digits-mlp"
# methods whose capability needs a particular workload: target-space methods (SSO) need targets
CAPABILITY_WORKLOAD = {"needs-layer-chain": LAYER_CHAIN_WORKLOAD, "target-space": "logreg-target"}
# evaluations for black-box methods: enough for one batch of the batched ones (ZO-RankSGD, CMA-ES)
STEPS = {"blackbox": 40}
# families the harness hosts (an adapter in optarena.bench.adapters); the others (preference losses...)
# are tested by their own contract suites and refused by the harness with a clear error
METHODS = [e.name for e in list_methods() if e.source == "builtin" and e.family in ADAPTERS]


@pytest.mark.parametrize("method", METHODS)
def test_method_runs_on_the_harness(method):
    spec = resolve_method(method)
    if spec.family == "constrained":
        from optarena.solvers.constrained import available_methods

        if method not in available_methods():
            pytest.skip(f"{method}: its optional dependency is not installed")
    for cap in spec.capabilities:  # "needs-<package>" (optuna, cma, botorch): an optional extra
        if cap.startswith("needs-") and cap not in CAPABILITY_WORKLOAD:
            pytest.importorskip(cap.removeprefix("needs-"))
    for hparams in (dict(spec.defaults), spec.search_space.sample(0)):
        special = [CAPABILITY_WORKLOAD[c] for c in sorted(spec.capabilities) if c in CAPABILITY_WORKLOAD]
        workload = special[0] if special else WORKLOAD[spec.family]
        cap = STEPS.get(spec.family, 15)
        trial = TrialSpec(workload, "1", method, spec.version, hparams, seed=0, budget=Budget(60.0, cap))
        result = run_trial(trial)
        assert result.status == TrialStatus.DONE, result.error
        if spec.family in ("constrained", "blackbox", "bilevel"):  # one solver call: may stop before the cap
            assert 1 <= result.steps <= cap and result.curve[-1].step == result.steps
        else:
            assert result.steps == 15 and result.curve[-1].step == 15
