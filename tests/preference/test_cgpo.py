"""CGPO: rule judges, the mixture of judges, CRPG / CRRAFT / CODPO pieces and steps, specs, the claim."""

from __future__ import annotations

import importlib
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from optarena.claims.spec import load_claim
from optarena.preference.cgpo import (
    CGPO,
    CGPO_SPECS,
    CGPOTrainer,
    MixtureOfJudges,
    calibrated_reward,
    codpo_pairs,
    coverage_judge,
    crpg_weights,
    crraft_select,
    evaluate_constrained,
    format_judge,
    length_judge,
    make_cgpo_codpo,
    make_cgpo_crpg,
    make_cgpo_crraft,
)
from optarena.preference.policy_gradient import RLOOTrainer
from optarena.preference.testbed import TestbedConfig, make_proxy_judge, split_prompts, train_sft

CFG = TestbedConfig.quick()
EOS = CFG.eos
CLAIMS = Path(__file__).resolve().parents[2] / "src" / "optarena" / "claims"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def small():
    cfg = TestbedConfig(**{**CFG.__dict__, "sft_steps": 60, "n_sft": 500})
    return cfg, train_sft(cfg, seed=0), split_prompts(cfg, 0)


def _params(model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def _same(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def _judges():
    return MixtureOfJudges({"length": length_judge(CFG), "format": format_judge(CFG)})


# ------------------------------------------------------------------------------------------------ judges


def test_rule_judges():
    prompt = (3, 1, 2)
    length, fmt, cover = length_judge(CFG), format_judge(CFG), coverage_judge(CFG)
    assert length(prompt, [1, 2, 3, EOS]) and length(prompt, [1, EOS])
    assert not length(prompt, [1, 2, 3, 3, EOS])  # 4 content tokens > 3
    assert length_judge(CFG, max_ratio=1.5)(prompt, [1, 2, 3, 3, EOS])
    assert fmt(prompt, [1, 2, 3, EOS]) and fmt(prompt, [EOS])
    assert not fmt(prompt, [1, 2, 3])  # no EOS
    assert not fmt(prompt, [1, CFG.sep, 3, EOS])  # a special token in the content
    assert cover(prompt, [3, 2, 1, EOS]) and cover(prompt, [1, 2, 3, 4, EOS])
    assert not cover(prompt, [1, 2, EOS])
    assert not cover((1, 1), [1, EOS])  # multiset: both 1s are required
    assert coverage_judge(CFG, min_share=0.5)((1, 1), [1, EOS])


def test_mixture_of_judges_is_the_and_of_its_judges():
    judges = _judges()
    prompts = [(3, 1, 2)] * 4
    responses = [[1, 2, 3, EOS], [1, 2, 3, 4, EOS], [1, 2], [1, 2, 3, 4, 5]]
    np.testing.assert_array_equal(
        judges.verdicts(prompts, responses), [[True, True], [False, True], [True, False], [False, False]]
    )
    np.testing.assert_array_equal(judges.accepted(prompts, responses), [True, False, False, False])
    rates = judges.violation_rates(prompts, responses)
    assert rates == {"violation_length": 0.5, "violation_format": 0.5, "violation_rate": 0.75}


def test_judge_bad_input():
    with pytest.raises(ValueError, match="non-empty mapping"):
        MixtureOfJudges({})
    with pytest.raises(ValueError, match="judge 'x' must be callable"):
        MixtureOfJudges({"x": 3})
    with pytest.raises(ValueError, match=r"judge 'score' must return a bool, got 0\.5"):
        MixtureOfJudges({"score": lambda p, r: 0.5}).accepted([(1,)], [[1, EOS]])
    with pytest.raises(ValueError, match="got 1 prompts but 2 responses"):
        _judges().accepted([(1,)], [[1], [2]])
    with pytest.raises(ValueError, match=r"max_ratio must be > 0\.0, got 0"):
        length_judge(CFG, max_ratio=0)
    with pytest.raises(ValueError, match=r"min_share must be <= 1, got 1\.5"):
        coverage_judge(CFG, min_share=1.5)


# ------------------------------------------------------------------------------------------ pure pieces


def test_crpg_gives_zero_weight_to_violating_samples():
    scores, ref = np.array([2.0, 5.0, 0.0, -1.0]), np.array([1.0, 1.0, 0.0, 0.0])
    accepted = np.array([True, False, True, False])
    w = crpg_weights(scores, ref, accepted)
    sig = 1 / (1 + np.exp(-(scores - ref)))
    np.testing.assert_allclose(w, [sig[0], 0.0, 0.5, 0.0])
    assert w[1] == 0.0 and w[3] == 0.0  # the highest raw score gets nothing when it violates
    np.testing.assert_allclose(calibrated_reward([0.0, 100.0], [0.0, 0.0]), [0.5, 1.0])


def test_crraft_selects_the_best_accepted_sample_and_skips_prompts_without_one():
    scores = [9.0, 3.0, 5.0, 1.0, 4.0, 4.0, 8.0, 0.0, 7.0, 6.0, 2.0, 1.0]  # 3 prompts, k = 4
    accepted = np.array([False, True, True, False, False, False, False, False, True, True, False, True])
    # prompt 0: best overall (9) violates -> 5; prompt 1: none accepted -> skipped; prompt 2: 7
    assert crraft_select(scores, accepted, 4) == [(0, 2), (2, 0)]
    assert crraft_select(scores, np.zeros(12, dtype=bool), 4) == []


def test_codpo_pairs_best_accepted_vs_worst_violating():
    # 4 prompts, k = 4; one row per prompt
    scores = np.array(
        [[5.0, 1.0, 3.0, 4.0], [2.0, 6.0, 6.0, 0.0], [1.0, 1.0, 1.0, 1.0], [3.0, 4.0, 5.0, 6.0]]
    )
    accepted = np.array(
        [
            [
                True,
                True,
                False,
                False,
            ],  # chosen 0 (5); rejected = worst violating 2 (3.0), not accepted 1 (1.0)
            [False, True, True, True],  # chosen 1 (first of the ties at 6); rejected = the only violating, 0
            [True, True, True, True],  # all accepted and tied -> no pair
            [False, False, False, False],  # none accepted -> no pair
        ]
    )
    scores, accepted = scores.ravel(), accepted.ravel()
    assert codpo_pairs(scores, accepted, 4) == [(0, 0, 2), (1, 1, 0)]
    # all accepted, not tied: rejected = the lowest-scoring accepted one
    assert codpo_pairs([1.0, 3.0, 2.0], np.ones(3, dtype=bool), 3) == [(0, 1, 0)]


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: crraft_select([1.0, 2.0, 3.0], np.ones(3, dtype=bool), 2), "multiple of k=2"),
        (lambda: crraft_select([1.0, 2.0], [1, 0], 2), "boolean"),
        (lambda: codpo_pairs([1.0, 2.0], np.ones(2, dtype=bool), 1), "k must be an int >= 2, got 1"),
        (lambda: crpg_weights([1.0], [0.0, 0.0], np.ones(1, dtype=bool)), "differs from ref_scores"),
        (lambda: crpg_weights([1.0], [0.0], [1]), "accepted must be a boolean"),
        (lambda: calibrated_reward([np.nan], [0.0]), "must be finite"),
    ],
)
def test_pieces_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ---------------------------------------------------------------------------------------------- trainer


