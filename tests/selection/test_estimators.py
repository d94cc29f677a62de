"""pass@k and eff@k: brute force over k-subsets, unbiasedness by Monte Carlo, properties, bad input;
ENAMEL's efficiency score and the Hodges-Lehmann estimator."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optarena.selection.estimators import (
    eff_at_k,
    eff_at_k_weights,
    efficiency_score,
    hodges_lehmann,
    level_efficiency,
    pass_at_k,
)


def brute_eff(scores, k):
    subsets = list(itertools.combinations(scores, k))
    return sum(max(s) for s in subsets) / len(subsets)


def exact_binomial_pass(n, c, k):
    return 1 - math.comb(n - c, k) / math.comb(n, k)


# -- brute force -------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 5, 8, 11])
def test_eff_at_k_equals_the_average_over_all_k_subsets(n):
    rng = np.random.default_rng(n)
    scores = rng.random(n) * 2 - 0.5
    scores[rng.random(n) < 0.3] = 0.0  # ties, as failed samples give
    for k in range(1, n + 1):
        assert eff_at_k(scores, k) == pytest.approx(brute_eff(scores.tolist(), k), rel=1e-12, abs=1e-14)


def test_weights_are_the_binomial_ratios():
    n = 12
    for k in range(1, n + 1):
        w = eff_at_k_weights(n, k)
        want = [math.comb(i - 1, k - 1) / math.comb(n, k) if i >= k else 0.0 for i in range(1, n + 1)]
        np.testing.assert_allclose(w, want, rtol=1e-12, atol=0)


@pytest.mark.parametrize("n, c, k", [(10, 0, 1), (10, 3, 1), (10, 3, 5), (10, 8, 3), (200, 7, 50), (5, 5, 5)])
def test_pass_at_k_is_the_binomial_formula_and_eff_at_k_of_zero_one_scores(n, c, k):
    assert pass_at_k(n, c, k) == pytest.approx(exact_binomial_pass(n, c, k), rel=1e-12, abs=1e-15)
    assert eff_at_k([1.0] * c + [0.0] * (n - c), k) == pytest.approx(pass_at_k(n, c, k), rel=1e-12, abs=1e-15)


def test_large_n_is_stable_where_binomials_overflow_floats():
    n, k = 200_000, 1_000
    assert math.comb(n, k) > 10**308  # a float division of binomials would overflow here
    w = eff_at_k_weights(n, k)
    assert np.all(np.isfinite(w)) and np.all(w >= 0)
    assert w.sum() == pytest.approx(1.0, abs=1e-9)
    # 0/1 scores: equals pass@k's product form
    c = 150
    scores = np.zeros(n)
    scores[:c] = 1.0
    assert eff_at_k(scores, k) == pytest.approx(pass_at_k(n, c, k), rel=1e-9)
    assert 0 < pass_at_k(n, c, k) < 1


# -- unbiasedness ------------------------------------------------------------------------------------
def test_unbiased_by_monte_carlo_against_the_exact_expectation():
    rng = np.random.default_rng(0)
    values = np.array([0.0, 0.3, 0.55, 0.9, 1.4])
    probs = np.array([0.4, 0.15, 0.2, 0.15, 0.1])
    n, reps = 10, 40_000
    cdf = np.cumsum(probs)
    draws = values[np.minimum(np.searchsorted(cdf, rng.random((reps, n)), side="right"), 4)]
    srt = np.sort(draws, axis=1)
    for k in (1, 3, 6, 10):
        exact = sum(values[j] * (cdf[j] ** k - (cdf[j - 1] if j else 0.0) ** k) for j in range(5))
        est = srt @ eff_at_k_weights(n, k)
        se = est.std(ddof=1) / math.sqrt(reps)
        assert abs(est.mean() - exact) < 4 * se + 1e-12, (k, est.mean(), exact, se)
        # and the estimator never has more variance than the naive max of the first k samples
        naive = draws[:, :k].max(axis=1)
        assert est.var() <= naive.var() * (1 + 1e-9)


def test_the_monte_carlo_check_can_fail_a_biased_estimator():
    """The plug-in (sampling the empirical distribution with replacement) is biased low: the same
    check must reject it, or the test above proves nothing."""
    rng = np.random.default_rng(1)
    values = np.array([0.0, 0.5, 1.0])
    probs = np.array([0.5, 0.3, 0.2])
    n, k, reps = 10, 4, 40_000
    cdf = np.cumsum(probs)
    draws = values[np.searchsorted(cdf, rng.random((reps, n)), side="right").clip(max=2)]
    srt = np.sort(draws, axis=1)
    i = np.arange(1, n + 1)
    plug = srt @ ((i / n) ** k - ((i - 1) / n) ** k)
    exact = sum(values[j] * (cdf[j] ** k - (cdf[j - 1] if j else 0.0) ** k) for j in range(3))
    se = plug.std(ddof=1) / math.sqrt(reps)
    assert abs(plug.mean() - exact) > 6 * se


# -- properties --------------------------------------------------------------------------------------
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@st.composite
def scores_and_k(draw, max_n=12):
    scores = draw(st.lists(finite, min_size=1, max_size=max_n))
    k = draw(st.integers(min_value=1, max_value=len(scores)))
    return scores, k


@settings(max_examples=200, deadline=None)
@given(scores_and_k())
def test_property_brute_force_bounds_and_permutation(sk):
    scores, k = sk
    v = eff_at_k(scores, k)
    tol = 1e-9 * (1 + max(abs(x) for x in scores))
    assert v == pytest.approx(brute_eff(scores, k), abs=tol)
    assert min(scores) - tol <= v <= max(scores) + tol
    assert eff_at_k(scores[::-1], k) == pytest.approx(v, abs=tol)


@settings(max_examples=200, deadline=None)
@given(scores_and_k(max_n=40))
def test_property_monotone_in_k_and_endpoints(sk):
    scores, _ = sk
    n = len(scores)
    tol = 1e-9 * (1 + max(abs(x) for x in scores))
    vals = [eff_at_k(scores, k) for k in range(1, n + 1)]
    assert all(b >= a - tol for a, b in itertools.pairwise(vals))
    assert vals[0] == pytest.approx(float(np.mean(scores)), abs=tol)
    assert vals[-1] == pytest.approx(max(scores), abs=tol)


@settings(max_examples=200, deadline=None)
@given(
    scores_and_k(max_n=30),
    st.floats(min_value=1e-3, max_value=1e3),
    st.floats(min_value=-1e3, max_value=1e3),
)
def test_property_affine_equivariance(sk, a, b):
    scores, k = sk
    shifted = [a * x + b for x in scores]
    tol = 1e-8 * (1 + max(abs(x) for x in shifted))
    assert eff_at_k(shifted, k) == pytest.approx(a * eff_at_k(scores, k) + b, abs=tol)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=1, max_value=300).flatmap(
        lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))
    )
)
def test_property_pass_at_k_matches_zero_one_eff_at_k_and_binomials(nck):
    n, c, k = nck
    p = pass_at_k(n, c, k)
    assert 0.0 <= p <= 1.0
    assert p == pytest.approx(exact_binomial_pass(n, c, k), abs=1e-12)
    assert eff_at_k([1.0] * c + [0.0] * (n - c), k) == pytest.approx(p, abs=1e-12)
    if c > 0 and k < n:
        assert pass_at_k(n, c, k + 1) >= p - 1e-15  # more tries never hurt


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 500).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n))))
def test_property_weights_are_a_distribution(nk):
    n, k = nk
    w = eff_at_k_weights(n, k)
    assert np.all(w >= 0) and np.all(w[: k - 1] == 0)
    assert w.sum() == pytest.approx(1.0, abs=1e-10)
    assert np.all(np.diff(w[k - 1 :]) >= -1e-15)  # later order statistics weigh more


# -- bad input ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: eff_at_k([0.1, 0.2], 3), "k must be <= n = 2"),
        (lambda: eff_at_k([0.1, 0.2], 0), "k must be an integer >= 1, got 0"),
        (lambda: eff_at_k([0.1, 0.2], 1.5), "got 1.5"),
        (lambda: eff_at_k([], 1), "non-empty 1-D"),
        (lambda: eff_at_k([[0.1, 0.2]], 1), "non-empty 1-D"),
        (lambda: eff_at_k([0.1, float("nan")], 1), "got nan at index 1"),
        (lambda: pass_at_k(5, 6, 1), "must be <= n = 5, got 6"),
        (lambda: pass_at_k(5, -1, 1), "got -1"),
        (lambda: pass_at_k(5, 2, 7), "k must be <= n = 5"),
        (lambda: pass_at_k(0, 0, 1), "n must be an integer >= 1, got 0"),
        (lambda: pass_at_k(True, 0, 1), "got True"),
        (lambda: eff_at_k_weights(4, 5), "k must be <= n = 4"),
    ],
)
def test_bad_input_names_the_value(call, words):
    with pytest.raises(ValueError) as e:
        call()
    assert words in str(e.value)


# -- efficiency score --------------------------------------------------------------------------------
def test_hodges_lehmann_is_the_median_of_walsh_averages_and_resists_an_outlier():
    assert hodges_lehmann([1.0, 2.0, 3.0]) == pytest.approx(2.0)
    assert hodges_lehmann([5.0]) == 5.0
    t = [1.0, 1.1, 0.9, 1.05, 100.0]
    walsh = sorted((t[i] + t[j]) / 2 for i in range(5) for j in range(i, 5))
    assert hodges_lehmann(t) == pytest.approx(float(np.median(walsh)))
    assert hodges_lehmann(t) < 1.2 < np.mean(t)
    with pytest.raises(ValueError, match="times must be finite and >= 0"):
        hodges_lehmann([1.0, -2.0])


def test_efficiency_score_values():
    ref = [0.001, 0.01, 0.02, 0.05]  # T = 2 * 0.05 = 0.1
    h = (0.0, 3.0, 3.0, 4.0)
    # as fast as the reference on every level: 1
    assert efficiency_score(ref, ref, h) == pytest.approx(1.0)
    # twice as slow on the last level: e_3 = (0.1 - 0.1) / (0.1 - 0.05) = 0
    assert efficiency_score([0.001, 0.01, 0.02, 0.1], ref, h) == pytest.approx(0.6)
    # faster than the reference scores above 1
    assert efficiency_score([0, 0, 0, 0], ref, h) > 1.0
    # a timeout at level 2 zeroes levels 2 and 3 even if a time is given for 3
    t = [0.001, 0.01, math.inf, 0.05]
    assert efficiency_score(t, ref, h) == pytest.approx(3 * 1.0 / 10)
    # wrong samples score 0
    assert efficiency_score(ref, ref, h, passed=False) == 0.0
    # one level by hand
    assert level_efficiency(0.03, 0.02, 0.1) == pytest.approx(0.07 / 0.08)
    assert level_efficiency(math.inf, 0.02, 0.1) == 0.0


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(level_times=[1, 1], ref_times=[1, 1, 1], hardness=(0, 1, 1)), "equal lengths, got 2, 3, 3"),
        (dict(level_times=[1, 1], ref_times=[1, 1], hardness=(0, 0)), "positive sum"),
        (dict(level_times=[1, 1], ref_times=[1, 1], hardness=(1, -1)), "hardness must be >= 0"),
        (
            dict(level_times=[1, 1], ref_times=[1, 1], hardness=(0, 1), alpha=1.0),
            "alpha (timeout factor) must be > 1",
        ),
        (
            dict(level_times=[1, 1], ref_times=[1, 0], hardness=(0, 1)),
            "ref_times[1] must be finite and > 0, got 0.0",
        ),
        (dict(level_times=[1, float("nan")], ref_times=[1, 1], hardness=(0, 1)), "got nan"),
    ],
)
def test_efficiency_score_bad_input(kwargs, words):
    with pytest.raises(ValueError) as e:
        efficiency_score(**kwargs)
    assert words in str(e.value)
