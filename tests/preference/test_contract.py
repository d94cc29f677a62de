"""Every preference loss passes the contract suite, and the suite catches broken losses."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from optarena.preference import dpo_loss
from optarena.testing.preference_checks import LOSS_INFOS, LossInfo, loss_checks, parametrize_with_checks


@parametrize_with_checks(LOSS_INFOS)
def test_loss_contract(check):
    check()


def test_every_spec_has_a_record():
    from optarena.preference.specs import PREFERENCE_SPECS

    names = {info.name for info in LOSS_INFOS}
    assert {s.name for s in PREFERENCE_SPECS} <= names | {n.split("_")[0] for n in names}


# ------------------------------------------------------------------- broken losses fail the right checks


def _failures(info: LossInfo) -> set[str]:
    failed = set()
    for check in loss_checks(info):
        try:
            check()
        except Exception:  # a crash fails the check too
            failed.add(check.name)
    return failed


DPO = next(i for i in LOSS_INFOS if i.name == "dpo")


def test_positive_control_passes_everything():
    assert _failures(DPO) == set()


def _no_mask(pc, pr, cm, rm, rc=None, rr=None, beta=0.1):
    # ignores the masks: sums padding too
    h = (pc.sum(-1) - rc.sum(-1)) - (pr.sum(-1) - rr.sum(-1))
    loss = -F.logsigmoid(beta * h).mean()
    return loss, {"loss": float(loss.detach())}


def _sign_flipped(*args, **kw):
    loss, m = dpo_loss(*args, **kw)
    return -loss, {**m, "loss": -m["loss"]}


def _sums_over_batch(*args, **kw):
    loss, m = dpo_loss(*args, **kw)
    loss = loss * args[0].shape[0]
    return loss, {**m, "loss": float(loss.detach())}


def _mutates(pc, *args, **kw):
    out = dpo_loss(pc, *args, **kw)
    with torch.no_grad():
        pc.mul_(1.0001)
    return out


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (_no_mask, {"padding_ignored", "empty_mask_raises", "shape_mismatch_raises", "bad_hyperparameters"}),
        (_sign_flipped, {"chosen_up_lowers_loss", "rejected_up_does_not_lower", "log2_at_reference"}),
        (_sums_over_batch, {"batch_of_one", "log2_at_reference"}),
        (_mutates, {"pure", "batch_of_one"}),  # batch_of_one slices views of the mutated batch,
    ],
    ids=["ignores-masks", "sign-flipped", "sums-over-batch", "mutates-input"],
)
def test_broken_losses_fail(fn, expected):
    info = dataclasses.replace(DPO, name="broken", loss=fn)
    failed = _failures(info)
    assert expected <= failed, f"expected {expected} to fail, got {failed}"
    if fn is not _no_mask:  # the wrapped ones still validate their inputs
        assert failed == expected


def test_known_failure_must_name_a_real_check():
    with pytest.raises(ValueError, match="no_such_check"):
        loss_checks(dataclasses.replace(DPO, known_failures={"no_such_check": "reason"}))


def test_random_batch_masks_keep_a_token():
    from optarena.testing.preference_checks import random_batch

    for seed in range(20):
        d = random_batch(seed=seed)
        assert d["cm"].any(-1).all() and d["rm"].any(-1).all()
        assert torch.all(d["pc"] < 0)
