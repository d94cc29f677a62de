"""Tiny workloads and misbehaving methods for testing the harness itself (and plugins' executors).

Register them with :func:`register_toys`; worker processes receive the registrations from the driver.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from optarena import registry
from optarena.core.searchspace import Param, SearchSpace
from optarena.core.spec import MethodSpec
from optarena.workloads.base import Workload

__all__ = ["TOY_METHODS", "TOY_WORKLOADS", "register_toys"]


class _ToyProblem:
    """f(x) = 1/2 sum_i h_i x_i^2 with h_i in [0.1, 1], x0 ~ N(0, I); metric = f(x) / f(x0)."""

    def __init__(self, seed: int, dim: int, eval_sleep: float) -> None:
        import torch

        g = torch.Generator().manual_seed(seed)
        self.h = torch.linspace(0.1, 1.0, dim, dtype=torch.float64)
        self.model = torch.nn.Module()
        self.model.x = torch.nn.Parameter(torch.randn(dim, generator=g, dtype=torch.float64))
        self.x0 = self.model.x.detach().numpy().copy()
        self.f0 = float(0.5 * (self.h * self.model.x.detach() ** 2).sum())
        self.eval_sleep = eval_sleep

    def named_parameters(self) -> list[tuple[str, Any]]:
        return list(self.model.named_parameters())

    def next_batch(self) -> None:
        return None

    def loss(self, batch: Any) -> Any:
        return 0.5 * (self.h * self.model.x**2).sum()

    def evaluate(self) -> dict[str, float]:
        if self.eval_sleep:
            time.sleep(self.eval_sleep)
        f = float(0.5 * (self.h * self.model.x.detach() ** 2).sum())
        return {"rel_loss": f / self.f0, "loss": f}

    def fun_grad(self, x: Any) -> tuple[float, Any]:
        h = self.h.numpy()
        return float(0.5 * (h * x**2).sum()), h * x

    def evaluate_x(self, x: Any) -> dict[str, float]:
        f, _ = self.fun_grad(x)
        return {"rel_loss": f / self.f0, "loss": f}


class ToyQuad(Workload):
    """A 10-d diagonal quadratic; target: loss down to 1e-3 of its start."""

    id = "toy-quad"
    summary = "toy diagonal quadratic (harness tests)"
    metric = "rel_loss"
    mode = "min"
    target = 1e-3
    max_runtime = 5.0
    eval_every = 5
    step_hint = 200
    interfaces = frozenset({"torch-optimizer", "minimizer"})
    eval_sleep = 0.0

    def build(self, seed: int) -> _ToyProblem:
        return _ToyProblem(seed, 10, self.eval_sleep)


class ToyQuadSlowEval(ToyQuad):
    """The same problem with a 50 ms sleep inside every evaluation (must not change time-to-target)."""

    id = "toy-quad-slow-eval"
    summary = "toy quadratic, slow evaluation"
    eval_sleep = 0.05


class ToyQuadTanh(ToyQuad):
    """A held-out variant of toy-quad (same problem), for the variant gate."""

    id = "toy-quad-variant"
    summary = "variant of toy-quad"
    variant_of = "toy-quad"


def _sgd(params: Sequence[tuple[str, Any]], hparams: Mapping[str, Any], step_hint: int) -> tuple[Any, None]:
    import torch

    behaviour = hparams.get("behaviour", "ok")
    tensors = [p for _, p in params]

    class ToySGD(torch.optim.SGD):
        def step(self, closure: Any = None) -> Any:
            if behaviour == "raise":
                raise RuntimeError("toy method failure")
            if behaviour == "hang":
                time.sleep(3600)
            if behaviour == "crash":
                os._exit(13)
            if behaviour == "sleep":
                time.sleep(0.01)
            if behaviour == "nan":
                for p in tensors:
                    p.data.fill_(float("nan"))
                return None
            return super().step(closure)

    return ToySGD(tensors, lr=hparams["lr"]), None


def _spec(name: str, behaviour: str, lr: tuple[float, float] = (0.05, 1.5)) -> MethodSpec:
    return MethodSpec(
        name=name,
        family="torch-optimizer",
        factory="optarena.testing.toys:_sgd",
        summary=f"toy SGD ({behaviour})",
        search_space=SearchSpace((Param("lr", lr[0], lr[1], log=True),), fixed={"behaviour": behaviour}),
        defaults={"lr": min(max(0.5, lr[0]), lr[1]), "behaviour": behaviour},
    )


TOY_SGD = _spec("toy-sgd", "ok")
TOY_SGD_TINY = _spec("toy-sgd-tiny", "ok", lr=(1e-6, 1e-6))  # never reaches a target
TOY_SGD_SLOW = _spec("toy-sgd-slow", "sleep")
TOY_RAISE = _spec("toy-raise", "raise")
TOY_NAN = _spec("toy-nan", "nan")
TOY_HANG = _spec("toy-hang", "hang")
TOY_CRASH = _spec("toy-crash", "crash")

# The real torch SGD (heavy-ball) factory, pinned at lr = 1e-6: it never reaches a target.
SGD_LR1E6 = MethodSpec(
    name="sgd-lr1e-6",
    family="torch-optimizer",
    factory="optarena.optim.baselines:sgd_heavyball",
    summary="SGD heavy-ball at lr 1e-6 (scores 0)",
    search_space=SearchSpace(
        fixed={"lr": 1e-6, "one_minus_momentum": 0.1, "weight_decay": 0.0, "warmup_frac": 0.0}
    ),
    defaults={"lr": 1e-6, "one_minus_momentum": 0.1, "weight_decay": 0.0, "warmup_frac": 0.0},
)

TOY_METHODS = [
    "SGD_LR1E6",
    "TOY_SGD",
    "TOY_SGD_TINY",
    "TOY_SGD_SLOW",
    "TOY_RAISE",
    "TOY_NAN",
    "TOY_HANG",
    "TOY_CRASH",
]
TOY_WORKLOADS = ["ToyQuad", "ToyQuadSlowEval", "ToyQuadTanh"]


def register_toys() -> None:
    """Register the toy workloads and methods (idempotent)."""
    for name in TOY_METHODS:
        registry.register_method(f"optarena.testing.toys:{name}", replace=True)
    for name in TOY_WORKLOADS:
        registry.register_workload(f"optarena.testing.toys:{name}", replace=True)
