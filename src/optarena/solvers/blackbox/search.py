"""The floors every black-box method must beat: uniform random search and scrambled-Sobol search.

Random search: Bergstra & Bengio, "Random Search for Hyper-Parameter Optimization", JMLR, 2012.
Sobol search: Sobol', "On the distribution of points in a cube...", USSR Comput. Math. Math. Phys., 1967,
with Owen scrambling (scipy.stats.qmc.Sobol); points are taken in sequence order, so any prefix of a
power-of-two length is balanced.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import qmc

from optarena.solvers.blackbox._common import BlackBoxOptimizer

__all__ = ["RandomSearch", "SobolSearch"]


class RandomSearch(BlackBoxOptimizer):
    """Independent uniform points in the box."""

    method = "random"

    def __init__(self, bounds: Any, seed: int = 0) -> None:
        super().__init__(bounds, seed)
        self.nit = 0

    def _ask_unit(self, n: int) -> np.ndarray:
        self.nit += 1
        return self.rng.random((n, self.dim))

    def _tell_unit(self, u: np.ndarray, y: np.ndarray) -> None:
        pass


class SobolSearch(BlackBoxOptimizer):
    """Consecutive points of one scrambled Sobol sequence (seeded)."""

    method = "sobol"

    def __init__(self, bounds: Any, seed: int = 0) -> None:
        super().__init__(bounds, seed)
        self._seq = np.empty((0, self.dim))
        self._next = 0
        self.nit = 0

    def _ask_unit(self, n: int) -> np.ndarray:
        self.nit += 1
        end = self._next + n
        if end > len(self._seq):  # regenerate the same sequence up to the next power of two
            m = (end - 1).bit_length()
            engine = qmc.Sobol(self.dim, scramble=True, seed=np.random.default_rng(self.seed))
            self._seq = engine.random_base2(m)
        pts = self._seq[self._next : end]
        self._next = end
        return pts

    def _tell_unit(self, u: np.ndarray, y: np.ndarray) -> None:
        pass
