"""The offline sorting testbed: judges, demonstrations, the tiny transformer, SFT, pairs, training, metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from optarena.preference.model import TinyGPT, response_logps
from optarena.preference.specs import make_dpo, make_simpo
from optarena.preference.testbed import (
    TestbedConfig,
    build_pairs,
    edit_distance,
    encode_prompts,
    evaluate,
    generate,
    make_proxy_judge,
    noisy_demo,
    pad_responses,
    split_prompts,
    train_preference,
    train_sft,
    true_judge,
)

CFG = TestbedConfig.quick()
EOS = CFG.eos


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def sft() -> TinyGPT:
    return train_sft(CFG, seed=0)


@pytest.fixture(scope="module")
def pairs(sft):
    return build_pairs(sft, split_prompts(CFG, 0)["pairs"], true_judge(CFG), CFG, seed=0)


def test_edit_distance():
    assert edit_distance([1, 2, 3], [1, 2, 3]) == 0
    assert edit_distance([2, 1, 3], [1, 2, 3]) == 2  # a swap is two edits
    assert edit_distance([1, 3], [1, 2, 3]) == 1
    assert edit_distance([], [4, 5]) == 2
    assert edit_distance("kitten", "sitting") == 3


def test_judges():
    judge, proxy = true_judge(CFG), make_proxy_judge(CFG, bonus=1.5)
    prompt = (3, 1, 2)
    assert judge(prompt, [1, 2, 3, EOS]) == 0.0
    assert judge(prompt, [1, 2, 3]) == -1.0  # no EOS
    assert judge(prompt, [1, 2, 3, EOS, 7, 7]) == 0.0  # what follows EOS is not read
    assert judge(prompt, [1, 2, 3, 3, 3, EOS]) == -2.0
    assert proxy(prompt, [1, 2, 3, EOS]) == 4.5
    # the proxy prefers a longer, wrong response: the hackable bonus
    assert proxy(prompt, [1, 2, 3, 3, 3, EOS]) > proxy(prompt, [1, 2, 3, EOS])


def test_noisy_demo():
    rng = np.random.default_rng(0)
    clean = TestbedConfig(demo_noise=0.0)
    prompts = [tuple(int(t) for t in rng.integers(0, 16, 6)) for _ in range(50)]
    assert all(noisy_demo(p, clean, rng) == [*sorted(p), clean.eos] for p in prompts)
    noisy = TestbedConfig(demo_noise=1.0)
    dists = [edit_distance(noisy_demo(p, noisy, rng)[:-1], sorted(p)) for p in prompts]
    assert max(dists) <= 2 and np.mean(dists) > 0.8


def test_encoding_and_padding():
    x = encode_prompts([(1, 2, 3), (4, 5, 6, 7, 0)], CFG)
    assert x.shape == (2, CFG.prompt_width)
    assert x[0].tolist() == [CFG.pad, CFG.pad, CFG.bos, 1, 2, 3, CFG.sep]
    y, m = pad_responses([[1, EOS], [1, 2, 3, EOS]], CFG)
    assert y.shape == m.shape == (2, CFG.response_width)
    assert m.sum(-1).tolist() == [2, 4] and y[0, 2].item() == CFG.pad


def test_response_logps_match_the_logits():
    model = CFG.new_model(0)
    x = encode_prompts([(1, 2, 3)], CFG)
    y, _ = pad_responses([[1, 2, EOS]], CFG)
    lp = response_logps(model, x, y)
    seq = torch.cat([x, y], 1)
    logits = model(seq)
    p = x.shape[1]
    for t in range(3):
        expected = torch.log_softmax(logits[0, p - 1 + t], -1)[y[0, t]]
        assert torch.allclose(lp[0, t], expected, atol=1e-6)


def test_model_is_causal():
    model = CFG.new_model(1)
    a = torch.tensor([[1, 2, 3, 4, 5]])
    b = torch.tensor([[1, 2, 3, 0, 0]])
    assert torch.allclose(model(a)[:, :3], model(b)[:, :3], atol=1e-6)
    assert not torch.allclose(model(a)[:, 4], model(b)[:, 4])


def test_bad_config_raises():
    with pytest.raises(ValueError, match="min_len"):
        TestbedConfig(min_len=5, max_len=3)
    with pytest.raises(ValueError, match="samples_per_prompt"):
        TestbedConfig(samples_per_prompt=1)
    with pytest.raises(ValueError, match="n_heads=3"):
        TinyGPT(10, 8, d_model=32, n_heads=3)


def test_sft_learns_the_task(sft):
    prompts = split_prompts(CFG, 0)["eval"]
    x = encode_prompts(prompts, CFG)
    judge = true_judge(CFG)
    trained = np.mean([judge(p, r) for p, r in zip(prompts, generate(sft, x, CFG, 0.0, None), strict=True)])
    untrained = CFG.new_model(0)
    baseline = np.mean(
        [judge(p, r) for p, r in zip(prompts, generate(untrained, x, CFG, 0.0, None), strict=True)]
    )
    assert trained > -1.5 and trained > baseline + 2.0
    # greedy responses stop with EOS and stay within the response width
    assert all(len(r) <= CFG.response_width for r in generate(sft, x, CFG, 0.0, None))


def test_pairs_are_labelled_by_the_judge(sft, pairs):
    assert len(pairs) > CFG.n_pairs // 2
    assert bool((pairs.chosen_true > pairs.rejected_true).all())  # labelled by the true judge, ties dropped
    assert torch.allclose(pairs.ref_chosen, response_logps(sft, pairs.prompts, pairs.chosen))
    # proxy labels prefer longer responses more often than true labels do
    proxy_pairs = build_pairs(sft, split_prompts(CFG, 0)["pairs"], make_proxy_judge(CFG), CFG, seed=0)
    longer = (proxy_pairs.chosen_mask.sum(-1) > proxy_pairs.rejected_mask.sum(-1)).float().mean()
    longer_true = (pairs.chosen_mask.sum(-1) > pairs.rejected_mask.sum(-1)).float().mean()
    assert longer > longer_true


def test_evaluate_sft_against_itself(sft, pairs):
    m = evaluate(sft, sft, split_prompts(CFG, 0)["eval"], CFG, seed=0, heldout=pairs)
    assert m["win_rate"] == 0.5 and m["win_rate_greedy"] == 0.5
    assert m["kl_to_sft"] == pytest.approx(0.0, abs=1e-6)
    assert m["chosen_logp_drift"] == pytest.approx(0.0, abs=1e-5)
    assert 0.0 <= m["exact_match"] <= 1.0 and m["length"] > 0


def test_preference_training_moves_the_policy_deterministically(sft, pairs):
    dpo = make_dpo({"beta": 0.5})
    a = train_preference(sft, pairs, dpo, CFG, seed=3, steps=15)
    b = train_preference(sft, pairs, dpo, CFG, seed=3, steps=15)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    # the implicit reward margin on the training pairs grows: DPO's loss falls below log 2
    lc = response_logps(a, pairs.prompts, pairs.chosen)
    lr = response_logps(a, pairs.prompts, pairs.rejected)
    loss, metrics = dpo(lc, lr, pairs.chosen_mask, pairs.rejected_mask, pairs.ref_chosen, pairs.ref_rejected)
    assert float(loss.detach()) < np.log(2) - 0.02 and metrics["reward_accuracy"] > 0.6
    # the SFT start is untouched, and a reference-free loss trains through the same loop
    assert torch.allclose(pairs.ref_chosen, response_logps(sft, pairs.prompts, pairs.chosen))
    s = train_preference(sft, pairs, make_simpo({}), CFG, seed=3, steps=15)
    m = evaluate(s, sft, split_prompts(CFG, 0)["eval"][:32], CFG, seed=0, heldout=pairs)
    assert m["kl_to_sft"] > 0.0 and 0.0 <= m["ranking_accuracy"] <= 1.0
