"""Policy gradients: exact unbiasedness of the estimators on a tiny MDP, HVP vs finite differences,
the training loops (progress, reproducibility) and bad inputs. Gymnasium runs are skipped without it."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from optarena.solvers.policy_gradient import (
    GPOMDP_SPEC,
    HARPG_SPEC,
    N_HARPG_SPEC,
    N_PG_IGT_SPEC,
    REINFORCE_SPEC,
    GaussianLinear,
    SoftmaxLinear,
    Trajectory,
    gpomdp_grad,
    hessian_vector,
    reinforce_grad,
    train,
)

GAMMA, H = 0.9, 3
RHO = np.array([0.7, 0.3])
P = np.array([[[0.9, 0.1], [0.2, 0.8]], [[0.6, 0.4], [0.05, 0.95]]])  # P[s, a, s']
R = np.array([[1.0, 0.0], [0.2, 2.0]])  # R[s, a]


class TinyEnv:
    """Two states (one-hot observations), two actions, fixed horizon H."""

    def reset(self, seed: int | None = None):
        self.rng = np.random.default_rng(seed)
        self.s, self.t = int(self.rng.choice(2, p=RHO)), 0
        return np.eye(2)[self.s], {}

    def step(self, a):
        r = R[self.s, a]
        self.s = int(self.rng.choice(2, p=P[self.s, a]))
        self.t += 1
        return np.eye(2)[self.s], r, False, self.t >= H, {}


def all_trajectories():
    for states in itertools.product(range(2), repeat=H):
        for actions in itertools.product(range(2), repeat=H):
            prob_env = RHO[states[0]] * np.prod(
                [P[states[t], actions[t], states[t + 1]] for t in range(H - 1)]
            )
            if prob_env > 0:
                yield (
                    Trajectory(np.eye(2)[list(states)], np.array(actions), R[list(states), list(actions)]),
                    prob_env,
                )


def exact_J(policy, theta):
    J = 0.0
    for tr, pe in all_trajectories():
        lp = policy.log_prob(theta, torch.as_tensor(tr.obs), torch.as_tensor(tr.actions))
        J = J + pe * torch.exp(lp.sum()) * float((GAMMA ** np.arange(H) * tr.rewards).sum())
    return J


@pytest.fixture
def setup():
    policy = SoftmaxLinear(2, 2, bias=False)
    theta = torch.tensor([0.3, -0.5, -0.2, 0.4], dtype=torch.float64)
    return policy, theta


def expectation(policy, theta, fn):
    total = 0.0
    for tr, pe in all_trajectories():
        with torch.no_grad():
            lp = policy.log_prob(theta, torch.as_tensor(tr.obs), torch.as_tensor(tr.actions))
        total = total + pe * float(torch.exp(lp.sum())) * fn(tr)
    return total


def test_probabilities_sum_to_one(setup):
    policy, theta = setup
    assert abs(expectation(policy, theta, lambda tr: 1.0) - 1.0) < 1e-12


@pytest.mark.parametrize("estimator", [reinforce_grad, gpomdp_grad])
def test_gradient_estimators_are_exactly_unbiased(setup, estimator):
    policy, theta = setup
    th = theta.clone().requires_grad_(True)
    (true,) = torch.autograd.grad(exact_J(policy, th), th)
    mean = expectation(policy, theta, lambda tr: estimator(policy, theta, tr, GAMMA))
    torch.testing.assert_close(mean, true, rtol=1e-10, atol=1e-12)
    assert true.abs().max() > 1e-3  # a non-trivial gradient


def test_hessian_vector_estimator_is_exactly_unbiased(setup):
    policy, theta = setup
    v = torch.tensor([1.0, -2.0, 0.5, 0.3], dtype=torch.float64)
    th = theta.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(exact_J(policy, th), th, create_graph=True)
    (true,) = torch.autograd.grad(g @ v, th)
    mean = expectation(policy, theta, lambda tr: hessian_vector(policy, theta, tr, GAMMA, v)[0])
    torch.testing.assert_close(mean, true, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("policy", [SoftmaxLinear(3, 4), GaussianLinear(3, 2, sigma=0.7)])
def test_hvp_matches_finite_differences(policy):
    rng = np.random.default_rng(0)
    theta = torch.as_tensor(rng.standard_normal(policy.n_params))
    v = torch.as_tensor(rng.standard_normal(policy.n_params))
    acts = rng.integers(0, 4, 6) if isinstance(policy, SoftmaxLinear) else rng.standard_normal((6, 2))
    tr = Trajectory(rng.standard_normal((6, 3)), acts, rng.standard_normal(6))
    hv, g = hessian_vector(policy, theta, tr, 0.95, v)
    th = theta.clone().requires_grad_(True)
    lp = policy.log_prob(th, torch.as_tensor(tr.obs), torch.as_tensor(tr.actions)).sum()
    (score,) = torch.autograd.grad(lp, th)
    eps = 1e-5
    fd = (gpomdp_grad(policy, theta + eps * v, tr, 0.95) - gpomdp_grad(policy, theta - eps * v, tr, 0.95)) / (
        2 * eps
    )
    torch.testing.assert_close(hv - g * (score @ v), fd, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(g, gpomdp_grad(policy, theta, tr, 0.95))


@pytest.mark.parametrize("method", ["reinforce", "gpomdp", "n-pg-igt", "harpg", "n-harpg"])
def test_training_improves_tiny_mdp(method, setup):
    policy, _ = setup
    a = train(method, TinyEnv(), policy, budget=200, lr=0.5, gamma=GAMMA, horizon=H, seed=3)
    assert a.trajectories in (199, 200)  # never over the budget (HARPG draws 2 per step after the first)
    j0 = float(exact_J(policy, torch.zeros(4, dtype=torch.float64)))
    j1 = float(exact_J(policy, torch.as_tensor(a.theta)))
    best = max(  # the optimal deterministic policy's return, by enumeration of the 16 tabular policies
        float(exact_J(policy, torch.as_tensor(np.array(w, dtype=float))))
        for w in itertools.product([-30, 30], repeat=4)
    )
    assert j1 > j0 + 0.5 * (best - j0)


@pytest.mark.parametrize("method", ["n-pg-igt", "n-harpg"])
def test_training_is_reproducible_from_a_seed(method):
    policy = SoftmaxLinear(2, 2, bias=False)
    a, b, c = (train(method, TinyEnv(), policy, budget=20, lr=0.5, horizon=H, seed=s) for s in (5, 5, 6))
    np.testing.assert_array_equal(a.theta, b.theta)
    assert a.returns == b.returns and not np.array_equal(a.theta, c.theta)


def test_target_stops_training():
    policy = SoftmaxLinear(2, 2, bias=False)
    res = train("gpomdp", TinyEnv(), policy, budget=500, lr=0.05, gamma=GAMMA, horizon=H, seed=0, target=-1.0)
    assert res.reached == 10 and res.trajectories == 10


def test_specs_are_well_formed():
    for spec in (REINFORCE_SPEC, GPOMDP_SPEC, N_PG_IGT_SPEC, HARPG_SPEC, N_HARPG_SPEC):
        assert spec.family == "science" and spec.paper is not None
        run = spec.load_factory()(spec.resolve_hparams())
        res = run(TinyEnv(), SoftmaxLinear(2, 2, bias=False), budget=20, seed=0, horizon=H)
        assert 19 <= res.trajectories <= 20  # HARPG: 2 per step after the first, never over


@pytest.mark.parametrize(
    "kwargs",
    [
        {"method": "ppo"},
        {"lr": 0.0},
        {"lr": float("nan")},
        {"budget": 0},
        {"gamma": 1.5},
        {"eta": 0.0},
        {"batch": 0},
        {"schedule": "cosine"},
        {"theta0": np.zeros(3)},
    ],
)
def test_bad_inputs_raise(kwargs):
    args = {"method": "n-harpg", "budget": 5, "lr": 0.1, "horizon": H} | kwargs
    with pytest.raises(ValueError):
        train(env=TinyEnv(), policy=SoftmaxLinear(2, 2, bias=False), **args)


def test_bad_policy_and_estimator_inputs_raise():
    with pytest.raises(ValueError):
        SoftmaxLinear(0, 2)
    with pytest.raises(ValueError):
        GaussianLinear(3, 1, sigma=-1.0)
    tr = Trajectory(np.eye(2), np.array([0, 1]), np.ones(2))
    with pytest.raises(ValueError):
        gpomdp_grad(SoftmaxLinear(2, 2, bias=False), torch.zeros(4, dtype=torch.float64), tr, 0.0)
    with pytest.raises(ValueError):
        hessian_vector(
            SoftmaxLinear(2, 2, bias=False), torch.zeros(4, dtype=torch.float64), tr, 0.9, torch.zeros(3)
        )


def test_cartpole_runs_with_gymnasium():
    gym = pytest.importorskip("gymnasium")
    env = gym.make("CartPole-v1")
    res = train("n-harpg", env, SoftmaxLinear(4, 2), budget=6, lr=0.5, seed=0)
    assert 5 <= res.trajectories <= 6 and all(1 <= r <= 500 for r in res.returns)
    env = gym.make("Pendulum-v1")
    res = train("n-pg-igt", env, GaussianLinear(3, 1), budget=2, lr=0.5, seed=0, horizon=200)
    assert res.trajectories == 2 and all(-2000 < r <= 0 for r in res.returns)
