"""Constrained RLHF: dual ascent, the Lagrangian run on an exact bandit, Nelder-Mead thresholds, RLOO."""

from __future__ import annotations

import numpy as np
import pytest

from optarena.preference.constrained_rlhf import (
    CONSTRAINED_RLHF_SPEC,
    ConstrainedRLHF,
    ProxyBandit,
    constraint_violation,
    dual_ascent_step,
    lagrangian_weights,
    make_constrained_rlhf,
    nelder_mead_thresholds,
    run_constrained,
    run_fixed_weights,
)

pytestmark = pytest.mark.usefixtures("one_thread")


# ------------------------------------------------------------------------------------------- dual ascent


def test_dual_ascent_raises_a_violated_multiplier_and_lowers_a_satisfied_one_to_zero():
    # "ge": component 0 below its threshold (violated), component 1 above it (satisfied)
    mu = dual_ascent_step([1.0, 1.0], values=[0.2, 0.9], thresholds=[0.5, 0.5], lr=0.5, sense="ge")
    np.testing.assert_allclose(mu, [1.15, 0.8])
    for _ in range(10):
        mu = dual_ascent_step(mu, [0.2, 0.9], [0.5, 0.5], 0.5, "ge")
    assert mu[0] > 2.0 and mu[1] == 0.0  # projected at 0, never negative
    # "le" (a cap): exceeding the threshold is the violation
    np.testing.assert_allclose(dual_ascent_step([0.0, 0.3], [0.9, 0.2], [0.5, 0.5], 1.0, "le"), [0.4, 0.0])
    # "eq": free sign
    np.testing.assert_allclose(dual_ascent_step([0.0], [0.2], [0.5], 1.0, "eq"), [-0.3])


def test_violation_and_weights_follow_the_senses():
    np.testing.assert_allclose(constraint_violation([1.0, 1.0], [2.0, 0.5], ("ge", "le")), [1.0, 0.5])
    np.testing.assert_allclose(lagrangian_weights([0.5, 0.5], ("ge", "le")), [0.5, -0.5])
    np.testing.assert_allclose(lagrangian_weights([0.5, 0.5], "eq", objective_weights=[1.0, 2.0]), [0.5, 1.5])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(multipliers=[1.0], values=[1.0, 2.0], thresholds=[1.0, 1.0], lr=0.1), "multipliers has 1"),
        (dict(multipliers=[1.0], values=[1.0], thresholds=[1.0], lr=0.0), "lr must be"),
        (dict(multipliers=[1.0], values=[1.0], thresholds=[1.0], lr=0.1, sense="gt"), "sense must be one of"),
        (dict(multipliers=[-1.0], values=[1.0], thresholds=[1.0], lr=0.1), "inequality multipliers"),
        (dict(multipliers=[1.0], values=[np.nan], thresholds=[1.0], lr=0.1), "values must be finite"),
        (dict(multipliers=[1.0], values=[1.0], thresholds=[1.0, 2.0], lr=0.1), "thresholds must have 1"),
    ],
)
def test_dual_ascent_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        dual_ascent_step(**kwargs)


def test_run_bad_input():
    bandit = ProxyBandit.random(0)
    step, _ = bandit.make_step()
    with pytest.raises(ValueError, match="steps must be"):
        run_constrained(step, bandit.proxy_points, 0, 0.1)
    with pytest.raises(ValueError, match="dual_lr must be"):
        run_constrained(step, bandit.proxy_points, 10, -1.0)
    with pytest.raises(ValueError, match="max_evals must be"):
        nelder_mead_thresholds(step, lambda: 0.0, [0.0, 0.0], 5, 2, 0.1)
    with pytest.raises(ValueError, match="initial_step"):
        nelder_mead_thresholds(step, lambda: 0.0, [0.0, 0.0], 5, 10, 0.1, initial_step=0.0)
    with pytest.raises(ValueError, match="weights must have 2"):
        step(np.ones(3))
    with pytest.raises(ValueError, match="correlation"):
        ProxyBandit.random(0, correlation=1.0)
    with pytest.raises(ValueError, match="n_samples"):
        bandit.make_step(n_samples=1)
    with pytest.raises(ValueError, match="dual_lr"):
        make_constrained_rlhf({"dual_lr": 0.0})


# ----------------------------------------------------------------------------------- bandit behaviour


def _trace(result):
    return np.array([s for _, s in result.evals])


