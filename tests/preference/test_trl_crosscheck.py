"""Cross-check against TRL's implementations (optional: needs ``trl``, which is heavy; marked slow).

Checked against TRL 1.16.0 (with transformers 5.24.0). DPO, IPO and RPO are compared end to end on a
real batch: a tiny random Llama and a word-level tokenizer built in memory (no download), a
``DPOTrainer`` with a separate reference model (``precompute_ref_log_probs=False``), and a ragged batch of
four pairs from the trainer's own dataset and collator (``[chosen; rejected]`` concatenated, with
``completion_mask``). TRL's loss is ``trainer.compute_loss(model, batch)``, which computes per-token
log-probs with its fused LM head; ours is computed from per-token log-probs we take ourselves
(``log_softmax`` of the same models' logits at the completion positions). Both the loss and the policy
gradient must agree. The mapping of parameters:

- DPO: ``loss_type=["sigmoid"]``, ``beta`` = our ``beta``.
- IPO: ``loss_type=["ipo"]`` (length-normalised in TRL), ``beta`` = our ``tau`` with
  ``length_normalize=True``.
- RPO: ``loss_type=["sigmoid", "sft"]``, ``loss_weights=[1, w]`` (``sft`` = token-mean NLL of the chosen
  responses) = our ``rpo_loss(beta=beta, eta=w / beta, nll="token_mean")``.
- SimPO: ``trl.experimental.cpo.CPOTrainer(loss_type="simpo", cpo_alpha=0.0)``, whose ``cpo_loss`` takes
  average log-probs, on a synthetic batch.

If TRL changes these APIs, this test fails loudly.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from optarena.preference import dpo_loss, ipo_loss, rpo_loss, simpo_loss
from optarena.testing.preference_checks import random_batch

pytestmark = pytest.mark.slow
trl = pytest.importorskip("trl")
transformers = pytest.importorskip("transformers")
datasets = pytest.importorskip("datasets")
tokenizers = pytest.importorskip("tokenizers")


# TRL 1.x defaults to bf16 training, which a CPU-only torch refuses: run the trainers in fp32 on CPU.
_CPU = {"bf16": False, "use_cpu": True}
_ATOL = 1e-5  # float32 end to end; TRL's fused LM head and our log_softmax differ only in rounding


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
        initializer_range=0.2,  # logits far from uniform, so the log-ratio gaps are not ~0
    )
    torch.manual_seed(0)
    model, ref = transformers.LlamaForCausalLM(config), transformers.LlamaForCausalLM(config)
    # Prompts, chosen and rejected of different lengths: the collated batch has padding on both sides.
    data = datasets.Dataset.from_dict(
        {
            "prompt": ["a b", "c", "d a b", "b"],
            "chosen": [" a b", " c d c", " d", " a a b c"],
            "rejected": [" b a c", " d", " d c b a", " c"],
        }
    )
    return tokenizer, model, ref, data


def _dpo_trainer(tmp_path, **config):
    tokenizer, model, ref, data = _tiny_setup(tmp_path)
    args = trl.DPOConfig(
        output_dir=str(tmp_path),
        report_to=[],
        per_device_train_batch_size=len(data),
        precompute_ref_log_probs=False,
        **_CPU,
        **config,
    )
    trainer = trl.DPOTrainer(
        model=model, ref_model=ref, args=args, train_dataset=data, processing_class=tokenizer
    )
    assert trainer.ref_model is not None and trainer.ref_model is not trainer.model
    trainer.model.eval()  # no dropout (the tiny Llama has none; eval() makes that explicit)
    trainer.ref_model.eval()
    return trainer


def _batch(trainer) -> dict[str, Tensor]:
    ds = trainer.train_dataset
    return trainer.data_collator([ds[i] for i in range(len(ds))])


def _per_token_logps(model, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Our own per-token log-probs of the next tokens and completion masks, split into chosen / rejected."""
    ids = batch["input_ids"]
    logits = model(input_ids=ids, attention_mask=batch["attention_mask"]).logits[:, :-1]
    logps = torch.log_softmax(logits.float(), dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    mask = batch["completion_mask"][:, 1:].bool()
    (pc, pr), (cm, rm) = logps.chunk(2, dim=0), mask.chunk(2, dim=0)
    return pc, pr, cm, rm


def _grads(model) -> list[Tensor]:
    return [p.grad.detach().clone() for p in model.parameters() if p.grad is not None]


def _compare(trainer, ours_fn: Callable[..., tuple[Tensor, dict]], wrong: dict[str, float]) -> None:
    """TRL's loss and policy gradient on the collated batch equal ours; a wrong hyperparameter does not."""
    model, batch = trainer.model, _batch(trainer)
    assert batch["completion_mask"].shape[0] == 8 and not bool(batch["attention_mask"].all())  # padded

    model.zero_grad(set_to_none=True)
    theirs = trainer.compute_loss(model, batch)
    theirs.backward()
    theirs_grads = _grads(model)

    model.zero_grad(set_to_none=True)
    with torch.no_grad():
        rc, rr, _, _ = _per_token_logps(trainer.ref_model, batch)
    pc, pr, cm, rm = _per_token_logps(model, batch)
    ours = ours_fn(pc, pr, cm, rm, rc, rr)[0]
    ours.backward()
    ours_grads = _grads(model)

    assert torch.allclose(ours.detach(), theirs.detach(), atol=_ATOL, rtol=0), (ours, theirs)
    assert len(ours_grads) == len(theirs_grads) > 0
    for g_ours, g_theirs in zip(ours_grads, theirs_grads, strict=True):
        assert torch.allclose(g_ours, g_theirs, atol=_ATOL, rtol=1e-4)
    # The batch discriminates: the same loss with a wrong hyperparameter is far from TRL's.
    with torch.no_grad():
        off = ours_fn(pc, pr, cm, rm, rc, rr, **wrong)[0]
    assert abs(float(off) - float(theirs.detach())) > 100 * _ATOL, (off, theirs)


@pytest.mark.parametrize("beta", [0.1, 0.5])
def test_dpo_sigmoid_matches_trl_end_to_end(tmp_path, beta):
    trainer = _dpo_trainer(tmp_path, beta=beta, loss_type=["sigmoid"])

    def ours(*lp, beta=beta):
        return dpo_loss(*lp, beta=beta)

    _compare(trainer, ours, wrong={"beta": 2 * beta})


def test_ipo_matches_trl_with_length_normalisation_end_to_end(tmp_path):
    tau = 0.1
    trainer = _dpo_trainer(tmp_path, beta=tau, loss_type=["ipo"])

    def ours(*lp, tau=tau):
        return ipo_loss(*lp, tau=tau, length_normalize=True)

    _compare(trainer, ours, wrong={"tau": 2 * tau})


def test_rpo_token_mean_matches_trl_sigmoid_plus_sft_end_to_end(tmp_path):
    beta, weight = 0.1, 0.7
    trainer = _dpo_trainer(tmp_path, beta=beta, loss_type=["sigmoid", "sft"], loss_weights=[1.0, weight])

    def ours(*lp, beta=beta, eta=weight / beta):
        return rpo_loss(*lp, beta=beta, eta=eta, nll="token_mean")

    _compare(trainer, ours, wrong={"eta": 0.5 * weight / beta})


def test_simpo_matches_trl_cpo_with_alpha_zero(tmp_path):
    from trl.experimental.cpo import CPOConfig, CPOTrainer

    d = random_batch(dtype=torch.float32)
    tokenizer, model, _, data = _tiny_setup(tmp_path)
    args = CPOConfig(
        output_dir=str(tmp_path),
        report_to=[],
        loss_type="simpo",
        cpo_alpha=0.0,
        beta=2.0,
        simpo_gamma=0.8,
        **_CPU,
    )
    trainer = CPOTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer)
    avg_c = (d["pc"] * d["cm"]).sum(-1) / d["cm"].sum(-1)
    avg_r = (d["pr"] * d["rm"]).sum(-1) / d["rm"].sum(-1)
    theirs = trainer.cpo_loss(avg_c, avg_r)[0].mean()
    ours = simpo_loss(d["pc"], d["pr"], d["cm"], d["rm"], beta=2.0, gamma=0.8)[0]
    assert torch.allclose(ours, theirs, atol=1e-6)
