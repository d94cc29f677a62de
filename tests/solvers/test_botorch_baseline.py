"""The BoTorch baseline (``botorch-logei``): optimum, budget, reproducibility, bad inputs, lazy import."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from optarena.solvers.blackbox import make_optimizer, minimize_blackbox
from optarena.solvers.blackbox.baselines import MissingDependencyError
from optarena.solvers.blackbox.functions import BRANIN, noisy_quadratic


@pytest.fixture
def botorch():
    return pytest.importorskip("botorch")


def test_finds_branin_minimum_within_30_evaluations(botorch):
    res = minimize_blackbox(BRANIN.f, BRANIN.bounds, 30, "botorch-logei", seed=0)
    assert res.nfev == 30 and res.method == "botorch-logei"
    assert BRANIN.regret(res.fun) < 0.05


def test_improves_on_its_initial_design(botorch):
    res = minimize_blackbox(BRANIN.f, BRANIN.bounds, 10, "botorch-logei", seed=0)
    y = res.history["y"]
    assert y[6:].min() < y[:6].min()  # the 4 LogEI points beat the 6 Sobol points
    assert BRANIN.regret(res.fun) < 2.0


@pytest.mark.parametrize("budget", [1, 7, 9])
def test_respects_the_budget(botorch, budget):
    res = minimize_blackbox(BRANIN.f, BRANIN.bounds, budget, "botorch-logei", seed=1)
    assert res.nfev == budget == len(res.history["y"])
    assert np.all(res.history["x"] >= BRANIN.bounds[:, 0]) and np.all(res.history["x"] <= BRANIN.bounds[:, 1])
    assert res.history["x"].dtype == np.float64
    np.testing.assert_array_equal(res.history["best"], np.minimum.accumulate(res.history["y"]))
    assert res.fun == res.history["y"].min()


def test_reproducible_from_the_seed_and_leaves_torch_rng_alone(botorch):
    import torch

    torch.manual_seed(123)
    a = minimize_blackbox(BRANIN.f, BRANIN.bounds, 8, "botorch-logei", seed=3)
    after = torch.rand(3)
    torch.manual_seed(123)
    assert torch.equal(after, torch.rand(3))  # the runs drew from a forked generator
    b = minimize_blackbox(BRANIN.f, BRANIN.bounds, 8, "botorch-logei", seed=3)
    np.testing.assert_array_equal(a.history["x"], b.history["x"])
    c = minimize_blackbox(BRANIN.f, BRANIN.bounds, 8, "botorch-logei", seed=4)
    assert not np.array_equal(a.history["x"][6:], c.history["x"][6:])


def test_batch_ask_and_noisy_mode(botorch):
    opt = make_optimizer("botorch-logei", BRANIN.bounds, seed=0, n_init=4)
    X = opt.ask(4)
    opt.tell(X, [BRANIN(x) for x in X])
    B = opt.ask(2)  # qLogEI, q = 2
    assert B.shape == (2, 2) and np.linalg.norm(B[0] - B[1]) > 1e-6
    clean, noisy = noisy_quadratic(2, noise=0.3, seed=1)
    rng = np.random.default_rng(0)
    res = minimize_blackbox(lambda x: noisy(x, rng), clean.bounds, 8, "botorch-logei", seed=0, noisy=True)
    assert res.nfev == 8 and any(np.array_equal(res.x, x) for x in res.history["x"])


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        (dict(bounds=[(1.0, 0.0)]), ValueError, r"bounds\[0\]"),
        (dict(bounds=[(0.0, np.inf), (0.0, 1.0)]), ValueError, "finite"),
        (dict(bounds=[[0, 1, 2]]), ValueError, "shape"),
        (dict(budget=0), ValueError, "budget"),
        (dict(num_restarts=0), ValueError, "num_restarts"),
        (dict(raw_samples=1.5), TypeError, "raw_samples"),
        (dict(noisy="yes"), TypeError, "noisy"),
        (dict(acq="ei"), TypeError, "acq"),
    ],
)
def test_bad_inputs_raise(botorch, kwargs, err, match):
    args = dict(fun=BRANIN.f, bounds=BRANIN.bounds, budget=5, method="botorch-logei", seed=0) | kwargs
    with pytest.raises(err, match=match):
        minimize_blackbox(**args)


def test_spec_solves(botorch):
    from optarena.solvers.blackbox.specs import BOTORCH_LOGEI_SPEC as spec

    assert "needs-botorch" in spec.capabilities and spec.paper is not None
    res = spec.load_factory()(spec.resolve_hparams())(BRANIN.f, BRANIN.bounds, 7, 0)
    assert res.nfev == 7 and res.x.shape == (2,)


def test_missing_botorch_raises_with_the_pin(monkeypatch):
    monkeypatch.setitem(sys.modules, "botorch", None)  # makes `import botorch` fail
    with pytest.raises(MissingDependencyError, match=r"botorch==\d"):
        make_optimizer("botorch-logei", BRANIN.bounds)


def test_the_package_imports_without_botorch():
    code = (
        "import sys; sys.modules['botorch'] = None; import optarena.solvers.blackbox as b; "
        "import optarena.solvers.blackbox.specs, optarena.solvers.blackbox.botorch_baseline; "
        "assert 'gpytorch' not in sys.modules and 'botorch-logei' in b.METHODS"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
