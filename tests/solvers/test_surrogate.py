"""Target-based surrogates (SSO) and its baselines: cost accounting, descent, an L-BFGS oracle check
against scikit-learn, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from optarena.core.errors import IncompatibleError
from optarena.solvers.surrogate import (
    SSO_SPEC,
    SurrogateError,
    adam,
    lbfgs_full,
    logistic_problem,
    sgd_armijo,
    sso,
)

X, Y = make_classification(n_samples=200, n_features=5, n_informative=3, random_state=0)


def test_lbfgs_reaches_sklearn_unregularized_logistic_optimum():
    p = logistic_problem(X, Y)
    out = lbfgs_full(p, 200)
    ref = LogisticRegression(C=1e10, tol=1e-12, max_iter=10000).fit(X, Y)
    z = torch.as_tensor(X @ ref.coef_[0] + ref.intercept_[0])
    ref_loss = float(
        torch.nn.functional.binary_cross_entropy_with_logits(z, torch.as_tensor(Y, dtype=torch.float64))
    )
    assert out["loss"] == pytest.approx(ref_loss, abs=1e-6)
    assert out["examples"] == out["expensive_grads"] * 200


@pytest.mark.parametrize("m", [1, 5])
def test_sso_spends_one_expensive_gradient_per_outer_step_and_descends(m):
    p = logistic_problem(X, Y, hidden=4, seed=1)
    start = p.full_loss(p.theta0)
    out = sso(p, 20, batch_size=50, m=m, seed=0)
    assert out["expensive_grads"] == 20 and out["examples"] == 20 * 50
    assert out["loss"] < start - 0.05
    assert [h["step"] for h in out["history"]] == [0.0, 10.0, 20.0]


def test_baselines_descend_and_count_alike():
    for fn in (sgd_armijo, adam):
        p = logistic_problem(X, Y)
        out = fn(p, 20, batch_size=50, seed=0)
        assert out["expensive_grads"] == 20 and out["loss"] < np.log(2) - 0.02


def test_sso_is_reproducible_from_a_seed():
    a = sso(logistic_problem(X, Y), 5, batch_size=50, m=2, seed=3)["theta"]
    b = sso(logistic_problem(X, Y), 5, batch_size=50, m=2, seed=3)["theta"]
    c = sso(logistic_problem(X, Y), 5, batch_size=50, m=2, seed=4)["theta"]
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(SurrogateError, match="labels must be 0/1"):
        logistic_problem(X, Y + 1)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(SurrogateError, match="NaN"):
        logistic_problem(bad, Y)
    with pytest.raises(SurrogateError, match="steps"):
        sso(logistic_problem(X, Y), 0)
    with pytest.raises(SurrogateError, match="m must be"):
        sso(logistic_problem(X, Y), 3, m=1.5)
    run = SSO_SPEC.load_factory()(SSO_SPEC.resolve_hparams())
    with pytest.raises(IncompatibleError, match="TargetProblem"):
        run(object(), None, 3)


def test_spec_factory_runs():
    run = SSO_SPEC.load_factory()(SSO_SPEC.resolve_hparams({"m": 1}))
    seen = []
    out = run(logistic_problem(X, Y), lambda th, loss: seen.append(loss), 3)
    assert out["expensive_grads"] == 3 and seen == [out["loss"]]
