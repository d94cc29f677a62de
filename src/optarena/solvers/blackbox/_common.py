"""Shared pieces of the black-box solvers: input checks, unit-cube scaling, history, the ask/tell base."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.optimize import OptimizeResult

__all__ = [
    "BlackBoxOptimizer",
    "Box",
    "RankingOptimizer",
    "check_budget",
    "check_int",
    "check_positive",
    "order_from_values",
]


def check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]``; anything else raises a ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return int(value)


def check_positive(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """``value`` as a finite float > 0 (or >= 0); anything else raises a ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise TypeError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0, got {value!r}")
    return v


def check_budget(budget: Any) -> int:
    return check_int("budget", budget, 1)


class Box:
    """Axis-aligned bounds and the affine map to the unit cube, where every method works (float64).

    ``bounds`` is a sequence of ``(low, high)`` pairs, an array of shape ``(d, 2)``, or any object
    with ``lb``/``ub`` (``scipy.optimize.Bounds``).
    """

    def __init__(self, bounds: Any) -> None:
        if hasattr(bounds, "lb") and hasattr(bounds, "ub"):
            lo, hi = np.atleast_1d(bounds.lb), np.atleast_1d(bounds.ub)
            if lo.shape != hi.shape:
                raise ValueError(f"bounds: lb and ub differ in shape, {lo.shape} vs {hi.shape}")
            arr = np.stack([lo, hi], axis=1)
        else:
            try:
                arr = np.asarray(bounds, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"bounds must be (low, high) pairs of numbers, got {bounds!r}") from exc
        arr = np.asarray(arr, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] == 0:
            raise ValueError(f"bounds must have shape (d, 2) with d >= 1, got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"bounds must be finite, got {arr.tolist()}")
        bad = np.flatnonzero(arr[:, 0] >= arr[:, 1])
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"bounds[{i}] = ({arr[i, 0]}, {arr[i, 1]}): every low must be strictly below its high"
            )
        self.low, self.high = arr[:, 0].copy(), arr[:, 1].copy()
        self.width = self.high - self.low
        self.dim = arr.shape[0]

    def to_unit(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.low) / self.width

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        return self.low + np.asarray(u, dtype=np.float64) * self.width

    def check_points(self, points: Any) -> np.ndarray:
        """``points`` as a float64 array of shape (n, d) (a single point may be 1-D)."""
        p = np.asarray(points, dtype=np.float64)
        if p.ndim == 1:
            p = p[None, :]
        if p.ndim != 2 or p.shape[1] != self.dim:
            raise ValueError(f"points must have shape (n, {self.dim}), got {np.shape(points)}")
        return p


def order_from_values(values: np.ndarray, k: int | None = None) -> np.ndarray:
    """The exact ranking oracle: indices sorted from lowest to highest value (ties by index), top ``k``."""
    order = np.argsort(np.asarray(values, dtype=np.float64), kind="stable")
    return order if k is None else order[:k]


class _History:
    """Every evaluated point (original coordinates) and its value (nan when only a ranking was seen)."""

    def __init__(self, dim: int) -> None:
        self.xs: list[np.ndarray] = []
        self.ys: list[float] = []
        self.dim = dim

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        self.xs.extend(np.array(x, dtype=np.float64))
        self.ys.extend(float(v) for v in y)

    def as_dict(self) -> dict[str, np.ndarray]:
        y = np.asarray(self.ys, dtype=np.float64)
        x = np.asarray(self.xs, dtype=np.float64).reshape(-1, self.dim)
        best = np.fmin.accumulate(y) if y.size else y
        return {"x": x, "y": y, "best": best}


class _Base:
    """State shared by value and ranking optimizers: the box, the seed's generator, the history."""

    method = "base"

    def __init__(self, bounds: Any, seed: int = 0) -> None:
        self.box = Box(bounds)
        self.dim = self.box.dim
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
            raise TypeError(f"seed must be an integer, got {seed!r}")
        self.seed = int(seed)
        self.rng = np.random.default_rng(self.seed)
        self._history = _History(self.dim)
        self._pending: np.ndarray | None = None

    @property
    def nfev(self) -> int:
        return len(self._history.ys)

    @property
    def history(self) -> dict[str, np.ndarray]:
        return self._history.as_dict()

    def _check_told(self, points: Any) -> np.ndarray:
        p = self.box.check_points(points)
        if self._pending is not None and not (
            p.shape == self._pending.shape and np.array_equal(p, self._pending)
        ):
            raise ValueError(
                f"{self.method}: tell() got points that differ from the last ask() "
                f"(shape {p.shape} vs {self._pending.shape}); tell the asked points, in order"
            )
        return p

    def result(self, message: str = "") -> OptimizeResult:
        x, y = self.best
        return OptimizeResult(
            x=x,
            fun=y,
            nfev=self.nfev,
            nit=getattr(self, "nit", self.nfev),
            success=bool(np.all(np.isfinite(x))),
            status=0,
            message=message or "budget exhausted",
            history=self.history,
            method=self.method,
            seed=self.seed,
        )

    @property
    def best(self) -> tuple[np.ndarray, float]:  # pragma: no cover - overridden
        raise NotImplementedError


