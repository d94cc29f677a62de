"""MOGFN-PC: HyperGrid and its objectives, exact distributions, TB training, hypervolume, NSGA-II, bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from optarena.core.spec import MethodSpec
from optarena.science.mogfn import (
    MOGFN,
    MOGFN_SPEC,
    HyperGrid,
    hypervolume,
    l1_distance,
    nsga2,
    pareto_mask,
    pareto_recall,
    pymoo_available,
    set_hypervolume,
    terminal_distribution,
    topk_diversity,
)
from optarena.science.mogfn.objectives import branin, currin


# -- environment and objectives -------------------------------------------------------------------
def test_grid_states_dag_tables_and_masks() -> None:
    env = HyperGrid(3, 4, objectives=("shubert", "sphere"))
    assert env.n_states == 64 and env.states.shape == (64, 3)
    assert np.array_equal(env.index(env.states), np.arange(64))
    for s in range(env.n_states):
        for i in range(3):
            p = env.parent[s, i]
            if env.states[s, i] == 0:
                assert p == -1
            else:
                assert np.array_equal(env.states[p] + np.eye(3, dtype=int)[i], env.states[s])
    m = env.action_mask(np.array([[0, 3, 1], [3, 3, 3]]))
    assert m.tolist() == [[True, False, True, True], [False, False, False, True]]
    assert sum(len(v) for v in env.levels) == 64 and env.max_len == 10


def test_objectives_normalised_and_oriented() -> None:
    env = HyperGrid(2, 32, objectives=("branin", "currin", "shubert"))
    assert np.allclose(env.rewards.min(0), 0) and np.allclose(env.rewards.max(0), 1)
    u = env.states / 31.0
    # branin is minimised: its best normalised value sits at its smallest raw value
    assert np.argmax(env.rewards[:, 0]) == np.argmin(branin(u))
    assert np.argmax(env.rewards[:, 1]) == np.argmax(currin(u))
    # known values: Branin's minimum 0.397887 at (pi, 2.275); Currin at (0.5, 0.5)
    assert branin(np.array([[(np.pi + 5) / 15, 2.275 / 15]]))[0] == pytest.approx(0.397887, abs=1e-6)
    expected = (1 - np.exp(-1)) * (2300 / 8 + 1900 / 4 + 1046 + 60) / (100 / 8 + 125 + 2 + 20)
    assert currin(np.array([[0.5, 0.5]]))[0] == pytest.approx(expected)


def test_target_distribution_is_the_normalised_power_of_the_scalarised_reward() -> None:
    env = HyperGrid(2, 6, objectives=("branin", "currin"))
    w = np.array([0.3, 0.7])
    p = env.target_distribution(w, 4.0)
    r = env.rewards @ w
    assert np.allclose(p, r**4 / np.sum(r**4)) and p.sum() == pytest.approx(1.0)
    W = np.array([[1.0, 0.0], [0.5, 0.5]])
    P = env.target_distribution(W, 2.0)
    assert P.shape == (2, 36) and np.allclose(P[1], env.target_distribution(W[1], 2.0))
    assert np.all(P[0][env.rewards[:, 0] == 0] == 0)  # zero reward -> zero probability


# -- exact DP ---------------------------------------------------------------------------------------
def test_dp_on_a_uniform_policy_by_hand() -> None:
    env = HyperGrid(1, 3, objectives=("sphere",))
    mask = env.action_mask(env.states)
    pf = mask / mask.sum(1, keepdims=True)
    assert np.allclose(terminal_distribution(env, pf), [0.5, 0.25, 0.25])
    env2 = HyperGrid(2, 2, objectives=("sphere",))  # states 00, 01, 10, 11
    mask2 = env2.action_mask(env2.states)
    pf2 = mask2 / mask2.sum(1, keepdims=True)
    # 00: stop 1/3; 01: reached 1/3, stop 1/2 -> 1/6; 10 likewise; 11: 2 * 1/3 * 1/2 = 1/3
    assert np.allclose(terminal_distribution(env2, pf2), [1 / 3, 1 / 6, 1 / 6, 1 / 3])


def test_dp_matches_enumerated_trajectories() -> None:
    env = HyperGrid(2, 3, objectives=("sphere",))
    rng = np.random.default_rng(0)
    pf = rng.random((env.n_states, 3)) * env.action_mask(env.states)
    pf /= pf.sum(1, keepdims=True)
    brute = np.zeros(env.n_states)
    for x in range(env.n_states):
        target = env.states[x]
        steps = [i for i in range(2) for _ in range(target[i])]
        for order in set(itertools.permutations(steps)):
            s, prob = np.zeros(2, dtype=int), 1.0
            for a in order:
                prob *= pf[env.index(s[None])[0], a]
                s[a] += 1
            brute[x] += prob * pf[x, 2]
    assert np.allclose(terminal_distribution(env, pf), brute)
    assert terminal_distribution(env, pf).sum() == pytest.approx(1.0)


def test_model_exact_distribution_matches_its_sampler() -> None:
    env = HyperGrid(2, 4, objectives=("branin", "currin"))
    m = MOGFN(env, hidden=16, seed=3)
    w = np.array([0.6, 0.4])
    q = m.terminal_distribution(w)
    assert q.sum() == pytest.approx(1.0) and q.shape == (16,)
    n = 20000
    freq = np.bincount(env.index(m.sample(n, w, seed=1)), minlength=16) / n
    assert np.abs(freq - q).max() < 4 * np.sqrt(q.max() / n) + 1e-3
    assert np.abs(freq - q).sum() < 0.05
    Q = m.terminal_distribution(np.array([w, [0.1, 0.9]]))
    assert np.allclose(Q[0], q) and not np.allclose(Q[1], q)  # the preference conditions the policy


def test_trajectory_balance_training_fits_the_target() -> None:
    torch.set_num_threads(1)
    env = HyperGrid(2, 5, objectives=("branin", "currin"))
    m = MOGFN(env, hidden=32, beta=4.0, lr=3e-3, seed=0)
    W = np.random.default_rng(1).dirichlet([1.5, 1.5], size=5)
    before = l1_distance(m.target_distribution(W), m.terminal_distribution(W)).mean()
    m.fit(400, 32)
    after = l1_distance(m.target_distribution(W), m.terminal_distribution(W)).mean()
    assert after < 0.2 < 2 * 0.2 < before
    assert np.abs(m.log_z(W) - m.true_log_z(W)).mean() < 0.3
    assert m.n_reward_calls_ == 400 * 32 and len(m.losses_) == 400


def test_training_is_reproducible_under_a_seed() -> None:
    env = HyperGrid(2, 4, objectives=("branin", "currin"))
    a = MOGFN(env, hidden=16, seed=5).fit(20, 8)
    b = MOGFN(env, hidden=16, seed=5).fit(20, 8)
    c = MOGFN(env, hidden=16, seed=6).fit(20, 8)
    assert a.losses_ == b.losses_ and a.losses_ != c.losses_
    w = np.array([0.5, 0.5])
    assert np.array_equal(a.terminal_distribution(w), b.terminal_distribution(w))


def test_tb_loss_is_zero_for_a_policy_matching_the_target() -> None:
    # 1-D grid: P_B = 1, one trajectory per x; set the logits so P_F gives exactly the target
    env = HyperGrid(1, 4, objectives=("sphere", "shubert"))
    m = MOGFN(env, hidden=4, n_layers=1, beta=2.0, epsilon=0.0, seed=0)
    w = np.array([0.5, 0.5])
    p = m.target_distribution(w)
    tail = np.cumsum(p[::-1])[::-1]  # P(reach s)
    stop = p / tail
    logits = np.log(np.clip(np.stack([1 - stop, stop], axis=1), 1e-300, None))
    table = torch.tensor(logits, dtype=torch.float32)
    m.policy = lambda x: table[x[:, :4].argmax(1)]  # a table of exact logits, read off the one-hot state
    m.logz = lambda w_: torch.full((w_.shape[0], 1), float(m.true_log_z(w)))
    assert np.allclose(m.terminal_distribution(w), p, atol=1e-6)
    loss = m.tb_loss(torch.tensor(np.tile(w, (64, 1)), dtype=torch.float32))
    assert float(loss) < 1e-8


# -- hypervolume and metrics ------------------------------------------------------------------------
def test_hypervolume_known_values() -> None:
    assert hypervolume(np.array([[1.0, 0.5], [0.5, 1.0]])) == pytest.approx(0.75)
    assert hypervolume(np.array([[1.0, 0.5], [0.5, 1.0], [0.4, 0.4]])) == pytest.approx(0.75)
    assert hypervolume(np.array([[2.0, 3.0]]), ref=np.array([1.0, 1.0])) == pytest.approx(2.0)
    assert hypervolume(np.array([[0.5, 0.5, 0.5]])) == pytest.approx(0.125)
    # two boxes overlapping in [0, .5]^3: 0.5 + 0.5 - 0.125... (1,1,.5) and (.5,.5,1)
    assert hypervolume(np.array([[1.0, 1.0, 0.5], [0.5, 0.5, 1.0]])) == pytest.approx(0.5 + 0.25 - 0.125)
    assert hypervolume(np.array([[-1.0, 2.0]])) == 0.0


@pytest.mark.parametrize("k", [2, 3, 4])
def test_hypervolume_matches_grid_counting(k: int) -> None:
    rng = np.random.default_rng(k)
    Y = np.round(rng.random((12, k)) * 8) / 8  # on an 1/8 lattice: counting cells is exact
    cells = (np.stack(np.meshgrid(*[np.arange(8)] * k, indexing="ij"), -1).reshape(-1, k) + 0.5) / 8
    dominated = np.any(np.all(cells[:, None, :] < Y[None], axis=2), axis=1)
    assert hypervolume(Y) == pytest.approx(dominated.sum() / 8**k)


@pytest.mark.skipif(not pymoo_available(), reason="pymoo not installed")
def test_hypervolume_matches_pymoo() -> None:
    from pymoo.indicators.hv import HV

    Y = np.random.default_rng(0).random((40, 3))
    assert hypervolume(Y) == pytest.approx(HV(ref_point=np.zeros(3))(-Y), rel=1e-10)


def test_pareto_mask_and_metrics() -> None:
    Y = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.4, 0.4], [0.5, 0.5]])
    assert pareto_mask(Y).tolist() == [True, True, True, False, True]
    env = HyperGrid(2, 8, objectives=("branin", "currin"))
    front = env.pareto_mask()
    assert pareto_recall(env, env.states[front]) == 1.0
    assert set_hypervolume(env, env.states) == pytest.approx(set_hypervolume(env, env.states[front]))
    assert set_hypervolume(env, env.states[:5]) < set_hypervolume(env, env.states)
    same = np.repeat(env.states[:1], 10, axis=0)
    assert topk_diversity(env, same, np.array([0.5, 0.5])) == 0.0
    corners = np.array([[0, 0], [7, 7]])
    assert topk_diversity(env, corners, np.array([0.5, 0.5])) == pytest.approx(np.sqrt(2))


@pytest.mark.skipif(not pymoo_available(), reason="pymoo not installed")
def test_nsga2_respects_its_budget_and_finds_the_front_of_a_small_grid() -> None:
    env = HyperGrid(2, 8, objectives=("branin", "currin"))
    hv_true = hypervolume(env.rewards)
    res = nsga2(env, 2000, pop_size=20, seed=0, target_hv=hv_true)
    assert 2000 <= res.n_evals < 2000 + 20
    assert res.states.shape[1] == 2 and np.all((res.states >= 0) & (res.states < 8))
    assert set_hypervolume(env, res.states) == pytest.approx(hv_true)
    assert res.evals_to_target is not None and res.evals_to_target <= res.n_evals
    small = nsga2(env, 20, pop_size=20, seed=0)
    assert 20 <= small.n_evals < 40 and len(small.archive) <= small.n_evals


# -- registry and bad input --------------------------------------------------------------------------
def test_spec_factory_fits_a_model() -> None:
    assert isinstance(MOGFN_SPEC, MethodSpec) and MOGFN_SPEC.family == "science"
    h = MOGFN_SPEC.resolve_hparams({"hidden": 16})
    h.update(n_steps=3, batch_size=4)
    m = MOGFN_SPEC.load_factory()(h)(HyperGrid(2, 4, objectives=("branin", "currin")), beta=2.0, seed=0)
    assert isinstance(m, MOGFN) and len(m.losses_) == 3 and m.hidden == 16


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"ndim": 2, "height": 1}, "height"),
        ({"ndim": 0, "height": 4}, "ndim"),
        ({"ndim": 2.5, "height": 4}, "ndim"),
        ({"ndim": 3, "height": 4, "objectives": ("branin", "currin")}, "ndim=2"),
        ({"ndim": 2, "height": 4, "objectives": ("nope",)}, "nope"),
        ({"ndim": 2, "height": 4, "objectives": ()}, "objectives"),
        ({"ndim": 8, "height": 100}, "states"),
    ],
)
def test_bad_grids_raise(kwargs: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        HyperGrid(**kwargs)


def test_bad_preferences_beta_and_hyperparameters_raise() -> None:
    env = HyperGrid(2, 4, objectives=("branin", "currin"))
    m = MOGFN(env, hidden=8)
    for bad in ([0.5, 0.6], [1.2, -0.2], [1.0], [np.nan, 1.0], [[0.5, 0.5, 0.0]]):
        with pytest.raises(ValueError, match="preference"):
            m.terminal_distribution(bad)
        with pytest.raises(ValueError, match="preference"):
            env.target_distribution(bad, 1.0)
    with pytest.raises(ValueError, match="preference"):
        m.sample(4, [0.9, 0.2])
    for beta in (0.0, -1.0, np.inf, "2"):
        with pytest.raises(ValueError, match="beta"):
            env.target_distribution([0.5, 0.5], beta)
        with pytest.raises(ValueError, match="beta"):
            MOGFN(env, beta=beta)
    with pytest.raises(ValueError, match="beta"):
        m.target_distribution([0.5, 0.5], beta=0.0)
    for name, val in (("hidden", 0), ("lr", -1e-3), ("alpha", 0.0), ("epsilon", 1.5), ("n_layers", 0)):
        with pytest.raises(ValueError, match=name):
            MOGFN(env, **{name: val})
    with pytest.raises(ValueError, match="n_steps"):
        m.fit(0)
    with pytest.raises(ValueError, match="env"):
        MOGFN("grid")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pf"):
        terminal_distribution(env, np.ones((3, 3)))
    with pytest.raises(ValueError, match="ref"):
        hypervolume(np.ones((2, 2)), ref=np.zeros(3))


def test_claim_experiment_without_pymoo_reports_nan_for_nsga2(monkeypatch: pytest.MonkeyPatch) -> None:
    import optarena.claims.experiments.mogfn as exp
    import optarena.science.mogfn.baselines as bl

    monkeypatch.setattr(exp, "pymoo_available", lambda: False)
    out = exp.measure(0, quick=True)
    assert np.isnan(out["hv_gap_vs_nsga2"]) and np.isnan(out["nsga2_topk_div"])
    assert 0 <= out["l1_mean"] < out["l1_uniform_mean"] <= 2
    assert 0 < out["hv_mogfn"] <= out["hv_true"] + 1e-12
    monkeypatch.setattr(bl, "pymoo_available", lambda: False)
    with pytest.raises(ImportError, match="pymoo"):
        bl.nsga2(HyperGrid(2, 4, objectives=("branin", "currin")), 10)
