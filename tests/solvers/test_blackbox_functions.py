"""Test functions: stated optima are attained, nothing lower is found near or away from them."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from optarena.solvers.blackbox.functions import (
    ACKLEY,
    BRANIN,
    HARTMANN6,
    ROSENBROCK,
    noisy_quadratic,
    quadratic,
)

FUNCS = [BRANIN, HARTMANN6, ACKLEY, ROSENBROCK, quadratic(100, seed=4)]


@pytest.mark.parametrize("tf", FUNCS, ids=lambda t: t.name)
def test_minimizers_attain_fmin(tf):
    vals = tf(tf.minimizers)
    np.testing.assert_allclose(vals, tf.fmin, atol=1e-5)
    assert np.all(tf.minimizers >= tf.bounds[:, 0]) and np.all(tf.minimizers <= tf.bounds[:, 1])


@pytest.mark.parametrize("tf", FUNCS, ids=lambda t: t.name)
def test_nothing_lower_found(tf):
    rng = np.random.default_rng(0)
    X = rng.uniform(tf.bounds[:, 0], tf.bounds[:, 1], (4000, tf.dim))
    assert np.min(tf(X)) >= tf.fmin - 1e-9
    # local polishing from the best random points and from the minimizers stays at or above fmin
    starts = np.vstack([X[np.argsort(tf(X))[:3]], tf.minimizers])
    for x0 in starts:
        res = minimize(lambda x: float(tf(x)), x0, method="L-BFGS-B", bounds=tf.bounds)
        assert res.fun >= tf.fmin - 1e-6


def test_branin_has_three_distinct_minimizers():
    assert len(BRANIN.minimizers) == 3
    d = np.linalg.norm(BRANIN.minimizers[:, None] - BRANIN.minimizers[None], axis=-1)
    assert d[np.triu_indices(3, 1)].min() > 5


def test_vectorized_equals_pointwise():
    X = np.random.default_rng(1).random((5, 6))
    np.testing.assert_allclose(HARTMANN6(X), [HARTMANN6(x) for x in X])
    assert isinstance(BRANIN(np.array([1.0, 2.0])), float)


def test_noisy_quadratic_noise_level():
    clean, noisy = noisy_quadratic(100, noise=0.5, seed=2)
    rng = np.random.default_rng(0)
    x = np.zeros(100)
    draws = np.array([noisy(x, rng) for _ in range(4000)])
    assert draws.mean() == pytest.approx(clean(x), abs=0.05)
    assert draws.std() == pytest.approx(0.5, rel=0.05)


@pytest.mark.parametrize("bad", [dict(dim=0), dict(dim=3, condition=0.5)])
def test_quadratic_bad_inputs(bad):
    with pytest.raises(ValueError):
        quadratic(**bad)


def test_wrong_dimension_raises():
    with pytest.raises(ValueError, match="dimension 6"):
        HARTMANN6(np.zeros(5))
