"""``digits-mlp`` and its held-out variant ``digits-mlp-tanh``: an MLP classifies 8x8 digit images.

Data: scikit-learn's bundled ``load_digits`` (1797 images of 8x8 pixels in 0..16, 10 classes; it
ships with scikit-learn, nothing is downloaded), pixels divided by 16. A permutation drawn from the
seed splits it into 1400 training and 397 validation images. Model ``64 -> 128 -> 128 -> 10`` with
ReLU (``digits-mlp``) or tanh (``digits-mlp-tanh``, an AlgoPerf-style held-out variant), float32,
cross-entropy on minibatches of 64.

Metric ``val_accuracy`` (higher is better). The target is calibrated: the values below are
provisional, the median over seeds 0-2 of the best validation accuracy that AdamW (lr 1e-3, constant,
no weight decay) reached within 20 s, rounded down to 3 decimals (0.974 for ReLU, 0.977 for tanh;
one validation image is 0.0025). ``optarena calibrate`` replaces targets and budgets.
"""

from __future__ import annotations

from functools import cache
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from optarena.workloads._common import MinibatchProblem, numpy_rng, seeded_mlp, torch_generator
from optarena.workloads.base import Workload

__all__ = ["DigitsMLPProblem", "DigitsMLPTanhWorkload", "DigitsMLPWorkload", "load_digits_arrays"]

N_TRAIN, HIDDEN, BATCH = 1400, 128, 64


@cache
def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """All 1797 digit images as float32 rows of 64 pixels in [0, 1], and their int64 labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (np.asarray(data.data, dtype=np.float32) / 16.0).astype(np.float32)
    y = np.asarray(data.target, dtype=np.int64)
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y


class DigitsMLPProblem(MinibatchProblem):
    """Digit classification with a ``64 -> 128 -> 128 -> 10`` MLP using ``activation``."""

    def __init__(self, seed: int, activation: type[nn.Module]) -> None:
        x, y = load_digits_arrays()
        perm = numpy_rng(seed, "split").permutation(len(y))
        train, val = perm[:N_TRAIN], perm[N_TRAIN:]
        self.train_index, self.val_index = train, val  # rows of load_digits() in each split
        model = seeded_mlp(
            [x.shape[1], HIDDEN, HIDDEN, 10], activation, numpy_rng(seed, "init"), torch.float32
        )
        super().__init__(
            model,
            torch.from_numpy(x[train]),
            torch.from_numpy(y[train]),
            BATCH,
            torch_generator(seed, "batches"),
        )
        self.x_val, self.y_val = torch.from_numpy(x[val]), torch.from_numpy(y[val])

    def batch_loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(output, target)

    def evaluate(self) -> dict[str, float]:
        with torch.no_grad():
            val_logits = self.model(self.x_val)
            train_logits = self.model(self.x_train)
            return {
                "val_accuracy": float((val_logits.argmax(dim=1) == self.y_val).float().mean()),
                "val_loss": float(F.cross_entropy(val_logits, self.y_val)),
                "train_loss": float(F.cross_entropy(train_logits, self.y_train)),
                "train_accuracy": float((train_logits.argmax(dim=1) == self.y_train).float().mean()),
            }


class DigitsMLPWorkload(Workload):
    id = "digits-mlp"
    version = "1"
    summary = "ReLU MLP 64-128-128-10 on sklearn digits (1400 train / 397 val), minibatch 64"
    metric = "val_accuracy"
    mode = "max"
    target = 0.974  # provisional; replaced by `optarena calibrate`
    max_runtime = 20.0  # provisional; replaced by `optarena calibrate`
    eval_every = 100  # an evaluation costs about 2-7 steps
    step_hint = 30_000  # about 1.5-2.2k steps/s on one thread
    activation: ClassVar[type[nn.Module]] = nn.ReLU

    def build(self, seed: int) -> DigitsMLPProblem:
        return DigitsMLPProblem(seed, self.activation)


class DigitsMLPTanhWorkload(DigitsMLPWorkload):
    id = "digits-mlp-tanh"
    variant_of = "digits-mlp"
    summary = "held-out variant of digits-mlp: the same MLP with tanh activations"
    target = 0.977  # provisional; replaced by `optarena calibrate`
    activation: ClassVar[type[nn.Module]] = nn.Tanh
