"""Claim experiment: N-HARPG vs REINFORCE on CartPole-v1 (Fatkhullin, Barakat, Kireeva, He, ICML 2023).

Linear softmax policy from theta = 0, discount 0.99, horizon 500. The cost unit is sampled trajectories
(N-HARPG uses two per step). "Reached" = the mean undiscounted return of the last 10 trajectories >= 475;
a run that never reaches it within the budget counts as the budget (censored). Needs gymnasium.
"""

from __future__ import annotations

import time

#: step sizes fixed before the full run (2-seed pilot at 600 trajectories, see the claim file)
CONFIGS = {
    "n-harpg": {"lr": 0.5, "schedule": "theory", "gamma": 0.99},
    "reinforce": {"lr": 3e-3, "schedule": "constant", "gamma": 0.99, "batch": 1},
}


def measure(seed: int, quick: bool, budget: int = 3000, target: float = 475.0) -> dict[str, float]:
    try:
        import gymnasium as gym
    except ImportError as exc:  # optional dependency
        raise ImportError("the harpg claim needs gymnasium (pip install gymnasium==1.2.0)") from exc
    from optarena.solvers.policy_gradient import SoftmaxLinear, train

    if quick:
        budget = 20
    out: dict[str, float] = {"budget": float(budget)}
    for method, cfg in CONFIGS.items():
        env = gym.make("CartPole-v1")
        start = time.perf_counter()
        res = train(
            method, env, SoftmaxLinear(4, 2), budget=budget, seed=seed, target=target, horizon=500, **cfg
        )
        key = method.replace("-", "_")
        out[f"{key}_trajectories"] = float(res.reached if res.reached is not None else budget)
        out[f"{key}_reached"] = float(res.reached is not None)
        out[f"{key}_final_mean_return"] = float(sum(res.returns[-10:]) / min(10, len(res.returns)))
        out[f"{key}_seconds"] = time.perf_counter() - start
    out["harpg_over_reinforce"] = out["n_harpg_trajectories"] / out["reinforce_trajectories"]
    return out
