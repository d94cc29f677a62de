"""LightSB: closed forms (Gaussian EOT, plan, drift), the loss, fitting, metrics, baselines, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from optarena.core.spec import MethodSpec
from optarena.science.lightsb import (
    LIGHTSB_SPEC,
    LightSB,
    SinkhornConditional,
    bw2,
    cond_bw_uvp,
    default_lr,
    entropic_gaussian_plan,
    gaussian_fit,
    pot_available,
    random_gaussian_pair,
    random_mixture_pair,
)


def _random_model(cov: str, dim: int = 3, K: int = 4, eps: float = 0.7, seed: int = 0) -> LightSB:
    torch.manual_seed(seed)
    sb = LightSB(dim, K, eps, cov, dtype=torch.float64)
    with torch.no_grad():
        sb.r.normal_()
        sb.log_alpha_raw.normal_()
        if cov == "diag":
            sb.S_log.normal_(0, 0.5)
        else:
            sb.L_raw.normal_(0, 0.5)
    return sb


def _exact_model(pair, dtype=torch.float64) -> LightSB:
    r, S, la = pair.lightsb_params()
    sb = LightSB(pair.dim, 1, pair.eps, "full", dtype=dtype)
    return sb.set_params(torch.tensor(r), torch.tensor(S), torch.tensor(la))


# ----- Gaussian entropic OT in closed form -----------------------------------------------------------
@pytest.mark.parametrize("eps", [0.1, 1.0, 10.0])
def test_gaussian_plan_has_the_eot_structure_and_marginals(eps: float) -> None:
    p = random_gaussian_pair(5, eps, seed=3)
    # pi(y|x) ∝ N(y | x, eps I) f(y)  <=>  Sigma_c^{-1} A = I / eps; second marginal = Sigma1
    assert np.allclose(np.linalg.solve(p.Sigma_c, p.A), np.eye(5) / eps, atol=1e-8)
    assert np.allclose(p.A @ p.Sigma0 @ p.A.T + p.Sigma_c, p.Sigma1, atol=1e-8)
    assert np.allclose(p.A @ p.mu0 + p.b, p.mu1)
    assert np.linalg.eigvalsh(p.Sigma_c)[0] > 0


def test_gaussian_plan_1d_formula_and_small_eps_limit() -> None:
    a, b, eps = 2.0, 3.0, 0.5
    A, _, Sc = entropic_gaussian_plan(np.zeros(1), [[a]], np.zeros(1), [[b]], eps)
    C = 0.5 * (math.sqrt(4 * a * b + eps**2) - eps)  # cross-covariance (Janati et al. 2020)
    assert A[0, 0] == pytest.approx(C / a) and Sc[0, 0] == pytest.approx(b - C**2 / a)
    # eps -> 0: the Monge map of Gaussians, Sigma0^{-1/2} (Sigma0^{1/2} Sigma1 Sigma0^{1/2})^{1/2} Sigma0^{-1/2}
    p = random_gaussian_pair(4, 1.0, seed=1)
    A0, _, _ = entropic_gaussian_plan(p.mu0, p.Sigma0, p.mu1, p.Sigma1, 1e-9)
    assert np.allclose(A0 @ p.Sigma0 @ A0, p.Sigma1, atol=1e-6)


def test_mixture_pair_conditional_moments_match_its_samples() -> None:
    p = random_mixture_pair(2, 1.0, seed=0)
    assert np.allclose(p.slope * p.eps, p.C)
    x = p.sample_x0(3, np.random.default_rng(0))
    mean, cov = p.conditional_moments(x)
    ys = p.sample_conditional(x, 40_000, np.random.default_rng(1))
    m, C = gaussian_fit(ys)
    scale = np.sqrt(np.trace(cov, axis1=1, axis2=2))[:, None]
    assert np.all(np.abs(m - mean) < 0.03 * scale)
    assert np.allclose(C, cov, rtol=0.05, atol=0.05 * scale.max() ** 2)


# ----- the model's closed forms ----------------------------------------------------------------------
def test_log_potential_and_log_c_match_torch_distributions() -> None:
    from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal

    for cov in ("diag", "full"):
        sb = _random_model(cov)
        S = sb.S()
        Sm = torch.diag_embed(S) if cov == "diag" else S
        y = torch.randn(7, 3, dtype=torch.float64)
        gmm = MixtureSameFamily(
            Categorical(logits=sb.log_alpha), MultivariateNormal(sb.r, covariance_matrix=sb.eps * Sm)
        )
        ref = gmm.log_prob(y) + torch.logsumexp(sb.log_alpha, 0)
        torch.testing.assert_close(sb.log_potential(y), ref)
        quad = torch.einsum("ni,kij,nj->nk", y, Sm, y) + 2 * y @ sb.r.T
        torch.testing.assert_close(sb.log_c(y), torch.logsumexp(sb.log_alpha + quad / (2 * sb.eps), 1))


def test_exact_parameters_reproduce_the_gaussian_conditional() -> None:
    p = random_gaussian_pair(3, 0.5, seed=2)
    sb = _exact_model(p)
    x = torch.tensor(p.sample_x0(6, np.random.default_rng(0)))
    m, C = sb.conditional_moments(x)
    tm, tC = p.conditional_moments(x.numpy())
    np.testing.assert_allclose(m.numpy(), tm, atol=1e-10)
    np.testing.assert_allclose(C.numpy(), tC, atol=1e-10)
    ys = sb.sample(x[:1].repeat(50_000, 1), generator=torch.Generator().manual_seed(0))
    fm, fC = gaussian_fit(ys.numpy()[None])
    assert bw2(fm, fC, tm[:1], tC[:1])[0] < 1e-3 * np.trace(tC[0])


@pytest.mark.parametrize("cov", ["diag", "full"])
def test_mixture_moments_match_samples(cov: str) -> None:
    sb = _random_model(cov, dim=2, K=3)
    x = torch.randn(2, 2, dtype=torch.float64)
    m, C = sb.conditional_moments(x)
    ys = sb.sample(x.repeat_interleave(60_000, 0), generator=torch.Generator().manual_seed(1))
    fm, fC = gaussian_fit(ys.numpy().reshape(2, 60_000, 2))
    scale = float(C.diagonal(0, 1, 2).sum(-1).max())
    assert np.abs(fm - m.numpy()).max() < 0.03 * math.sqrt(scale)
    assert np.abs(fC - C.numpy()).max() < 0.05 * scale


def _authors_drift(sb: LightSB, x: torch.Tensor, t: float) -> torch.Tensor:
    """The authors' ``get_drift`` (their Proposition 3.3 by autograd), written independently."""
    eps = sb.eps
    S = sb.S().detach()
    S = torch.diag_embed(S) if sb.cov == "diag" else S
    S_inv = torch.linalg.inv(S)
    eye = torch.eye(sb.dim, dtype=S.dtype)
    A = t / (eps * (1 - t)) * eye + S_inv / eps  # (K, d, d)
    x = x.clone().requires_grad_(True)
    c = x[:, None, :] / (eps * (1 - t)) + (S_inv @ sb.r.detach()[..., None])[None, :, :, 0] / eps
    cAc = torch.einsum("nki,kij,nkj->nk", c, torch.linalg.inv(A), c)
    rSr = torch.einsum("ki,kij,kj->k", sb.r.detach(), S_inv, sb.r.detach()) / eps
    arg = sb.log_alpha.detach() - 0.5 * torch.logdet(S) - 0.5 * torch.logdet(A) - 0.5 * rSr + 0.5 * cAc
    (grad,) = torch.autograd.grad(torch.logsumexp(arg, -1).sum(), x)
    return -x.detach() / (1 - t) + eps * grad


