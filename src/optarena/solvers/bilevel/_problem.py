"""A bilevel problem, its validation, and a counting first-order oracle built on torch autograd.

    min_{x in X, y}  F(x, y)   s.t.  y in argmin_{y' in Y} { f(x, y') : g(x, y') <= 0, h(x, y') = 0 }

Every callable takes 1-D float64 torch tensors ``(x, y)`` and returns a 0-dim tensor (``F``, ``f``) or a
1-D tensor (``g``, ``h``). A finite-sum problem (``n_samples=(n_upper, n_lower)``) takes a third
argument ``idx``: a 1-D int64 tensor of sample indices, or ``None`` for the full sum (a mean).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from optarena.core.errors import OptArenaError

__all__ = ["BilevelProblem", "BilevelProblemError", "Oracle", "as_vector"]

DTYPE = torch.float64


class BilevelProblemError(OptArenaError, ValueError):
    """A malformed bilevel problem: wrong shapes, non-finite values, a callable of the wrong kind."""


def as_vector(value: Any, name: str) -> Tensor:
    """``value`` as a 1-D float64 torch tensor (a copy); raises naming ``name`` when it cannot be one."""
    if isinstance(value, Tensor):
        t = value.detach().to(DTYPE).clone()
    else:
        try:
            t = torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=DTYPE).clone()
        except (TypeError, ValueError) as exc:
            raise BilevelProblemError(f"{name} must be a vector of numbers, got {value!r}") from exc
    if t.ndim != 1 or t.numel() == 0:
        raise BilevelProblemError(f"{name} must be a non-empty 1-D vector, got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise BilevelProblemError(f"{name} contains NaN or inf: {t.tolist()[:8]}...")
    return t


Projection = Callable[[Tensor], Tensor]
JointProjection = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


@dataclass
class BilevelProblem:
    """A (possibly lower-level constrained, possibly finite-sum) bilevel problem.

    Attributes:
        F, f: upper and lower objectives; g, h: lower-level inequality (``<= 0``) and equality constraints.
        x0, y0: starting points (1-D float64 tensors).
        project_x, project_y: Euclidean projections onto the closed convex sets X and Y (default: none).
        project_xy: projection of the pair ``(x, y)`` onto a joint convex set (default: both of the above).
        lower_solution: optional exact lower-level solver ``x -> y*(x)`` (used for the gap when given).
        n_samples: ``(n_upper, n_lower)`` for finite-sum objectives that accept an ``idx`` argument.
        x_star, y_star: a known solution, when there is one (errors go to the history).
        name: for messages.
    """

    F: Callable[..., Tensor]
    f: Callable[..., Tensor]
    x0: Tensor
    y0: Tensor
    g: Callable[[Tensor, Tensor], Tensor] | None = None
    h: Callable[[Tensor, Tensor], Tensor] | None = None
    project_x: Projection | None = None
    project_y: Projection | None = None
    project_xy: JointProjection | None = None
    lower_solution: Callable[[Tensor], Tensor] | None = None
    n_samples: tuple[int, int] | None = None
    x_star: Tensor | None = None
    y_star: Tensor | None = None
    name: str = "bilevel problem"
    n_g: int = field(default=0, init=False)
    n_h: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        for attr in ("F", "f"):
            if not callable(getattr(self, attr)):
                raise BilevelProblemError(
                    f"{self.name}: {attr} must be callable, got {getattr(self, attr)!r}"
                )
        for attr in ("g", "h", "project_x", "project_y", "project_xy", "lower_solution"):
            value = getattr(self, attr)
            if value is not None and not callable(value):
                raise BilevelProblemError(f"{self.name}: {attr} must be callable or None, got {value!r}")
        self.x0 = as_vector(self.x0, f"{self.name}: x0")
        self.y0 = as_vector(self.y0, f"{self.name}: y0")
        if self.x_star is not None:
            self.x_star = as_vector(self.x_star, f"{self.name}: x_star")
        if self.y_star is not None:
            self.y_star = as_vector(self.y_star, f"{self.name}: y_star")
        if self.n_samples is not None:
            ns = tuple(self.n_samples)
            if len(ns) != 2 or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in ns):
                raise BilevelProblemError(
                    f"{self.name}: n_samples must be two positive integers, got {self.n_samples!r}"
                )
            self.n_samples = (int(ns[0]), int(ns[1]))
        # Probe every callable once at the start point: shapes and finiteness.
        x, y = self.x0, self.y0
        for attr in ("F", "f"):
            self._check_scalar(attr, self._probe(attr, x, y))
        self.n_g = self._check_constraint("g", x, y)
        self.n_h = self._check_constraint("h", x, y)
        for attr, value, ref in (("project_x", x, x), ("project_y", y, y)):
            fn = getattr(self, attr)
            if fn is not None:
                out = fn(value)
                if not isinstance(out, Tensor) or out.shape != ref.shape:
                    raise BilevelProblemError(
                        f"{self.name}: {attr} must return a tensor of shape {tuple(ref.shape)}, got "
                        f"{getattr(out, 'shape', type(out).__name__)}"
                    )
        if self.project_xy is not None:
            px, py = self.project_xy(x, y)
            if px.shape != x.shape or py.shape != y.shape:
                raise BilevelProblemError(f"{self.name}: project_xy returned shapes {px.shape}, {py.shape}")

    # -- evaluation ---------------------------------------------------------------------------------
    def call(self, attr: str, x: Tensor, y: Tensor, idx: Tensor | None = None) -> Tensor:
        fn = getattr(self, attr)
        if self.n_samples is not None and attr in ("F", "f"):
            return fn(x, y, idx)
        return fn(x, y)

    def _probe(self, attr: str, x: Tensor, y: Tensor) -> Any:
        """``attr`` at the start point; an exception there (x0 or y0 of the wrong length for the callable,
        most often) becomes a BilevelProblemError naming the problem, the callable and the shapes."""
        try:
            return self.call(attr, x, y, None) if attr in ("F", "f") else getattr(self, attr)(x, y)
        except Exception as exc:  # re-raised with the problem's name
            raise BilevelProblemError(
                f"{self.name}: {attr}(x0, y0) raised {type(exc).__name__}: {exc} "
                f"(x0 has shape {tuple(x.shape)}, y0 has shape {tuple(y.shape)})"
            ) from exc

    def _check_scalar(self, attr: str, value: Any) -> None:
        if not isinstance(value, Tensor) or value.numel() != 1:
            raise BilevelProblemError(
                f"{self.name}: {attr}(x, y) must return a scalar torch tensor, got {value!r:.80}"
            )
        if not torch.isfinite(value).all():
            raise BilevelProblemError(f"{self.name}: {attr}(x0, y0) is not finite: {value.item()}")

    def _check_constraint(self, attr: str, x: Tensor, y: Tensor) -> int:
        fn = getattr(self, attr)
        if fn is None:
            return 0
        value = self._probe(attr, x, y)
        if not isinstance(value, Tensor) or value.ndim != 1:
            raise BilevelProblemError(
                f"{self.name}: {attr}(x, y) must return a 1-D torch tensor, got "
                f"{getattr(value, 'shape', type(value).__name__)}"
            )
        if not torch.isfinite(value).all():
            raise BilevelProblemError(f"{self.name}: {attr}(x0, y0) is not finite: {value.tolist()}")
        return int(value.numel())

    @property
    def constrained(self) -> bool:
        return self.n_g + self.n_h > 0

    def proj_x(self, x: Tensor) -> Tensor:
        return x if self.project_x is None else self.project_x(x)

    def proj_y(self, y: Tensor) -> Tensor:
        return y if self.project_y is None else self.project_y(y)

    def proj_xy(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        if self.project_xy is not None:
            return self.project_xy(x, y)
        return self.proj_x(x), self.proj_y(y)


class Oracle:
    """First-order (and Hessian-vector) access to a problem, counting every call by kind.

    Counters: ``ngrad_F``, ``ngrad_f``, ``ngrad_g`` (gradients of ``lambda^T g + mu^T h``), ``nhvp``
    (Hessian-vector products of f), ``nfun`` (function values the method itself asked for).
    """

    def __init__(self, problem: BilevelProblem, seed: int = 0) -> None:
        self.p = problem
        self.counts = {"ngrad_F": 0, "ngrad_f": 0, "ngrad_g": 0, "nhvp": 0, "nfun": 0}
        self.gen = torch.Generator().manual_seed(int(seed))

    def sample(self, which: str, batch_size: int) -> Tensor | None:
        """Indices of a uniform minibatch of the upper (``"F"``) or lower (``"f"``) sum."""
        if self.p.n_samples is None:
            return None
        n = self.p.n_samples[0 if which == "F" else 1]
        return torch.randint(0, n, (min(batch_size, n),), generator=self.gen)

    def _grad(self, attr: str, x: Tensor, y: Tensor, idx: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        xr, yr = x.detach().requires_grad_(True), y.detach().requires_grad_(True)
        val = self.p.call(attr, xr, yr, idx)
        gx, gy = torch.autograd.grad(val, (xr, yr), allow_unused=True)
        gx = torch.zeros_like(x) if gx is None else gx
        gy = torch.zeros_like(y) if gy is None else gy
        return val.detach(), gx, gy

    def grad_F(self, x: Tensor, y: Tensor, idx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.counts["ngrad_F"] += 1
        return self._grad("F", x, y, idx)[1:]

    def grad_f(self, x: Tensor, y: Tensor, idx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self.counts["ngrad_f"] += 1
        return self._grad("f", x, y, idx)[1:]

    def cons(self, x: Tensor, y: Tensor) -> Tensor:
        """``(g(x, y), h(x, y))`` stacked (inequalities first); a size other than at the start raises."""
        parts = []
        for attr, m in (("g", self.p.n_g), ("h", self.p.n_h)):
            fn = getattr(self.p, attr)
            if fn is None:
                continue
            c = fn(x, y)
            if not isinstance(c, Tensor) or c.shape != (m,):
                raise BilevelProblemError(
                    f"{self.p.name}: {attr}(x, y) returned shape {tuple(getattr(c, 'shape', ()))}, but "
                    f"({m},) at (x0, y0); a constraint must return the same number of values everywhere"
                )
            parts.append(c)
        return torch.cat(parts) if parts else x.new_zeros(0)

    def cons_and_grad(self, x: Tensor, y: Tensor, lam: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Constraint values and the gradient of ``lam^T (g, h)`` in ``(x, y)``."""
        xr, yr = x.detach().requires_grad_(True), y.detach().requires_grad_(True)
        c = self.cons(xr, yr)
        self.counts["ngrad_g"] += 1
        gx, gy = torch.autograd.grad(c @ lam, (xr, yr), allow_unused=True)
        gx = torch.zeros_like(x) if gx is None else gx
        gy = torch.zeros_like(y) if gy is None else gy
        return c.detach(), gx, gy

    def hvp_f(self, x: Tensor, y: Tensor, v: Tensor, idx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(d^2 f / dx dy) v`` and ``(d^2 f / dy^2) v`` by one double-backward."""
        self.counts["nhvp"] += 1
        xr, yr = x.detach().requires_grad_(True), y.detach().requires_grad_(True)
        gy = torch.autograd.grad(self.p.call("f", xr, yr, idx), yr, create_graph=True)[0]
        hx, hy = torch.autograd.grad(gy @ v, (xr, yr), allow_unused=True)
        hx = torch.zeros_like(x) if hx is None else hx
        hy = torch.zeros_like(y) if hy is None else hy
        return hx.detach(), hy.detach()


def check_positive(name: str, value: Any, *, integer: bool = False, allow_zero: bool = False) -> None:
    """Raise a BilevelProblemError unless ``value`` is a finite positive number (an int if ``integer``)."""
    ok = isinstance(value, int | float | np.floating | np.integer) and not isinstance(value, bool)
    ok = ok and np.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if ok and integer:
        ok = float(value) == int(value)
    if not ok:
        kind = "integer" if integer else "number"
        sign = "non-negative" if allow_zero else "positive"
        raise BilevelProblemError(f"option {name} must be a {sign} {kind}, got {value!r}")


def check_options(options: dict[str, Any], known: Sequence[str], method: str) -> None:
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise BilevelProblemError(f"method {method!r}: unknown option(s) {unknown}; known: {sorted(known)}")
