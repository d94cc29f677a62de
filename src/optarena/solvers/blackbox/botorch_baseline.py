r"""BoTorch baseline: a SingleTaskGP with its defaults and log expected improvement (optional extra).

References: M. Balandat, B. Karrer, D. R. Jiang, S. Daulton, B. Letham, A. G. Wilson, E. Bakshy,
"BoTorch: A Framework for Efficient Monte-Carlo Bayesian Optimization", NeurIPS 2020; S. Ament,
S. Daulton, D. Eriksson, M. Balandat, E. Bakshy, "Unexpected Improvements to Expected Improvement for
Bayesian Optimization", NeurIPS 2023 (LogEI); the model's default priors are those of C. Hvarfner,
E. O. Hellsten, L. Nardi, "Vanilla Bayesian Optimization Performs Great in High Dimensions", ICML 2024.

Algorithm (BoTorch maximizes, so the model sees ``-y``; inputs are the unit cube, float64):

.. code-block:: text

    evaluate f at n_init scrambled-Sobol points (default n_init = 2 (d + 1), the design of bo-ei)
    while budget remains:
        model = SingleTaskGP(U, -y)         # BoTorch's defaults: Standardize(y), RBF ARD with the
                                             # dimension-scaled LogNormal lengthscale prior, inferred noise
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))   # MAP, L-BFGS-B
        x_next = argmax_x LogEI(x),  LogEI(x) = log( sigma(x) h((mu(x) - best) / sigma(x)) ),
                 h(z) = z Phi(z) + phi(z), computed in log space (Ament et al.), best = max(-y)
                 by optimize_acqf(num_restarts = 10, raw_samples = 512)   # multi-start L-BFGS-B
        evaluate f(x_next)
    return the best observed point (noiseless) or the observed point of least posterior mean (noisy)

``noisy=True`` uses qLogNoisyExpectedImprovement (``X_baseline`` = the observed points) instead of
LogEI; ``ask(n)`` with ``n > 1`` optimizes ``q = n`` points jointly with qLogEI (qLogNEI when noisy).
``num_restarts=10`` and ``raw_samples=512`` are the values of BoTorch's tutorials, not tuned here.

Departures from BoTorch's own loop: the initial design and the per-iteration seeds come from our
``seed`` (every torch random draw of one ``ask`` runs under ``torch.random.fork_rng`` seeded from the
optimizer's generator, so equal seeds give equal runs and the caller's torch RNG is left untouched);
the model is refit from its default initialization at every iteration (as in BoTorch's tutorials);
torch runs on one thread inside ``ask`` (set and restored), as bo-ei's BLAS does.

Needs ``botorch`` (``pip install botorch==0.18.1``, which brings gpytorch 1.15.2 and linear_operator
0.6.1 and keeps the installed torch); it is imported on the first ``BoTorchLogEI``, not with the package.
"""

from __future__ import annotations

import contextlib
import importlib
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from optarena.solvers.blackbox._common import BlackBoxOptimizer, check_int
from optarena.solvers.blackbox.baselines import require
from optarena.solvers.blackbox.bo import sobol_points

__all__ = ["BoTorchLogEI"]


