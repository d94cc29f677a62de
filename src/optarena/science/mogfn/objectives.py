"""Test objectives of the multi-objective HyperGrid (Jain et al., ICML 2023), on the unit cube.

Every objective takes grid points ``u`` of shape ``(n, ndim)`` in ``[0, 1]^ndim`` and returns raw values
``(n,)``; :class:`~optarena.science.mogfn.env.HyperGrid` orients them for maximisation and min-max
normalises them to ``[0, 1]`` over the grid's points. The maps from ``u`` to each function's domain
follow the authors' grid code (github.com/GFNOrg/multi-objective-gfn, which maps the grid to
``x = 2u - 1 in [-1, 1]^2`` first):

- ``branin``: ``x0 = 15 u0 - 5``, ``x1 = 15 u1`` (the standard ``[-5, 10] x [0, 15]``), minimised
  (the authors' reward ``1 - branin / 308.13``);
- ``currin``: Currin et al.'s exponential function on ``[0, 1]^2``, maximised (the authors' reward
  ``currin / 13.77``);
- ``shubert``: ``prod_d sum_{i=1}^{5} i cos((i + 1) x_d + 10 i)`` at ``x = 2u - 1`` (the authors'
  variant: ``+ 10 i`` in the phase, on ``[-1, 1]``), maximised, any ``ndim``;
- ``sphere``: ``sum_d x_d^2`` at ``x = 2u - 1``, maximised (the authors' ``sphere / 2``), any ``ndim``.

Departure: the authors divide by rough constants (308.13, 13.77, Shubert's range on a finer grid);
here each objective is min-max normalised over the grid's own points, so it spans exactly ``[0, 1]``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["OBJECTIVES", "Objective", "branin", "currin", "get_objective", "shubert", "sphere"]


def branin(u: np.ndarray) -> np.ndarray:
    """Branin on ``[-5, 10] x [0, 15]`` (to be minimised; minimum 0.397887)."""
    x0, x1 = 15.0 * u[:, 0] - 5.0, 15.0 * u[:, 1]
    t1 = x1 - 5.1 / (4 * np.pi**2) * x0**2 + 5.0 / np.pi * x0 - 6.0
    return t1**2 + 10.0 * (1.0 - 1.0 / (8 * np.pi)) * np.cos(x0) + 10.0


def currin(u: np.ndarray) -> np.ndarray:
    """Currin et al. (1991) exponential function on ``[0, 1]^2`` (maximised here, as the authors)."""
    x0, x1 = u[:, 0], u[:, 1]
    with np.errstate(divide="ignore"):
        factor = 1.0 - np.exp(-1.0 / (2.0 * x1))  # x1 = 0: exp(-inf) = 0, factor 1
    num = 2300 * x0**3 + 1900 * x0**2 + 2092 * x0 + 60
    den = 100 * x0**3 + 500 * x0**2 + 4 * x0 + 20
    return factor * num / den


def shubert(u: np.ndarray) -> np.ndarray:
    """The authors' Shubert variant ``prod_d sum_i i cos((i + 1) x_d + 10 i)`` at ``x = 2u - 1``."""
    x = 2.0 * u - 1.0
    i = np.arange(1, 6, dtype=float)
    per_dim = (i * np.cos((i + 1) * x[..., None] + 10 * i)).sum(-1)
    return per_dim.prod(-1)


def sphere(u: np.ndarray) -> np.ndarray:
    """``sum_d x_d^2`` at ``x = 2u - 1`` (maximised, as the authors' ``sphere``)."""
    return ((2.0 * u - 1.0) ** 2).sum(-1)


@dataclass(frozen=True)
class Objective:
    """A named raw objective: ``fn(u) -> (n,)``, its orientation and the dimensions it is defined for."""

    name: str
    fn: Callable[[np.ndarray], np.ndarray]
    maximize: bool = True
    ndim: int | None = None  # None: any dimension


OBJECTIVES: dict[str, Objective] = {
    "branin": Objective("branin", branin, maximize=False, ndim=2),
    "currin": Objective("currin", currin, maximize=True, ndim=2),
    "shubert": Objective("shubert", shubert, maximize=True),
    "sphere": Objective("sphere", sphere, maximize=True),
}


def get_objective(obj: str | Objective | Callable[[np.ndarray], np.ndarray]) -> Objective:
    """A name of :data:`OBJECTIVES`, an :class:`Objective`, or a callable ``u -> (n,)`` (maximised)."""
    if isinstance(obj, Objective):
        return obj
    if isinstance(obj, str):
        if obj not in OBJECTIVES:
            raise ValueError(f"unknown objective {obj!r}; known: {sorted(OBJECTIVES)}")
        return OBJECTIVES[obj]
    if callable(obj):
        return Objective(getattr(obj, "__name__", "custom"), obj)
    raise ValueError(f"an objective must be a name, an Objective or a callable, got {obj!r}")
