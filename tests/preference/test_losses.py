"""Golden values of every loss, computed by hand from the papers' formulas, and the specs."""

from __future__ import annotations

import math

import pytest
import torch

from optarena.core.errors import HyperparameterError
from optarena.preference import (
    PreferenceInputError,
    codpo_loss,
    dpo_loss,
    ipo_loss,
    rpo_loss,
    rrhf_loss,
    simpo_loss,
)
from optarena.preference.specs import PREFERENCE_SPECS


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


# One pair by hand: chosen tokens (-1, -2), rejected (-0.5, -0.5, [-1 padded]);
# reference chosen (-1.5, -2), rejected (-0.5, -0.25, [-9 padded]).
# Sums: pc = -3, pr = -1, ref_c = -3.5, ref_r = -0.75; lengths 2 and 2.
# h = (pc - ref_c) - (pr - ref_r) = 0.5 - (-0.25) = 0.75.
PC = torch.tensor([[-1.0, -2.0]], dtype=torch.float64)
PR = torch.tensor([[-0.5, -0.5, -1.0]], dtype=torch.float64)
CM = torch.tensor([[True, True]])
RM = torch.tensor([[True, True, False]])
RC = torch.tensor([[-1.5, -2.0]], dtype=torch.float64)
RR = torch.tensor([[-0.5, -0.25, -9.0]], dtype=torch.float64)
ARGS = (PC, PR, CM, RM, RC, RR)
DPO_01 = softplus(-0.1 * 0.75)  # -log sigma(0.075)


def value(out) -> float:
    return float(out[0])


def test_dpo_golden():
    assert value(dpo_loss(*ARGS, beta=0.1)) == pytest.approx(DPO_01, abs=1e-12)
    assert value(dpo_loss(*ARGS, beta=1.0)) == pytest.approx(softplus(-0.75), abs=1e-12)
    _, m = dpo_loss(*ARGS, beta=0.1)
    assert m["reward_chosen"] == pytest.approx(0.05) and m["reward_rejected"] == pytest.approx(-0.025)
    assert m["reward_accuracy"] == 1.0 and m["len_rejected"] == 2.0


def test_ipo_golden():
    assert value(ipo_loss(*ARGS, tau=0.1)) == pytest.approx((0.75 - 5.0) ** 2, abs=1e-12)
    # length-normalised: ratios 0.5 / 2 and -0.25 / 2 -> h = 0.375
    assert value(ipo_loss(*ARGS, tau=0.1, length_normalize=True)) == pytest.approx(
        (0.375 - 5.0) ** 2, abs=1e-12
    )


def test_simpo_golden():
    # avg log-probs: -1.5 and -0.5 -> rewards -3.75 and -1.25; z = -3.75 + 1.25 - 1.375 = -3.875
    assert value(simpo_loss(*ARGS)) == pytest.approx(softplus(3.875), abs=1e-12)
    assert value(simpo_loss(PC, PR, CM, RM, beta=2.0, gamma=0.0)) == pytest.approx(softplus(2.0), abs=1e-12)


def test_rpo_golden_sum_and_token_mean():
    assert value(rpo_loss(*ARGS, beta=0.1, eta=2.0)) == pytest.approx(DPO_01 + 0.2 * 3.0, abs=1e-12)
    # two pairs: the second has chosen (-1, [pad]) and rejected (-1, -1, [pad]) with ref = policy (h = 0)
    pc = torch.tensor([[-1.0, -2.0], [-1.0, -7.0]], dtype=torch.float64)
    pr = torch.tensor([[-0.5, -0.5, -1.0], [-1.0, -1.0, -3.0]], dtype=torch.float64)
    cm = torch.tensor([[True, True], [True, False]])
    rm = torch.tensor([[True, True, False], [True, True, False]])
    rc = torch.tensor([[-1.5, -2.0], [-1.0, 0.0]], dtype=torch.float64)
    rr = torch.tensor([[-0.5, -0.25, -9.0], [-1.0, -1.0, 0.0]], dtype=torch.float64)
    dpo = (DPO_01 + math.log(2)) / 2
    # summed NLL: mean of 3 and 1 = 2; token mean: (3 + 1) / 3 tokens
    assert value(rpo_loss(pc, pr, cm, rm, rc, rr, beta=0.1, eta=1.0)) == pytest.approx(
        dpo + 0.1 * 2.0, abs=1e-12
    )
    got = value(rpo_loss(pc, pr, cm, rm, rc, rr, beta=0.1, eta=1.0, nll="token_mean"))
    assert got == pytest.approx(dpo + 0.1 * 4.0 / 3.0, abs=1e-12)
    # eta = 0 is DPO
    assert value(rpo_loss(*ARGS, beta=0.1, eta=0.0)) == pytest.approx(DPO_01, abs=1e-12)