@pytest.mark.parametrize("cov", ["diag", "full"])
@pytest.mark.parametrize("t", [0.0, 0.3, 0.9])
def test_drift_matches_the_authors_formula(cov: str, t: float) -> None:
    sb = _random_model(cov)
    x = torch.randn(5, 3, dtype=torch.float64)
    torch.testing.assert_close(sb.drift(x, t), _authors_drift(sb, x, t), rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("cov", ["diag", "full"])
def test_drift_at_the_ends(cov: str) -> None:
    sb = _random_model(cov)
    x = torch.randn(5, 3, dtype=torch.float64)
    # t = 0: mean of pi(.|x) minus x; t = 1: eps grad log (exp(|x|^2 / 2 eps) v(x)) = x + eps grad log v
    m, _ = sb.conditional_moments(x)
    torch.testing.assert_close(sb.drift(x, 0.0), m - x)
    xg = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(sb.log_potential(xg).sum(), xg)
    torch.testing.assert_close(sb.drift(x, 1.0), x + sb.eps * g)
    # t as a per-row tensor
    t = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0], dtype=torch.float64)
    rows = torch.cat([sb.drift(x[i : i + 1], float(t[i])) for i in range(5)])
    torch.testing.assert_close(sb.drift(x, t), rows)


def test_trajectory_ends_in_the_conditional_plan() -> None:
    p = random_gaussian_pair(2, 1.0, seed=4)
    sb = _exact_model(p)
    x = torch.tensor(p.sample_x0(1, np.random.default_rng(0))).repeat(4000, 1)
    path = sb.trajectory(x, n_steps=100, generator=torch.Generator().manual_seed(0))
    assert path.shape == (4000, 101, 2)
    torch.testing.assert_close(path[:, 0], x)
    tm, tC = p.conditional_moments(x[:1].numpy())
    fm, fC = gaussian_fit(path[:, -1].numpy()[None])
    assert bw2(fm, fC, tm, tC)[0] < 0.02 * np.trace(tC[0])
    # the bridge's time-1/2 marginal of X_t given x: mean (x + m(x)) / 2 (Brownian bridge over the plan)
    np.testing.assert_allclose(path[:, 50].numpy().mean(0), 0.5 * (x[0].numpy() + tm[0]), atol=0.1)


