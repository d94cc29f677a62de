"""S^3-style solver search: predictor-guided evolutionary search over unified-sampler schedules.

Liu, Ning, Yang, Wang, "A Unified Sampling Framework for Solver Searching of Diffusion Probabilistic
Models", ICLR 2024 (arXiv:2312.07243). A candidate solver at a fixed NFE ``N`` is

* a time grid, parameterised by log-weights :math:`w \\in \\mathbb R^N` of the :math:`\\lambda` increments:
  :math:`\\lambda_i = \\lambda_{t_0} + (\\lambda_{t_N} - \\lambda_{t_0}) \\sum_{j<i} \\mathrm{softmax}(w)_j`;
* per step: prediction type (data / noise), order (1-3, at most ``i + 1``), order-2 coefficient
  (2M / exact Taylor) and corrector (never on the last step).

Its score is the mean endpoint error :math:`\\frac1n\\sum_i\\|x^{solver}_i - x^{ref}_i\\|` on a calibration
noise set, against a high-NFE solve of the same ODE. Search (``budget`` true evaluations in all):

1. evaluate DPM-Solver++(2M) and DDIM on each standard grid (logSNR, time-uniform, time-quadratic) and
   random candidates around them (``init_frac * budget`` in all);
2. repeat: fit a ridge predictor of log-score on candidate features (softmax weights and their squares,
   one-hot choices), draw ``n_children`` children of the 4 best evaluated candidates (each a local move:
   a Gaussian step of :math:`w` of scale ``mutation_scale`` or one changed choice at one step, after an
   occasional uniform crossover), evaluate ``per_gen`` children, half of them
   those the predictor ranks best and half random ones (exploration), add them to the data;
3. return the best evaluated candidate.

Departures from the paper: the paper's predictor is an MLP trained on a few thousand evaluated solvers
with FID, and its search space also holds the derivative estimator and scaling variants and an analytical
first step; ours is a ridge model on tens to hundreds of evaluations with an endpoint-error metric, and
the time grid has its endpoints fixed at ``t_start`` and ``t_end``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from optarena.science.diffusion.metrics import endpoint_error
from optarena.science.diffusion.model import VPSchedule
from optarena.science.diffusion.solvers import (
    SCHEDULE_KINDS,
    SolverSchedule,
    StepChoice,
    reference_solve,
    timesteps,
    unified_sample,
)

__all__ = ["Candidate", "SearchResult", "search_schedule"]


@dataclass(frozen=True)
class Candidate:
    """Search genome: log-weights of the lambda increments and the per-step choices (arrays of length N)."""

    logw: np.ndarray
    noise_pred: np.ndarray  # bool: noise (True) or data prediction
    order: np.ndarray  # int in 1..3 (clipped to i + 1 when built)
    taylor: np.ndarray  # bool
    corrector: np.ndarray  # bool (ignored on the last step)

    def to_solver(self, sched: VPSchedule) -> SolverSchedule:
        n = self.logw.size
        w = np.exp(self.logw - self.logw.max())
        frac = np.concatenate([[0.0], np.cumsum(w / w.sum())])
        l0 = sched.lam(torch.tensor(sched.t_start, dtype=torch.float64))
        l1 = sched.lam(torch.tensor(sched.t_end, dtype=torch.float64))
        ts = sched.t_of_lam(l0 + torch.as_tensor(frac) * (l1 - l0))
        ts[0], ts[-1] = sched.t_start, sched.t_end
        steps = tuple(
            StepChoice(
                "noise" if self.noise_pred[i] else "data",
                int(min(self.order[i], i + 1)),
                bool(self.taylor[i]),
                bool(self.corrector[i]) and i < n - 1,
            )
            for i in range(n)
        )
        return SolverSchedule(tuple(ts.tolist()), steps)

    def features(self) -> np.ndarray:
        n = self.logw.size
        w = np.exp(self.logw - self.logw.max())
        frac = w / w.sum()
        order = np.minimum(self.order, np.arange(1, n + 1))
        return np.concatenate(
            [frac, frac**2, self.noise_pred, order == 2, order == 3, self.taylor, self.corrector[:-1]]
        ).astype(np.float64)


@dataclass
class SearchResult:
    best: SolverSchedule
    best_score: float
    baseline_score: float
    n_evals: int
    scores: list[float] = field(default_factory=list)


def _lam_logw(sched: VPSchedule, nfe: int, kind: str) -> np.ndarray:
    lam = sched.lam(timesteps(sched, nfe, kind)).numpy()
    return np.log(np.diff(lam))


def _random(rng: np.random.Generator, sched: VPSchedule, nfe: int) -> Candidate:
    kind = SCHEDULE_KINDS[rng.integers(len(SCHEDULE_KINDS))]
    return Candidate(
        _lam_logw(sched, nfe, kind) + 0.5 * rng.standard_normal(nfe),
        rng.random(nfe) < 0.5,
        rng.integers(1, 4, nfe),
        rng.random(nfe) < 0.5,
        rng.random(nfe) < 0.5,
    )


def _child(rng: np.random.Generator, a: Candidate, b: Candidate, scale: float) -> Candidate:
    """A local move from ``a``: a small Gaussian step of the grid log-weights, or one changed choice at
    one step; with probability 0.2 first a uniform crossover with ``b``."""
    n = a.logw.size
    genes = [a.noise_pred.copy(), a.order.copy(), a.taylor.copy(), a.corrector.copy()]
    logw = a.logw.copy()
    if rng.random() < 0.2:
        for g, gb in zip(genes, [b.noise_pred, b.order, b.taylor, b.corrector], strict=True):
            m = rng.random(n) < 0.5
            g[m] = gb[m]
        logw = 0.5 * (logw + b.logw)
    if rng.random() < 0.5:
        logw = logw + scale * rng.standard_normal(n)
    else:
        j, i = int(rng.integers(len(genes))), int(rng.integers(n))
        if j == 1:
            genes[1][i] = rng.integers(1, 4)
        else:
            genes[j][i] = ~genes[j][i]
    return Candidate(logw, *genes)


def _ridge(
    X: np.ndarray, y: np.ndarray, alpha: float = 1e-1
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    mu, sd = X.mean(0), X.std(0) + 1e-9
    Z = (X - mu) / sd
    coef = np.linalg.solve(Z.T @ Z + alpha * len(y) * np.eye(Z.shape[1]), Z.T @ (y - y.mean()))
    return mu, sd, coef, float(y.mean())


def search_schedule(
    model: nn.Module,
    sched: VPSchedule,
    nfe: int,
    calib_noise: torch.Tensor,
    budget: int = 200,
    seed: int = 0,
    calib_ref: torch.Tensor | None = None,
    init_frac: float = 0.4,
    per_gen: int = 8,
    n_children: int = 256,
    mutation_scale: float = 0.05,
    ref_nfe: int = 500,
) -> SearchResult:
    """Search a ``nfe``-step unified solver minimising the endpoint error on ``calib_noise``.

    ``calib_ref`` is the reference endpoint of ``calib_noise`` (computed with ``ref_nfe`` steps if None).
    ``budget`` counts solver evaluations on the calibration set (each costs ``nfe`` model calls).
    """
    if isinstance(nfe, bool) or not isinstance(nfe, int) or nfe < 1:
        raise ValueError(f"need an integer nfe >= 1, got nfe = {nfe!r}")
    if budget < 2 * len(SCHEDULE_KINDS):
        raise ValueError(f"need budget >= {2 * len(SCHEDULE_KINDS)} evaluations, got budget = {budget}")
    if not 0 < init_frac <= 1:
        raise ValueError(f"need 0 < init_frac <= 1, got init_frac = {init_frac}")
    if per_gen < 1 or n_children < per_gen:
        raise ValueError(
            f"need 1 <= per_gen <= n_children, got per_gen = {per_gen}, n_children = {n_children}"
        )
    if mutation_scale <= 0:
        raise ValueError(f"need mutation_scale > 0, got mutation_scale = {mutation_scale}")
    rng = np.random.default_rng(seed)
    ref = reference_solve(model, sched, calib_noise, ref_nfe) if calib_ref is None else calib_ref

    def score(c: Candidate) -> float:
        return endpoint_error(unified_sample(model, sched, calib_noise, c.to_solver(sched)), ref)

    orders = np.array([min(2, i + 1) for i in range(nfe)])
    if nfe < 15:
        orders[-1] = 1
    off = np.zeros(nfe, dtype=bool)
    # the standard solvers start the search: DPM-Solver++(2M) (logSNR first: the reported baseline) and
    # DDIM on each standard grid
    pop = [
        Candidate(_lam_logw(sched, nfe, kind), off.copy(), o.copy(), off.copy(), off.copy())
        for o in (orders, np.ones(nfe, dtype=int))
        for kind in SCHEDULE_KINDS
    ]
    n_init = max(len(pop), int(init_frac * budget))
    pop += [_random(rng, sched, nfe) for _ in range(n_init - len(pop))]
    scores = [score(c) for c in pop]
    baseline_score = scores[0]
    while len(pop) < budget:
        X = np.stack([c.features() for c in pop])
        y = np.log(np.maximum(np.array(scores), 1e-12))
        finite = np.isfinite(y)
        mu, sd, coef, y0 = _ridge(X[finite], y[finite])
        parents = [pop[i] for i in np.argsort(scores)[:4]]
        kids = [
            _child(
                rng, parents[rng.integers(len(parents))], parents[rng.integers(len(parents))], mutation_scale
            )
            for _ in range(n_children)
        ]
        pred = ((np.stack([k.features() for k in kids]) - mu) / sd) @ coef + y0
        take = min(per_gen, budget - len(pop))
        n_pred = (take + 1) // 2  # half ranked by the predictor, half random children (exploration)
        chosen = [int(i) for i in np.argsort(pred)[:n_pred]]
        rest = [i for i in range(n_children) if i not in chosen]
        chosen += [int(i) for i in rng.choice(rest, take - n_pred, replace=False)]
        for i in chosen:
            pop.append(kids[i])
            scores.append(score(kids[i]))
    best = int(np.argmin(scores))
    return SearchResult(pop[best].to_solver(sched), scores[best], baseline_score, len(pop), scores)
