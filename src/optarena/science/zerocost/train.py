"""Ground truth for the zero-cost proxy study: short, fixed-budget training on sklearn's digits.

Every architecture gets the same budget: ``epochs`` passes of Adam (``lr``, mini-batches of
``batch_size``, shuffled by ``seed``) on a fixed stratified split of the 1797 digit images (8x8,
pixels scaled to [0, 1]): 1197 training and 600 validation samples. The score is validation accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = ["Digits", "load_digits_split", "train_eval"]


@dataclass(frozen=True)
class Digits:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor

    @property
    def in_dim(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_classes(self) -> int:
        return int(self.y_train.max()) + 1


def load_digits_split(n_val: int = 600, seed: int = 0) -> Digits:
    """sklearn's digits (bundled with sklearn, no download), split stratified by ``seed``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    if not 10 <= n_val <= len(y) - 10:
        raise ValueError(f"n_val must be in [10, {len(y) - 10}], got {n_val}")
    Xtr, Xva, ytr, yva = train_test_split(X / 16.0, y, test_size=n_val, random_state=seed, stratify=y)
    f = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    g = lambda a: torch.as_tensor(a, dtype=torch.long)  # noqa: E731
    return Digits(f(Xtr), g(ytr), f(Xva), g(yva))


def train_eval(
    model: nn.Module,
    data: Digits,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
) -> float:
    """Train ``model`` in place with Adam for ``epochs`` epochs; return its validation accuracy."""
    if epochs < 0 or batch_size < 1 or not np.isfinite(lr) or lr <= 0:
        raise ValueError(f"need epochs >= 0, batch_size >= 1, lr > 0; got {epochs}, {batch_size}, {lr}")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    n = data.x_train.shape[0]
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, batch_size):
            idx = perm[i : i + batch_size]
            loss = nn.functional.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        pred = model(data.x_val).argmax(dim=1)
    return float((pred == data.y_val).float().mean())