# ----- the loss and fitting --------------------------------------------------------------------------
def test_loss_is_smallest_at_the_true_potential() -> None:
    p = random_gaussian_pair(2, 1.0, seed=5)
    rng = np.random.default_rng(0)
    x0 = torch.tensor(p.sample_x0(200_000, rng))
    x1 = torch.tensor(p.sample_x1(200_000, rng))
    sb = _exact_model(p)
    with torch.no_grad():
        best = float(sb.loss(x0, x1))
    r, S, la = p.lightsb_params()
    g = torch.Generator().manual_seed(0)
    for _ in range(6):
        dS = 0.1 * torch.randn(2, 2, generator=g, dtype=torch.float64)
        dS = torch.tensor(S) + (dS + dS.T)[None] / 2
        dr = torch.tensor(r) + 0.2 * torch.randn(1, 2, generator=g, dtype=torch.float64)
        other = LightSB(2, 1, 1.0, "full", dtype=torch.float64).set_params(dr, dS, torch.tensor(la))
        with torch.no_grad():
            assert float(other.loss(x0, x1)) > best + 1e-3


def test_fit_recovers_a_gaussian_plan_and_beats_independence() -> None:
    p = random_gaussian_pair(2, 1.0, seed=6)
    rng = np.random.default_rng(0)
    sb = LightSB(2, 2, 1.0, "full").fit(
        lambda n: torch.from_numpy(p.sample_x0(n, rng)).float(),
        lambda n: torch.from_numpy(p.sample_x1(n, rng)).float(),
        steps=600,
        batch_size=256,
        lr=2e-2,
    )
    assert sb.loss_history_ is not None and len(sb.loss_history_) == 600
    assert sb.loss_history_[-100:].mean() < sb.loss_history_[:100].mean()
    xt = p.sample_x0(50, rng)
    tm, tC = p.conditional_moments(xt)
    m, C = sb.conditional_moments(torch.from_numpy(xt).float())
    uvp = cond_bw_uvp(m.double().numpy(), C.double().numpy(), tm, tC, np.trace(p.Sigma1))
    indep = cond_bw_uvp(
        np.broadcast_to(p.mu1, tm.shape), np.broadcast_to(p.Sigma1, tC.shape), tm, tC, np.trace(p.Sigma1)
    )
    assert uvp < 2.0 and indep > 10 * uvp