class BlackBoxOptimizer(_Base):
    """Ask/tell interface of a value-based method (all coordinates are the user's, not the unit cube's).

    ``ask(n)`` returns an ``(n, d)`` array of points to evaluate; ``tell(points, values)`` reports
    their values (lower is better); ``best`` is the method's recommendation ``(x, f)`` (the best point
    seen, or the iterate of a descent method). Methods that need a fixed batch (ZO-SGD, CMA-ES) say so
    in ``batch_size()``, return that batch from ``ask()`` and raise if ``n`` asks for another.
    """

    def ask(self, n: int | None = None) -> np.ndarray:
        """``n`` points to evaluate next (default: the method's batch, else one point)."""
        n = check_int("n", (self.batch_size() or 1) if n is None else n, 1)
        u = np.asarray(self._ask_unit(n), dtype=np.float64)
        x = self.box.from_unit(np.clip(u, 0.0, 1.0))
        self._pending = x
        return x.copy()

    def tell(self, points: Any, values: Any) -> None:
        p = self._check_told(points)
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        if v.shape[0] != p.shape[0]:
            raise ValueError(f"got {p.shape[0]} points but {v.shape[0]} values")
        if np.any(np.isnan(v)):
            raise ValueError(f"values must not be nan, got {v.tolist()}")
        self._pending = None
        self._history.add(p, v)
        self._tell_unit(self.box.to_unit(p), v)

    @property
    def best(self) -> tuple[np.ndarray, float]:
        h = self._history
        if not h.ys:
            return np.full(self.dim, np.nan), math.inf
        i = int(np.argmin(h.ys))
        return h.xs[i].copy(), h.ys[i]

    # subclasses: work in the unit cube
    def _ask_unit(self, n: int) -> np.ndarray:
        raise NotImplementedError

    def _tell_unit(self, u: np.ndarray, y: np.ndarray) -> None:
        raise NotImplementedError

    def batch_size(self) -> int | None:
        """The batch ``ask`` must return next, or None if any ``n`` is fine."""
        return None


class RankingOptimizer(_Base):
    """Ask/tell for a method that sees only rankings: ``tell(points, order)``.

    ``order`` lists indices into ``points`` from best (lowest objective) to worst; it may be partial
    (the top ``k``). ``tell_values`` is a convenience that ranks known values with the exact oracle.
    """

    def ask(self, n: int | None = None) -> np.ndarray:
        u = np.asarray(self._ask_unit(), dtype=np.float64)
        if n is not None and n != u.shape[0]:
            raise ValueError(f"{self.method} asks for batches of {u.shape[0]} points now, got n={n!r}")
        x = self.box.from_unit(np.clip(u, 0.0, 1.0))
        self._pending = x
        return x.copy()

    def tell(self, points: Any, order: Sequence[int] | np.ndarray, values: Any = None) -> None:
        """Report the ranking of the asked points; ``values`` (optional) only feed the history."""
        p = self._check_told(points)
        o = np.asarray(order)
        if o.ndim != 1 or o.size == 0 or not np.issubdtype(o.dtype, np.integer):
            raise ValueError(f"order must be a non-empty 1-D sequence of indices, got {order!r}")
        if o.min() < 0 or o.max() >= p.shape[0] or np.unique(o).size != o.size:
            raise ValueError(f"order must hold distinct indices in [0, {p.shape[0]}), got {o.tolist()}")
        v = np.full(p.shape[0], np.nan) if values is None else np.asarray(values, np.float64).reshape(-1)
        if v.shape[0] != p.shape[0]:
            raise ValueError(f"got {p.shape[0]} points but {v.shape[0]} values")
        self._pending = None
        self._history.add(p, v)
        self._tell_unit(self.box.to_unit(p), o.astype(np.int64), v)

    def tell_values(self, points: Any, values: Any) -> None:
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        self.tell(points, order_from_values(v, self.oracle_k(v.size)), v)

    def oracle_k(self, n: int) -> int:
        """How many top entries the ranking oracle reveals for a batch of ``n`` points."""
        return n

    def _ask_unit(self) -> np.ndarray:
        raise NotImplementedError

    def _tell_unit(self, u: np.ndarray, order: np.ndarray, values: np.ndarray) -> None:
        raise NotImplementedError
