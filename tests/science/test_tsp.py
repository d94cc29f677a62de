"""Tests of optarena.science.tsp: instances, heatmaps, heatmap-guided search, LKH wrapper, claim."""

from __future__ import annotations

import math

import numpy as np
import pytest

from optarena.science.tsp import (
    candidate_lists,
    check_tour,
    default_tau,
    distance_matrix,
    elkai_available,
    greedy_tour,
    knn_heatmap,
    lkh_solve,
    random_uniform,
    softdist,
    solve,
    tour_length,
    two_opt_delta,
    uniform_heatmap,
)
from optarena.science.tsp.search import _State


def circle(n: int, seed: int = 0) -> tuple[np.ndarray, float]:
    """``n`` points on the unit circle in shuffled order; the optimum is the polygon, length 2n sin(pi/n)."""
    ang = np.random.default_rng(seed).permutation(n) * 2 * np.pi / n
    return np.stack([np.cos(ang), np.sin(ang)], axis=1), 2 * n * math.sin(math.pi / n)


def test_instances_are_seeded_and_in_the_unit_square():
    a, b = random_uniform(50, seed=3), random_uniform(50, seed=3)
    assert np.array_equal(a, b) and not np.array_equal(a, random_uniform(50, seed=4))
    assert a.shape == (50, 2) and a.min() >= 0 and a.max() < 1


def test_tour_length_of_unit_square():
    c = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=float)
    assert tour_length(c, [0, 1, 2, 3]) == pytest.approx(4.0)
    assert tour_length(c, [0, 2, 1, 3]) == pytest.approx(2 + 2 * math.sqrt(2))


@pytest.mark.parametrize(
    "coords, words",
    [
        (np.zeros((2, 2)), "n >= 3"),
        (np.array([[0.0, 0.0], [1.0, np.nan], [0.5, 0.5]]), "finite"),
        (np.zeros((5, 3)), "shape"),
    ],
)
def test_bad_coords_raise(coords, words):
    with pytest.raises(ValueError, match=words):
        softdist(coords, 0.1)
    with pytest.raises(ValueError, match=words):
        solve(coords, np.ones((len(coords), len(coords))) - np.eye(len(coords)), 0.0)


@pytest.mark.parametrize("tau", [0.0, -0.1, math.inf, math.nan])
def test_bad_tau_raises(tau):
    with pytest.raises(ValueError, match="tau"):
        softdist(random_uniform(10), tau)


def test_bad_tours_and_options_raise():
    c = random_uniform(10)
    with pytest.raises(ValueError, match="exactly once"):
        check_tour([0, 0, 1, 2, 3, 4, 5, 6, 7, 8], 10)
    with pytest.raises(ValueError, match="length 10"):
        tour_length(c, [0, 1, 2])
    H = knn_heatmap(c, 3)
    with pytest.raises(ValueError, match="n_candidates"):
        solve(c, H, 0.0, n_candidates=0)
    with pytest.raises(ValueError, match="samples_per_city"):
        solve(c, H, 0.0, samples_per_city=0)
    with pytest.raises(ValueError, match="diagonal"):
        solve(c, np.ones((10, 10)), 0.0)
    with pytest.raises(ValueError, match="k must be"):
        knn_heatmap(c, 10)
    with pytest.raises(ValueError, match="n must be"):
        random_uniform(2)


@pytest.mark.parametrize("make", [lambda c: softdist(c), lambda c: knn_heatmap(c, 5), uniform_heatmap])
def test_heatmap_rows_are_distributions(make):
    c = random_uniform(40, seed=1)
    H = make(c)
    assert H.shape == (40, 40) and (H >= 0).all() and np.all(np.diag(H) == 0)
    np.testing.assert_allclose(H.sum(axis=1), 1.0, atol=1e-12)


def test_softdist_matches_formula_and_ranks_by_distance():
    c = random_uniform(30, seed=2)
    tau = 0.05
    H = softdist(c, tau, k=None)
    d = distance_matrix(c)
    i = 7
    w = np.exp(-np.delete(d[i], i) / tau)
    np.testing.assert_allclose(np.delete(H[i], i), w / w.sum(), rtol=1e-10)
    Hk = softdist(c, tau, k=5)
    assert (np.count_nonzero(Hk, axis=1) == 5).all()
    nearest = np.argsort(np.where(np.eye(30, dtype=bool), np.inf, d), axis=1)[:, :5]
    assert (np.take_along_axis(Hk, nearest, axis=1) > 0).all()
    assert (np.diff(np.take_along_axis(Hk, nearest, axis=1), axis=1) <= 0).all()  # closer = heavier
    assert default_tau(500) == 0.0066 and default_tau(200) == pytest.approx(0.0066 * math.sqrt(2.5))


def test_candidates_follow_the_heatmap():
    c = random_uniform(30, seed=4)
    H = knn_heatmap(c, 4)
    cand, cum = candidate_lists(H, 6, seed=0)
    assert cand.shape == (30, 6)
    for i in range(30):
        assert set(np.flatnonzero(H[i])) == set(cand[i, :4])  # the support comes first
    np.testing.assert_allclose(cum[:, 3:], 1.0)  # zero-weight candidates are never sampled


