"""The ``icl-lsa`` workload: determinism, the GD construction, the closed-form reference, trainability."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from optarena.workloads.base import TorchProblem
from optarena.workloads.icl_lsa import (
    BATCH,
    N_CONTEXT,
    N_VAL,
    TARGET_FACTOR,
    D,
    ICLLSAProblem,
    ICLLSAWorkload,
    LinearSelfAttention,
    constructed_lsa_weights,
    gd_one_step_loss,
    gd_one_step_optimal_lr,
    gd_one_step_prediction,
    lsa_update,
    sample_tasks,
)

W = ICLLSAWorkload()


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Tiny models: one intra-op thread is fastest and keeps timings stable on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def problem() -> ICLLSAProblem:
    return W.build(0)


def test_workload_attributes() -> None:
    assert (W.id, W.metric, W.mode, W.version) == ("icl-lsa", "val_loss", "min", "1")
    assert W.interfaces == {"torch-optimizer"}
    assert 10 <= W.max_runtime <= 120 and W.eval_every >= 1 and W.step_hint >= 1
    assert W.paper is not None and W.paper.arxiv == "2212.07677"


def test_problem_shapes_and_protocol(problem: ICLLSAProblem) -> None:
    assert isinstance(problem, TorchProblem)
    assert [(n, tuple(p.shape), p.dtype) for n, p in problem.named_parameters()] == [
        (name, (D + 1, D + 1), torch.float32) for name in ("W_K", "W_Q", "W_V")
    ]
    tokens, y_q = problem.next_batch()
    assert tokens.shape == (BATCH, N_CONTEXT + 1, D + 1) and y_q.shape == (BATCH,)
    assert tokens.dtype == torch.float32 and y_q.dtype == torch.float32
    assert torch.all(tokens[:, -1, -1] == 0)  # the query's y slot is empty
    assert tokens[..., :-1].abs().max() <= 1.0
    # context labels are w . x for one w per task: solve it from the 10 context points.
    w = torch.linalg.solve(tokens[:, :-1, :-1].double(), tokens[:, :-1, -1].double())
    torch.testing.assert_close((tokens[:, -1, :-1].double() * w).sum(-1), y_q.double(), rtol=1e-3, atol=1e-3)
    assert problem.val_tokens.shape == (N_VAL, N_CONTEXT + 1, D + 1)
    loss = problem.loss((tokens, y_q))
    assert loss.shape == () and loss.requires_grad


def test_seed_determines_init_and_batches_not_validation(problem: ICLLSAProblem) -> None:
    rng_before = torch.get_rng_state()
    again, other = W.build(0), W.build(1)
    assert torch.equal(rng_before, torch.get_rng_state())  # the global RNG is never used
    for (_, a), (_, b), (_, c) in zip(
        W.build(0).named_parameters(), again.named_parameters(), other.named_parameters(), strict=True
    ):
        assert torch.equal(a, b) and not torch.equal(a, c)
    fresh = W.build(0)
    for _ in range(3):
        (ta, ya), (tb, yb), (tc, _) = fresh.next_batch(), again.next_batch(), other.next_batch()
        assert torch.equal(ta, tb) and torch.equal(ya, yb) and not torch.equal(ta, tc)
    # consecutive batches are fresh tasks
    assert not torch.equal(fresh.next_batch()[0], fresh.next_batch()[0])
    # the validation set (hence the GD reference) is the same for every seed
    assert torch.equal(problem.val_tokens, other.val_tokens) and torch.equal(problem.val_y, other.val_y)
    assert (problem.gd_eta, problem.gd_loss) == (other.gd_eta, other.gd_loss)


def test_evaluate_is_deterministic(problem: ICLLSAProblem) -> None:
    first, second = problem.evaluate(), problem.evaluate()
    assert first == second and set(first) >= {"val_loss"}
    assert all(isinstance(v, float) for v in first.values())
    # near-zero init predicts about 0, so the loss is about E[y^2] / 2 = d / 6
    assert abs(first["val_loss"] - D / 6) < 0.15


@pytest.mark.parametrize("eta", [0.3, 1.0, 1.5])
def test_constructed_weights_compute_one_gd_step(eta: float) -> None:
    tokens, _ = sample_tasks(256, torch.Generator().manual_seed(7))
    weights = constructed_lsa_weights(D, eta)
    model = LinearSelfAttention(D)
    model.load_state_dict(weights)
    with torch.no_grad():
        pred = model(tokens)
        updated = lsa_update(tokens, weights["W_K"], weights["W_Q"], weights["W_V"])
    expected = gd_one_step_prediction(tokens.double(), eta).float()
    # the GD prediction written out by hand: W1 = eta (1/N) sum_i y_i x_i^T, y = W1 x_q
    x, y = tokens[:, :-1, :-1].double(), tokens[:, :-1, -1].double()
    w1 = eta * torch.einsum("bn,bnd->bd", y, x) / N_CONTEXT
    torch.testing.assert_close(expected.double(), (w1 * tokens[:, -1, :-1].double()).sum(-1))
    torch.testing.assert_close(pred, expected, rtol=0, atol=1e-5)
    torch.testing.assert_close(-updated[:, -1, -1], pred, rtol=0, atol=1e-5)
    # the construction only writes into the y slot: x parts of all tokens are unchanged
    torch.testing.assert_close(updated[..., :-1], tokens[..., :-1], rtol=0, atol=0)


def test_forward_matches_full_layer_for_random_weights() -> None:
    g = torch.Generator().manual_seed(3)
    tokens, _ = sample_tasks(64, g)
    model = LinearSelfAttention(D)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.5, generator=g)
        full = lsa_update(tokens, model.W_K, model.W_Q, model.W_V)
        torch.testing.assert_close(model(tokens), -full[:, -1, -1], rtol=1e-5, atol=1e-5)


def test_closed_form_eta_is_the_minimiser(problem: ICLLSAProblem) -> None:
    eta, loss = gd_one_step_optimal_lr(problem.val_tokens, problem.val_y)
    assert (eta, loss) == (problem.gd_eta, problem.gd_loss)
    assert loss == pytest.approx(gd_one_step_loss(problem.val_tokens, problem.val_y, eta), rel=1e-12)
    for factor in (0.9, 1.1, 0.99, 1.01):
        assert loss < gd_one_step_loss(problem.val_tokens, problem.val_y, factor * eta)
    assert 1.0 < eta < 2.0 and 0.7 < loss < 0.95


def test_target_is_the_gd_reference(problem: ICLLSAProblem) -> None:
    assert W.target == pytest.approx(TARGET_FACTOR * problem.gd_loss, rel=1e-6)
    # the constructed model at eta* scores exactly the GD loss through the problem's own evaluation
    model = W.build(5)
    model.model.load_state_dict(constructed_lsa_weights(D, problem.gd_eta))
    assert model.evaluate()["val_loss"] == pytest.approx(problem.gd_loss, rel=1e-5)
    assert W.reached(model.evaluate()["val_loss"])


def test_short_adam_run_learns() -> None:
    prob = W.build(2)
    start = prob.evaluate()["val_loss"]
    opt = torch.optim.Adam([p for _, p in prob.named_parameters()], lr=3e-3)
    for _ in range(400):
        loss = prob.loss(prob.next_batch())
        opt.zero_grad()
        loss.backward()
        opt.step()
    end = prob.evaluate()["val_loss"]
    assert end < 0.6 * start
