"""Hyperparameter search spaces and their quasirandom (Halton) sampling, as in AlgoPerf's external ruleset."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from optarena.core.errors import HyperparameterError

__all__ = ["Param", "SearchSpace", "halton"]

_PRIMES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53)


def halton(index: int, dim: int) -> list[float]:
    """Point ``index`` (0-based) of the Halton sequence in ``[0, 1)^dim``, skipping the origin."""
    if dim > len(_PRIMES):
        raise HyperparameterError(f"Halton sampling supports at most {len(_PRIMES)} dimensions, got {dim}")
    point = []
    for base in _PRIMES[:dim]:
        i, f, r = index + 1, 1.0, 0.0
        while i > 0:
            f /= base
            r += f * (i % base)
            i //= base
        point.append(r)
    return point


@dataclass(frozen=True)
class Param:
    """One hyperparameter: a float or int range (linear or log scale) or a list of choices."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple[Any, ...] | None = None

    def __post_init__(self) -> None:
        if self.choices is None:
            if self.low is None or self.high is None or not self.low <= self.high:
                raise HyperparameterError(
                    f"param {self.name!r}: need low <= high, got {self.low}, {self.high}"
                )
            if self.log and self.low <= 0:
                raise HyperparameterError(f"param {self.name!r}: a log range needs low > 0, got {self.low}")
        elif len(self.choices) == 0:
            raise HyperparameterError(f"param {self.name!r}: empty choices")

    def from_unit(self, u: float) -> Any:
        """Map ``u`` in [0, 1) to a value of this parameter."""
        if self.choices is not None:
            return self.choices[min(int(u * len(self.choices)), len(self.choices) - 1)]
        lo, hi = float(self.low), float(self.high)  # type: ignore[arg-type]
        v = math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))) if self.log else lo + u * (hi - lo)
        return round(v) if self.integer else v

    def check(self, value: Any, method: str = "") -> None:
        where = f" of {method}" if method else ""
        if self.choices is not None:
            if value not in self.choices:
                raise HyperparameterError(
                    f"hyperparameter {self.name!r}{where} = {value!r} is not one of {list(self.choices)}"
                )
            return
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise HyperparameterError(
                f"hyperparameter {self.name!r}{where} = {value!r} is not a finite number"
            )
        if self.integer and int(value) != value:
            raise HyperparameterError(f"hyperparameter {self.name!r}{where} = {value!r} must be an integer")
        tol = 1e-12 * max(1.0, abs(self.high))  # type: ignore[arg-type]
        if not (self.low - tol <= value <= self.high + tol):  # type: ignore[operator]
            raise HyperparameterError(
                f"hyperparameter {self.name!r}{where} = {value!r} is outside its search space "
                f"[{self.low}, {self.high}]"
            )

    def describe(self) -> str:
        if self.choices is not None:
            return f"{self.name} in {list(self.choices)}"
        scale = "log" if self.log else "linear"
        kind = "int" if self.integer else "float"
        return f"{self.name}: {kind} [{self.low:g}, {self.high:g}] ({scale})"


@dataclass(frozen=True)
class SearchSpace:
    """A product of :class:`Param` ranges plus fixed values that every trial shares.

    ``sample(i)`` returns the i-th Halton point, so studies of k trials take consecutive, disjoint
    blocks of the same low-discrepancy sequence (AlgoPerf v0.5: 25 draws split into 5 studies of 5).
    """

    params: tuple[Param, ...] = ()
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [p.name for p in self.params]
        dup = {n for n in names if names.count(n) > 1} | (set(names) & set(self.fixed))
        if dup:
            raise HyperparameterError(f"search space names repeated: {sorted(dup)}")

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params] + list(self.fixed)

    def sample(self, index: int) -> dict[str, Any]:
        u = halton(index, len(self.params)) if self.params else []
        point = {p.name: p.from_unit(x) for p, x in zip(self.params, u, strict=True)}
        point.update(self.fixed)
        return point

    def validate(self, hparams: Mapping[str, Any], method: str = "") -> dict[str, Any]:
        """Check a full or partial configuration; unknown names and out-of-range values raise."""
        where = f" of {method}" if method else ""
        by_name = {p.name: p for p in self.params}
        for name, value in hparams.items():
            if name in by_name:
                by_name[name].check(value, method)
            elif name in self.fixed:
                if value != self.fixed[name]:
                    raise HyperparameterError(
                        f"hyperparameter {name!r}{where} is fixed at {self.fixed[name]!r}, got {value!r}"
                    )
            else:
                raise HyperparameterError(
                    f"unknown hyperparameter {name!r}{where}; its search space has: {', '.join(self.names)}"
                )
        return dict(hparams)

    def describe(self) -> list[str]:
        return [p.describe() for p in self.params] + [f"{k} = {v!r} (fixed)" for k, v in self.fixed.items()]

    def grid_axis(self, name: str) -> Sequence[Any] | None:
        """The param's range as (low, high) for plots, or None if it is not a searched param."""
        for p in self.params:
            if p.name == name:
                return p.choices if p.choices is not None else (p.low, p.high)
        return None
