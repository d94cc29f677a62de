"""Transductive few-shot bound optimizer (Ziko et al., 2021), episodes and baselines (fast)."""

from __future__ import annotations

import numpy as np
import pytest

from optarena.science.fewshot import (
    cl2n,
    digits_features,
    fit_predict,
    gaussian_episode,
    knn_affinity,
    nearest_prototype,
    objective,
    sample_episode,
)
from optarena.science.fewshot.bound import _sqdist
from optarena.science.fewshot.specs import FEWSHOT_BOUND_SPEC, NEAREST_PROTOTYPE_SPEC


def _episode(seed: int, shot: int = 1, sep: float = 3.0, n_query: int = 15, dim: int = 32):
    e = gaussian_episode(5, shot, n_query, np.random.default_rng(seed), dim=dim, separation=sep)
    return cl2n(e.support_x, 0.0), e.support_y, cl2n(e.query_x, 0.0), e.query_y


def test_knn_affinity_is_the_symmetrized_knn_graph() -> None:
    X = np.array([[0.0], [1.0], [1.5], [5.0], [5.2]])
    W = knn_affinity(X, 1)
    A = np.zeros((5, 5))
    for p, q in [(0, 1), (1, 2), (2, 1), (3, 4), (4, 3)]:  # nearest other point of each row
        A[p, q] = 1.0
    assert np.allclose(W, (A + A.T) / 2)
    W3 = knn_affinity(np.random.default_rng(0).normal(size=(20, 3)), 3)
    assert np.allclose(W3, W3.T) and np.all(np.diag(W3) == 0)
    assert np.all(np.count_nonzero(W3, axis=1) >= 3)


@pytest.mark.parametrize("tau", [1.0, 0.3, 0.0])
@pytest.mark.parametrize("lam", [0.0, 0.5, 2.0])
def test_objective_never_increases_and_trace_ends_at_the_returned_solution(lam: float, tau: float) -> None:
    for seed in range(5):
        S, y, Q, _ = _episode(seed, shot=1 + 4 * (seed % 2))
        r = fit_predict(S, y, Q, lam=lam, tau=tau, iters=20, inner_iters=20)
        assert np.all(np.diff(r.trace) <= 1e-12 * np.maximum(1.0, np.abs(r.trace[:-1])))
        F = np.vstack([S, Q])
        Z = np.vstack([np.eye(5)[y], r.probs])
        W = None
        if lam > 0:
            W = knn_affinity(F, 3)
            W[np.arange(len(S), len(F)), np.arange(len(S), len(F))] += r.delta
        assert np.isclose(r.trace[-1], objective(F, Z, r.prototypes, W, lam, tau, len(S)), rtol=1e-10)
        assert np.allclose(r.probs.sum(1), 1.0) and np.all(r.probs >= 0)


def test_psd_shift_is_what_makes_the_decrease_a_theorem() -> None:
    """Small episodes, large lam, low tau: the plain update (kNN graph, not PSD) can raise the objective."""
    rng = np.random.default_rng(5)
    rises = 0
    for _ in range(40):
        e = gaussian_episode(3, 1, 4, rng, dim=4, separation=1.0)
        kw = {"lam": 5.0, "tau": 0.05, "knn": 2, "iters": 5}
        plain = fit_predict(e.support_x, e.support_y, e.query_x, psd_shift=False, **kw)
        shifted = fit_predict(e.support_x, e.support_y, e.query_x, **kw)
        rises += np.diff(plain.trace).max() > 1e-9
        assert np.diff(shifted.trace).max() <= 1e-12 * np.abs(shifted.trace).max()
        assert shifted.delta > 0
    assert rises >= 5


def test_bound_step_is_the_closed_form_and_kmeans_step_the_weighted_mean() -> None:
    S, y, Q, _ = _episode(3)
    # fixed prototypes, lam = 0: one Z-step gives softmax(-||f - m||^2 / tau) with support means
    r = fit_predict(S, y, Q, lam=0.0, tau=0.5, update_prototypes=False, iters=3)
    m = np.stack([S[y == k].mean(0) for k in range(5)])
    G = -_sqdist(Q, m) / 0.5
    P = np.exp(G - G.max(1, keepdims=True))
    assert np.allclose(r.probs, P / P.sum(1, keepdims=True)) and np.allclose(r.prototypes, m)
    # LaplacianShot (fixed prototypes, lam > 0): a fixed point of z_q = softmax(-a_q + lam [W Z]_q)
    r = fit_predict(S, y, Q, lam=0.7, update_prototypes=False, iters=1, inner_iters=500, tol=1e-14)
    F = np.vstack([S, Q])
    W = knn_affinity(F, 3)
    W[np.arange(len(S), len(F)), np.arange(len(S), len(F))] += r.delta
    Z = np.vstack([np.eye(5)[y], r.probs])
    G = -_sqdist(Q, m) + 0.7 * (W @ Z)[len(S) :]
    P = np.exp(G - G.max(1, keepdims=True))
    assert np.allclose(r.probs, P / P.sum(1, keepdims=True), atol=1e-8)
    # K-means: returned prototypes are the Z-weighted means of support and query
    r = fit_predict(S, y, Q, lam=0.3, iters=30)
    Z = np.vstack([np.eye(5)[y], r.probs])
    assert np.allclose(r.prototypes, Z.T @ F / Z.sum(0)[:, None], atol=1e-6)