def test_fit_from_arrays_is_reproducible_and_float64_works() -> None:
    rng = np.random.default_rng(0)
    x0, x1 = rng.standard_normal((300, 2)), rng.standard_normal((300, 2)) + 2.0
    a = LightSB(2, 3, 1.0, dtype=torch.float64).fit(x0, x1, steps=30, seed=7)
    b = LightSB(2, 3, 1.0, dtype=torch.float64).fit(torch.tensor(x0), torch.tensor(x1), steps=30, seed=7)
    assert a.r.dtype == torch.float64 and a.sample(x0[:4]).dtype == torch.float64
    torch.testing.assert_close(a.loss_history_, b.loss_history_)
    torch.testing.assert_close(a.r, b.r)
    c = LightSB(2, 3, 1.0, dtype=torch.float64).fit(x0, x1, steps=30, seed=8)
    assert not torch.equal(a.r, c.r)


def test_callback_stops_early_and_default_lr_follows_the_authors() -> None:
    x = torch.randn(50, 2)
    sb = LightSB(2, 2, 1.0).fit(x, x + 1, steps=100, callback=lambda step, loss: step == 9)
    assert len(sb.loss_history_) == 10
    assert (default_lr(0.1), default_lr(1.0), default_lr(10.0), default_lr(0.05)) == (1e-3, 3e-3, 6e-2, 1e-3)


# ----- metrics ---------------------------------------------------------------------------------------
def test_bw2_known_values() -> None:
    m1, m2 = np.array([0.0, 1.0]), np.array([3.0, 1.0])
    C1, C2 = np.diag([4.0, 1.0]), np.diag([1.0, 9.0])
    # commuting covariances: ||m1 - m2||^2 + ||C1^{1/2} - C2^{1/2}||_F^2
    assert bw2(m1, C1, m2, C2) == pytest.approx(9.0 + 1.0 + 4.0)
    assert bw2(m1, C1, m1, C1) == pytest.approx(0.0, abs=1e-12)
    R = np.array([[0.0, -1.0], [1.0, 0.0]])
    assert bw2(m1, C1, m1, R @ C1 @ R.T) == pytest.approx(2 * (2.0 - 1.0) ** 2)
    assert cond_bw_uvp(m1[None], C1[None], m2[None], C2[None], 10.0) == pytest.approx(140.0)
    with pytest.raises(ValueError, match="target_var"):
        cond_bw_uvp(m1[None], C1[None], m2[None], C2[None], 0.0)


# ----- baselines -------------------------------------------------------------------------------------
@pytest.mark.skipif(not pot_available(), reason="POT not installed")
def test_sinkhorn_rows_are_the_plan_rows_and_approach_the_gaussian_plan() -> None:
    import ot

    p = random_gaussian_pair(2, 1.0, seed=7)
    rng = np.random.default_rng(0)
    x0, x1 = p.sample_x0(400, rng), p.sample_x1(400, rng)
    sk = SinkhornConditional(x0, x1, 1.0)
    M = 0.5 * ((x0[:, None] - x1[None]) ** 2).sum(-1)
    a = np.full(400, 1 / 400)
    P = ot.sinkhorn(a, a, M, 1.0, method="sinkhorn_log", stopThr=1e-10, numItermax=10_000)
    np.testing.assert_allclose(sk.weights(x0[:5]), P[:5] / P[:5].sum(1, keepdims=True), atol=1e-6)
    xt = p.sample_x0(20, rng)
    tm, tC = p.conditional_moments(xt)
    m, C = sk.conditional_moments(xt)
    indep = cond_bw_uvp(
        np.broadcast_to(p.mu1, tm.shape), np.broadcast_to(p.Sigma1, tC.shape), tm, tC, np.trace(p.Sigma1)
    )
    assert cond_bw_uvp(m, C, tm, tC, np.trace(p.Sigma1)) < 0.2 * indep
    assert sk.sample_conditional(xt[:2], 7, rng).shape == (2, 7, 2)