@pytest.mark.parametrize("optimizer", ["crpg", "crraft", "codpo"])
def test_no_update_when_every_sample_violates(small, optimizer):
    cfg, sft, sets = small
    reject_all = {"never": lambda p, r: False}
    tr = CGPOTrainer(sft, cfg, make_proxy_judge(cfg), reject_all, sets["pairs"], optimizer, batch_prompts=4)
    before = _params(tr.policy)
    stats = tr.step()
    assert stats["violation_rate"] == 1.0 and stats["used"] == 0.0
    assert _same(before, _params(tr.policy))  # CRPG: all weights 0 -> zero gradient -> Adam moves nothing
    # the same step with a judge that accepts everything does move the policy (the test can fail)
    tr = CGPOTrainer(sft, cfg, make_proxy_judge(cfg), {"always": lambda p, r: True}, sets["pairs"], optimizer)
    tr.step()
    assert not _same(before, _params(tr.policy))


def test_crpg_gradient_ignores_violating_samples(small):
    """The CRPG gradient equals the gradient of the weighted log-likelihood of the accepted samples only."""
    cfg, sft, sets = small
    judges = {"length": length_judge(cfg, max_ratio=0.8)}  # rejects a good share of the SFT samples
    tr = CGPOTrainer(sft, cfg, make_proxy_judge(cfg), judges, sets["pairs"], "crpg", batch_prompts=8, seed=3)
    captured = {}
    original = tr.opt.step

    def spy(*a, **kw):
        captured["grads"] = [p.grad.clone() for p in tr.policy.parameters()]
        return original(*a, **kw)

    tr.opt.step = spy
    # replay the step's sampling to know which samples were accepted
    rng_state, gen_state = tr.rng.bit_generator.state, tr.gen.get_state()
    stats = tr.step()
    assert 0.0 < stats["violation_rate"] < 1.0
    from optarena.preference.model import response_logps
    from optarena.preference.testbed import encode_prompts, generate, pad_responses

    tr.rng.bit_generator.state = rng_state
    tr.gen.set_state(gen_state)
    policy = CGPOTrainer(sft, cfg, make_proxy_judge(cfg), judges, sets["pairs"], "crpg").policy  # = SFT copy
    idx = tr.rng.integers(len(tr.prompts), size=tr.batch_prompts)
    prompts = [tr.prompts[i] for i in idx for _ in range(tr.k)]
    x = encode_prompts(prompts, cfg)
    policy.eval()
    responses = generate(policy, x, cfg, 1.0, tr.gen)
    policy.train()
    acc = tr.judges.accepted(prompts, responses)
    keep = np.flatnonzero(acc)
    scores = np.array([tr.reward(p, r) for p, r in zip(prompts, responses, strict=True)])
    w = calibrated_reward(scores[keep], tr.ref_scores([prompts[i] for i in keep]))
    y, m = pad_responses(responses, cfg)
    lp = torch.where(m[keep], response_logps(policy, x[keep], y[keep]), 0.0).sum(-1)
    (-(torch.as_tensor(w, dtype=lp.dtype) * lp).sum() / len(prompts)).backward()
    for g, p in zip(captured["grads"], policy.parameters(), strict=True):
        torch.testing.assert_close(g, p.grad, rtol=1e-4, atol=1e-6)


