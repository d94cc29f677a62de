"""Reference-package baselines behind the same ask/tell interface (optional dependencies, imported lazily).

- Optuna TPE and GP samplers (Akiba et al., "Optuna: A Next-generation Hyperparameter Optimization
  Framework", KDD 2019; TPE: Bergstra et al., NeurIPS 2011), run through ``study.ask``/``study.tell``
  over the unit cube with the sampler's own defaults and ``seed``.
- CMA-ES through the ``cma`` package (Hansen & Ostermeier, "Completely Derandomized Self-Adaptation in
  Evolution Strategies", Evolutionary Computation, 2001) in the unit cube with its bound handling,
  default population size, ``sigma0 = 0.2`` and ``x0`` = the box centre unless given. ``cma`` treats seed
  0 as "random", so it receives ``seed + 1``.

- BoTorch (SingleTaskGP + LogEI) lives in :mod:`optarena.solvers.blackbox.botorch_baseline`.

Missing packages raise :class:`MissingDependencyError` (an ImportError) naming the package and pin.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from optarena.solvers.blackbox._common import BlackBoxOptimizer, check_positive

__all__ = ["CMAES", "MissingDependencyError", "OptunaSearch", "require"]

PINS = {"optuna": "optuna==5.0.0", "cma": "cma==4.5.0", "botorch": "botorch==0.18.1"}


class MissingDependencyError(ImportError):
    """An optional package a baseline needs is not installed."""


def require(module: str) -> Any:
    """Import ``module`` or raise MissingDependencyError with the pip line to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        pin = PINS.get(module, module)
        raise MissingDependencyError(f"this baseline needs {module!r}: pip install {pin}") from exc


class OptunaSearch(BlackBoxOptimizer):
    """Optuna's TPE (``sampler="tpe"``) or GP (``sampler="gp"``) sampler over the unit cube."""

    def __init__(self, bounds: Any, seed: int = 0, *, sampler: str = "tpe") -> None:
        super().__init__(bounds, seed)
        optuna = require("optuna")
        if sampler == "tpe":
            smp = optuna.samplers.TPESampler(seed=self.seed)
        elif sampler == "gp":
            smp = optuna.samplers.GPSampler(seed=self.seed)
        else:
            raise ValueError(f"sampler must be 'tpe' or 'gp', got {sampler!r}")
        self.method = f"optuna-{sampler}"
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._study = optuna.create_study(direction="minimize", sampler=smp)
        dist = optuna.distributions.FloatDistribution(0.0, 1.0)
        self._dists = {f"x{i}": dist for i in range(self.dim)}
        self._trials: list[Any] = []
        self.nit = 0

    def _ask_unit(self, n: int) -> np.ndarray:
        self.nit += 1
        self._trials = [self._study.ask(self._dists) for _ in range(n)]
        return np.array([[t.params[f"x{i}"] for i in range(self.dim)] for t in self._trials])

    def _tell_unit(self, u: np.ndarray, y: np.ndarray) -> None:
        for trial, v in zip(self._trials, y, strict=True):
            self._study.tell(trial, float(v))
        self._trials = []


class CMAES(BlackBoxOptimizer):
    """CMA-ES (the ``cma`` package); ``ask()`` returns one population."""

    method = "cma-es"

    def __init__(
        self, bounds: Any, seed: int = 0, *, x0: Any = None, sigma0: float = 0.2, popsize: int | None = None
    ) -> None:
        super().__init__(bounds, seed)
        cma = require("cma")
        sigma0 = check_positive("sigma0", sigma0)
        u0 = np.full(self.dim, 0.5) if x0 is None else self.box.to_unit(np.asarray(x0, np.float64))
        if u0.shape != (self.dim,) or np.any(u0 < 0) or np.any(u0 > 1):
            raise ValueError(f"x0 must be a point of dimension {self.dim} inside the bounds, got {x0!r}")
        opts = {"bounds": [0.0, 1.0], "seed": self.seed + 1, "verbose": -9, "verb_log": 0, "verb_disp": 0}
        if popsize is not None:
            opts["popsize"] = int(popsize)
        self._es = cma.CMAEvolutionStrategy(u0.tolist(), sigma0, opts)
        self._sols: list[np.ndarray] = []
        self.nit = 0

    def batch_size(self) -> int:
        return int(self._es.popsize)

    def _ask_unit(self, n: int) -> np.ndarray:
        if n != self.batch_size():
            raise ValueError(f"cma-es asks for populations of {self.batch_size()} points, got n={n}")
        self._sols = self._es.ask()
        return np.asarray(self._sols, dtype=np.float64)

    def _tell_unit(self, u: np.ndarray, y: np.ndarray) -> None:
        self._es.tell(self._sols, y.tolist())
        self.nit += 1
