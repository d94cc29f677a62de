"""Few-shot episodes: synthetic Gaussian features and penultimate-layer features of a small network.

An episode is ``n_way`` classes, ``k_shot`` labelled support points and ``n_query`` unlabelled query
points per class (balanced, as in the standard benchmarks). Two sources:

* :func:`gaussian_episode`: class means ``mu_k ~ N(0, (separation^2 / dim) I)``, points
  ``mu_k + N(0, I)`` (fresh classes every episode), so ``E||mu_j - mu_k||^2 = 2 separation^2`` while a
  point lies at ``E||x - mu_k||^2 = dim`` from its class mean.
* :func:`digits_features`: an MLP (64-256-n_base, ReLU) trained with torch on the base classes of
  sklearn's ``load_digits``; features are its penultimate layer (the 256 ReLU units) for every image.
  :func:`sample_episode` then draws episodes from the novel (held-out) classes.

:func:`cl2n` is the authors' feature normalization: subtract the base-class mean, then L2-normalize.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Episode", "cl2n", "digits_features", "gaussian_episode", "sample_episode"]


@dataclass(frozen=True)
class Episode:
    support_x: np.ndarray
    support_y: np.ndarray
    query_x: np.ndarray
    query_y: np.ndarray


def _check_sizes(n_way: Any, k_shot: Any, n_query: Any) -> tuple[int, int, int]:
    for name, v in (("n_way", n_way), ("k_shot", k_shot), ("n_query", n_query)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    return int(n_way), int(k_shot), int(n_query)


def gaussian_episode(
    n_way: int,
    k_shot: int,
    n_query: int,
    rng: np.random.Generator,
    *,
    dim: int = 32,
    separation: float = 1.5,
) -> Episode:
    """One episode of isotropic Gaussian classes (module docstring), labels ``0..n_way-1``."""
    n_way, k_shot, n_query = _check_sizes(n_way, k_shot, n_query)
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
        raise ValueError(f"dim must be an integer >= 1, got {dim!r}")
    if not (np.isfinite(separation) and separation >= 0):
        raise ValueError(f"separation must be a finite number >= 0, got {separation!r}")
    mu = rng.normal(0.0, separation / np.sqrt(dim), (n_way, dim))
    X = mu[:, None, :] + rng.normal(size=(n_way, k_shot + n_query, dim))
    y = np.repeat(np.arange(n_way), k_shot + n_query).reshape(n_way, -1)
    return Episode(
        X[:, :k_shot].reshape(-1, dim),
        y[:, :k_shot].ravel(),
        X[:, k_shot:].reshape(-1, dim),
        y[:, k_shot:].ravel(),
    )


def sample_episode(
    features: np.ndarray,
    labels: np.ndarray,
    n_way: int,
    k_shot: int,
    n_query: int,
    rng: np.random.Generator,
    classes: np.ndarray | None = None,
) -> Episode:
    """Draw ``n_way`` of ``classes`` (default: all labels) and disjoint support / query points of each."""
    n_way, k_shot, n_query = _check_sizes(n_way, k_shot, n_query)
    features, labels = np.asarray(features, dtype=float), np.asarray(labels)
    if features.ndim != 2 or labels.shape != (len(features),):
        raise ValueError(f"features must be (n, d) and labels (n,), got {features.shape} and {labels.shape}")
    pool = np.unique(labels) if classes is None else np.asarray(classes)
    if n_way > len(pool):
        raise ValueError(f"n_way = {n_way} exceeds the {len(pool)} available classes")
    chosen = rng.choice(pool, n_way, replace=False)
    sx, sy, qx, qy = [], [], [], []
    for c in chosen:
        idx = np.flatnonzero(labels == c)
        if len(idx) < k_shot + n_query:
            raise ValueError(
                f"class {c!r} has {len(idx)} points, fewer than k_shot + n_query = {k_shot + n_query}"
            )
        pick = rng.choice(idx, k_shot + n_query, replace=False)
        sx.append(features[pick[:k_shot]])
        qx.append(features[pick[k_shot:]])
        sy += [c] * k_shot
        qy += [c] * n_query
    return Episode(np.vstack(sx), np.asarray(sy), np.vstack(qx), np.asarray(qy))


def cl2n(X: np.ndarray, base_mean: np.ndarray) -> np.ndarray:
    """Center by the base-class mean, then scale each row to unit L2 norm (the authors' ``CL2N``)."""
    Xc = np.asarray(X, dtype=float) - base_mean
    return Xc / np.maximum(np.linalg.norm(Xc, axis=1, keepdims=True), 1e-12)


def digits_features(
    seed: int,
    base_classes: tuple[int, ...] = (0, 1, 2, 3, 4),
    *,
    hidden: tuple[int, ...] = (256,),
    epochs: int = 30,
    lr: float = 1e-3,
    batch_size: int = 64,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train an MLP on the base classes of ``load_digits``; return ``(features, labels, base_mean)``.

    The MLP is ``64 -> hidden[0] -> ... -> hidden[-1] -> len(base_classes)`` with ReLUs, trained with
    Adam on cross-entropy; ``features`` are the last hidden layer's activations for all 1797 images
    (pixels scaled to [0, 1]); ``base_mean`` is their mean over the base-class images (for
    :func:`cl2n`). Episodes should use only the other classes. Deterministic given ``seed`` (torch on
    CPU). Two 64-unit hidden layers gave much weaker novel-class features in a pilot (seed 1000).
    """
    import torch  # lazy: torch is only needed here
    from sklearn.datasets import load_digits

    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an integer >= 1, got {epochs!r}")
    if not hidden or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden):
        raise ValueError(f"hidden must be a non-empty tuple of positive integers, got {hidden!r}")
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    base = np.isin(y, base_classes)
    if base.all() or not base.any():
        raise ValueError(f"base_classes must be a proper subset of 0..9, got {base_classes!r}")
    remap = {c: i for i, c in enumerate(base_classes)}
    Xb = torch.from_numpy(X[base])
    yb = torch.tensor([remap[c] for c in y[base]])
    g = torch.Generator().manual_seed(int(seed))
    torch.manual_seed(int(seed))
    layers: list[torch.nn.Module] = []
    width = X.shape[1]
    for h in hidden:
        layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
        width = h
    body = torch.nn.Sequential(*layers)
    head = torch.nn.Linear(width, len(base_classes))
    opt = torch.optim.Adam([*body.parameters(), *head.parameters()], lr=lr)
    for _ in range(epochs):
        perm = torch.randperm(len(Xb), generator=g)
        for i in range(0, len(Xb), batch_size):
            b = perm[i : i + batch_size]
            loss = torch.nn.functional.cross_entropy(head(body(Xb[b])), yb[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        feats = body(torch.from_numpy(X)).double().numpy()
    return feats, y, feats[base].mean(0)
