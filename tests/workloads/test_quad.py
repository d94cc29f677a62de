"""The ``quad`` workload: determinism, exact objective and gradient, metric scale, trainability."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from optarena.workloads.base import ObjectiveProblem, TorchProblem
from optarena.workloads.quad import QuadProblem, QuadWorkload

W = QuadWorkload()


@pytest.fixture(autouse=True, scope="module")
def _one_thread():  # small ops: extra intra-op threads only contend on a busy machine
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def problem() -> QuadProblem:
    return W.build(0)


def test_workload_attributes() -> None:
    assert (W.id, W.metric, W.mode, W.target) == ("quad", "subopt", "min", 1e-3)
    assert W.interfaces == {"torch-optimizer", "minimizer"}
    assert 10 <= W.max_runtime <= 120 and W.eval_every >= 1 and W.step_hint >= 1


def test_implements_both_protocols(problem: QuadProblem) -> None:
    assert isinstance(problem, TorchProblem) and isinstance(problem, ObjectiveProblem)
    [(name, x)] = problem.named_parameters()
    assert name == "x" and x.shape == (200,) and x.dtype == torch.float64
    assert problem.x0.dtype == np.float64 and not problem.x0.any()


def test_same_seed_same_problem_other_seed_differs(problem: QuadProblem) -> None:
    again, other = W.build(0), W.build(1)
    np.testing.assert_array_equal(problem.a, again.a)
    np.testing.assert_array_equal(problem.b, again.b)
    torch.testing.assert_close(again.model.x, torch.zeros(200, dtype=torch.float64), rtol=0, atol=0)
    assert [again.next_batch() for _ in range(3)] == [None, None, None]  # full batch
    assert not np.allclose(problem.a, other.a) and not np.allclose(problem.b, other.b)


def test_condition_number(problem: QuadProblem) -> None:
    eig = np.linalg.eigvalsh(problem.a.T @ problem.a / problem.n)
    assert eig.max() == pytest.approx(1.0, rel=1e-9)
    assert eig.max() / eig.min() == pytest.approx(1e3, rel=1e-6)


def test_fun_grad_matches_torch_and_finite_differences(problem: QuadProblem) -> None:
    x = np.random.default_rng(5).standard_normal(200)
    f, g = problem.fun_grad(x)
    xt = torch.tensor(x, requires_grad=True)
    ft = problem.torch_fun(xt)
    ft.backward()
    assert float(ft.detach()) == pytest.approx(f, rel=1e-12)
    np.testing.assert_allclose(xt.grad.numpy(), g, rtol=1e-10, atol=1e-12)
    h = 1e-6
    for i in (0, 57, 199):
        e = np.zeros(200)
        e[i] = h
        fd = (problem.fun_grad(x + e)[0] - problem.fun_grad(x - e)[0]) / (2 * h)
        assert fd == pytest.approx(g[i], rel=1e-6, abs=1e-8)
    # the torch-optimizer view computes the same objective on the model's parameters
    with torch.no_grad():
        problem.model.x.copy_(torch.from_numpy(x))
    try:
        assert float(problem.loss(problem.next_batch()).detach()) == pytest.approx(f, rel=1e-12)
        assert problem.evaluate() == problem.evaluate_x(x)
    finally:
        with torch.no_grad():
            problem.model.x.zero_()


def test_metric_scale(problem: QuadProblem) -> None:
    at_x0 = problem.evaluate()
    assert at_x0["subopt"] == pytest.approx(1.0, rel=1e-12)
    assert set(at_x0) >= {"subopt", "train_loss"} and all(type(v) is float for v in at_x0.values())
    at_opt = problem.evaluate_x(problem.x_star)
    assert 0.0 <= at_opt["subopt"] < 1e-20
    assert at_opt["train_loss"] == pytest.approx(problem.f_star, rel=1e-12)
    assert problem.f_star == pytest.approx(0.01 * (400 - 200) / (2 * 400), rel=0.3)  # noise floor
    _, g = problem.fun_grad(problem.x_star)
    assert np.linalg.norm(g) < 1e-10
    assert W.reached(at_opt["subopt"]) and not W.reached(at_x0["subopt"])


def test_short_adam_run_reaches_target() -> None:
    p = W.build(3)
    opt = torch.optim.Adam(p.model.parameters(), lr=0.1)
    for _ in range(400):
        opt.zero_grad()
        p.loss(p.next_batch()).backward()
        opt.step()
    assert p.evaluate()["subopt"] < W.target / 5  # measured: 3.6e-5 at seed 3 (4e-5 to 7e-5 on seeds 0-4)


def test_short_gd_run_improves() -> None:
    p = W.build(4)
    opt = torch.optim.SGD(p.model.parameters(), lr=1.0)  # 1/L: the Hessian's top eigenvalue is 1
    for _ in range(300):
        opt.zero_grad()
        p.loss(p.next_batch()).backward()
        opt.step()
    assert p.evaluate()["subopt"] < 0.01  # measured: 1.5e-3 (1.0 at start)