def test_labels_keep_the_support_label_values_and_separable_episodes_are_solved() -> None:
    S, y, Q, qy = _episode(0, shot=1, sep=12.0)
    names = np.array(["a", "b", "c", "d", "e"])
    for lam in (0.0, 0.5):
        r = fit_predict(S, names[y], Q, lam=lam)
        assert r.labels.dtype.kind == "U" and np.all(r.labels == names[qy])
    assert np.all(nearest_prototype(S, names[y], Q) == names[qy])


def test_transduction_beats_the_inductive_rule_on_average() -> None:
    """Across 40 synthetic 1-shot episodes: hard K-means > nearest prototype (both are deterministic)."""
    acc_np, acc_km = [], []
    for seed in range(40):
        S, y, Q, qy = _episode(100 + seed, shot=1)
        acc_np.append(np.mean(nearest_prototype(S, y, Q) == qy))
        acc_km.append(np.mean(fit_predict(S, y, Q, tau=0.0).labels == qy))
    assert np.mean(acc_km) > np.mean(acc_np) + 0.03


def test_episodes_have_the_requested_structure() -> None:
    e = gaussian_episode(4, 2, 3, np.random.default_rng(0), dim=6)
    assert e.support_x.shape == (8, 6) and e.query_x.shape == (12, 6)
    assert np.all(np.bincount(e.support_y) == 2) and np.all(np.bincount(e.query_y) == 3)
    feats = np.arange(60, dtype=float).reshape(30, 2)
    labels = np.repeat(np.arange(6), 5)
    ep = sample_episode(feats, labels, 3, 1, 4, np.random.default_rng(1), classes=np.array([0, 2, 4, 5]))
    rows = np.vstack([ep.support_x, ep.query_x])[:, 0] // 2
    assert len(set(rows)) == 15  # support and query disjoint
    assert set(labels[rows.astype(int)]) <= {0, 2, 4, 5} and len(set(ep.support_y)) == 3
    X = cl2n(np.array([[2.0, 0.0], [0.0, 3.0]]), np.array([1.0, 0.0]))
    assert np.allclose(np.linalg.norm(X, axis=1), 1.0) and np.allclose(X[0], [1.0, 0.0])


@pytest.mark.slow  # first call pays torch / sklearn start-up (~5 s on a busy core)
def test_digits_features_are_deterministic_and_cover_every_image() -> None:
    f1, y, m1 = digits_features(3, epochs=1)
    f2, _, m2 = digits_features(3, epochs=1)
    assert f1.shape == (1797, 256) and y.shape == (1797,)
    assert np.array_equal(f1, f2) and np.allclose(m1, f1[y < 5].mean(0)) and np.array_equal(m1, m2)


def test_bad_inputs_raise_clear_errors() -> None:
    S, y, Q, _ = _episode(0)
    with pytest.raises(ValueError, match="lam"):
        fit_predict(S, y, Q, lam=-0.1)
    with pytest.raises(ValueError, match="lam"):
        fit_predict(S, y, Q, lam=float("nan"))
    with pytest.raises(ValueError, match="knn"):
        fit_predict(S, y, Q, lam=0.5, knn=0)
    with pytest.raises(ValueError, match="knn"):
        fit_predict(S, y, Q, lam=0.5, knn=200)
    with pytest.raises(ValueError, match="iters"):
        fit_predict(S, y, Q, iters=0)
    with pytest.raises(ValueError, match="tau"):
        fit_predict(S, y, Q, tau=-1.0)
    with pytest.raises(ValueError, match="dim"):
        fit_predict(S, y, Q[:, :5])
    with pytest.raises(ValueError, match="2-D"):
        fit_predict(S[0], y, Q)
    with pytest.raises(ValueError, match="support_y"):
        fit_predict(S, y[:-1], Q)
    with pytest.raises(ValueError, match="K >= 1"):
        fit_predict(S[:0], y[:0], Q)
    Qn = Q.copy()
    Qn[2, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit_predict(S, y, Qn)
    with pytest.raises(ValueError, match="NaN"):
        nearest_prototype(S, y, Qn)
    with pytest.raises(ValueError, match="k_shot"):
        gaussian_episode(5, 0, 15, np.random.default_rng(0))
    with pytest.raises(ValueError, match="n_way"):
        sample_episode(S, y, 6, 1, 1, np.random.default_rng(0))


def test_specs_build_runners() -> None:
    S, y, Q, qy = _episode(1, sep=12.0)
    for spec, h in ((FEWSHOT_BOUND_SPEC, {"lam": 0.3}), (NEAREST_PROTOTYPE_SPEC, {})):
        assert spec.family == "science"
        run = spec.load_factory()(spec.resolve_hparams(h))
        assert np.mean(run(S, y, Q) == qy) > 0.9
