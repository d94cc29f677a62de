"""The ``charlm`` workload: the local corpus, the vocabulary, determinism, evaluation, trainability."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import torch

from optarena.workloads.base import TorchProblem
from optarena.workloads.charlm import (
    BATCH,
    CONTEXT,
    UNK,
    VOCAB,
    VOCAB_SIZE,
    CharLMProblem,
    CharLMWorkload,
    encode,
    load_text,
)

W = CharLMWorkload()


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Tiny models: one intra-op thread is fastest and keeps timings stable on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def problem() -> CharLMProblem:
    return W.build(0)


def test_workload_attributes() -> None:
    assert (W.id, W.metric, W.mode, W.version) == ("charlm", "val_ce", "min", "1")
    assert W.interfaces == {"torch-optimizer"}
    assert 10 <= W.max_runtime <= 120 and W.eval_every >= 1 and W.step_hint >= 1
    assert 0 < W.target < math.log(VOCAB_SIZE)


def test_load_text_is_the_local_pydoc_corpus() -> None:
    text = load_text()
    assert isinstance(text, str) and len(text) > 400_000
    assert text == load_text()
    assert "lambda" in text and text.count("\n") > 5_000


def test_vocabulary_is_fixed_and_small() -> None:
    assert VOCAB_SIZE == len(VOCAB) + 1 == UNK + 1
    assert 90 <= VOCAB_SIZE <= 110 and len(set(VOCAB)) == len(VOCAB)
    ids = encode(load_text())
    assert ids.dtype == torch.long and torch.equal(ids, encode(load_text()))
    assert int(ids.min()) >= 0 and int(ids.max()) <= UNK
    assert (ids == UNK).float().mean() < 0.01  # only the rare non-ASCII characters
    assert encode("a\n\u201cz\t").tolist() == [
        VOCAB.index("a"),
        VOCAB.index("\n"),
        UNK,
        VOCAB.index("z"),
        UNK,
    ]


def test_problem_shapes_and_split(problem: CharLMProblem) -> None:
    assert isinstance(problem, TorchProblem)
    n_params = sum(p.numel() for _, p in problem.named_parameters())
    assert 80_000 <= n_params <= 150_000
    assert all(p.dtype == torch.float32 for _, p in problem.named_parameters())
    n = len(problem.train_data) + len(problem.val_data)
    assert len(problem.train_data) == int(0.9 * n)
    torch.testing.assert_close(torch.cat([problem.train_data, problem.val_data]), encode(load_text()))
    batch = problem.next_batch()
    assert batch.shape == (BATCH, CONTEXT + 1) and batch.dtype == torch.long
    loss = problem.loss(batch)
    assert loss.shape == () and loss.requires_grad


def test_seed_determines_init_and_batches(problem: CharLMProblem) -> None:
    rng_before = torch.get_rng_state()
    a, b, c = W.build(0), W.build(0), W.build(1)
    assert torch.equal(rng_before, torch.get_rng_state())  # the global RNG is never used
    for (na, pa), (nb, pb), (_, pc) in zip(
        a.named_parameters(), b.named_parameters(), c.named_parameters(), strict=True
    ):
        assert na == nb and torch.equal(pa, pb)
        if pa.std() > 0:  # LayerNorm weights/biases are constants
            assert not torch.equal(pa, pc)
    for _ in range(3):
        ba, bb, bc = a.next_batch(), b.next_batch(), c.next_batch()
        assert torch.equal(ba, bb) and not torch.equal(ba, bc)
    assert torch.equal(a.val_windows, c.val_windows)  # the validation set is the same for every seed


def test_evaluate_is_deterministic_and_starts_near_uniform(problem: CharLMProblem) -> None:
    first, second = problem.evaluate(), problem.evaluate()
    assert first == second and set(first) >= {"val_ce", "train_loss"}
    assert all(isinstance(v, float) for v in first.values())
    assert abs(first["val_ce"] - math.log(VOCAB_SIZE)) < 0.1


def test_short_adam_run_learns() -> None:
    prob = W.build(3)
    opt = torch.optim.AdamW([p for _, p in prob.named_parameters()], lr=3e-3)
    for _ in range(100):
        loss = prob.loss(prob.next_batch())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert prob.evaluate()["val_ce"] < math.log(VOCAB_SIZE) - 1.5