def test_sinkhorn_without_pot_raises_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import optarena.science.lightsb.baselines as bl

    monkeypatch.setattr(bl, "pot_available", lambda: False)
    with pytest.raises(ImportError, match="pip install pot"):
        bl.SinkhornConditional(np.zeros((3, 2)), np.zeros((3, 2)), 1.0)


# ----- bad input -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"eps": -1.0}, r"eps .*-1\.0"),
        ({"eps": 0.0}, r"eps .*0\.0"),
        ({"eps": float("nan")}, r"eps .*nan"),
        ({"K": 0}, r"K .*0"),
        ({"K": 2.5}, r"K .*2\.5"),
        ({"dim": 0}, r"dim .*0"),
        ({"cov": "low-rank"}, r"cov .*low-rank"),
        ({"S_init": -2.0}, r"S_init .*-2\.0"),
        ({"dtype": torch.float16}, r"dtype .*float16"),
    ],
)
def test_bad_hyperparameters_raise(kwargs: dict, match: str) -> None:
    args = {"dim": 2, "K": 3, "eps": 1.0} | kwargs
    with pytest.raises(ValueError, match=match):
        LightSB(**args)


def test_bad_data_raise() -> None:
    sb = LightSB(2, 3, 1.0)
    good = torch.randn(10, 2)
    with pytest.raises(ValueError, match=r"x0 must have shape \(n, 2\), got \(10, 3\)"):
        sb.fit(torch.randn(10, 3), good, steps=1)
    with pytest.raises(ValueError, match=r"x1 must have shape \(n, 2\), got \(10,\)"):
        sb.fit(good, torch.randn(10), steps=1)
    bad = good.clone()
    bad[4, 1] = float("nan")
    with pytest.raises(ValueError, match=r"x1 contains NaN or inf \(first at row 4, column 1\)"):
        sb.fit(good, bad, steps=1)
    with pytest.raises(ValueError, match="sampler output"):
        sb.fit(lambda n: torch.full((n, 2), float("nan")), good, steps=1)
    for name, value in (("steps", 0), ("batch_size", -1), ("lr", -1e-3)):
        with pytest.raises(ValueError, match=rf"{name} .*{value}"):
            sb.fit(good, good, **{name: value})
    with pytest.raises(ValueError, match=r"x0 must have shape \(n, 2\)"):
        sb.sample(torch.randn(2, 2, 2))
    with pytest.raises(ValueError, match=r"t must lie in \[0, 1\]"):
        sb.drift(good, 1.5)
    with pytest.raises(ValueError, match=r"t must be a number or have shape \(10,\)"):
        sb.drift(good, torch.zeros(3))
    with pytest.raises(ValueError, match=r"n_steps .*0"):
        sb.trajectory(good, n_steps=0)
    with pytest.raises(ValueError, match=r"S must have shape \(3, 2\)"):
        sb.set_params(torch.zeros(3, 2), torch.ones(3, 2, 2))
    with pytest.raises(ValueError, match=r"eps .*-0\.5"):
        entropic_gaussian_plan(np.zeros(2), np.eye(2), np.zeros(2), np.eye(2), -0.5)
    with pytest.raises(ValueError, match="Sigma1 must be a finite symmetric positive definite"):
        entropic_gaussian_plan(np.zeros(2), np.eye(2), np.zeros(2), -np.eye(2), 1.0)


# ----- registry spec ---------------------------------------------------------------------------------
def test_spec_builds_a_fitting_method() -> None:
    assert isinstance(LIGHTSB_SPEC, MethodSpec)
    assert LIGHTSB_SPEC.family == "science" and LIGHTSB_SPEC.paper is not None
    fit = LIGHTSB_SPEC.load_factory()(LIGHTSB_SPEC.resolve_hparams({"K": 3, "steps": 500}) | {"steps": 20})
    x = torch.randn(64, 2)
    sb = fit(x, x + 2.0, 1.0, seed=0)
    assert isinstance(sb, LightSB) and sb.K == 3 and len(sb.loss_history_) == 20