def test_two_opt_delta_equals_length_change():
    rng = np.random.default_rng(0)
    c = random_uniform(25, seed=5)
    D = distance_matrix(c)
    tour = rng.permutation(25)
    L0 = tour_length(c, tour)
    for kind in range(8):
        st = _State(D, tour)
        i, j = rng.integers(25, size=40), rng.integers(25, size=40)
        d = st.deltas(kind, i, j)
        for a, b, dd in zip(i, j, d, strict=True):
            if not np.isfinite(dd):
                continue
            st.set_tour(tour)
            st.apply(kind, int(a), int(b))
            new = check_tour(st.tour, 25)
            assert tour_length(c, new) - L0 == pytest.approx(dd, abs=1e-12), (kind, a, b)
    np.testing.assert_allclose(two_opt_delta(D, tour, [0], [5]), _State(D, tour).deltas(0, [0], [5]))


def test_two_opt_untangles_a_crossing():
    c = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=float)
    tour = np.array([0, 2, 1, 3])  # crossing diagonals
    assert two_opt_delta(distance_matrix(c), tour, [0], [1])[0] == pytest.approx(2 - 2 * math.sqrt(2))
    r = solve(c, uniform_heatmap(c), 10.0, max_rounds=5, init_tour=tour)
    assert r.length == pytest.approx(4.0) and r.length < tour_length(c, tour)


def test_search_improves_and_returns_valid_tour():
    c = random_uniform(100, seed=6)
    H = softdist(c)
    start = np.random.default_rng(0).permutation(100)
    r = solve(c, H, 10.0, max_rounds=60, init_tour=start, seed=1)
    check_tour(r.tour, 100)
    assert r.length == pytest.approx(tour_length(c, r.tour))
    assert r.length < 0.5 * tour_length(c, start)  # random tours are ~4x longer than good ones
    assert r.evaluated == 60 * 100 * 3 * 8 and r.applied > 0
    r2 = solve(c, H, 10.0, max_rounds=60, init_tour=start, seed=1)
    assert np.array_equal(r.tour, r2.tour)  # deterministic in rounds
    only2 = solve(c, H, 10.0, max_rounds=60, init_tour=start, seed=1, oropt=False)
    assert only2.evaluated == 60 * 100 * 3 * 2


def test_circle_optimum_is_found():
    c, opt = circle(40, seed=1)
    r = solve(c, softdist(c, 0.05), 10.0, max_rounds=50, init_tour=np.arange(40), seed=0)
    assert r.length == pytest.approx(opt, rel=1e-9)


def test_time_budget_is_respected():
    c = random_uniform(200, seed=7)
    r = solve(c, knn_heatmap(c), 0.3, seed=0)
    assert 0.3 <= r.time_s < 0.3 + 0.5 and r.kicks > 0
    assert r.trace[-1][1] == pytest.approx(r.length)
    assert [b for _, b in r.trace] == sorted([b for _, b in r.trace], reverse=True)


def test_greedy_tour_follows_the_heatmap():
    c = random_uniform(30, seed=8)
    D = distance_matrix(c)
    t = greedy_tour(knn_heatmap(c, 1), D)  # nearest-neighbour tour
    check_tour(t, 30)
    assert t[1] == int(np.argmin(np.where(np.arange(30) == 0, np.inf, D[0])))
    assert np.array_equal(greedy_tour(uniform_heatmap(c), D), np.arange(30))  # no information: index order


def test_specs_build_runs():
    from optarena.science.tsp.specs import HEATMAP_SEARCH_SPEC, LKH_SPEC, make_heatmap_search

    assert HEATMAP_SEARCH_SPEC.family == LKH_SPEC.family == "science"
    c, opt = circle(12)
    for h in ("softdist", "knn", "uniform"):
        tour, length = make_heatmap_search({"heatmap": h, "k": 5})(c, 0.2, 0)
        check_tour(tour, 12)
        assert length == pytest.approx(opt, rel=1e-9)
    with pytest.raises(ValueError, match="heatmap"):
        make_heatmap_search({"heatmap": "learned"})
    with pytest.raises(ValueError, match="unknown"):
        make_heatmap_search({"tua": 0.1})


@pytest.mark.skipif(not elkai_available(), reason="optional extra 'tsp' (elkai) not installed")
def test_lkh_solves_circle_and_beats_a_short_search():
    c, opt = circle(30)
    tour, length, seconds = lkh_solve(c, 1)
    check_tour(tour, 30)
    assert length == pytest.approx(opt, rel=1e-6) and seconds >= 0
    with pytest.raises(ValueError, match="runs"):
        lkh_solve(c, 0)


def test_claim_quick_runs():
    from optarena.claims.experiments.tsp import measure

    m = measure(0, quick=True)
    assert m["gap_softdist_200"] >= 0 and m["gap_uniform_500"] >= 0
    assert set(m) >= {"soft_minus_knn_200", "lkh_beats_search_500", "lkh_time_ratio_max"}
