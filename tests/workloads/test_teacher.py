"""The ``teacher`` workload: determinism, an achievable target, batching, trainability."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from optarena.workloads.base import TorchProblem
from optarena.workloads.teacher import N_TRAIN, NOISE_VAR, TeacherProblem, TeacherWorkload

W = TeacherWorkload()


@pytest.fixture(autouse=True, scope="module")
def _one_thread():  # small ops: extra intra-op threads only contend on a busy machine
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def problem() -> TeacherProblem:
    return W.build(0)


def test_workload_attributes(problem: TeacherProblem) -> None:
    assert (W.id, W.metric, W.mode) == ("teacher", "val_mse", "min")
    assert W.target == pytest.approx(1.1 * 0.01)
    assert W.interfaces == {"torch-optimizer"} and isinstance(problem, TorchProblem)
    assert 10 <= W.max_runtime <= 120 and W.eval_every >= 1 and W.step_hint >= 1
    assert [tuple(p.shape) for _, p in problem.named_parameters()] == [(128, 20), (128,), (1, 128), (1,)]
    assert all(p.dtype == torch.float32 for _, p in problem.named_parameters())


def _first_batches(p: TeacherProblem, k: int = 3) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [p.next_batch() for _ in range(k)]


def test_same_seed_same_problem_other_seed_differs(problem: TeacherProblem) -> None:
    a, b, c = W.build(1), W.build(1), W.build(2)
    for name in ("x_train", "y_train", "x_val", "y_val"):
        assert torch.equal(getattr(a, name), getattr(b, name))
        assert not torch.equal(getattr(a, name), getattr(c, name))
    for (_, pa), (_, pb), (_, pc) in zip(
        a.named_parameters(), b.named_parameters(), c.named_parameters(), strict=True
    ):
        assert torch.equal(pa, pb) and not torch.equal(pa, pc)
    for (xa, ya), (xb, yb), (xc, _) in zip(
        _first_batches(a), _first_batches(b), _first_batches(c), strict=True
    ):
        assert xa.shape == (128, 20) and ya.shape == (128, 1)
        assert torch.equal(xa, xb) and torch.equal(ya, yb) and not torch.equal(xa, xc)


def test_build_leaves_global_rng_alone() -> None:
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    p = W.build(3)
    p.next_batch()
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], np_state)


def test_target_is_achievable_and_task_nontrivial(problem: TeacherProblem) -> None:
    with torch.no_grad():
        teacher_val = float(F.mse_loss(problem.teacher(problem.x_val), problem.y_val))
        teacher_train = float(F.mse_loss(problem.teacher(problem.x_train), problem.y_train))
        signal_var = float(problem.teacher(problem.x_val).var())
    assert teacher_val == pytest.approx(NOISE_VAR, rel=0.15) and W.reached(teacher_val)
    assert teacher_train == pytest.approx(NOISE_VAR, rel=0.15)
    assert 0.8 < signal_var < 1.2  # teacher output scaled to unit variance: signal/noise ~ 100
    start = problem.evaluate()
    assert set(start) >= {"val_mse", "train_loss"} and all(type(v) is float for v in start.values())
    assert start["val_mse"] > 0.3 and not W.reached(start["val_mse"])


def test_batches_cover_each_epoch_once(problem: TeacherProblem) -> None:
    p = W.build(4)
    seen = torch.cat([p.next_indices() for _ in range(N_TRAIN // p.batch_size)])
    assert torch.equal(seen.sort().values, torch.arange(N_TRAIN))


def test_short_adam_run_improves() -> None:
    p = W.build(5)
    opt = torch.optim.Adam(p.model.parameters(), lr=3e-3)
    start = p.evaluate()["val_mse"]
    for _ in range(400):
        opt.zero_grad()
        p.loss(p.next_batch()).backward()
        opt.step()
    end = p.evaluate()["val_mse"]
    assert end < 0.1 * start and end < 0.06  # measured: about 1.0 -> 0.024-0.035 on seeds 0-3
