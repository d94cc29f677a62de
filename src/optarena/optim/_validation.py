"""Hyperparameter checks shared by the optimizers; each raises ``ValueError`` with a fixed message.

Names are passed in where modules word the same check differently (``"eps"`` vs ``"epsilon value"``).
"""

from __future__ import annotations

import math
from typing import Any

from torch import Tensor

__all__ = [
    "check_betas",
    "check_bool",
    "check_int",
    "check_lr",
    "check_nonneg",
    "check_positive",
    "is_number",
]


def is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def check_lr(lr: Any) -> None:
    """A finite float >= 0, or a one-element tensor holding one."""
    if isinstance(lr, Tensor):
        if lr.numel() != 1:
            raise ValueError(f"Tensor lr must have one element, got shape {tuple(lr.shape)}")
        value = float(lr.item())
    elif is_number(lr):
        value = float(lr)
    else:
        raise ValueError(f"Invalid learning rate: {lr!r} (expected a float)")
    if not (math.isfinite(value) and value >= 0.0):
        raise ValueError(f"Invalid learning rate: {lr} (must be finite and >= 0)")


def check_betas(betas: Any) -> None:
    """A pair of floats in ``[0, 1)``."""
    if not isinstance(betas, tuple | list) or len(betas) != 2:
        raise ValueError(f"Invalid betas: {betas!r} (must be a pair of floats)")
    for i, b in enumerate(betas):
        if not is_number(b) or not 0.0 <= b < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {b!r} (must be in [0, 1))")


def check_nonneg(name: str, value: Any) -> None:
    if not is_number(value) or not (math.isfinite(value) and value >= 0.0):
        raise ValueError(f"Invalid {name}: {value!r} (must be a finite number >= 0)")


def check_positive(name: str, value: Any) -> None:
    if not is_number(value) or not (math.isfinite(value) and value > 0.0):
        raise ValueError(f"Invalid {name}: {value!r} (must be a finite number > 0)")


def check_int(name: str, value: Any, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"Invalid {name}: {value!r} (must be an int >= {minimum})")


def check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"Invalid {name}: {value!r} (must be a bool)")
