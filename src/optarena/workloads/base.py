"""The workload contract: a versioned problem built deterministically from a seed.

A workload builds a *problem* for one trial. The harness talks to the problem through the interface
of the method's family (see ``optarena.core.spec.FAMILIES``):

- ``"torch-optimizer"``: :class:`TorchProblem` (a model, a data stream, a loss, an evaluation);
- ``"minimizer"``: :class:`ObjectiveProblem` (a full-batch objective on a flat float64 vector).

Evaluations are untimed and scheduled every ``eval_every`` steps (AlgoPerf schedules them by elapsed
time; scheduling by step keeps curves identical across machines and executors for equal seeds).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, runtime_checkable

from optarena.core.paper import PaperRef

if TYPE_CHECKING:
    import numpy as np
    import torch

__all__ = ["ObjectiveProblem", "TorchProblem", "Workload"]


@runtime_checkable
class TorchProblem(Protocol):
    """A training problem for torch optimizers.

    ``next_batch`` is the data-selection step (timed); ``loss(batch)`` runs the model forward and
    returns a scalar tensor (its backward is timed too); ``evaluate`` returns the metrics, including
    the workload's ``metric``, with gradients off (untimed).
    """

    model: torch.nn.Module

    def named_parameters(self) -> list[tuple[str, torch.Tensor]]: ...

    def next_batch(self) -> Any: ...

    def loss(self, batch: Any) -> torch.Tensor: ...

    def evaluate(self) -> dict[str, float]: ...


@runtime_checkable
class ObjectiveProblem(Protocol):
    """A deterministic objective on a flat float64 vector, for full-batch minimizers such as L-BFGS."""

    x0: np.ndarray

    def fun_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]: ...

    def evaluate_x(self, x: np.ndarray) -> dict[str, float]: ...


class Workload(ABC):
    """A problem, its metric, target and budget. Subclasses set the class attributes and ``build``.

    Attributes:
        id: registry name, e.g. ``"digits-mlp"``.
        version: bump whenever data, model, loss, target or budget change; results of different
            versions are never mixed.
        metric: name of the validation metric in ``evaluate``'s dict; ``mode`` says whether lower
            (``"min"``) or higher (``"max"``) is better; ``target`` is the value to reach;
            ``target_source`` says whether it is fixed by definition or set by ``optarena calibrate``.
        max_runtime: seconds on the harness clock (AlgoPerf's max_runtime) for the external ruleset.
        eval_every: steps between untimed evaluations.
        step_hint: steps a tuned baseline takes in ``max_runtime`` (schedules may use it).
        interfaces: method families this workload hosts.
        variant_of: for a held-out variant, the id of its base workload.
    """

    id: ClassVar[str]
    version: ClassVar[str] = "1"
    summary: ClassVar[str] = ""
    metric: ClassVar[str]
    mode: ClassVar[Literal["min", "max"]] = "min"
    target: ClassVar[float]
    target_source: ClassVar[Literal["fixed", "calibrated"]] = "calibrated"
    max_runtime: ClassVar[float]
    eval_every: ClassVar[int]
    step_hint: ClassVar[int]
    interfaces: ClassVar[frozenset[str]] = frozenset({"torch-optimizer"})
    variant_of: ClassVar[str | None] = None
    paper: ClassVar[PaperRef | None] = None

    @abstractmethod
    def build(self, seed: int) -> Any:
        """Return a fresh problem (a TorchProblem and/or ObjectiveProblem) determined by ``seed``."""

    def reached(self, value: float) -> bool:
        """Whether a metric value meets the target."""
        return value <= self.target if self.mode == "min" else value >= self.target

    def __repr__(self) -> str:
        return f"<workload {self.id} v{self.version}: {self.metric} {self.mode} target {self.target:g}>"
