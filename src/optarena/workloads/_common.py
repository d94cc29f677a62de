"""Shared pieces of the built-in workloads: seeded random streams, seeded layers, a minibatch stream,
and two problem bases (a minibatch torch problem and a full-batch objective hosted in both interfaces).

Every random draw a problem makes comes from a stream derived from the trial seed and a stream name
(``"data"``, ``"init"``, ``"batches"``...), so changing how one part is drawn never shifts another, and
no problem reads or advances the global numpy or torch RNG.
"""

from __future__ import annotations

import itertools
import math
import zlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    "FullBatchProblem",
    "MinibatchProblem",
    "ParamVector",
    "numpy_rng",
    "seeded_linear",
    "seeded_mlp",
    "torch_generator",
]


def _seed_sequence(seed: int, stream: str) -> np.random.SeedSequence:
    if seed < 0:
        raise ValueError(f"workload seeds must be non-negative integers, got {seed!r}")
    return np.random.SeedSequence([int(seed), zlib.crc32(stream.encode())])


def numpy_rng(seed: int, stream: str) -> np.random.Generator:
    """A numpy Generator for the named ``stream`` of trial ``seed`` (independent of other streams)."""
    return np.random.default_rng(_seed_sequence(seed, stream))


def torch_generator(seed: int, stream: str) -> torch.Generator:
    """A CPU torch.Generator for the named ``stream`` of trial ``seed``."""
    state = int(_seed_sequence(seed, stream).generate_state(1, np.uint64)[0]) & ((1 << 63) - 1)
    return torch.Generator().manual_seed(state)


def seeded_linear(fan_in: int, fan_out: int, rng: np.random.Generator, dtype: torch.dtype) -> nn.Linear:
    """An ``nn.Linear`` with torch's default init distribution (U(+-1/sqrt(fan_in)) for weight and
    bias) drawn from ``rng`` instead of the global torch RNG (which is left untouched)."""
    layer = nn.Linear(fan_in, fan_out, device="meta", dtype=dtype).to_empty(device="cpu")
    bound = 1.0 / math.sqrt(fan_in)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(rng.uniform(-bound, bound, (fan_out, fan_in))))
        layer.bias.copy_(torch.from_numpy(rng.uniform(-bound, bound, fan_out)))
    return layer


def seeded_mlp(
    sizes: Sequence[int], activation: type[nn.Module], rng: np.random.Generator, dtype: torch.dtype
) -> nn.Sequential:
    """``Linear -> act -> ... -> Linear`` with layer widths ``sizes``, initialized from ``rng``."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(seeded_linear(a, b, rng, dtype))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class MinibatchProblem(ABC):
    """A torch problem on a fixed in-memory training set ``(x_train, y_train)``.

    ``next_batch`` draws ``batch_size`` rows from an endless stream of random permutations of the
    training set (every row once per epoch; a batch may straddle two epochs) made with the problem's
    own generator; ``loss`` runs the model on a batch. Subclasses define ``batch_loss`` and ``evaluate``.
    """

    def __init__(
        self,
        model: nn.Module,
        x_train: torch.Tensor,
        y_train: torch.Tensor,
        batch_size: int,
        generator: torch.Generator,
    ) -> None:
        self.model = model
        self.x_train, self.y_train = x_train, y_train
        self.batch_size = batch_size
        self.generator = generator
        self._n = x_train.shape[0]
        self._order = torch.empty(0, dtype=torch.long)
        self._pos = 0

    def named_parameters(self) -> list[tuple[str, torch.Tensor]]:
        return list(self.model.named_parameters())

    def next_indices(self) -> torch.Tensor:
        if self._pos + self.batch_size > self._order.numel():
            fresh = torch.randperm(self._n, generator=self.generator)
            self._order = torch.cat([self._order[self._pos :], fresh])
            self._pos = 0
        idx = self._order[self._pos : self._pos + self.batch_size]
        self._pos += self.batch_size
        return idx

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self.next_indices()
        return self.x_train[idx], self.y_train[idx]

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return self.batch_loss(self.model(x), y)

    @abstractmethod
    def batch_loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean training loss of model ``output`` against ``target``."""

    @abstractmethod
    def evaluate(self) -> dict[str, float]:
        """Metrics (untimed, gradients off)."""


class ParamVector(nn.Module):
    """A module holding named float64 parameters that together form one flat vector, in order."""

    def __init__(self, layout: Sequence[tuple[str, tuple[int, ...]]], x0: np.ndarray) -> None:
        super().__init__()
        self.layout = [(name, tuple(shape)) for name, shape in layout]
        offset = 0
        for name, shape in self.layout:
            size = math.prod(shape)
            chunk = np.array(x0[offset : offset + size], dtype=np.float64).reshape(shape)
            self.register_parameter(name, nn.Parameter(torch.from_numpy(chunk)))
            offset += size
        if offset != x0.size:
            raise ValueError(f"layout holds {offset} numbers, x0 has {x0.size}")

    def flat(self) -> np.ndarray:
        """The current parameters as one float64 numpy vector (a copy)."""
        with torch.no_grad():
            return torch.cat([p.detach().reshape(-1) for p in self.parameters()]).numpy().copy()


class FullBatchProblem(ABC):
    """A deterministic full-batch float64 objective offered through both interfaces.

    As a ``TorchProblem``: ``model`` is a :class:`ParamVector` starting at ``x0``, ``next_batch``
    returns ``None`` and ``loss`` is the whole objective. As an ``ObjectiveProblem``: ``x0``,
    ``fun_grad`` (exact, numpy) and ``evaluate_x``. ``evaluate()`` equals ``evaluate_x`` at the model's
    current parameters. ``x0`` is read-only: a minimizer copies it before updating in place.
    """

    def __init__(self, layout: Sequence[tuple[str, tuple[int, ...]]], x0: np.ndarray) -> None:
        x0 = np.array(x0, dtype=np.float64).reshape(-1)
        x0.flags.writeable = False
        self.x0 = x0
        self.model = ParamVector(layout, x0)

    def named_parameters(self) -> list[tuple[str, torch.Tensor]]:
        return list(self.model.named_parameters())

    def next_batch(self) -> None:
        return None

    def loss(self, batch: Any = None) -> torch.Tensor:
        return self.torch_fun(*self.model.parameters())

    def evaluate(self) -> dict[str, float]:
        with torch.no_grad():
            return self.evaluate_x(self.model.flat())

    @abstractmethod
    def torch_fun(self, *params: torch.Tensor) -> torch.Tensor:
        """The objective as a differentiable torch scalar of the model's parameters (in layout order)."""

    @abstractmethod
    def fun_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Objective value and exact gradient at flat vector ``x``."""

    @abstractmethod
    def evaluate_x(self, x: np.ndarray) -> dict[str, float]:
        """Metrics at flat vector ``x``."""