def _botorch() -> tuple[Any, Any]:
    """Import botorch and gpytorch (MissingDependencyError with the pin if absent), silencing their
    import-time DeprecationWarnings (``torch.jit.script`` in gpytorch/linear_operator on recent torch)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        botorch = require("botorch")
        for sub in ("botorch.acquisition", "botorch.fit", "botorch.models", "botorch.optim", "gpytorch.mlls"):
            importlib.import_module(sub)
    return botorch, importlib.import_module("gpytorch")


@contextlib.contextmanager
def _one_torch_thread(torch: Any) -> Iterator[None]:
    """torch on one intra-op thread inside (restored after): the models are small, and more threads
    only contend on a shared machine (as ``gp.single_thread_blas`` does for bo-ei)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class BoTorchLogEI(BlackBoxOptimizer):
    """BoTorch's SingleTaskGP + LogEI (``noisy=True``: qLogNEI) over the unit cube."""

    method = "botorch-logei"

    def __init__(
        self,
        bounds: Any,
        seed: int = 0,
        *,
        n_init: int | None = None,
        noisy: bool = False,
        num_restarts: int = 10,
        raw_samples: int = 512,
    ) -> None:
        super().__init__(bounds, seed)
        if not isinstance(noisy, bool):
            raise TypeError(f"noisy must be a bool, got {noisy!r}")
        self.n_init = 2 * (self.dim + 1) if n_init is None else check_int("n_init", n_init, 1)
        self.noisy = noisy
        self.num_restarts = check_int("num_restarts", num_restarts, 1)
        self.raw_samples = check_int("raw_samples", raw_samples, 1)
        self._bt, self._gpytorch = _botorch()
        import torch

        self._torch = torch
        self._init = sobol_points(self.n_init, self.dim, self.rng)
        self._U = np.empty((0, self.dim))
        self._y = np.empty(0)
        self._model: Any = None  # fitted on all data told so far; None when stale
        self.nit = 0

    def _tell_unit(self, u: np.ndarray, y: np.ndarray) -> None:
        self._U = np.vstack([self._U, u])
        self._y = np.r_[self._y, y]
        self._model = None

    def _fit(self) -> Any:
        if self._model is None:
            torch, bt = self._torch, self._bt
            X = torch.from_numpy(self._U).to(torch.float64)
            Y = torch.from_numpy(-self._y).to(torch.float64).unsqueeze(-1)  # BoTorch maximizes
            model = bt.models.SingleTaskGP(X, Y)
            mll = self._gpytorch.mlls.ExactMarginalLogLikelihood(model.likelihood, model)
            bt.fit.fit_gpytorch_mll(mll)
            self._model = model
        return self._model

    def _ask_unit(self, n: int) -> np.ndarray:
        k0 = len(self._y)
        out = [self._init[k0 + i] for i in range(n) if k0 + i < self.n_init]
        need = n - len(out)
        if need > 0 and k0 < 2:  # fewer than two observations: nothing to fit yet
            out += list(self.rng.random((need, self.dim)))
        elif need > 0:
            # all torch randomness of this ask (fit retries, raw samples, MC samplers) from our generator
            torch_seed = int(self.rng.integers(2**63 - 1))
            with self._torch.random.fork_rng(devices=[]), _one_torch_thread(self._torch):
                self._torch.manual_seed(torch_seed)
                out += list(self._acquire(need, torch_seed))
        self.nit += 1
        return np.asarray(out, dtype=np.float64)

    def _acquire(self, q: int, torch_seed: int) -> np.ndarray:
        torch, acq_mod = self._torch, self._bt.acquisition
        model = self._fit()
        X = torch.from_numpy(self._U).to(torch.float64)
        if self.noisy:
            acq = acq_mod.qLogNoisyExpectedImprovement(model, X_baseline=X)
        elif q == 1:
            acq = acq_mod.LogExpectedImprovement(model, best_f=float(np.max(-self._y)))
        else:
            acq = acq_mod.qLogExpectedImprovement(model, best_f=float(np.max(-self._y)))
        box = torch.stack([torch.zeros(self.dim), torch.ones(self.dim)]).to(torch.float64)
        cand, _ = self._bt.optim.optimize_acqf(
            acq,
            bounds=box,
            q=q,
            num_restarts=self.num_restarts,
            raw_samples=self.raw_samples,
            options={"seed": torch_seed % (2**31)},
        )
        return cand.detach().cpu().numpy().reshape(q, self.dim)

    @property
    def best(self) -> tuple[np.ndarray, float]:
        if not self.noisy or len(self._y) < 2:
            return super().best
        torch = self._torch
        with torch.random.fork_rng(devices=[]), _one_torch_thread(torch):
            torch.manual_seed(self.seed)
            model = self._fit()
            with torch.no_grad():
                mean = model.posterior(torch.from_numpy(self._U).to(torch.float64)).mean.squeeze(-1)
        i = int(torch.argmax(mean))  # the model's mean of -y
        return self.box.from_unit(self._U[i]), float(self._y[i])
