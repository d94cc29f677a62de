"""Stochastic policy-gradient methods: REINFORCE, GPOMDP, N-PG-IGT and (N)-HARPG.

I. Fatkhullin, A. Barakat, A. Kireeva, N. He, "Stochastic Policy Gradient Methods: Improved Sample
Complexity for Fisher-non-degenerate Policies", ICML 2023 (arXiv:2302.01734).

Ascent on the H-step discounted return J. ``g(tau; theta)`` is the GPOMDP estimate, ``B(tau; theta) v`` the
Hessian-vector estimate (``estimators.py``); ``t = 0, 1, ...``.

- REINFORCE / GPOMDP (baselines): ``theta += lr * mean_{i <= N} g_i`` over a batch of N trajectories.
- N-PG-IGT (Algorithm 1; one trajectory per step):
      theta~ = theta_t + ((1 - eta_t) / eta_t) (theta_t - theta_{t-1})
      d_t = (1 - eta_t) d_{t-1} + eta_t g(tau_t; theta~),     theta_{t+1} = theta_t + gamma_t d_t / ||d_t||
- (N)-HARPG (Algorithm 2; two trajectories per step):
      q ~ U(0, 1),  theta^ = q theta_t + (1 - q) theta_{t-1},  tau^ ~ pi_{theta^}
      d_t = (1 - eta_t) (d_{t-1} + B(tau^; theta^)(theta_t - theta_{t-1})) + eta_t g(tau_t; theta_t)
      theta_{t+1} = theta_t + gamma_t d_t / ||d_t||   (N-HARPG)   or   theta_t + gamma_t d_t   (HARPG)
  with ``d_0 = g(tau_0; theta_0)``.

Step sizes, ``schedule="theory"``: gamma_t = lr * 2 / (t + 2) (so gamma_0 = lr) and
    N-PG-IGT: eta_t = (2 / (t + 2))^(4/5)     N-HARPG / HARPG: eta_t = 2 / (t + 2).
These are the shapes under which the theorems' rates follow (eps^-2.5 and eps^-2: gamma_t ~ 1/t with the
momentum error of order t^(-2/5), resp. t^(-1/2)); the paper's constants depend on unknown problem
constants, so ``lr`` is a tuned scale. The exponents were derived from the stated rates, not copied from
the theorem statements (no paper text or official code was reachable here): check against the paper.
``schedule="constant"`` keeps ``gamma_t = lr`` and ``eta_t = eta`` instead. Departure: the paper's
experiments use neural policies; we use linear softmax / Gaussian policies (Fisher-non-degenerate).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy.optimize import OptimizeResult

from optarena.solvers.policy_gradient.estimators import (
    Trajectory,
    gpomdp_grad,
    hessian_vector,
    reinforce_grad,
)

__all__ = ["METHODS", "PGResult", "rollout", "train"]

METHODS = ("reinforce", "gpomdp", "n-pg-igt", "harpg", "n-harpg")


def rollout(
    env: object, policy: object, theta: np.ndarray, rng: np.random.Generator, horizon: int
) -> Trajectory:
    """One episode (at most ``horizon`` steps) of ``policy`` at ``theta`` in a gymnasium-style env."""
    obs_list, act_list, rew_list = [], [], []
    obs, _ = env.reset(seed=int(rng.integers(2**31)))  # type: ignore[attr-defined]
    for _ in range(horizon):
        a = policy.act(theta, np.asarray(obs, dtype=float), rng)  # type: ignore[attr-defined]
        obs_list.append(np.asarray(obs, dtype=float))
        act_list.append(a)
        obs, r, terminated, truncated, _ = env.step(a)  # type: ignore[attr-defined]
        rew_list.append(float(r))
        if terminated or truncated:
            break
    return Trajectory(np.asarray(obs_list), np.asarray(act_list), np.asarray(rew_list))


class PGResult(OptimizeResult):
    """Parameters reached, and the undiscounted return of every sampled trajectory in order.

    A scipy ``OptimizeResult``. Fields: ``theta``, ``returns`` (list), ``trajectories``, ``iterations``,
    ``reached`` (trajectories used when the running mean first hit the target, else None); and, filled
    by :func:`train`, scipy's ``x`` (= ``theta``), ``fun`` (mean return of the last ``window``
    trajectories: an estimate of the objective J, which policy gradients *maximize*), ``nfev``
    (= ``trajectories``), ``nit`` (= ``iterations``), ``success``, ``status`` (0: budget spent, no
    target; 1: target reached; 2: budget spent before the target), ``message``, ``method``, ``seed``.
    """

    def __init__(
        self,
        theta: np.ndarray,
        returns: list[float] | None = None,
        trajectories: int = 0,
        iterations: int = 0,
        reached: int | None = None,
        **extra: object,
    ) -> None:
        super().__init__(
            theta=theta,
            returns=[] if returns is None else list(returns),
            trajectories=trajectories,
            iterations=iterations,
            reached=reached,
        )
        self.update(extra)

    def running_mean(self, window: int = 10) -> np.ndarray:
        r = np.asarray(self.returns)
        c = np.cumsum(np.insert(r, 0, 0.0))
        n = np.minimum(np.arange(1, len(r) + 1), window)
        return (c[1:] - c[np.arange(1, len(r) + 1) - n]) / n


def _schedules(
    method: str, schedule: str, lr: float, eta: float
) -> tuple[Callable[[int], float], Callable[[int], float]]:
    if schedule == "constant":
        return (lambda t: lr), (lambda t: eta)
    if schedule != "theory":
        raise ValueError(f"schedule must be 'theory' or 'constant', got {schedule!r}")
    power = 0.8 if method == "n-pg-igt" else 1.0
    return (lambda t: lr * 2.0 / (t + 2.0)), (lambda t: (2.0 / (t + 2.0)) ** power)


def train(
    method: str,
    env: object,
    policy: object,
    budget: int,
    lr: float,
    gamma: float = 0.99,
    batch: int = 1,
    eta: float = 0.1,
    schedule: str = "theory",
    horizon: int = 500,
    seed: int = 0,
    target: float | None = None,
    window: int = 10,
    theta0: np.ndarray | None = None,
) -> PGResult:
    """Run ``method`` until ``budget`` trajectories are spent (or ``target`` is reached).

    ``target``: stop once the mean undiscounted return of the last ``window`` trajectories is >= target;
    ``result.reached`` is then the trajectory count (otherwise None).
    """
    if method not in METHODS:
        raise ValueError(f"unknown policy-gradient method {method!r}; known: {METHODS}")
    for name, v, lo in (
        ("budget", budget, 1),
        ("batch", batch, 1),
        ("horizon", horizon, 1),
        ("window", window, 1),
    ):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    if not np.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    if not np.isfinite(eta) or not 0 < eta <= 1:
        raise ValueError(f"eta must lie in (0, 1], got {eta!r}")
    if not np.isfinite(gamma) or not 0 < gamma <= 1:
        raise ValueError(f"discount gamma must lie in (0, 1], got {gamma!r}")
    if not all(callable(getattr(env, a, None)) for a in ("reset", "step")):
        hint = f"; make it first, e.g. gymnasium.make({env!r})" if isinstance(env, str) else ""
        raise TypeError(
            f"env must be a gymnasium-style environment with reset() and step(), got {env!r}{hint}"
        )
    step_size, momentum = _schedules(method, schedule, lr, eta)
    rng = np.random.default_rng(seed)
    n = policy.n_params  # type: ignore[attr-defined]
    theta = np.zeros(n) if theta0 is None else np.array(theta0, dtype=float)
    if theta.shape != (n,):
        raise ValueError(f"theta0 must have shape ({n},), got {theta.shape}")
    res = PGResult(theta=theta)

    def sample(th: np.ndarray) -> Trajectory:
        tr = rollout(env, policy, th, rng, horizon)
        res.returns.append(tr.ret)
        res.trajectories += 1
        full = len(res.returns) >= window
        if target is not None and res.reached is None and full and np.mean(res.returns[-window:]) >= target:
            res.reached = res.trajectories
        return tr

    T = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    prev = theta.copy()
    d: torch.Tensor | None = None
    t = 0
    while res.trajectories < budget and res.reached is None:
        # trajectories this step draws: a step that would overspend the budget is not started
        needed = (
            batch if method in ("reinforce", "gpomdp") else 2 if method != "n-pg-igt" and d is not None else 1
        )
        if res.trajectories + needed > budget:
            break
        if method in ("reinforce", "gpomdp"):
            est = reinforce_grad if method == "reinforce" else gpomdp_grad
            g = sum(est(policy, T(theta), sample(theta), gamma) for _ in range(batch)) / batch
            theta = theta + step_size(t) * g.numpy()
        elif method == "n-pg-igt":
            e = momentum(t)
            look = theta + ((1.0 - e) / e) * (theta - prev)
            g = gpomdp_grad(policy, T(look), sample(look), gamma)
            d = g if d is None else (1.0 - e) * d + e * g
            prev, theta = theta, theta + step_size(t) * _unit(d)
        else:  # harpg, n-harpg
            if d is None:
                d = gpomdp_grad(policy, T(theta), sample(theta), gamma)
            else:
                e = momentum(t)
                q = rng.uniform()
                mid = q * theta + (1.0 - q) * prev
                hv, _ = hessian_vector(policy, T(mid), sample(mid), gamma, T(theta - prev))
                g = gpomdp_grad(policy, T(theta), sample(theta), gamma)
                d = (1.0 - e) * (d + hv) + e * g
            direction = _unit(d) if method == "n-harpg" else d.numpy()
            prev, theta = theta, theta + step_size(t) * direction
        if not np.all(np.isfinite(theta)):
            raise FloatingPointError(f"{method}: parameters became non-finite at iteration {t}")
        t += 1
    res.theta, res.iterations = theta, t
    if target is None:
        status, message = 0, f"budget of {budget} trajectories spent"
    elif res.reached is not None:
        status, message = 1, f"target {target} reached after {res.reached} trajectories"
    else:
        status, message = 2, f"budget of {budget} trajectories spent before reaching the target {target}"
    res.update(
        x=theta,
        fun=float(np.mean(res.returns[-window:])),
        nfev=res.trajectories,
        nit=t,
        success=status != 2,
        status=status,
        message=message,
        method=method,
        seed=seed,
    )
    return res


def _unit(d: torch.Tensor) -> np.ndarray:
    nrm = float(torch.linalg.vector_norm(d))
    return d.numpy() / nrm if nrm > 0 else np.zeros(d.shape)
