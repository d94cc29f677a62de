"""GP posterior and acquisition functions against closed forms, oracles and Monte Carlo."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import approx_fprime

from optarena.solvers.blackbox.acquisition import (
    KnowledgeGradient,
    _ei_and_grad,
    ei_from_moments,
    expected_improvement,
    expected_max_of_lines,
)
from optarena.solvers.blackbox.gp import GP, fit_gp, matern52, neg_log_marginal_likelihood


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    X = rng.random((25, 3))
    y = np.sin(6 * X[:, 0]) + X[:, 1] ** 2 - 0.5 * X[:, 2] + 0.01 * rng.standard_normal(25)
    return X, y


def test_matern52_matches_sklearn():
    from sklearn.gaussian_process.kernels import Matern

    rng = np.random.default_rng(0)
    a, b, ls = rng.random((7, 3)), rng.random((5, 3)), np.array([0.3, 0.7, 1.9])
    ours = matern52(a, b, ls, 2.5)
    ref = 2.5 * Matern(length_scale=ls, nu=2.5)(a, b)
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("noisy", [False, True])
def test_posterior_equals_dense_closed_form(data, noisy):
    X, y = data
    theta = np.r_[np.log([0.3, 0.5, 0.8]), np.log(1.3), [np.log(0.02)] if noisy else []]
    gp = GP(X, y, theta, noisy)
    Xs = np.random.default_rng(1).random((9, 3))
    # dense closed form in the user's units, with the GLS constant mean
    ls, sf2, sn2 = np.exp(theta[:3]), np.exp(theta[3]), gp.noise_var
    ys = (y - y.mean()) / y.std()
    K = matern52(X, X, ls, sf2) + sn2 * np.eye(len(X))
    Kinv = np.linalg.inv(K)
    c = Kinv.sum(0) @ ys / Kinv.sum()
    Ks = matern52(Xs, X, ls, sf2)
    mu = c + Ks @ Kinv @ (ys - c)
    cov = matern52(Xs, Xs, ls, sf2) - Ks @ Kinv @ Ks.T
    m, v = gp.predict_original(Xs)
    np.testing.assert_allclose(m, y.mean() + y.std() * mu, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(v, y.var() * np.diag(cov), rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(gp.posterior_cov(Xs, Xs), cov, atol=1e-9)


def test_posterior_matches_sklearn_with_fixed_kernel(data):
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    X, y = data
    ls, sf2, sn2 = np.array([0.3, 0.5, 0.8]), 1.3, 0.02
    gp = GP(X, y, np.r_[np.log(ls), np.log(sf2), np.log(sn2)], noisy=True)
    ys = gp.ys - gp.c  # sklearn has a zero mean: hand it the centred targets
    kernel = ConstantKernel(sf2, "fixed") * Matern(ls, "fixed", nu=2.5) + WhiteKernel(sn2, "fixed")
    ref = GaussianProcessRegressor(kernel, optimizer=None, alpha=0.0).fit(X, ys)
    Xs = np.random.default_rng(2).random((6, 3))
    mu_ref, sd_ref = ref.predict(Xs, return_std=True)
    mu, var = gp.predict(Xs)
    np.testing.assert_allclose(mu, gp.c + mu_ref, atol=1e-9)
    np.testing.assert_allclose(var + sn2, sd_ref**2, rtol=1e-7)  # sklearn's std includes the white noise


@pytest.mark.parametrize("noisy", [False, True])
def test_marginal_likelihood_gradient(data, noisy):
    X, y = data
    ys = (y - y.mean()) / y.std()
    theta = np.r_[np.log([0.3, 0.5, 0.8]), 0.2, [np.log(0.05)] if noisy else []]
    _, g = neg_log_marginal_likelihood(theta, X, ys, noisy)
    fd = approx_fprime(theta, lambda t: neg_log_marginal_likelihood(t, X, ys, noisy)[0], 1e-6)
    np.testing.assert_allclose(g, fd, rtol=1e-4, atol=1e-4)


def test_fit_beats_default_hyperparameters(data):
    X, y = data
    gp = fit_gp(X, y, noisy=True, rng=np.random.default_rng(0))
    ys = (y - y.mean()) / y.std()
    default = np.r_[np.full(3, np.log(0.5)), 0.0, np.log(1e-2)]
    assert (
        neg_log_marginal_likelihood(gp.theta, X, ys, True)[0]
        < neg_log_marginal_likelihood(default, X, ys, True)[0]
    )


def test_ei_closed_form_equals_monte_carlo():
    rng = np.random.default_rng(0)
    for mu, sigma, fbest in [(0.3, 0.7, 0.1), (-1.0, 0.2, 0.0), (2.0, 1.5, 0.5)]:
        z = rng.standard_normal(1_000_000)
        mc = np.maximum(fbest - (mu + sigma * z), 0.0).mean()
        ei = float(ei_from_moments(np.array(mu), np.array(sigma), fbest))
        assert abs(ei - mc) < 4e-3 * max(1.0, sigma)
    assert float(ei_from_moments(np.array(1.0), np.array(0.0), 0.5)) == 0.0
    assert float(ei_from_moments(np.array(0.2), np.array(0.0), 0.5)) == pytest.approx(0.3)


def test_ei_gradient_matches_finite_differences(data):
    X, y = data
    gp = fit_gp(X, y, rng=np.random.default_rng(0))
    fbest = float(gp.ys.min())
    x = np.array([0.41, 0.62, 0.33])
    v, g = _ei_and_grad(gp, x, fbest)
    assert v == pytest.approx(float(expected_improvement(gp, x[None], fbest)[0]), rel=1e-10)
    fd = approx_fprime(x, lambda u: float(expected_improvement(gp, u[None], fbest)[0]), 1e-7)
    np.testing.assert_allclose(g, fd, rtol=1e-4, atol=1e-7)


def test_expected_max_of_lines_equals_monte_carlo():
    rng = np.random.default_rng(5)
    z = rng.standard_normal(200_000)
    for _ in range(4):
        a, b = rng.standard_normal(30), rng.standard_normal(30)
        b[3] = b[7]  # equal slopes are handled
        mc = np.max(a[:, None] + b[:, None] * z[None, :], axis=0).mean() - a.max()
        assert expected_max_of_lines(a, b) == pytest.approx(mc, abs=8e-3)
    assert expected_max_of_lines(np.array([1.0, 0.0]), np.array([0.0, 0.0])) == 0.0
    # one line above all others everywhere except where a steeper one takes over
    a, b = np.array([0.0, -10.0]), np.array([0.0, 1.0])
    mc = np.maximum(0.0, -10.0 + z).mean()
    assert expected_max_of_lines(a, b) == pytest.approx(mc, abs=1e-6)


def test_knowledge_gradient_sanity(data):
    X, y = data
    gp = fit_gp(X, y, rng=np.random.default_rng(0))
    A = np.vstack([X, np.random.default_rng(1).random((40, 3))])
    kg = KnowledgeGradient(gp, A)
    cand = np.random.default_rng(2).random((30, 3))
    vals = kg(cand)
    assert np.all(vals >= 0) and vals.max() > 0
    # at an observed noiseless point the observation reveals nothing new: KG ~ 0
    assert np.all(kg(X[:5]) < 1e-6 * vals.max() + 1e-10)
    # equals a Monte Carlo estimate of min mu_n - E[min mu_{n+1}] over A + {x}
    x = cand[int(np.argmax(vals))][None]
    Ax = np.vstack([A, x])
    mu, _ = gp.predict(Ax)
    b = gp.posterior_cov(Ax, x)[:, 0] / np.sqrt(gp.predict(x)[1][0] + gp.noise_var)
    z = np.random.default_rng(3).standard_normal(200_000)
    mc = mu.min() - np.min(mu[:, None] + b[:, None] * z[None], axis=0).mean()
    assert float(kg(x)[0]) == pytest.approx(mc, rel=0.03, abs=1e-4)
