"""minimize_blackbox and the ask/tell objects: optima, reproducibility, ask/tell equivalence, bad inputs."""

from __future__ import annotations

import importlib.util
import itertools

import numpy as np
import pytest
from scipy.optimize import Bounds

from optarena.solvers.blackbox import METHODS, make_optimizer, minimize_blackbox
from optarena.solvers.blackbox._common import order_from_values
from optarena.solvers.blackbox.functions import BRANIN, HARTMANN6, noisy_quadratic, quadratic
from optarena.solvers.blackbox.zo import rank_gradient

HAVE_OPTUNA = importlib.util.find_spec("optuna") is not None
HAVE_CMA = importlib.util.find_spec("cma") is not None
HAVE_BOTORCH = importlib.util.find_spec("botorch") is not None


def _available(method: str) -> bool:
    return (
        (HAVE_OPTUNA or not method.startswith("optuna"))
        and (HAVE_CMA or method != "cma-es")
        and (HAVE_BOTORCH or method != "botorch-logei")
    )


FAST = {
    "bo-ei": 12,
    "bo-kg": 9,
    "random": 20,
    "sobol": 20,
    "optuna-tpe": 15,
    "optuna-gp": 11,
    "zo-ranksgd": 40,
    "zo-sgd": 40,
    "cma-es": 18,
    "botorch-logei": 8,
}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_reproducible_from_seed(method):
    if not _available(method):
        pytest.skip(f"{method}: optional package not installed")
    a = minimize_blackbox(BRANIN.f, BRANIN.bounds, FAST[method], method, seed=3)
    b = minimize_blackbox(BRANIN.f, BRANIN.bounds, FAST[method], method, seed=3)
    np.testing.assert_array_equal(a.history["x"], b.history["x"])
    np.testing.assert_array_equal(a.x, b.x)
    assert a.nfev == b.nfev <= FAST[method] and a.nfev > 0
    assert a.history["x"].dtype == np.float64
    assert np.all(a.history["x"] >= BRANIN.bounds[:, 0]) and np.all(a.history["x"] <= BRANIN.bounds[:, 1])
    np.testing.assert_array_equal(a.history["best"], np.minimum.accumulate(a.history["y"]))
    c = minimize_blackbox(BRANIN.f, BRANIN.bounds, FAST[method], method, seed=4)
    assert not np.array_equal(a.history["x"], c.history["x"])


@pytest.mark.parametrize("method", ["bo-ei", "sobol", "zo-sgd", "cma-es", "optuna-tpe"])
def test_ask_tell_equals_minimize(method):
    if not _available(method):
        pytest.skip(f"{method}: optional package not installed")
    budget = FAST[method]
    res = minimize_blackbox(BRANIN.f, BRANIN.bounds, budget, method, seed=1)
    opt = make_optimizer(method, BRANIN.bounds, seed=1)
    while True:
        n = opt.batch_size() or 1
        if opt.nfev + n > budget:
            break
        X = opt.ask(n)
        opt.tell(X, [BRANIN(x) for x in X])
    np.testing.assert_array_equal(opt.history["x"], res.history["x"])
    np.testing.assert_array_equal(opt.best[0], res.x)


def test_ranking_ask_tell_and_user_oracle_equal_minimize():
    q = quadratic(20, seed=0)
    res = minimize_blackbox(q.f, q.bounds, 200, "zo-ranksgd", seed=2)
    # a user-supplied ranking oracle (no values) walks the same path
    calls = []

    def rank(points):
        calls.append(len(points))
        return order_from_values(q.f(points))[:5]

    res2 = minimize_blackbox(None, q.bounds, 200, "zo-ranksgd", seed=2, rank=rank)
    np.testing.assert_array_equal(res.x, res2.x)
    assert np.isnan(res2.fun) and np.all(np.isnan(res2.history["y"]))
    assert set(calls) == {10, 6}  # m perturbed points, then L + 1 line-search points
    opt = make_optimizer("zo-ranksgd", q.bounds, seed=2)
    while opt.nfev < 200:
        X = opt.ask()
        if opt.nfev + len(X) > 200:
            break
        opt.tell(X, order_from_values(q.f(X))[: opt.oracle_k(len(X))])
    np.testing.assert_array_equal(opt.best[0], res.x)


def test_rank_gradient_equals_dag_sum():
    rng = np.random.default_rng(0)
    for m, k in [(6, 6), (7, 3), (5, 1)]:
        xi = rng.standard_normal((m, 4))
        order = rng.permutation(m)[:k]
        edges = [(order[i], order[j]) for i, j in itertools.combinations(range(k), 2)]
        edges += [(i, j) for i in order for j in set(range(m)) - set(order)]
        dag = sum(xi[j] - xi[i] for i, j in edges) / len(edges)
        np.testing.assert_allclose(rank_gradient(xi, order), dag, atol=1e-12)


def test_rank_gradient_points_uphill_on_average():
    # E[g] is a positive multiple of grad f for a linear f (the paper's descent-direction lemma)
    rng = np.random.default_rng(1)
    grad = rng.standard_normal(8)
    gs = []
    for _ in range(3000):
        xi = rng.standard_normal((10, 8))
        gs.append(rank_gradient(xi, order_from_values(xi @ grad)[:5]))
    g = np.mean(gs, axis=0)
    assert g @ grad / (np.linalg.norm(g) * np.linalg.norm(grad)) > 0.98


def test_bo_ei_finds_branin_minimum():
    res = minimize_blackbox(BRANIN.f, BRANIN.bounds, 30, "bo-ei", seed=0)
    assert res.fun - BRANIN.fmin < 1e-2
    assert np.min(np.linalg.norm(BRANIN.minimizers - res.x, axis=1)) < 0.1