@pytest.mark.parametrize("n_samples", [None, 64])
def test_constrained_stays_at_the_proxy_points_while_a_strong_composite_overshoots(n_samples):
    bandit = ProxyBandit.random(4)  # its proxy points sit at weights mu* = (0.79, 1.89)
    step, state = bandit.make_step(lr=0.5, n_samples=n_samples, seed=0)
    score = lambda: bandit.true_score(state["logits"])  # noqa: E731
    con = run_constrained(step, bandit.proxy_points, 1500, 0.05, evaluate=score, eval_every=50)
    np.testing.assert_allclose(bandit.values(state["logits"]), bandit.proxy_points, atol=0.05)
    np.testing.assert_allclose(con.multipliers_final, bandit.mu_star, atol=0.15)  # = the KL-optimal weights
    assert _trace(con)[-1] > 0.99 and _trace(con).max() - _trace(con)[-1] < 0.01

    step, state = bandit.make_step(lr=0.5, n_samples=n_samples, seed=0)
    fixed = run_fixed_weights(step, [4.0, 4.0], 1500, evaluate=score, eval_every=5)
    v = bandit.values(state["logits"])
    assert np.all(v > bandit.proxy_points + 0.1)  # both components pushed past their proxy points
    assert _trace(fixed).max() > 0.8 and _trace(fixed)[-1] < 0.5  # the true score rose, then fell


def test_nelder_mead_finds_thresholds_near_the_proxy_points():
    bandit = ProxyBandit.random(2)
    step, state = bandit.make_step(lr=1.0)
    v0 = bandit.values(bandit.ref_logits)
    res = nelder_mead_thresholds(
        step,
        lambda: bandit.true_score(state["logits"]),
        v0 + 0.3,
        50,
        60,
        0.2,
        initial_step=0.5,
        final_steps=200,
    )
    np.testing.assert_allclose(res.thresholds, bandit.proxy_points, atol=0.1)
    assert res.score > 0.98 and bandit.true_score(state["logits"]) > 0.98
    assert len(res.trace) <= 60 and len(res.run.weights) == 50 * len(res.trace) + 200
    # the run went through the searched thresholds in one go: its scores are the trace's, in order
    np.testing.assert_allclose([s for _, s in res.trace], _trace(res.run)[: len(res.trace)])


def test_exact_step_ascends_the_kl_regularised_composite():
    bandit = ProxyBandit.random(1)
    step, state = bandit.make_step(lr=1.0)
    w = np.array([1.0, 0.5])
    for _ in range(3000):
        step(w)
    target = bandit.policy(bandit.composite_optimum(w))
    np.testing.assert_allclose(bandit.policy(state["logits"]), target, atol=1e-4)
    assert np.abs(bandit.policy(bandit.ref_logits) - target).max() > 0.05  # it did move


def test_spec_builds_a_trainer():
    assert CONSTRAINED_RLHF_SPEC.family == "preference" and CONSTRAINED_RLHF_SPEC.paper.year == 2024
    trainer = make_constrained_rlhf({"dual_lr": 0.1})
    assert isinstance(trainer, ConstrainedRLHF) and trainer.dual_lr == 0.1 and trainer.sense == "ge"


# ------------------------------------------------------------------------------------- testbed (RLOO)


def test_rloo_on_the_testbed_follows_the_length_weight():
    from optarena.preference.policy_gradient import RLOOTrainer, coverage_component, length_component
    from optarena.preference.testbed import TestbedConfig, split_prompts, train_sft

    cfg = TestbedConfig(**{**TestbedConfig.quick().__dict__, "sft_steps": 60, "n_sft": 500})
    sft = train_sft(cfg, 0)
    prompts = split_prompts(cfg, 0)["val"][:32]
    comps = [coverage_component(cfg), length_component(cfg)]
    lengths = {}
    for sign in (1.0, -1.0):  # reward or penalise length
        trainer = RLOOTrainer(sft, cfg, comps, prompts, beta=0.0, batch_prompts=8, lr=3e-3, seed=0)
        for _ in range(15):
            values = trainer.step(np.array([0.0, sign]))
        assert values.shape == (2,) and np.isfinite(trainer.true_score(prompts[:8]))
        lengths[sign] = trainer.component_means(prompts)[1]
    assert lengths[1.0] > lengths[-1.0] + 0.2
    with pytest.raises(ValueError, match="k must be"):
        RLOOTrainer(sft, cfg, comps, prompts, k=1)
    with pytest.raises(ValueError, match="weights must be 2"):
        trainer.step(np.ones(3))


def test_quick_claim_measure_reports_the_rule_metrics():
    import importlib
    import math
    from pathlib import Path

    from optarena.claims.spec import load_claim

    claim = load_claim(Path(__file__).resolve().parents[2] / "src/optarena/claims/constrained-rlhf.toml")
    assert claim.family == "preference" and claim.full.seeds >= 5
    module, _, fn = claim.experiment.partition(":")
    out = getattr(importlib.import_module(module), fn)(0, True, **claim.quick.options)
    for rule in claim.rules:
        assert rule.metric in out and math.isfinite(out[rule.metric]), rule.metric
    assert out["constrained_final"] > 0.99 and out["constrained_drop"] < 0.01  # T = 1 at the proxy points
