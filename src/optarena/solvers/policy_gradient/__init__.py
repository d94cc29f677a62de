"""Stochastic policy gradients: REINFORCE, GPOMDP, N-PG-IGT and (N)-HARPG.

Fatkhullin, Barakat, Kireeva, He, "Stochastic Policy Gradient Methods: Improved Sample Complexity for
Fisher-non-degenerate Policies", ICML 2023 (arXiv:2302.01734). See ``algorithms.py`` for the updates.

- policies: ``SoftmaxLinear`` (CartPole-v1), ``GaussianLinear`` (Pendulum-v1);
- estimators: ``reinforce_grad``, ``gpomdp_grad``, ``hessian_vector`` (autograd HVP);
- ``train(method, env, policy, budget, lr, ...) -> PGResult`` on any gymnasium-style env.

gymnasium is optional: nothing here imports it; pass ``gymnasium.make("CartPole-v1")``.
MethodSpecs (family "science"): ``factory(hparams) -> run(env, policy, budget, seed=0, horizon=500,
target=None) -> PGResult`` (a scipy ``OptimizeResult``: ``x`` = theta, ``nfev`` = trajectories, ``fun`` the mean
return of the last 10 trajectories; ``method``, ``seed``). ``env`` must have ``reset`` and ``step``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from optarena.core.paper import PaperRef
from optarena.core.searchspace import Param, SearchSpace
from optarena.core.spec import MethodSpec
from optarena.solvers.policy_gradient.algorithms import METHODS, PGResult, rollout, train
from optarena.solvers.policy_gradient.estimators import (
    Trajectory,
    gpomdp_grad,
    hessian_vector,
    reinforce_grad,
    reward_to_go,
)
from optarena.solvers.policy_gradient.policies import GaussianLinear, SoftmaxLinear

__all__ = [
    "GPOMDP_SPEC",
    "HARPG_SPEC",
    "METHODS",
    "N_HARPG_SPEC",
    "N_PG_IGT_SPEC",
    "REINFORCE_SPEC",
    "GaussianLinear",
    "PGResult",
    "SoftmaxLinear",
    "Trajectory",
    "gpomdp_grad",
    "hessian_vector",
    "policy_gradient",
    "reinforce_grad",
    "reward_to_go",
    "rollout",
    "train",
]

PAPER = PaperRef(
    "I. Fatkhullin, A. Barakat, A. Kireeva, N. He",
    "Stochastic Policy Gradient Methods: Improved Sample Complexity for Fisher-non-degenerate Policies",
    "ICML",
    2023,
    arxiv="2302.01734",
)


def policy_gradient(hparams: Mapping[str, Any]) -> Callable[..., PGResult]:
    """Factory: ``run(env, policy, budget, seed=0, horizon=500, target=None) -> PGResult``."""
    h = dict(hparams)
    method = h.pop("method")

    def run(
        env: object,
        policy: object,
        budget: int,
        seed: int = 0,
        horizon: int = 500,
        target: float | None = None,
    ) -> PGResult:
        return train(method, env, policy, budget, seed=seed, horizon=horizon, target=target, **h)

    return run


def _spec(
    name: str, summary: str, space: tuple[Param, ...], defaults: dict[str, Any], paper: PaperRef
) -> MethodSpec:
    return MethodSpec(
        name=name,
        family="science",
        factory="optarena.solvers.policy_gradient:policy_gradient",
        summary=summary,
        search_space=SearchSpace(space, fixed={"method": defaults["method"]}),
        defaults=defaults,
        paper=paper,
        capabilities=frozenset({"reinforcement-learning"}),
    )


_LR_SGD = Param("lr", 1e-4, 1e-1, log=True)
_LR_NORM = Param("lr", 1e-2, 10.0, log=True)
_GAMMA = Param("gamma", 0.9, 0.999)

REINFORCE_SPEC = _spec(
    "reinforce",
    "REINFORCE (Williams 1992), minibatch, constant step",
    (_LR_SGD, _GAMMA, Param("batch", 1, 32, integer=True), Param("schedule", choices=("constant",))),
    {"method": "reinforce", "lr": 3e-3, "gamma": 0.99, "batch": 1, "schedule": "constant"},
    PaperRef(
        "R. J. Williams",
        "Simple statistical gradient-following algorithms for connectionist RL",
        "Machine Learning",
        1992,
    ),
)
GPOMDP_SPEC = _spec(
    "gpomdp",
    "GPOMDP (Baxter & Bartlett 2001), minibatch, constant step",
    (_LR_SGD, _GAMMA, Param("batch", 1, 32, integer=True), Param("schedule", choices=("constant",))),
    {"method": "gpomdp", "lr": 3e-3, "gamma": 0.99, "batch": 1, "schedule": "constant"},
    PaperRef("J. Baxter, P. L. Bartlett", "Infinite-horizon policy-gradient estimation", "JAIR", 2001),
)
N_PG_IGT_SPEC = _spec(
    "n-pg-igt",
    "normalized PG with implicit gradient transport (one trajectory per step)",
    (_LR_NORM, _GAMMA, Param("schedule", choices=("theory", "constant")), Param("eta", 0.01, 1.0, log=True)),
    {"method": "n-pg-igt", "lr": 1.0, "gamma": 0.99, "schedule": "theory", "eta": 0.1},
    PAPER,
)
HARPG_SPEC = _spec(
    "harpg",
    "Hessian-aided recursive PG, unnormalized (two trajectories per step)",
    (_LR_SGD, _GAMMA, Param("schedule", choices=("constant", "theory")), Param("eta", 0.01, 1.0, log=True)),
    {"method": "harpg", "lr": 3e-3, "gamma": 0.99, "schedule": "constant", "eta": 0.1},
    PAPER,
)
N_HARPG_SPEC = _spec(
    "n-harpg",
    "normalized Hessian-aided recursive PG (two trajectories per step)",
    (_LR_NORM, _GAMMA, Param("schedule", choices=("theory", "constant")), Param("eta", 0.01, 1.0, log=True)),
    {"method": "n-harpg", "lr": 1.0, "gamma": 0.99, "schedule": "theory", "eta": 0.1},
    PAPER,
)
