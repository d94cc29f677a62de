"""The ``digits-mlp`` workload and its held-out variant ``digits-mlp-tanh``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from optarena.workloads.base import TorchProblem
from optarena.workloads.digits_mlp import (
    DigitsMLPProblem,
    DigitsMLPTanhWorkload,
    DigitsMLPWorkload,
    load_digits_arrays,
)

W, WT = DigitsMLPWorkload(), DigitsMLPTanhWorkload()


@pytest.fixture(autouse=True, scope="module")
def _one_thread():  # small ops: extra intra-op threads only contend on a busy machine
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def problem() -> DigitsMLPProblem:
    return W.build(0)


def test_workload_attributes(problem: DigitsMLPProblem) -> None:
    assert (W.id, W.metric, W.mode, W.variant_of) == ("digits-mlp", "val_accuracy", "max", None)
    assert 0.9 < W.target < 1.0 and W.interfaces == {"torch-optimizer"}
    assert 10 <= W.max_runtime <= 120 and W.eval_every >= 1 and W.step_hint >= 1
    assert isinstance(problem, TorchProblem)
    shapes = [tuple(p.shape) for _, p in problem.named_parameters()]
    assert shapes == [(128, 64), (128,), (128, 128), (128,), (10, 128), (10,)]
    assert all(p.dtype == torch.float32 for _, p in problem.named_parameters())


def test_split_is_a_seeded_partition(problem: DigitsMLPProblem) -> None:
    x, y = load_digits_arrays()
    assert x.shape == (1797, 64) and x.min() == 0.0 and x.max() == 1.0
    assert len(problem.train_index) == 1400 and len(problem.val_index) == 397
    both = np.concatenate([problem.train_index, problem.val_index])
    assert np.array_equal(np.sort(both), np.arange(1797))
    assert torch.equal(problem.x_val, torch.from_numpy(x[problem.val_index]))
    assert torch.equal(problem.y_train, torch.from_numpy(y[problem.train_index]))
    assert not np.array_equal(W.build(1).val_index, problem.val_index)


def test_same_seed_same_problem_other_seed_differs() -> None:
    a, b, c = W.build(1), W.build(1), W.build(2)
    assert np.array_equal(a.train_index, b.train_index)
    for (_, pa), (_, pb), (_, pc) in zip(
        a.named_parameters(), b.named_parameters(), c.named_parameters(), strict=True
    ):
        assert torch.equal(pa, pb) and not torch.equal(pa, pc)
    for _ in range(3):
        (xa, ya), (xb, yb), (xc, _) = a.next_batch(), b.next_batch(), c.next_batch()
        assert xa.shape == (64, 64) and ya.shape == (64,) and ya.dtype == torch.int64
        assert torch.equal(xa, xb) and torch.equal(ya, yb) and not torch.equal(xa, xc)


def test_evaluate(problem: DigitsMLPProblem) -> None:
    m = problem.evaluate()
    assert set(m) >= {"val_accuracy", "train_loss"} and all(type(v) is float for v in m.values())
    assert 0.0 <= m["val_accuracy"] <= 1.0 and 0.0 <= m["train_accuracy"] <= 1.0
    assert m["val_accuracy"] < 0.3 and m["train_loss"] == pytest.approx(np.log(10), rel=0.1)
    assert not W.reached(m["val_accuracy"])


def test_short_adam_run_learns() -> None:
    p = W.build(3)
    opt = torch.optim.Adam(p.model.parameters(), lr=1e-3)
    for _ in range(400):
        opt.zero_grad()
        p.loss(p.next_batch()).backward()
        opt.step()
    assert p.evaluate()["val_accuracy"] > 0.9  # measured: 0.965-0.970 on seeds 0-3 (about 0.1 at start)


def test_tanh_variant_differs_only_in_activation(problem: DigitsMLPProblem) -> None:
    assert (WT.id, WT.variant_of, WT.metric, WT.mode) == (
        "digits-mlp-tanh",
        "digits-mlp",
        "val_accuracy",
        "max",
    )
    t = WT.build(0)
    acts = {type(m) for m in problem.model.modules()}, {type(m) for m in t.model.modules()}
    assert nn.ReLU in acts[0] and nn.Tanh not in acts[0]
    assert nn.Tanh in acts[1] and nn.ReLU not in acts[1]
    # same data, split and initial weights; different function
    assert np.array_equal(t.val_index, problem.val_index)
    for (_, a), (_, b) in zip(problem.named_parameters(), t.named_parameters(), strict=True):
        assert torch.equal(a, b)
    with torch.no_grad():
        assert not torch.allclose(problem.model(problem.x_val), t.model(t.x_val))
