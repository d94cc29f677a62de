"""A small architecture space of MLPs for zero-cost proxy studies.

An architecture is a tuple of hidden widths (depth 1-4, each width from ``WIDTHS``), an activation
(``relu`` or ``tanh``) and a skip flag. With ``skip``, every hidden layer after the first adds a
parameter-free shortcut ``h_{l+1} = act(W_l h_l + b_l) + P(h_l)``, where ``P`` zero-pads or truncates
``h_l`` to the new width (ResNet "option A" shortcut). Depth-1 networks have no skip variant, so
every listed architecture is a distinct function class.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = ["ACTIVATIONS", "DEPTHS", "MLP", "WIDTHS", "Arch", "build", "enumerate_space", "sample_space"]

WIDTHS: tuple[int, ...] = (8, 16, 32, 64, 128)
DEPTHS: tuple[int, ...] = (1, 2, 3, 4)
ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh}


@dataclass(frozen=True)
class Arch:
    """Hidden widths, activation and skip flag of one MLP."""

    widths: tuple[int, ...]
    activation: str = "relu"
    skip: bool = False

    def __post_init__(self) -> None:
        if not self.widths or any(int(w) != w or w < 1 for w in self.widths):
            raise ValueError(f"widths must be a non-empty tuple of positive ints, got {self.widths!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
        if self.skip and len(self.widths) < 2:
            raise ValueError(f"skip needs at least 2 hidden layers, got widths {self.widths!r}")

    @property
    def name(self) -> str:
        return "-".join(map(str, self.widths)) + f"_{self.activation}" + ("_skip" if self.skip else "")


def _match(h: torch.Tensor, width: int) -> torch.Tensor:
    """Zero-pad or truncate the last dimension of ``h`` to ``width``."""
    d = h.shape[-1]
    if d >= width:
        return h[..., :width]
    return nn.functional.pad(h, (0, width - d))


class MLP(nn.Module):
    """``in_dim -> widths -> n_classes`` with one activation module per hidden layer (hooks find them)."""

    def __init__(self, arch: Arch, in_dim: int, n_classes: int) -> None:
        super().__init__()
        if in_dim < 1 or n_classes < 2:
            raise ValueError(f"need in_dim >= 1 and n_classes >= 2, got {in_dim}, {n_classes}")
        self.arch = arch
        dims = (in_dim, *arch.widths)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(dims))
        self.acts = nn.ModuleList(ACTIVATIONS[arch.activation]() for _ in arch.widths)
        self.out = nn.Linear(dims[-1], n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for i, (lin, act) in enumerate(zip(self.hidden, self.acts, strict=True)):
            z = act(lin(h))
            h = z + _match(h, z.shape[-1]) if self.arch.skip and i > 0 else z
        return self.out(h)


def build(arch: Arch, in_dim: int, n_classes: int, seed: int) -> MLP:
    """The MLP of ``arch`` with PyTorch's default initialization drawn from ``seed`` (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MLP(arch, in_dim, n_classes)


def enumerate_space() -> list[Arch]:
    """Every architecture of the space, in a fixed order (3110 in all)."""
    out = []
    for depth in DEPTHS:
        for widths in itertools.product(WIDTHS, repeat=depth):
            for act in ACTIVATIONS:
                for skip in (False, True) if depth > 1 else (False,):
                    out.append(Arch(tuple(widths), act, skip))
    return out


def sample_space(n: int, seed: int = 0) -> list[Arch]:
    """``n`` distinct architectures, stratified by depth (round-robin over depths 1-4), deterministic in ``seed``.

    Depth 1 has only 10 architectures; once a depth is exhausted the others fill in.
    """
    space = enumerate_space()
    if not 1 <= n <= len(space):
        raise ValueError(f"n must be in [1, {len(space)}], got {n}")
    rng = np.random.default_rng(seed)
    pools = [[a for a in space if len(a.widths) == d] for d in DEPTHS]
    pools = [[p[i] for i in rng.permutation(len(p))] for p in pools]
    out: list[Arch] = []
    while len(out) < n:
        for p in pools:
            if p and len(out) < n:
                out.append(p.pop(0))
    return out
