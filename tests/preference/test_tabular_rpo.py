"""RPO in the exact tabular case: the loss and its gradient against the shared ``rpo_loss``, RPO at eta = 0
equals DPO's fit, what DPO's gradient does to uncovered arms, the exact RPO infimum, over-optimisation on a
poorly covered arm, bad inputs and the claim experiment."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from optarena.preference.losses import dpo_loss, rpo_loss
from optarena.preference.tabular import (
    TabularBandit,
    TabularPairs,
    TabularPolicy,
    dpo_fit_tabular,
    tabular_pair_logps,
)
from optarena.preference.tabular_rpo import (
    coverage,
    gd_lipschitz,
    rpo_fit_tabular,
    rpo_gd_tabular,
    rpo_tabular_grad,
    rpo_tabular_loss,
)

CLAIMS = Path(__file__).resolve().parents[2] / "src" / "optarena" / "claims"


pytestmark = pytest.mark.usefixtures("one_thread")


def _pairs(rows: list[tuple[int, int, int]]) -> TabularPairs:
    a = np.asarray(rows, dtype=np.int64)
    return TabularPairs(a[:, 0], a[:, 1], a[:, 2])


def _random_case(seed: int = 0, n: int = 6):
    bandit = TabularBandit.random(3, 5, seed)
    pairs = bandit.sample_pairs(bandit.ref_logits, n, np.random.default_rng(seed))
    logits = bandit.ref_logits + np.random.default_rng(seed + 1).standard_normal(bandit.shape)
    return bandit, pairs, logits


def _torch_loss(logits, ref, pairs, beta, eta):
    policy = TabularPolicy(logits)
    c, r, mc, mr = tabular_pair_logps(policy, pairs)
    with torch.no_grad():
        rc, rr, _, _ = tabular_pair_logps(TabularPolicy(ref), pairs)
    if eta == 0:
        loss, _ = dpo_loss(c, r, mc, mr, rc, rr, beta=beta)
    else:
        loss, _ = rpo_loss(c, r, mc, mr, rc, rr, beta=beta, eta=eta, nll="sum")
    loss.backward()
    return float(loss.detach()), policy.logits.grad.numpy()


@pytest.mark.parametrize("eta", [0.0, 0.3, 2.0])
def test_loss_and_gradient_match_the_shared_rpo_loss(eta):
    bandit, pairs, logits = _random_case()
    beta = 0.7
    value, grad = _torch_loss(logits, bandit.ref_logits, pairs, beta, eta)
    assert rpo_tabular_loss(logits, bandit.ref_logits, pairs, beta, eta) == pytest.approx(value, rel=1e-10)
    np.testing.assert_allclose(
        rpo_tabular_grad(logits, bandit.ref_logits, pairs, beta, eta), grad, atol=1e-12
    )


def test_nll_term_gradient_is_eta_beta_times_policy_minus_chosen_counts():
    bandit, pairs, logits = _random_case(3)
    beta, eta = 0.4, 1.5
    diff = rpo_tabular_grad(logits, bandit.ref_logits, pairs, beta, eta) - rpo_tabular_grad(
        logits, bandit.ref_logits, pairs, beta, 0.0
    )
    n_chosen, _ = coverage(pairs, bandit.shape)
    n_x = n_chosen.sum(-1, keepdims=True)
    expected = eta * beta * (n_x * bandit.probs(logits) - n_chosen) / len(pairs)
    np.testing.assert_allclose(diff, expected, atol=1e-14)
    assert np.abs(diff).max() > 1e-3


def test_eta_zero_gradient_descent_equals_the_dpo_fit():
    # every prompt's comparison graph has a cycle, so DPO's minimiser is finite: v_0 - v_1 = log 3
    rows = [(x, 0, 1) for x in range(2) for _ in range(3)] + [(x, 1, 0) for x in range(2)]
    pairs = _pairs(rows)
    ref = np.array([[0.5, -0.3, 1.0], [0.0, 2.0, -1.0]])
    beta = 0.5
    theta, _ = rpo_gd_tabular(ref, pairs, beta, 0.0, 4000)
    exact = dpo_fit_tabular(ref, pairs, beta, ridge=1e-9, tol=1e-13)
    lp = theta - np.log(np.exp(theta).sum(-1, keepdims=True))
    lp_exact = exact - np.log(np.exp(exact).sum(-1, keepdims=True))
    np.testing.assert_allclose(lp, lp_exact, atol=1e-6)
    np.testing.assert_allclose(beta * ((theta - ref)[:, 0] - (theta - ref)[:, 1]), math.log(3), atol=1e-6)


def test_eta_zero_gradient_descent_equals_torch_dpo_steps():
    bandit, pairs, _ = _random_case(5)
    beta, lr, steps = 0.3, 2.0, 25
    theta, _ = rpo_gd_tabular(bandit.ref_logits, pairs, beta, 0.0, steps, lr=lr)
    policy = TabularPolicy(bandit.ref_logits)
    opt = torch.optim.SGD(policy.parameters(), lr=lr)
    with torch.no_grad():
        rc, rr, _, _ = tabular_pair_logps(TabularPolicy(bandit.ref_logits), pairs)
    for _ in range(steps):
        opt.zero_grad()
        c, r, mc, mr = tabular_pair_logps(policy, pairs)
        dpo_loss(c, r, mc, mr, rc, rr, beta=beta)[0].backward()
        opt.step()
    np.testing.assert_allclose(bandit.probs(theta), bandit.probs(policy.numpy_logits()), atol=1e-10)


def test_dpo_never_moves_uncovered_logits_and_bounds_their_mass():
    bandit, pairs, _ = _random_case(7, n=2)
    n_chosen, n_rejected = coverage(pairs, bandit.shape)
    unc = (n_chosen + n_rejected) == 0
    assert unc.any()
    theta, _ = rpo_gd_tabular(bandit.ref_logits, pairs, 0.2, 0.0, 3000)
    shift = theta - bandit.ref_logits  # the gauge moves every logit of a prompt equally
    cov = ~unc
    gauge = np.array([shift[x][unc[x]][0] if unc[x].any() else 0.0 for x in range(len(shift))])
    np.testing.assert_allclose(np.where(unc, shift - gauge[:, None], 0.0), 0.0, atol=1e-9)
    for x in range(bandit.shape[0]):
        if not unc[x].any() or not cov[x].any():
            continue
        # sum of covered logits kept (relative to the uncovered ones) -> mass bound
        np.testing.assert_allclose((shift[x] - gauge[x])[cov[x]].sum(), 0.0, atol=1e-8)
        eu = np.exp(bandit.ref_logits[x][unc[x]]).sum()
        bound = eu / (eu + cov[x].sum() * np.exp(bandit.ref_logits[x][cov[x]].mean()))
        assert bandit.probs(theta)[x][unc[x]].sum() <= bound + 1e-12
    # RPO does move them: down, relative to the covered arms' mean logit (which DPO keeps)
    rpo, _ = rpo_gd_tabular(bandit.ref_logits, pairs, 0.2, 1.0, 3000)
    for x in range(bandit.shape[0]):
        if unc[x].any() and cov[x].any():
            rel = lambda lg, x=x: lg[x][unc[x]] - lg[x][cov[x]].mean()  # noqa: E731
            np.testing.assert_allclose(rel(theta), rel(bandit.ref_logits), atol=1e-8)
            assert np.all(rel(rpo) < rel(bandit.ref_logits) - 0.2)


def test_exact_rpo_infimum_is_stationary_and_gradient_descent_approaches_it():
    bandit, pairs, _ = _random_case(11, n=4)
    beta, eta = 0.5, 1.0
    exact = rpo_fit_tabular(bandit.ref_logits, pairs, beta, eta)
    n_chosen, _ = coverage(pairs, bandit.shape)
    has_data = n_chosen.sum(-1) > 0
    assert np.all(np.isneginf(exact[has_data]) == (n_chosen[has_data] == 0))
    g = rpo_tabular_grad(exact, bandit.ref_logits, pairs, beta, eta)
    assert np.abs(g[np.isfinite(exact)]).max() < 1e-9
    f_exact = rpo_tabular_loss(exact, bandit.ref_logits, pairs, beta, eta)
    losses = [
        rpo_tabular_loss(
            rpo_gd_tabular(bandit.ref_logits, pairs, beta, eta, s)[0], bandit.ref_logits, pairs, beta, eta
        )
        for s in (10, 100, 3000)
    ]
    assert losses[0] > losses[1] > losses[2] >= f_exact - 1e-12
    assert losses[2] - f_exact < 0.05 * (losses[0] - f_exact)


# One prompt: a (reward 1) vs b (0) compared ten times with a mixed record; z (-1) wins its only comparison
# against c (-2); u (-3) is uncovered but has reference mass.
LUCKY_REWARDS = np.array([[1.0, 0.0, -1.0, -2.0, -3.0]])
LUCKY_REF = np.zeros((1, 5))
LUCKY_PAIRS = _pairs([(0, 0, 1)] * 6 + [(0, 1, 0)] * 4 + [(0, 2, 3)])


def test_dpo_overoptimises_a_poorly_covered_arm_and_rpo_does_not():
    bandit = TabularBandit(LUCKY_REWARDS, LUCKY_REF)
    beta = 0.1
    lr = 1.0 / gd_lipschitz(LUCKY_PAIRS, 1, beta, 1.0)  # the same step for both
    rec_steps = (10, 100, 1000, 10000)
    _, dpo = rpo_gd_tabular(LUCKY_REF, LUCKY_PAIRS, beta, 0.0, 10000, lr=lr, record=rec_steps)
    _, rpo = rpo_gd_tabular(LUCKY_REF, LUCKY_PAIRS, beta, 1.0, 10000, lr=lr, record=rec_steps)
    z_dpo = [bandit.probs(dpo[s])[0, 2] for s in rec_steps]
    z_rpo = [bandit.probs(rpo[s])[0, 2] for s in rec_steps]
    assert all(b > a for a, b in itertools.pairwise(z_dpo))  # grows with the steps
    z_exact = bandit.probs(rpo_fit_tabular(LUCKY_REF, LUCKY_PAIRS, beta, 1.0))[0, 2]
    assert z_exact == pytest.approx(1 / 11, abs=0.02)  # ~ z's share of the chosen responses
    assert max(z_rpo) < 0.2 < z_dpo[-1] and abs(z_rpo[-1] - z_exact) < 0.01
    assert bandit.value(rpo[10000]) > bandit.value(dpo[10000]) + 0.3
    # uncovered u: DPO leaves its logit (relative to the mean logit) at the reference's, RPO sends it down
    centred = lambda lg: lg[0, 4] - lg[0].mean()  # noqa: E731
    assert [centred(dpo[s]) for s in rec_steps] == pytest.approx([centred(LUCKY_REF)] * 4, abs=1e-9)
    assert centred(rpo[10000]) < centred(rpo[100]) < centred(LUCKY_REF) - 1.0
    # smaller beta at a fixed number of steps: more DPO mass on z, RPO's bounded
    z_by_beta = []
    for b in (1.0, 0.3, 0.1):
        theta, _ = rpo_gd_tabular(
            LUCKY_REF, LUCKY_PAIRS, b, 0.0, 2000, lr=1.0 / gd_lipschitz(LUCKY_PAIRS, 1, b, 1.0)
        )
        z_by_beta.append(bandit.probs(theta)[0, 2])
        rpo_b = rpo_fit_tabular(LUCKY_REF, LUCKY_PAIRS, b, 1.0)
        assert bandit.probs(rpo_b)[0, 2] < 0.2
    assert z_by_beta[0] < z_by_beta[1] < z_by_beta[2]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"beta": 0.0}, "beta"),
        ({"beta": -1.0}, "beta"),
        ({"eta": -0.5}, "eta"),
        ({"steps": -1}, "steps"),
        ({"steps": 2.5}, "steps"),
        ({"lr": 0.0}, "lr"),
        ({"record": (20,)}, "record"),
    ],
)
def test_bad_inputs_raise_naming_the_value(kwargs, match):
    args = {"beta": 0.1, "eta": 1.0, "steps": 10} | kwargs
    with pytest.raises(ValueError, match=match):
        rpo_gd_tabular(LUCKY_REF, LUCKY_PAIRS, **args)


def test_bad_pairs_and_logits_raise():
    with pytest.raises(ValueError, match="chosen"):
        rpo_gd_tabular(LUCKY_REF, _pairs([(0, 7, 1)]), 0.1, 1.0, 1)
    with pytest.raises(ValueError, match="prompt"):
        rpo_gd_tabular(LUCKY_REF, _pairs([(1, 0, 1)]), 0.1, 1.0, 1)
    with pytest.raises(ValueError, match="chosen == rejected"):
        rpo_fit_tabular(LUCKY_REF, _pairs([(0, 2, 2)]), 0.1, 1.0)
    with pytest.raises(ValueError, match="eta"):
        rpo_fit_tabular(LUCKY_REF, LUCKY_PAIRS, 0.1, 0.0)
    with pytest.raises(ValueError, match="ref_logits"):
        rpo_fit_tabular(np.array([[0.0, np.nan, 1.0, 0.0, 0.0]]), LUCKY_PAIRS, 0.1, 1.0)
    with pytest.raises(ValueError, match="logits"):
        rpo_tabular_loss(np.zeros((2, 5)), LUCKY_REF, LUCKY_PAIRS, 0.1, 1.0)
    with pytest.raises(ValueError, match="empty"):
        coverage(_pairs([(0, 0, 1)]).__class__(np.zeros(0, int), np.zeros(0, int), np.zeros(0, int)), (1, 5))


def test_claim_quick_measure_reports_the_rule_metrics():
    from optarena.claims.experiments.rpo_tabular import measure
    from optarena.claims.spec import load_claim

    claim = load_claim(CLAIMS / "rpo-tabular.toml")
    assert claim.family == "preference" and claim.full.seeds >= 5
    out = measure(0, True, **claim.quick.options)
    for rule in claim.rules:
        assert rule.metric in out and math.isfinite(out[rule.metric]), rule.metric
    assert all(isinstance(v, float) and math.isfinite(v) for v in out.values())
    assert out == measure(0, True)  # deterministic