def test_bo_beats_random_on_hartmann6():
    ei = minimize_blackbox(HARTMANN6.f, HARTMANN6.bounds, 35, "bo-ei", seed=0)
    rnd = minimize_blackbox(HARTMANN6.f, HARTMANN6.bounds, 35, "random", seed=0)
    assert ei.fun < rnd.fun


def test_bo_noisy_quadratic():
    clean, noisy = noisy_quadratic(2, noise=0.3, seed=1)
    rng = np.random.default_rng(0)
    res = minimize_blackbox(lambda x: noisy(x, rng), clean.bounds, 20, "bo-ei", seed=0, noisy=True)
    opt = make_optimizer("bo-ei", clean.bounds, seed=0, noisy=True)
    assert opt.noisy
    assert clean(res.x) < 1.0  # start-of-box values are ~10
    assert res.x.shape == (2,)


def test_bo_batch_ask_kriging_believer():
    opt = make_optimizer("bo-ei", BRANIN.bounds, seed=0, n_init=4)
    X = opt.ask(4)
    opt.tell(X, [BRANIN(x) for x in X])
    B = opt.ask(3)
    assert B.shape == (3, 2)
    assert np.min(np.linalg.norm(B[:, None] - B[None], axis=-1)[np.triu_indices(3, 1)]) > 1e-3


def test_zo_ranksgd_beats_random_on_quadratic():
    q = quadratic(30, seed=0)
    rank = minimize_blackbox(q.f, q.bounds, 800, "zo-ranksgd", seed=0, adapt_step=True)
    rnd = minimize_blackbox(q.f, q.bounds, 800, "random", seed=0)
    assert q(rank.x) < 0.2 * q(np.zeros(30))
    assert q(rank.x) < rnd.fun
    assert rank.fun == pytest.approx(q(rank.x))  # the iterate's value is known from the line search


def test_accepts_scipy_bounds():
    res = minimize_blackbox(BRANIN.f, Bounds([-5, 0], [10, 15]), 5, "random", seed=0)
    assert res.nfev == 5


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        (dict(bounds=[(1.0, 0.0)]), ValueError, r"bounds\[0\]"),
        (dict(bounds=[(0.0, np.inf)]), ValueError, "finite"),
        (dict(bounds=[[0, 1, 2]]), ValueError, "shape"),
        (dict(bounds="abc"), ValueError, "bounds"),
        (dict(budget=0), ValueError, "budget"),
        (dict(budget=2.5), TypeError, "budget"),
        (dict(method="nope"), ValueError, "unknown black-box method"),
        (dict(seed=1.5), TypeError, "seed"),
        (dict(method="bo-ei", acquisition_typo=1), TypeError, "acquisition_typo"),
        (dict(method="bo-ei", n_restarts=0), ValueError, "n_restarts"),
        (dict(method="zo-ranksgd", k=11), ValueError, "k must be"),
        (dict(method="zo-ranksgd", mu=-1.0), ValueError, "mu"),
        (dict(method="zo-sgd", gamma=1.5), ValueError, "gamma"),
        (dict(method="zo-sgd", x0=[100.0, 0.0]), ValueError, "outside"),
    ],
)
def test_bad_inputs(kwargs, err, match):
    args = dict(fun=BRANIN.f, bounds=BRANIN.bounds, budget=10, method="random", seed=0) | kwargs
    with pytest.raises(err, match=match):
        minimize_blackbox(**args)


def test_bad_tell_and_rank_usage():
    opt = make_optimizer("random", BRANIN.bounds, seed=0)
    X = opt.ask(2)
    with pytest.raises(ValueError, match="differ"):
        opt.tell(X + 1.0, [1.0, 2.0])
    with pytest.raises(ValueError, match="2 points but 1 values"):
        opt.tell(X, [1.0])
    with pytest.raises(ValueError, match="nan"):
        opt.tell(X, [1.0, np.nan])
    with pytest.raises(ValueError, match="not a ranking oracle"):
        minimize_blackbox(BRANIN.f, BRANIN.bounds, 5, "random", rank=lambda p: [0])
    with pytest.raises(ValueError, match="needs fun"):
        minimize_blackbox(None, BRANIN.bounds, 5, "zo-ranksgd")
    r = make_optimizer("zo-ranksgd", BRANIN.bounds, seed=0)
    P = r.ask()
    with pytest.raises(ValueError, match="distinct indices"):
        r.tell(P, [0, 0])
    with pytest.raises(ValueError, match="batches of 10"):
        r.ask(3)
    with pytest.raises(ValueError, match="nan"):
        minimize_blackbox(lambda x: float("nan"), BRANIN.bounds, 3, "random")


def test_specs_build_and_solve():
    from optarena.solvers.blackbox import specs

    names = [n for n in specs.__all__ if n.endswith("_SPEC")]
    assert len(names) == 10
    for name in names:
        spec = getattr(specs, name)
        assert spec.family == "blackbox" and spec.paper is not None
        if (
            ("needs-optuna" in spec.capabilities and not HAVE_OPTUNA)
            or ("needs-cma" in spec.capabilities and not HAVE_CMA)
            or ("needs-botorch" in spec.capabilities and not HAVE_BOTORCH)
        ):
            continue
        solve = spec.load_factory()(spec.resolve_hparams())
        res = solve(BRANIN.f, BRANIN.bounds, 12, 0)
        assert 0 < res.nfev <= 12 and res.x.shape == (2,)