def test_cgpo_lowers_the_violation_rate_vs_rloo(small):
    """Tiny run: RLOO on the length-hackable proxy drifts into violations; CRPG and CRRAFT stay inside."""
    cfg, sft, sets = small
    proxy, judges = make_proxy_judge(cfg), _judges()
    rloo = RLOOTrainer(sft, cfg, [proxy], sets["pairs"], beta=0.0, batch_prompts=8, lr=3e-3, seed=0)
    for _ in range(20):
        rloo.step(np.array([1.0]))
    base = evaluate_constrained(rloo.policy, sets["eval"], cfg, judges, proxy)
    start = evaluate_constrained(sft, sets["eval"], cfg, judges, proxy)
    assert base["violation_rate"] > start["violation_rate"]  # the proxy is hacked
    for optimizer in ("crpg", "crraft"):
        tr = CGPOTrainer(sft, cfg, proxy, judges, sets["pairs"], optimizer, batch_prompts=8, lr=3e-3)
        for _ in range(20):
            tr.step()
        ours = evaluate_constrained(tr.policy, sets["eval"], cfg, judges, proxy)
        assert ours["violation_rate"] < base["violation_rate"] - 0.2, (optimizer, ours, base)
        assert ours["true_score"] > base["true_score"], (optimizer, ours, base)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(optimizer="ppo"), "optimizer must be one of .* got 'ppo'"),
        (dict(k=1), "k must be an int >= 2, got 1"),
        (dict(batch_prompts=0), "batch_prompts must be an int >= 1, got 0"),
        (dict(lr=0.0), "lr must be > 0.0, got 0.0"),
        (dict(beta=float("nan")), "beta must be a finite number, got nan"),
        (dict(lam=-1.0), "lam must be >= 0.0, got -1.0"),
        (dict(kl_max=-0.5), "kl_max must be > 0.0, got -0.5"),
        (dict(reweight="yes"), "reweight must be a bool, got 'yes'"),
        (dict(prompts=[]), "prompts must not be empty"),
        (dict(reward=3), "reward must be callable, got 3"),
    ],
)
def test_trainer_bad_input(small, kwargs, match):
    cfg, sft, sets = small
    args = dict(reward=make_proxy_judge(cfg), judges=_judges(), prompts=sets["pairs"]) | kwargs
    with pytest.raises(ValueError, match=match):
        CGPOTrainer(sft, cfg, **args)


def test_crraft_reweight_and_kl_filter_run(small):
    cfg, sft, sets = small
    proxy = make_proxy_judge(cfg)
    tr = CGPOTrainer(sft, cfg, proxy, _judges(), sets["pairs"], "crraft", reweight=True, batch_prompts=4)
    assert math.isfinite(tr.step()["loss"])
    # a KL filter of ~0 nats still accepts samples at the SFT start (log-ratio exactly 0)
    tr = CGPOTrainer(sft, cfg, proxy, _judges(), sets["pairs"], "crpg", kl_max=1e-6, batch_prompts=4)
    assert tr.step()["used"] > 0


# ------------------------------------------------------------------------------------------------ specs


def test_specs_build_trainer_objects():
    assert [make_cgpo_crpg().optimizer, make_cgpo_codpo().optimizer, make_cgpo_crraft().optimizer] == [
        "crpg",
        "codpo",
        "crraft",
    ]
    assert make_cgpo_codpo({"beta": 0.5}).beta == 0.5
    assert make_cgpo_crraft({"reweight": True}).reweight is True
    for spec in CGPO_SPECS:
        assert spec.family == "preference" and "trainer" in spec.capabilities
        assert spec.paper is not None and spec.paper.arxiv == "2409.20370"
    from optarena.preference.specs import PREFERENCE_SPECS  # losses only: CGPO trainers stay out

    assert not {s.name for s in CGPO_SPECS} & {s.name for s in PREFERENCE_SPECS}
    with pytest.raises(ValueError, match="optimizer must be one of"):
        CGPO(optimizer="dpo")
    with pytest.raises(ValueError, match="lr"):
        make_cgpo_crpg({"lr": 10.0})


# ------------------------------------------------------------------------------------------------ claim


def test_claim_quick_measure_reports_the_rule_metrics():
    claim = load_claim(CLAIMS / "cgpo.toml")
    assert claim.family == "preference" and claim.full.seeds >= 5
    module, _, fn = claim.experiment.partition(":")
    out = getattr(importlib.import_module(module), fn)(0, True, **claim.quick.options)
    for rule in claim.rules:
        assert rule.metric in out and math.isfinite(out[rule.metric]), rule.metric
    assert all(isinstance(v, float) and math.isfinite(v) for v in out.values())