def test_rrhf_golden():
    # p_w = -3 / 2, p_l = -1 / 2 -> hinge 1; SFT term 3
    assert value(rrhf_loss(PC, PR, CM, RM)) == pytest.approx(4.0, abs=1e-12)
    # no length normalisation: p_w = -3, p_l = -1 -> hinge 2
    assert value(rrhf_loss(PC, PR, CM, RM, length_penalty=0.0)) == pytest.approx(5.0, abs=1e-12)
    # ranked right: no hinge, only the SFT term
    assert value(rrhf_loss(PR[:, :2], PC, CM, CM, rank_weight=100.0)) == pytest.approx(1.0, abs=1e-12)


def test_codpo_golden():
    assert value(codpo_loss(*ARGS, beta=0.1, lam=1.0)) == pytest.approx(DPO_01 + 1.5, abs=1e-12)
    assert value(codpo_loss(*ARGS, beta=0.1, lam=0.0)) == pytest.approx(DPO_01, abs=1e-12)


def test_gradient_of_dpo_matches_the_paper():
    # d L / d log pi(y_w) = -beta * sigma(-beta h) for every chosen token
    pc = PC.clone().requires_grad_(True)
    dpo_loss(pc, PR, CM, RM, RC, RR, beta=0.1)[0].backward()
    expected = -0.1 / (1 + math.exp(0.075))
    assert torch.allclose(pc.grad, torch.full_like(pc, expected), atol=1e-14)


def test_masks_may_be_0_1_integers():
    assert value(dpo_loss(PC, PR, CM.long(), RM.int(), RC, RR)) == pytest.approx(DPO_01, abs=1e-12)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((PC, PR, CM.long() * 2, RM, RC, RR), r"boolean or 0/1"),
        ((PC[0], PR, CM, RM, RC, RR), r"shape \(batch, tokens\)"),
        ((PC.long(), PR, CM, RM, RC, RR), r"floating"),
        ((PC, PR, CM, RM, RC, None), r"both ref_chosen_logps and ref_rejected_logps"),
        ((PC, PR, CM, RM, RC[:, :1], RR), r"ref_chosen_logps: shape"),
        ((PC * math.nan, PR, CM, RM, RC, RR), r"non-finite"),
    ],
)
def test_bad_inputs_name_the_problem(args, match):
    with pytest.raises((PreferenceInputError, TypeError), match=match):
        dpo_loss(*args)


def test_specs_are_complete_and_bind_hyperparameters():
    assert len({s.name for s in PREFERENCE_SPECS}) == 6
    for spec in PREFERENCE_SPECS:
        assert spec.family == "preference" and spec.paper is not None and spec.paper.year >= 2023
        assert set(spec.defaults) == set(spec.search_space.names)
        for i in range(3):  # Halton points of the search space are accepted and give finite losses
            loss = spec.load_factory()(spec.search_space.sample(i))
            assert torch.isfinite(loss(*ARGS)[0])
    dpo = next(s for s in PREFERENCE_SPECS if s.name == "dpo")
    assert value(dpo.load_factory()({"beta": 1.0})(*ARGS)) == pytest.approx(softplus(-0.75), abs=1e-12)
    with pytest.raises(HyperparameterError, match="beta"):
        dpo.load_factory()({"beta": 5.0})
    with pytest.raises(HyperparameterError, match="unknown hyperparameter 'gamma'"):
        dpo.load_factory()({"gamma": 1.0})
