"""Claim experiment: GradSign vs common zero-cost proxies (Zhang & Jia, ICLR 2022).

The architecture space is ``n_archs`` distinct MLPs from :func:`~optarena.science.zerocost.sample_space`
(seed 0, stratified by depth 1-4; widths {8, ..., 128}; relu / tanh; zero-pad skip connections),
the same in every seed. The data is sklearn's digits with one fixed stratified split (1197 training,
600 validation samples).

One seed ``s``: every architecture ``i`` is initialized from seed ``1000 s + i`` (PyTorch defaults);
at that initialization the six proxies (gradsign, synflow, snip, grad_norm, naswot, params) are
computed on one batch of ``batch`` training samples drawn with seed ``s``; then the same network is
trained (Adam, lr 1e-3, mini-batches of 64, ``epochs`` epochs, shuffled with seed ``1000 s + i``)
and its validation accuracy is the ground truth. Per proxy: Spearman's rho and Kendall's tau (signed,
higher proxy = predicted better; a constant proxy gets 0) against the accuracies over the
architectures, and the top-10% hit rate (share of the true top 10% that the proxy puts in its top
10%). ``diff_<proxy>`` = rho(gradsign) - rho(proxy). The per-architecture accuracies are returned
too (``acc_000``, ...), so the claim store caches the ground truth of each seed.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from scipy import stats

from optarena.science.zerocost import PROXIES, build, load_digits_split, sample_space, score, train_eval

BASELINES = ("synflow", "snip", "grad_norm", "naswot", "params")


def _top_hit(s: np.ndarray, acc: np.ndarray, frac: float = 0.1) -> float:
    k = max(1, round(frac * len(acc)))
    top_true = set(np.argsort(-acc, kind="stable")[:k].tolist())
    top_proxy = set(np.argsort(-s, kind="stable")[:k].tolist())
    return len(top_true & top_proxy) / k


def measure(
    seed: int, quick: bool, n_archs: int = 200, epochs: int = 20, batch: int = 64
) -> dict[str, float]:
    if quick:
        n_archs, epochs = 12, 2
    torch.set_num_threads(1)
    archs = sample_space(n_archs, seed=0)
    data = load_digits_split(seed=0)
    rng = np.random.default_rng(seed)
    idx = torch.as_tensor(rng.choice(data.x_train.shape[0], size=batch, replace=False))
    xb, yb = data.x_train[idx], data.y_train[idx]
    scores = {p: np.empty(n_archs) for p in PROXIES}
    acc = np.empty(n_archs)
    t_proxy = t_train = 0.0
    for i, arch in enumerate(archs):
        model = build(arch, data.in_dim, data.n_classes, seed=1000 * seed + i)
        t0 = time.perf_counter()
        for p in PROXIES:
            scores[p][i] = score(model, xb, yb, p)
        t1 = time.perf_counter()
        acc[i] = train_eval(model, data, epochs=epochs, batch_size=64, lr=1e-3, seed=1000 * seed + i)
        t_proxy, t_train = t_proxy + t1 - t0, t_train + time.perf_counter() - t1
    out: dict[str, float] = {}
    for p, s in scores.items():
        const = np.ptp(s[np.isfinite(s)]) == 0 if np.isfinite(s).any() else True
        out[f"rho_{p}"] = 0.0 if const else float(stats.spearmanr(s, acc).statistic)
        out[f"tau_{p}"] = 0.0 if const else float(stats.kendalltau(s, acc).statistic)
        out[f"top10_{p}"] = _top_hit(s, acc)
    for p in BASELINES:
        out[f"diff_{p}"] = out["rho_gradsign"] - out[f"rho_{p}"]
    out.update(
        acc_mean=float(acc.mean()),
        acc_min=float(acc.min()),
        acc_max=float(acc.max()),
        time_proxies_s=t_proxy,
        time_train_s=t_train,
    )
    out.update({f"acc_{i:03d}": float(a) for i, a in enumerate(acc)})
    return out
