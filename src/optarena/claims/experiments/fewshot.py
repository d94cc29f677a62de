"""Claim experiment: transductive few-shot by clustering (Ziko et al., arXiv:2106.09516, 2021).

One seed = one independent batch of episodes in four settings, 5-way with 15 queries per class:
``gauss1`` / ``gauss5`` (1 / 5 shots, synthetic isotropic Gaussian classes, dim 32, separation 3,
fresh classes every episode, L2-normalized) and ``digits1`` / ``digits5`` (penultimate features of a
64-256-5 MLP trained with the seed on digits 0-4, episodes from the held-out digits 5-9, CL2N with
the base-class mean). The seed also draws the MLP's initialization and data order, so the spread over
seeds includes the network's.

Methods on the same episodes: nearest prototype (``np``, inductive), K-means (``km``: the bound
optimizer with ``lam = 0``, ``tau = 1``, i.e. the paper's relaxed objective without the Laplacian)
and the Laplacian-regularized version (``lap``: ``tau = 1``, ``knn = 3``, ``lam`` picked per setting
from the authors' grid {0.05, 0.1, 0.3, 0.5, 0.7, 0.8, 1.0} by mean accuracy on separate validation
episodes: fresh synthetic tasks, or digits episodes from the other half of each novel class's images).
Reported too: hard K-means (``hkm``, ``tau = 0``, the authors' code path for ``lam = 0``) and the
Laplacian update without the PSD shift (``noshift``, the authors' plain update), whose objective
need not decrease.

Monotonicity: over every episode's trace of ``km`` and ``lap``, the largest relative increase
``max_t (E_{t+1} - E_t) / max(1, |E_t|)``; an episode is monotone when it is <= 1e-9.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from optarena.science.fewshot import cl2n, digits_features, fit_predict, gaussian_episode, nearest_prototype
from optarena.science.fewshot.episodes import Episode, sample_episode

LAM_GRID = (0.05, 0.1, 0.3, 0.5, 0.7, 0.8, 1.0)  # the authors' validation grid (SLK-few-shot)
MONO_TOL = 1e-9
_FIT = {"iters": 30, "inner_iters": 30, "tol": 1e-9, "knn": 3, "tau": 1.0}


def _rel_increase(trace: np.ndarray) -> float:
    d = np.diff(trace) / np.maximum(1.0, np.abs(trace[:-1]))
    return float(d.max()) if len(d) else 0.0


def _acc(labels: np.ndarray, ep: Episode) -> float:
    return float(np.mean(labels == ep.query_y))


def _choose_lam(draw: Callable[[], Episode], n_val: int) -> float:
    eps = [draw() for _ in range(n_val)]
    scores = [
        np.mean(
            [_acc(fit_predict(e.support_x, e.support_y, e.query_x, lam=lam, **_FIT).labels, e) for e in eps]
        )
        for lam in LAM_GRID
    ]
    return LAM_GRID[int(np.argmax(scores))]


def _setting(
    draw_val: Callable[[], Episode], draw_test: Callable[[], Episode], n_val: int, n_test: int
) -> dict:
    lam = _choose_lam(draw_val, n_val)
    acc: dict[str, list[float]] = {k: [] for k in ("np", "km", "lap", "hkm", "noshift")}
    incs, incs_noshift = [], []
    for _ in range(n_test):
        e = draw_test()
        S, y, Q = e.support_x, e.support_y, e.query_x
        acc["np"].append(_acc(nearest_prototype(S, y, Q), e))
        km = fit_predict(S, y, Q, lam=0.0, **_FIT)
        lap = fit_predict(S, y, Q, lam=lam, **_FIT)
        acc["km"].append(_acc(km.labels, e))
        acc["lap"].append(_acc(lap.labels, e))
        acc["hkm"].append(_acc(fit_predict(S, y, Q, lam=0.0, **{**_FIT, "tau": 0.0}).labels, e))
        ns = fit_predict(S, y, Q, lam=lam, psd_shift=False, **_FIT)
        acc["noshift"].append(_acc(ns.labels, e))
        incs += [_rel_increase(km.trace), _rel_increase(lap.trace)]
        incs_noshift.append(_rel_increase(ns.trace))
    out = {f"acc_{k}": float(np.mean(v)) for k, v in acc.items()}
    out["ci95_lap"] = float(1.96 * np.std(acc["lap"]) / np.sqrt(n_test))  # episode-level, this batch
    out["d_km_np"] = out["acc_km"] - out["acc_np"]
    out["d_lap_km"] = out["acc_lap"] - out["acc_km"]
    out["lam"] = lam
    out["mono_frac"] = float(np.mean(np.asarray(incs) <= MONO_TOL))
    out["max_rel_inc"] = float(max(incs))
    out["mono_frac_noshift"] = float(np.mean(np.asarray(incs_noshift) <= MONO_TOL))
    out["max_rel_inc_noshift"] = float(max(incs_noshift))
    return out


def measure(
    seed: int, quick: bool, episodes: int = 100, val_episodes: int = 40, n_query: int = 15
) -> dict[str, float]:
    t_start = time.perf_counter()
    mlp_epochs = 30
    if quick:
        episodes, val_episodes, mlp_epochs = 8, 4, 3
    res: dict[str, float] = {}
    settings: dict[str, dict] = {}

    # synthetic Gaussian features; validation and test tasks from independent streams
    for shot in (1, 5):
        rv, rt = np.random.default_rng([seed, shot, 1]), np.random.default_rng([seed, shot, 2])

        def gauss(rng: np.random.Generator, shot: int = shot) -> Episode:
            e = gaussian_episode(5, shot, n_query, rng, dim=32, separation=3.0)
            l2 = cl2n(e.support_x, 0.0), cl2n(e.query_x, 0.0)
            return Episode(l2[0], e.support_y, l2[1], e.query_y)

        settings[f"gauss{shot}"] = _setting(
            lambda rv=rv: gauss(rv), lambda rt=rt: gauss(rt), val_episodes, episodes
        )

    # digits: MLP on 0-4, episodes from 5-9; each novel class's images split into validation / test halves
    t0 = time.perf_counter()
    feats, labels, base_mean = digits_features(seed, epochs=mlp_epochs)
    res["time_mlp_s"] = time.perf_counter() - t0
    X = cl2n(feats, base_mean)
    split = np.random.default_rng([seed, 7])
    val_idx, test_idx = [], []
    for c in range(5, 10):
        idx = split.permutation(np.flatnonzero(labels == c))
        val_idx.append(idx[: len(idx) // 2])
        test_idx.append(idx[len(idx) // 2 :])
    vi, ti = np.concatenate(val_idx), np.concatenate(test_idx)
    for shot in (1, 5):
        rv, rt = np.random.default_rng([seed, shot, 3]), np.random.default_rng([seed, shot, 4])
        settings[f"digits{shot}"] = _setting(
            lambda shot=shot, rv=rv: sample_episode(X[vi], labels[vi], 5, shot, n_query, rv),
            lambda shot=shot, rt=rt: sample_episode(X[ti], labels[ti], 5, shot, n_query, rt),
            val_episodes,
            episodes,
        )

    for name, out in settings.items():
        for k, v in out.items():
            res[f"{k}_{name}"] = v
    res["mono_frac"] = min(o["mono_frac"] for o in settings.values())
    res["max_rel_inc"] = max(o["max_rel_inc"] for o in settings.values())
    res["mono_frac_noshift"] = min(o["mono_frac_noshift"] for o in settings.values())
    res["episodes_per_setting"] = float(episodes)
    res["time_s"] = time.perf_counter() - t_start
    return res
