"""Cross-check against TRL's implementations (optional: needs ``trl``, which is heavy; marked slow).

Written against TRL's documented API (1.x): ``DPOConfig(loss_type=[...], loss_weights=[...])`` with
``DPOTrainer.dpo_loss(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, loss_type,
model_output)``, RPO as ``loss_type=["sigmoid", "sft"]`` (``sft`` = the token-mean NLL of the chosen
responses, passed as ``model_output["nll_loss"]``), and SimPO as ``CPOTrainer(loss_type="simpo",
cpo_alpha=0.0)`` whose ``cpo_loss`` takes average log-probs. A tiny random Llama and a word-level tokenizer
are built in memory (no download). If TRL changes these methods, this test fails loudly.
"""

from __future__ import annotations

import pytest
import torch

from optarena.preference import dpo_loss, ipo_loss, rpo_loss, simpo_loss
from optarena.testing.preference_checks import random_batch

pytestmark = pytest.mark.slow
trl = pytest.importorskip("trl")
transformers = pytest.importorskip("transformers")
datasets = pytest.importorskip("datasets")
tokenizers = pytest.importorskip("tokenizers")


def _tiny_setup(tmp_path):
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[EOS]", "a", "b", "c", "d"])}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.WhitespaceSplit()
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", eos_token="[EOS]", unk_token="[UNK]"
    )
    config = transformers.LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=32,
    )
    torch.manual_seed(0)
    model, ref = transformers.LlamaForCausalLM(config), transformers.LlamaForCausalLM(config)
    data = datasets.Dataset.from_dict(
        {"prompt": ["a b", "c d"], "chosen": [" a b", " c d"], "rejected": [" b a", " d c"]}
    )
    return tokenizer, model, ref, data


def _sums(d):
    pc = (d["pc"] * d["cm"]).sum(-1)
    pr = (d["pr"] * d["rm"]).sum(-1)
    rc = (d["rc"] * d["cm"]).sum(-1)
    rr = (d["rr"] * d["rm"]).sum(-1)
    return pc, pr, rc, rr


def _dpo_trainer(tmp_path, **config):
    tokenizer, model, ref, data = _tiny_setup(tmp_path)
    args = trl.DPOConfig(output_dir=str(tmp_path), report_to=[], per_device_train_batch_size=2, **config)
    return trl.DPOTrainer(
        model=model, ref_model=ref, args=args, train_dataset=data, processing_class=tokenizer
    )


@pytest.mark.parametrize("beta", [0.1, 0.5])
def test_dpo_sigmoid_matches_trl(tmp_path, beta):
    d = random_batch(dtype=torch.float32)
    trainer = _dpo_trainer(tmp_path, beta=beta, loss_type=["sigmoid"])
    pc, pr, rc, rr = _sums(d)
    theirs = trainer.dpo_loss(pc, pr, rc, rr, "sigmoid", {})[0].mean()
    ours = dpo_loss(d["pc"], d["pr"], d["cm"], d["rm"], d["rc"], d["rr"], beta=beta)[0]
    assert torch.allclose(ours, theirs, atol=1e-6)


def test_ipo_matches_trl_with_length_normalisation(tmp_path):
    d = random_batch(dtype=torch.float32)
    trainer = _dpo_trainer(tmp_path, beta=0.1, loss_type=["ipo"])
    pc, pr, rc, rr = _sums(d)
    nc, nr = d["cm"].sum(-1), d["rm"].sum(-1)
    theirs = trainer.dpo_loss(pc / nc, pr / nr, rc / nc, rr / nr, "ipo", {})[0].mean()
    ours = ipo_loss(d["pc"], d["pr"], d["cm"], d["rm"], d["rc"], d["rr"], tau=0.1, length_normalize=True)[0]
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_rpo_token_mean_matches_trl_sigmoid_plus_sft(tmp_path):
    d = random_batch(dtype=torch.float32)
    weight = 0.7
    trainer = _dpo_trainer(tmp_path, beta=0.1, loss_type=["sigmoid", "sft"], loss_weights=[1.0, weight])
    pc, pr, rc, rr = _sums(d)
    nll = -(d["pc"] * d["cm"]).sum() / d["cm"].sum()  # TRL: cross-entropy over all chosen tokens
    sig = trainer.dpo_loss(pc, pr, rc, rr, "sigmoid", {"nll_loss": nll})[0]
    sft = trainer.dpo_loss(pc, pr, rc, rr, "sft", {"nll_loss": nll})[0]
    theirs = (sig + weight * sft).mean()
    ours = rpo_loss(
        d["pc"], d["pr"], d["cm"], d["rm"], d["rc"], d["rr"], beta=0.1, eta=weight / 0.1, nll="token_mean"
    )[0]
    assert torch.allclose(ours, theirs, atol=1e-6)


def test_simpo_matches_trl_cpo_with_alpha_zero(tmp_path):
    from trl.experimental.cpo import CPOConfig, CPOTrainer

    d = random_batch(dtype=torch.float32)
    tokenizer, model, _, data = _tiny_setup(tmp_path)
    args = CPOConfig(
        output_dir=str(tmp_path), report_to=[], loss_type="simpo", cpo_alpha=0.0, beta=2.0, simpo_gamma=0.8
    )
    trainer = CPOTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer)
    avg_c = (d["pc"] * d["cm"]).sum(-1) / d["cm"].sum(-1)
    avg_r = (d["pr"] * d["rm"]).sum(-1) / d["rm"].sum(-1)
    theirs = trainer.cpo_loss(avg_c, avg_r)[0].mean()
    ours = simpo_loss(d["pc"], d["pr"], d["cm"], d["rm"], beta=2.0, gamma=0.8)[0]
    assert torch.allclose(ours, theirs, atol=1e-6)
