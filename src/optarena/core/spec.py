"""MethodSpec: what the registry, the harness and the contract suites know about a method."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from optarena.core.errors import HyperparameterError
from optarena.core.paper import PaperRef
from optarena.core.searchspace import SearchSpace

__all__ = ["FAMILIES", "MethodSpec", "load_object"]

#: Method families and the call each factory answers. A workload lists the families it can host.
#: - "torch-optimizer": ``factory(params, hparams, step_hint) -> (torch.optim.Optimizer, scheduler | None)``
#:   where ``params`` is a list of ``(name, tensor)`` pairs.
#: - "minimizer": ``factory(hparams) -> run(problem, callback, max_iter)``; ``problem`` has ``x0`` and
#:   ``fun_grad(x) -> (f, g)``; ``callback(x, fun) -> bool`` returns True to stop.
#: - "constrained": ``factory(hparams) -> solve(problem, budget) -> OptimizeResult`` (optarena.solvers).
#: - "bilevel": ``factory(hparams) -> solve(problem, budget, max_time=None, seed=0) -> OptimizeResult``
#:   (optarena.solvers.bilevel; budget = outer iterations).
#: - "blackbox": ``factory(hparams) -> solve(fun, bounds, budget, seed) -> OptimizeResult``.
#: - "preference": a preference-optimization loss (optarena.preference).
#: - "selection": inference-time selection and code-efficiency estimators (optarena.selection; claims only).
#: - "science": a method of the scientific and combinatorial family (optarena.science).
FAMILIES = (
    "torch-optimizer",
    "minimizer",
    "constrained",
    "bilevel",
    "blackbox",
    "preference",
    "selection",
    "science",
)

Status = Literal["experimental", "stable"]


def load_object(target: str) -> Any:
    """Import ``"package.module:attr"`` and return the attribute."""
    module, _, attr = target.partition(":")
    if not module or not attr:
        raise ValueError(f"import string must look like 'package.module:attr', got {target!r}")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: its identity, paper, capabilities, search space and factory.

    ``factory`` is an import string, so a spec can be built and listed without importing torch.
    ``defaults`` is the configuration used by the self-tuning ruleset and by ``build`` for
    hyperparameters a trial leaves out. ``capabilities`` is free-form (``"closure"``, ``"foreach"``,
    ``"2d-only"``...) and selects contract checks; tests never special-case a method by name.
    """

    name: str
    family: str
    factory: str
    summary: str
    search_space: SearchSpace
    defaults: Mapping[str, Any] = field(default_factory=dict)
    paper: PaperRef | None = None
    capabilities: frozenset[str] = frozenset()
    status: Status = "experimental"
    version: str = "1"

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"method {self.name!r}: unknown family {self.family!r}; known: {FAMILIES}")
        if self.status not in ("experimental", "stable"):
            raise ValueError(
                f"method {self.name!r}: status must be experimental or stable, got {self.status!r}"
            )
        missing = set(self.search_space.names) - set(self.defaults)
        if missing:
            raise HyperparameterError(f"method {self.name!r}: no default for {sorted(missing)}")

    def resolve_hparams(self, hparams: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Defaults overlaid with ``hparams``; values outside the search space raise."""
        given = dict(hparams or {})
        self.search_space.validate(given, self.name)
        return {**self.defaults, **given}

    def load_factory(self) -> Callable[..., Any]:
        return load_object(self.factory)
