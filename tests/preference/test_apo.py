"""Accelerated Preference Optimization: the momentum step, the trainer loop, the exact tabular case (where
APO reduces to iterative DPO at beta(1 - alpha)), the finite-sample tabular fit and the claim experiment."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from optarena.preference.apo import (
    APO,
    APO_SPEC,
    extrapolate,
    extrapolate_logps,
    fit_dpo_round,
    fit_round_on_testbed,
    make_apo,
)
from optarena.preference.tabular import (
    TabularBandit,
    TabularPairs,
    TabularPolicy,
    dpo_fit_tabular,
    dpo_population_round,
    population_fit_round,
    sampled_fit_round,
    tabular_pair_logps,
)

CLAIMS = Path(__file__).resolve().parents[2] / "src" / "optarena" / "claims"


pytestmark = pytest.mark.usefixtures("one_thread")


def _logsoftmax(z: np.ndarray) -> np.ndarray:
    m = z.max(-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(-1, keepdims=True))


def _run_logits(bandit, beta, alpha, rounds, fit=None):
    """Logits of pi_0..pi_T (extrapolated) and of the fitted pi_hat_0..pi_hat_T."""
    out, fitted = [], []

    def record(p, t):
        out.append(p.numpy_logits())
        return {}

    trainer = APO(beta, alpha, rounds)
    fit = population_fit_round(bandit) if fit is None else fit

    def fit_and_keep(ref, b, t):
        new = fit(ref, b, t)
        fitted.append(new.numpy_logits())
        return new

    trainer.run(TabularPolicy(bandit.ref_logits), fit_and_keep, record)
    return out, [bandit.ref_logits, *fitted]


# ------------------------------------------------------------------------- the exact tabular case


@pytest.mark.parametrize("alpha", [0.3, 0.5, 0.8])
def test_exact_apo_equals_iterative_dpo_at_beta_times_one_minus_alpha(alpha):
    """Population rounds: pi_t of APO(beta, alpha) is iterative DPO at beta(1 - alpha) after
    s_t = t - alpha^2 (1 - alpha^t)/(1 - alpha) rounds, and its log-increments tend to DPO's at beta(1-alpha)."""
    bandit = TabularBandit.random(3, 6, seed=1)
    beta, rounds = 0.7, 40
    apo, apo_hat = _run_logits(bandit, beta, alpha, rounds)
    small, _ = _run_logits(bandit, beta * (1 - alpha), 0.0, rounds)
    same_beta, _ = _run_logits(bandit, beta, 0.0, rounds)
    for t in range(rounds + 1):
        s = t - alpha**2 * (1 - alpha**t) / (1 - alpha)
        pred = dpo_population_round(bandit.ref_logits, s * bandit.rewards, beta * (1 - alpha))
        np.testing.assert_allclose(_logsoftmax(apo[t]), _logsoftmax(pred), atol=1e-9)
        s_hat = t - alpha * (1 - alpha**t) / (1 - alpha)  # the fitted pi_hat_t lags a little more
        pred_hat = dpo_population_round(bandit.ref_logits, s_hat * bandit.rewards, beta * (1 - alpha))
        np.testing.assert_allclose(_logsoftmax(apo_hat[t]), _logsoftmax(pred_hat), atol=1e-9)
    # logit increments: APO's are (1 - alpha^(t+1)) times DPO's at beta(1 - alpha), which are 1/(1 - alpha)
    # times DPO's at beta; so APO's tend to DPO's at beta(1 - alpha), not to DPO's at beta
    for t in range(1, rounds + 1):
        inc_apo, inc_small, inc_beta = (z[t] - z[t - 1] for z in (apo, small, same_beta))
        np.testing.assert_allclose(inc_apo, (1 - alpha ** (t + 1)) * inc_small, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(inc_small, inc_beta / (1 - alpha), rtol=1e-9, atol=1e-12)
    assert np.abs(inc_apo - inc_beta).max() > 0.1
    # round by round APO sits between DPO at beta and DPO at beta(1 - alpha) (it lags the latter)
    for t in range(1, rounds + 1):
        assert bandit.gap(small[t]) <= bandit.gap(apo[t]) <= bandit.gap(same_beta[t])


def test_alpha_zero_is_iterative_dpo():
    bandit = TabularBandit.random(2, 5, seed=2)
    got, _ = _run_logits(bandit, 0.5, 0.0, 4)
    logits = bandit.ref_logits
    for t in range(1, 5):
        logits = dpo_population_round(logits, bandit.rewards, 0.5)
        np.testing.assert_allclose(got[t], logits, atol=1e-12)


def test_population_round_is_the_dpo_optimum_and_leaves_uncovered_arms():
    bandit = TabularBandit.random(2, 4, seed=3)
    covered = np.array([[True, True, False, True], [True, True, True, True]])
    new = dpo_population_round(bandit.ref_logits, bandit.rewards, 2.0, covered)
    v = 2.0 * (new - bandit.ref_logits)
    cov = covered[0]
    # implicit reward differences equal the true ones on covered responses (the BT optimum)
    d = v[0][cov][:, None] - v[0][cov][None, :]
    r = bandit.rewards[0][cov][:, None] - bandit.rewards[0][cov][None, :]
    np.testing.assert_allclose(d, r, atol=1e-12)
    assert new[0, 2] == bandit.ref_logits[0, 2]  # uncovered logit untouched
    np.testing.assert_allclose(v[0][cov].sum(), 0.0, atol=1e-12)  # gradient flow keeps the covered sum
    with pytest.raises(ValueError, match="beta"):
        dpo_population_round(bandit.ref_logits, bandit.rewards, 0.0)


# -------------------------------------------------------------------------------- momentum step


def test_parameter_extrapolation_equals_log_space_form_for_softmax():
    rng = np.random.default_rng(0)
    cur, prev = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    cur[1, 2] = prev[1, 2] = -np.inf  # a response with zero probability stays at zero
    alpha = 0.4
    new = extrapolate(TabularPolicy(cur), TabularPolicy(prev), alpha)
    lp = extrapolate_logps(
        torch.log_softmax(torch.tensor(cur), -1), torch.log_softmax(torch.tensor(prev), -1), alpha
    )
    torch.testing.assert_close(new(), lp, atol=1e-12, rtol=0)
    assert torch.isneginf(new()[1, 2])
    np.testing.assert_allclose(torch.exp(lp).sum(-1).numpy(), 1.0)
    with pytest.raises(ValueError, match="infinite ratio"):
        extrapolate_logps(torch.zeros(3), torch.tensor([0.0, -math.inf, 0.0]), alpha)


def test_extrapolate_network_weights_and_purity():
    from optarena.preference.model import TinyGPT

    torch.manual_seed(0)
    a, b = TinyGPT(8, 12, 16, 1, 2), TinyGPT(8, 12, 16, 1, 2)
    a0, b0 = copy.deepcopy(a.state_dict()), copy.deepcopy(b.state_dict())
    new = extrapolate(a, b, 0.5)
    for name, p in new.named_parameters():
        torch.testing.assert_close(p, 1.5 * a0[name] - 0.5 * b0[name])
    for name, p in a.state_dict().items():  # inputs untouched
        assert torch.equal(p, a0[name]) and torch.equal(b.state_dict()[name], b0[name])
    same = extrapolate(a, b, 0.0)
    assert same is not a and all(
        torch.equal(p, q) for p, q in zip(same.parameters(), a.parameters(), strict=True)
    )
    with pytest.raises(ValueError, match="parameter"):
        extrapolate(a, TinyGPT(8, 12, 16, 2, 2), 0.5)
    with pytest.raises(ValueError, match="alpha"):
        extrapolate(a, b, 1.0)


# -------------------------------------------------------------------------------------- trainer


def test_trainer_validates_and_refuses_in_place_fits():
    for kwargs, match in (
        ({"alpha": -0.1}, r"alpha.*-0\.1"),
        ({"alpha": 1.0}, r"alpha.*1\.0"),
        ({"beta": 0.0}, r"beta.*0\.0"),
        ({"rounds": 0}, r"rounds.*0"),
        ({"rounds": 2.5}, r"rounds.*2\.5"),
    ):
        with pytest.raises(ValueError, match=match):
            APO(**kwargs)
    bandit = TabularBandit.random(1, 3, seed=0)
    with pytest.raises(ValueError, match="in place"):
        APO(0.1, 0.3, 2).run(TabularPolicy(bandit.ref_logits), lambda ref, beta, t: ref)


def test_trainer_does_not_modify_the_start_and_records_history():
    bandit = TabularBandit.random(2, 4, seed=5)
    start = TabularPolicy(bandit.ref_logits)
    res = APO(1.0, 0.5, 3).run(
        start, population_fit_round(bandit), lambda p, t: {"gap": bandit.gap(p.numpy_logits())}, True
    )
    np.testing.assert_array_equal(start.numpy_logits(), bandit.ref_logits)
    assert [h["round"] for h in res.history] == [0.0, 1.0, 2.0, 3.0]
    assert res.history[-1]["gap"] == pytest.approx(bandit.gap(res.policy.numpy_logits()))
    assert res.history[-1]["fitted_gap"] == pytest.approx(bandit.gap(res.fitted.numpy_logits()))
    assert res.history[-1]["gap"] < res.history[-1]["fitted_gap"] < res.history[0]["gap"]


def _consistent_pairs():
    """Pair counts whose empirical win rates equal sigma(r_i - r_j) for r = (log 3, 0, -log 3): the
    Bradley-Terry likelihood is maximised exactly at the implicit reward v = r (up to a constant)."""
    rows = [(0, 1, 3), (1, 0, 1), (1, 2, 3), (2, 1, 1), (0, 2, 9), (2, 0, 1)]
    chosen = np.repeat([c for c, _, _ in rows], [n for *_, n in rows])
    rejected = np.repeat([r for _, r, _ in rows], [n for *_, n in rows])
    return TabularPairs(np.zeros(len(chosen), dtype=int), chosen, rejected), np.log([3.0, 1.0, 1 / 3])


def test_generic_gradient_round_on_a_tabular_policy_reaches_the_closed_form():
    pairs, r = _consistent_pairs()
    ref = np.array([[0.3, -0.2, 0.5]])
    beta = 0.5
    fitted = fit_dpo_round(
        TabularPolicy(ref),
        lambda m, idx: tuple(z[idx] for z in tabular_pair_logps(m, pairs)),
        len(pairs),
        beta,
        steps=1500,
        lr=0.05,
    )
    v = beta * (fitted.numpy_logits() - ref)[0]
    np.testing.assert_allclose(v - v.mean(), r - r.mean(), atol=1e-3)
    exact = dpo_fit_tabular(ref, pairs, beta, ridge=1e-9)
    v_exact = beta * (exact - ref)[0]
    np.testing.assert_allclose(v_exact - v_exact.mean(), r - r.mean(), atol=1e-6)


def test_finite_sample_fit_is_beta_invariant_in_the_implicit_reward():
    bandit = TabularBandit.random(2, 5, seed=4)
    pairs = bandit.sample_pairs(bandit.ref_logits, 40, np.random.default_rng(0))
    v = [
        b * (dpo_fit_tabular(bandit.ref_logits, pairs, b, ridge=0.5) - bandit.ref_logits) for b in (0.3, 3.0)
    ]
    np.testing.assert_allclose(v[0], v[1], atol=1e-9)
    # stationarity of the penalised objective (the Newton solution is the exact minimiser)
    x = pairs.prompt == 0
    s = 1 / (1 + np.exp(v[0][0][pairs.chosen[x]] - v[0][0][pairs.rejected[x]]))
    grad = 0.5 * v[0][0]
    np.add.at(grad, pairs.chosen[x], -s)
    np.add.at(grad, pairs.rejected[x], s)
    assert np.abs(grad).max() < 1e-8
    with pytest.raises(ValueError, match="ridge"):
        dpo_fit_tabular(bandit.ref_logits, pairs, 1.0, ridge=0.0)


def test_sample_pairs_follow_bradley_terry():
    bandit = TabularBandit(np.array([[1.0, 0.0]]), np.zeros((1, 2)))
    pairs = bandit.sample_pairs(bandit.ref_logits, 40_000, np.random.default_rng(1))
    assert np.all(pairs.chosen != pairs.rejected)
    assert abs(len(pairs) / 40_000 - 0.5) < 0.02  # half the draws repeat the same response
    assert abs(np.mean(pairs.chosen == 0) - 1 / (1 + math.exp(-1))) < 0.015
    with pytest.raises(ValueError, match="shape"):
        TabularBandit(np.zeros((2, 3)), np.zeros((2, 4)))


def test_sampled_rounds_improve_the_gap_and_share_random_streams():
    bandit = TabularBandit.random(3, 6, seed=6)
    fit = sampled_fit_round(bandit, 64, seed=0)
    a = fit(TabularPolicy(bandit.ref_logits), 1.0, 0).numpy_logits()
    b = fit(TabularPolicy(bandit.ref_logits), 1.0, 0).numpy_logits()
    np.testing.assert_array_equal(a, b)
    res = APO(1.0, 0.5, 6).run(TabularPolicy(bandit.ref_logits), fit)
    assert bandit.gap(res.policy.numpy_logits()) < 0.5 * bandit.gap(bandit.ref_logits)


def test_apo_on_the_testbed_transformer():
    from optarena.preference.testbed import TestbedConfig, sample_prompts, train_sft, true_judge

    cfg = TestbedConfig(
        vocab=6, min_len=3, max_len=4, d_model=16, n_sft=300, sft_steps=40, n_pairs=32, pref_steps=3, n_eval=8
    )
    sft = train_sft(cfg, 0)
    rng = np.random.default_rng(0)
    fit = fit_round_on_testbed(
        cfg, true_judge(cfg), [sample_prompts(cfg.n_pairs, cfg, rng) for _ in range(2)], 0
    )
    fitted: list[torch.nn.Module] = []
    res = APO(0.5, 0.5, 2).run(sft, lambda ref, beta, t: fitted.append(fit(ref, beta, t)) or fitted[-1])
    # round 1: pi_1 = pi_hat_1 + alpha (pi_hat_1 - pi_0) in weights; round 2 extrapolates from pi_hat_1
    assert res.fitted is fitted[-1]
    for (name, p), q1, q2 in zip(
        res.policy.named_parameters(), fitted[0].parameters(), fitted[1].parameters(), strict=True
    ):
        torch.testing.assert_close(p, 1.5 * q2 - 0.5 * q1, msg=name)
    assert any(not torch.equal(p, q) for p, q in zip(fitted[0].parameters(), sft.parameters(), strict=True))


# ----------------------------------------------------------------------------------- spec, claim


def test_spec_and_factory():
    assert (
        APO_SPEC.family == "preference"
        and APO_SPEC.paper is not None
        and APO_SPEC.paper.arxiv == "2410.06293"
    )
    trainer = make_apo()
    assert (trainer.beta, trainer.alpha, trainer.rounds) == (0.1, 0.3, 3)
    assert make_apo({"alpha": 0.0, "rounds": 5}).rounds == 5
    assert APO_SPEC.load_factory() is make_apo
    for point in (APO_SPEC.search_space.sample(i) for i in range(5)):
        make_apo(point)
    with pytest.raises(ValueError, match="alpha"):
        make_apo({"alpha": 0.95})


def test_rounds_to_target():
    from optarena.claims.experiments.apo import rounds_to_target

    assert rounds_to_target([1.0, 0.5, 0.1, 0.01], 0.1, 9) == pytest.approx(2.0)
    assert rounds_to_target([1.0, 1.0, 0.01], 0.1, 9) == pytest.approx(1.5)  # linear in log gap
    assert rounds_to_target([1.0, 0.9, 0.8], 0.1, 9) == 9.0
    assert rounds_to_target([0.05, 0.01], 0.1, 9) == 0.0


@pytest.mark.slow
def test_claim_quick_measure_reports_the_rule_metrics():
    from optarena.claims.experiments.apo import measure
    from optarena.claims.spec import load_claim

    claim = load_claim(CLAIMS / "apo.toml")
    assert claim.family == "preference" and claim.full.seeds >= 5
    out = measure(0, True, **claim.quick.options)
    for rule in claim.rules:
        assert rule.metric in out and math.isfinite(out[rule.metric]), rule.metric
    assert all(isinstance(v, float) and math.isfinite(v) for v in out.values())
    assert out["tab_pop_reduction_error"] < 1e-9
    assert out["tab_pop_rounds_dpo_minus_apo"] > 0  # the exact case: APO beats DPO at beta ...
    assert out["tab_pop_rounds_dposmall_minus_apo"] < 0  # ... and lags DPO at beta(1 - alpha)
